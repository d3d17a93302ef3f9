import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { KEEP_ALIVE_MS } from './sdk';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../root';
import { synthesizedApp } from './assembly-cache';
import type { TroposConfig } from '../config/schema';
import { stackName } from '../domain/naming';
import type { Environment } from '../records/environment';
import { RunStore } from '../records/run-store';
import { LocalAwsEndpoint, OutboxMessage } from './aws-endpoint';
import { LocalBuilds } from './builds';
import { Template } from './definitions';
import { createTables, LocalDynamo, startLocalDynamo } from './dynamo';
import { LocalEngine } from './engine';
import { LocalFunctions } from './functions';
import { IamAuthorizer, AccessDeniedException } from './iam/authorizer';
import { enforceIam, trustClient } from './iam/enforcement';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3Client } from '@aws-sdk/client-s3';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { LOCAL_ACCOUNT } from './definitions';
import { localSdk } from './sdk';

const MAX_REQUEST_BYTES = 1024 * 1024;

/**
 * The local callback signing key: $TROPOS_CALLBACK_SECRET, else one generated once and kept in
 * <dataDir>/callback-secret (mode 0600) — give it to the receiver that verifies the callbacks.
 */
function localCallbackSecret(dataDir: string): string {
  if (process.env.TROPOS_CALLBACK_SECRET) return process.env.TROPOS_CALLBACK_SECRET;
  const file = join(dataDir, 'callback-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

export interface ControlPlaneOptions {
  /** Where records, builds, artifacts and the outbox are kept. @default .tropos in the working directory */
  readonly dataDir?: string;
  /** Port of the HTTP API on 127.0.0.1. @default a free port */
  readonly port?: number;
  /** The configuration file. @default $TROPOS_CONFIG, else tropos.config.yaml of the repository */
  readonly configPath?: string;
  /** The infrastructure repository the builds run in. @default examples/atmos or examples/terraform, by engine */
  readonly infraDir?: string;
  /** Extra variables for every build (PATH for a terraform stand-in, say). */
  readonly buildEnvironment?: Record<string, string>;
  /**
   * Environments to register when the control plane starts (a YAML file like examples/environments.yaml).
   * @default examples/environments.yaml when the builds run in the example repository itself; none for any other
   * repository (its stacks enter the registry as runs resolve them)
   */
  readonly seedEnvironments?: string | false;
  /** Keep records in memory only. @default false: persisted under dataDir/dynamodb */
  readonly inMemory?: boolean;
  /**
   * Changes the synthesized template before it runs (tests: take a grant away and see the call refused).
   * @default the template as synthesized
   */
  readonly alterTemplate?: (template: Template) => Template;
  /** Told when the app is synthesized rather than taken from the kept ones (it takes seconds), and why. */
  readonly onSynthesize?: (why: string) => void;
}

/**
 * The whole of Tropos on one machine: the CDK app synthesized in-process, its state machines run by the local
 * engine, its functions in-process, its builds by the local buildspec runner, DynamoDB on a local server, the
 * Step Functions and SNS APIs on a loopback endpoint, and the HTTP API on 127.0.0.1 — served by the same handler
 * code API Gateway runs.
 */
export class ControlPlane {
  private server?: Server;
  public url = '';

  private constructor(
    public readonly outbox: OutboxMessage[],
    public readonly config: TroposConfig,
    public readonly dataDir: string,
    /** Removes this control plane's copy of the synthesized app. */
    private readonly dropAssembly: () => void,
    public readonly engine: LocalEngine,
    public readonly functions: LocalFunctions,
    public readonly dynamo: LocalDynamo,
    private readonly endpoint: LocalAwsEndpoint,
    public readonly tables: { runs: string; environments: string },
    /** IAM as the template grants it: `counts()` tells how many calls each role had authorized. */
    public readonly iam: IamAuthorizer,
    /** The REST API's id as its ARNs name it locally (its logical id). */
    private readonly restApiId: string,
    private readonly builds: LocalBuilds,
  ) {}

  public static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const dataDir = options.dataDir ?? join(process.cwd(), '.tropos');
    mkdirSync(dataDir, { recursive: true });
    // The synthesized app: kept between control planes while nothing it is made from changed (assembly-cache.ts).
    const app = synthesizedApp({ configPath: options.configPath, onSynthesize: options.onSynthesize });
    // Each control plane runs from a copy of its own (a few MB, milliseconds): the function bundles are loaded with
    // require, and two control planes in one process (the tests) must not share a module — its SDK clients, its
    // environment — through one path. Inside the repository, so that the bundles find the AWS SDK in its
    // node_modules (as Lambda finds it in the runtime); removed when the control plane closes.
    let assemblyDir = app.assemblyDir;
    if (app.cached) {
      assemblyDir = mkdtempSync(join(ROOT, '.tropos-assembly-'));
      cpSync(app.assemblyDir, assemblyDir, { recursive: true });
    }
    const template = options.alterTemplate ? options.alterTemplate(structuredClone(app.template)) : app.template;
    const { region, config } = app;
    const dropAssembly = () => rmSync(assemblyDir, { recursive: true, force: true });
    // Before anything starts: a wrong repository is said at once, with nothing left running.
    let infraDir: string;
    try {
      infraDir = localRepository(options, config);
    } catch (e) {
      dropAssembly();
      throw e;
    }

    const dynamo = await startLocalDynamo(options.inMemory ? {} : { path: join(dataDir, 'dynamodb') });
    const tables = app.tables;
    // The control plane's own clients (its tables, its seeding; an operator's tools) are marked as such.
    trustClient(dynamo.client);
    trustClient(dynamo.documents);
    await createTables(dynamo.client, tables);

    // The handlers' AWS SDK clients reach the local services through the SDK's own endpoint variables.
    Object.assign(process.env, {
      // The handlers know they run locally: callbacks may go to this machine's loopback (a local receiver).
      TROPOS_LOCAL: 'true',
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    });
    // IAM enforced: every AWS call of a function, and every task of a state machine, is authorized against the
    // template's policies for its role; the control plane's own clients are marked as such.
    const authorizer = new IamAuthorizer(template, region);
    const iam = {
      authorizer,
      env: () => ({ ...authorizer.env, stateMachineOfTaskToken: (token: string) => engine.stateMachineOfToken(token) }),
    };
    enforceIam([
      DynamoDBClient,
      SFNClient,
      SNSClient,
      CloudWatchClient,
      SecretsManagerClient,
      S3Client,
      CodeBuildClient,
      CloudWatchLogsClient,
    ]);
    const functions = new LocalFunctions(template, region, assemblyDir, iam);
    // The functions' logs would interleave with the CLI's output; TROPOS_LAMBDA_LOG_LEVEL=INFO shows them.
    process.env.POWERTOOLS_LOG_LEVEL = process.env.TROPOS_LAMBDA_LOG_LEVEL ?? 'SILENT';
    const builds = new LocalBuilds({
      template,
      region,
      assemblyDir,
      dataDir,
      localEnvironment: {
        TROPOS_LOCAL: 'true',
        TROPOS_SKIP_ASSUME_ROLE: 'true',
        TROPOS_INFRA_DIR: infraDir,
        PATH: process.env.PATH ?? '',
        ...options.buildEnvironment,
      },
      emit: async (event): Promise<void> => engine.emit(event),
    });
    const engine: LocalEngine = new LocalEngine({
      template,
      region,
      functions,
      build: builds.task,
      sdk: localSdk(dataDir, dynamo.client),
      // The EventBridge rules' target: the run ledger's writer, if the rule may invoke it (its Lambda permission).
      onEvent: async (event) => {
        const invoke = authorizer.authorizeInvoke(
          'events.amazonaws.com',
          functions.arnOf('record-run'),
          ruleArn(template, region, event.source),
        );
        if (!invoke.allowed) throw new AccessDeniedException(invoke.reason);
        await functions.invokeFolder('record-run', event);
      },
      iam,
    });
    const outbox: OutboxMessage[] = [];
    const callbackSecret = localCallbackSecret(dataDir);
    const endpoint = new LocalAwsEndpoint(
      engine,
      (m) => {
        outbox.push(m);
        appendFileSync(join(dataDir, 'outbox.jsonl'), `${JSON.stringify(m)}\n`);
      },
      callbackSecret,
      // The artifacts bucket is the builds' artifacts folder (the functions' environment names the bucket).
      process.env.TROPOS_ARTIFACTS_BUCKET ? { [process.env.TROPOS_ARTIFACTS_BUCKET]: join(dataDir, 'artifacts') } : {},
      builds,
    );
    const awsUrl = await endpoint.start();
    // Set before any handler is loaded: their clients read these when created.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SFN: awsUrl,
      AWS_ENDPOINT_URL_SNS: awsUrl,
      AWS_ENDPOINT_URL_CLOUDWATCH: awsUrl,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: awsUrl,
      AWS_ENDPOINT_URL_S3: awsUrl,
      AWS_ENDPOINT_URL_CODEBUILD: awsUrl,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: awsUrl,
    });

    const restApiId =
      Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::ApiGateway::RestApi')?.[0] ?? '';
    const plane = new ControlPlane(
      outbox,
      config,
      dataDir,
      dropAssembly,
      engine,
      functions,
      dynamo,
      endpoint,
      tables,
      authorizer,
      restApiId,
      builds,
    );
    const exampleRepository = [join(ROOT, 'examples', 'atmos'), join(ROOT, 'examples', 'terraform')].includes(infraDir);
    const seed = options.seedEnvironments ?? (exampleRepository ? join(ROOT, 'examples', 'environments.yaml') : false);
    if (seed) await plane.seedEnvironments(seed);
    await plane.reconcile();
    await plane.listen(options.port ?? 0);
    return plane;
  }

  /**
   * A restart is not a loss. The engine keeps its executions in memory: a run the ledger still shows RUNNING whose
   * execution this engine does not know was cut off by a crash or a stop of the control plane. Its builds outlive
   * it (they report to files, not to this process): those that ended while it was down are adopted first — their
   * ends reported to the ledger from their folders, so that every apply they made is on the records. Then the run's
   * end is recorded the way any end is — an ABORTED status change through the run ledger, which gives its stack
   * lock back first, then records the run with the reason (and calls a ticketing system back, fails an onboarding).
   * A run with a build still running (an apply is never killed) is known to the engine again as RUNNING
   * (DescribeExecution says so: its stack lock is not taken over) until that build ends and is adopted.
   */
  public readonly reconciled: string[] = [];
  public readonly adopted: string[] = [];
  private readonly stopAdopting = new AbortController();
  private async reconcile(): Promise<void> {
    const runs = new RunStore(this.dynamo.documents, this.tables.runs);
    const orphans = this.builds.orphans();
    for (const o of orphans.filter((x) => !x.running)) {
      await this.builds.adopt(o);
      this.adopted.push(o.start.id);
    }
    const known = new Set(this.engine.listExecutions().map((e) => e.executionArn));
    const cutOff = (await runs.listRuns({ status: 'RUNNING', limit: 10_000 })).filter(
      (r) => r.executionArn && !known.has(r.executionArn),
    );
    for (const r of cutOff) {
      const running = orphans.filter((o) => o.running && o.runId === r.runId);
      const adoption = (async () => {
        for (const o of running) {
          if (!(await this.builds.adopt(o, this.stopAdopting.signal))) return false;
          this.adopted.push(o.start.id);
        }
        return true;
      })();
      const execution = this.engine.restoreCutOff(
        { executionArn: r.executionArn, name: r.runId, input: r.input ?? {}, startDate: new Date(r.startedAt) },
        adoption,
        {
          error: 'ControlPlaneRestarted',
          cause:
            'the local control plane stopped (or crashed) while this run ran; its execution did not survive the restart. The builds it had started ran to their end and are on its records (see the components and their build logs); plan again before applying.',
        },
      );
      this.reconciled.push(r.runId);
      // Runs whose builds have all ended are ended before the API answers; the others when their builds end.
      if (running.length === 0) await execution.done;
    }
  }

  /** Registers the environments of a seed file (examples/environments.yaml) that are not registered yet. */
  private async seedEnvironments(file: string): Promise<void> {
    if (!existsSync(file)) throw new InfraDirError(`the environments to register, ${file}, do not exist`);
    const { environments } = parse(readFileSync(file, 'utf8')) as {
      environments: Omit<Environment, 'stack' | 'status' | 'tier' | 'createdAt' | 'updatedAt'>[];
    };
    const now = new Date().toISOString();
    for (const e of environments) {
      const item: Environment = {
        ...e,
        stack: stackName(e),
        tier: this.config.accounts[e.account]?.tier ?? 'dev',
        status: 'active',
        createdAt: now,
        updatedAt: now,
      };
      try {
        await this.dynamo.documents.send(
          new PutCommand({
            TableName: this.tables.environments,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#s)',
            ExpressionAttributeNames: { '#s': 'stack' },
          }),
        );
      } catch (err) {
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
      }
    }
  }

  private async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    // Idle connections are kept longer than clients keep them (fetch: 4 s), so that a client never reuses one the
    // server is closing (ECONNRESET on a POST, which no client retries; seen on a loaded machine at Node's 5 s).
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** HTTP on loopback → the API handler, with the event API Gateway would give it. */
  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(c as Buffer);
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    // API Gateway's own limit (10 MB) stops larger bodies before the handler; the local server stops them here.
    if (size > MAX_REQUEST_BYTES)
      return void send(413, {
        error: 'PayloadTooLarge',
        message: `the body is ${size} bytes; at most ${MAX_REQUEST_BYTES} reach the API`,
      });
    if (url.pathname === '/local/health') return void send(200, { ok: true, pid: process.pid, dataDir: this.dataDir });
    if (url.pathname === '/local/outbox') return void send(200, { messages: this.outbox });
    if (url.pathname === '/local/metrics') return void send(200, { metrics: this.endpoint.metrics });
    const headers = Object.fromEntries(
      Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]),
    );
    const event = {
      httpMethod: req.method ?? 'GET',
      path: url.pathname,
      headers,
      queryStringParameters: url.searchParams.size ? Object.fromEntries(url.searchParams) : null,
      body: size > 0 ? Buffer.concat(chunks).toString('utf8') : null,
      isBase64Encoded: false,
      requestContext: {
        identity: {
          user: headers['x-tropos-user'] ?? process.env.USER ?? 'local',
          userArn: `local:${headers['x-tropos-user'] ?? process.env.USER ?? 'local'}`,
        },
      },
    };
    // API Gateway invokes the handler only as its Lambda permission allows (else it answers 500).
    const invoke = this.iam.authorizeInvoke(
      'apigateway.amazonaws.com',
      this.functions.arnOf('api'),
      `arn:aws:execute-api:${this.config.region}:${LOCAL_ACCOUNT}:${this.restApiId}/v1/${event.httpMethod}${event.path}`,
    );
    if (!invoke.allowed) return void send(500, { error: 'InternalError', message: invoke.reason });
    try {
      const out = (await this.functions.invokeFolder('api', event)) as { statusCode: number; body: string };
      res.writeHead(out.statusCode, { 'content-type': 'application/json' }).end(out.body);
    } catch (e) {
      send(500, { error: 'InternalError', message: (e as Error).message });
    }
  }

  public async close(): Promise<void> {
    // Builds still being adopted are left to the next start (they are still unreported in their folders).
    this.stopAdopting.abort();
    for (const e of this.engine.listExecutions())
      if (e.status === 'RUNNING')
        this.engine.stopExecution(e.executionArn, 'States.Aborted', 'the control plane stopped');
    await Promise.allSettled(this.engine.listExecutions().map((e) => e.done));
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.endpoint.close();
    await this.dynamo.close();
    this.dropAssembly();
  }
}

