import { SFNClient, SendTaskFailureCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';

/** Answers waiting Step Functions tasks. Tokens are secrets: never logged, never returned. */
export class StepFunctionsTokens {
  constructor(private readonly client = new SFNClient({})) {}

  public async succeed(token: string, output: unknown): Promise<void> {
    await this.client.send(new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }));
  }

  public async fail(token: string, error: string, cause: string): Promise<void> {
    await this.client.send(new SendTaskFailureCommand({ taskToken: token, error, cause }));
  }
}
