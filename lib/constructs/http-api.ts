import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TroposConfig } from '../config/schema';
import { pascalCase } from '../domain/naming';

/** The API's one stage: the first segment of every URL (`/v1/runs`). */
const STAGE = 'v1';

export interface HttpApiProps {
  readonly config: TroposConfig;
  /** The API handler: every route is a proxy integration to it. */
  readonly handler: lambda.IFunction;
  /** The routes (`ROUTES` of the handler: the same list the local server answers), and who may call each. */
  readonly routes: readonly { readonly method: string; readonly path: string; readonly callers: readonly string[] }[];
}

/**
 * The HTTP API on API Gateway (REST, regional): every method IAM-authorised (SigV4, `execute-api:Invoke` granted
 * to the ticketing system's role), stage throttling from config, access logs in JSON, X-Ray tracing. Each route
 * is a Lambda proxy integration to the handler the local server runs too.
 */
export class HttpApi extends Construct {
  public readonly api: apigw.RestApi;
  /**
   * One managed policy per kind of caller (ticketing, operator, approver, reader), allowing `execute-api:Invoke`
   * on exactly its routes: attach it to the roles or users you give that job. Exported as stack outputs.
   */
  public readonly callerPolicies: ReadonlyMap<string, iam.ManagedPolicy>;

  constructor(scope: Construct, id: string, props: HttpApiProps) {
    super(scope, id);
    const { throttling } = props.config.api;
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.SIX_MONTHS });
    this.api = new apigw.RestApi(this, 'Resource', {
      restApiName: props.config.name,
      description: 'Tropos: onboard environments (ticketing systems), start runs, answer approvals. IAM-authorised.',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: STAGE,
        throttlingRateLimit: throttling.rateLimit,
        throttlingBurstLimit: throttling.burstLimit,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
      },
    });
    // One permission for the whole API (not two per method): the template stays small.
    const integration = new apigw.LambdaIntegration(props.handler, { proxy: true, scopePermissionToMethod: false });
    for (const route of props.routes)
      this.api.root.resourceForPath(route.path).addMethod(route.method, integration, {
        authorizationType: apigw.AuthorizationType.IAM,
      });

    const policies = new Map<string, iam.ManagedPolicy>();
    const roles = [...new Set(props.routes.flatMap((r) => r.callers))];
    for (const role of roles) {
      const routes = props.routes.filter((r) => r.callers.includes(role));
      const policy = new iam.ManagedPolicy(this, `${pascalCase(role)}Policy`, {
        description: `Tropos API, ${role}: ${routes.map((r) => `${r.method} ${r.path}`).join(', ')}`,
        statements: [
          new iam.PolicyStatement({
            actions: ['execute-api:Invoke'],
            // A path parameter is one segment: `{id}` is `*` in the execute-api ARN.
            resources: routes.map((r) => this.api.arnForExecuteApi(r.method, r.path.replace(/\{\w+\}/g, '*'), STAGE)),
          }),
        ],
      });
      policies.set(role, policy);
      new CfnOutput(this, `${pascalCase(role)}PolicyArn`, {
        value: policy.managedPolicyArn,
        description: `Attach to the principals that act as Tropos ${role} (${routes.length} routes)`,
        exportName: `${Stack.of(this).stackName}-${role}-policy`,
      });
    }
    this.callerPolicies = policies;
  }
}