/** The local ARN of the EventBridge rule that routes events of `source` (aws.states, aws.codebuild) to the ledger. */
function ruleArn(template: Template, region: string, source: string): string {
  const rule = Object.entries(template.Resources).find(
    ([, r]) =>
      r.Type === 'AWS::Events::Rule' &&
      ((r.Properties?.EventPattern as { source?: string[] } | undefined)?.source ?? []).includes(source),
  );
  if (!rule) throw new Error(`no EventBridge rule routes ${source} events`);
  return `arn:aws:events:${region}:${LOCAL_ACCOUNT}:rule/${rule[0]}`;
}

/**
 * The repository the local builds run in: `--infra-dir` (options.infraDir), else $TROPOS_INFRA_DIR, else the
 * configuration's `infrastructure.localPath`, else the example repository in the configured engine's layout. It must
 * exist and be in that layout (an Atmos repository has atmos.yaml; a plain-terraform one, environments/).
 */
export function localRepository(
  options: Pick<ControlPlaneOptions, 'infraDir' | 'configPath'>,
  config: Pick<TroposConfig, 'engine' | 'infrastructure'>,
): string {
  const configDir = dirname(options.configPath ?? process.env.TROPOS_CONFIG ?? join(ROOT, 'tropos.config.yaml'));
  const chosen =
    options.infraDir ??
    process.env.TROPOS_INFRA_DIR ??
    (config.infrastructure.localPath ? resolve(configDir, config.infrastructure.localPath) : undefined) ??
    join(ROOT, 'examples', config.engine === 'atmos' ? 'atmos' : 'terraform');
  const dir = resolve(chosen);
  const marker = config.engine === 'atmos' ? 'atmos.yaml' : 'environments';
  if (!existsSync(dir)) throw new InfraDirError(`the infrastructure repository ${dir} does not exist`);
  if (!existsSync(join(dir, marker)))
    throw new InfraDirError(
      `${dir} is not ${config.engine === 'atmos' ? 'an Atmos repository (no atmos.yaml)' : 'a plain-terraform repository (no environments/)'}; the configuration's engine is ${config.engine}`,
    );
  return dir;
}

/** The local repository given is missing or not in the engine's layout. */
export class InfraDirError extends Error {
  public override readonly name = 'InfraDirError';
}
