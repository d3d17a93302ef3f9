import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TroposConfig } from '../config/schema';

export interface HttpApiProps {
  readonly config: TroposConfig;
  /** The API handler: every route is a proxy integration to it. */
  readonly handler: lambda.IFunction;
  /** The routes (`ROUTES` of the handler: the same list the local server answers). */
  readonly routes: readonly { readonly method: string; readonly path: string }[];
}

/**
 * The HTTP API on API Gateway (REST, regional): every method IAM-authorised (SigV4, `execute-api:Invoke` granted
 * to the ticketing system's role), stage throttling from config, access logs in JSON, X-Ray tracing. Each route
 * is a Lambda proxy integration to the handler the local server runs too.
 */
export class HttpApi extends Construct {
  public readonly api: apigw.RestApi;

  constructor(scope: Construct, id: string, props: HttpApiProps) {
    super(scope, id);
    const { throttling } = props.config.api;
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.SIX_MONTHS });
    this.api = new apigw.RestApi(this, 'Resource', {
      restApiName: 'tropos',
      description: 'Tropos: onboard environments (ticketing systems), start runs, answer approvals. IAM-authorised.',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'v1',
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
  }
}
