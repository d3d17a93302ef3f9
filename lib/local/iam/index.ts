/** IAM enforced offline: the template's policies, evaluated with pbac, for SDK calls and state machine tasks. */
export { AccessDeniedException, IamAuthorizer } from './authorizer';
export type { AuthorizationRequest, AuthorizationResult } from './authorizer';
export { integrationRequestsOf, withSampleValues } from './integration-actions';
export { iamRequestOf, iamRequestsOfOperation, SDK_SERVICE_PREFIXES, UnmappedAwsCallError } from './sdk-actions';
export type { AwsEnv, IamRequest } from './sdk-actions';
export { asControlPlane, asPrincipal, enforceIam, trustClient } from './enforcement';
export { templatePolicies } from './template-policies';
export type { ResourcePolicy, RolePolicies, TemplatePolicies } from './template-policies';
