import { AccessDeniedException, type IamAuthorizer } from './authorizer';
import { iamRequestOf } from './sdk-actions';

/** The part of an AWS SDK v3 client this needs (any client: DynamoDBClient, SFNClient, ...). */
export interface AuthorizableClient {
  readonly config: { readonly serviceId?: string };
  readonly middlewareStack: {
    add(
      middleware: (
        next: (args: { input: object }) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: { input: object }) => Promise<unknown>,
      options: { step: 'initialize'; name: string; priority?: 'high'; override?: boolean },
    ): void;
  };
}

/**
 * Adds an authorizing middleware to an SDK client: before anything is sent, the command is mapped to its IAM
 * requests (sdk-actions.ts) and authorized for the role `principalOf()` names; a refusal throws AWS's
 * AccessDeniedException, an unmapped command UnmappedAwsCallError. `principalOf` answers undefined when no role
 * is acting (a call of the control plane itself), and the call goes through unchecked.
 *
 * Added to a DynamoDBClient, it also authorizes every lib-dynamodb document command sent through a
 * DynamoDBDocumentClient made from it: the document client shares the client's middleware stack and resolves the
 * wrapped low-level command (`PutItemCommand` for `PutCommand`), which is what `context.commandName` names here.
 */
export function authorizeSdkClient(
  client: AuthorizableClient,
  authorizer: IamAuthorizer,
  principalOf: () => string | undefined,
): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const principal = principalOf();
      if (principal !== undefined) {
        const serviceId = client.config.serviceId ?? '';
        const requests = iamRequestOf(
          serviceId,
          context.commandName ?? '',
          args.input as Record<string, unknown>,
          authorizer.env,
        );
        const result = authorizer.authorizeAll(principal, requests);
        if (!result.allowed) throw new AccessDeniedException(result.reason);
      }
      return next(args);
    },
    { step: 'initialize', name: 'troposLocalIamAuthorization', priority: 'high', override: true },
  );
}
