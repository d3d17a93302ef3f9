import { existsSync, readFileSync, statSync } from 'node:fs';
import { KEEP_ALIVE_MS } from './sdk';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { LocalBuilds } from './builds';
import { LocalEngine, TaskError } from './engine';

/** A message published to SNS, kept in the local outbox. */
export interface OutboxMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly subject?: string | undefined;
  readonly message: string;
  readonly publishedAt: string;
}

/**
 * The AWS APIs the handlers call, served on loopback: Step Functions (JSON 1.0: StartExecution,
 * DescribeExecution, StopExecution, SendTaskSuccess / Failure / Heartbeat) backed by the local engine, and SNS
 * Publish (query protocol) into the outbox, CloudWatch PutMetricData into `metrics`, and Secrets Manager
 * GetSecretValue with the local callback signing key, S3 GetObject (path-style) of the buckets kept in local
 * folders (the artifacts bucket: what the local builds store), and the local builds' CodeBuild BatchGetBuilds and
 * CloudWatch Logs GetLogEvents (their logs). The handlers use the real AWS SDK, pointed here by
 * AWS_ENDPOINT_URL_SFN, AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_S3, ...
 */
export class LocalAwsEndpoint {
  private server?: Server;
  public url = '';

  /** Metric data put (CloudWatch PutMetricData), in order. */
  public readonly metrics: Record<string, unknown>[] = [];

  constructor(
    private readonly engine: LocalEngine,
    private readonly publish: (m: OutboxMessage) => void,
    /** The one secret GetSecretValue answers with (the callback signing key). */
    private readonly secret = 'local-callback-secret',
    /** Buckets served from folders: name → folder (GetObject only). */
    private readonly buckets: Readonly<Record<string, string>> = {},
    /** The local builds: CodeBuild BatchGetBuilds and CloudWatch Logs GetLogEvents of their logs. */
    private readonly builds?: Pick<LocalBuilds, 'describe' | 'logFileOf'>,
  ) {}

  public async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    // Idle connections are kept longer than clients keep them (fetch: 4 s), so that a client never reuses one the
    // server is closing (ECONNRESET on a POST, which no client retries; seen on a loaded machine at Node's 5 s).
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  public async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = req.headers['x-amz-target'];
    if (req.method === 'GET' || req.method === 'HEAD') {
      this.s3Get(req, res);
      return;
    }
    try {
      if (typeof target === 'string' && target.startsWith('AWSStepFunctions.')) {
        const out = this.stepFunctions(
          target.slice('AWSStepFunctions.'.length),
          JSON.parse(body || '{}') as Record<string, unknown>,
        );
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(out));
        return;
      }
      if (typeof target === 'string' && target === 'secretsmanager.GetSecretValue') {
        const { SecretId } = JSON.parse(body || '{}') as { SecretId?: string };
        res
          .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
          .end(JSON.stringify({ ARN: SecretId, Name: SecretId, SecretString: this.secret, VersionId: 'local' }));
        return;
      }
      if (target === 'CodeBuild_20161006.BatchGetBuilds' && this.builds) {
        const { ids = [] } = JSON.parse(body || '{}') as { ids?: string[] };
        const builds = this.builds.describe(ids);
        const found = new Set(builds.map((b) => b.id));
        res
          .writeHead(200, { 'content-type': 'application/x-amz-json-1.1' })
          .end(JSON.stringify({ builds, buildsNotFound: ids.filter((i) => !found.has(i)) }));
        return;
      }
      if (target === 'Logs_20140328.GetLogEvents' && this.builds) {
        const out = this.logEvents(JSON.parse(body || '{}') as Record<string, unknown>);
        res
          .writeHead(out ? 200 : 400, { 'content-type': 'application/x-amz-json-1.1' })
          .end(
            JSON.stringify(
              out ?? { __type: 'ResourceNotFoundException', message: 'The specified log stream does not exist.' },
            ),
          );
        return;
      }
      if (typeof target === 'string' && target.endsWith('.PutMetricData')) {
        const { Namespace, MetricData } = JSON.parse(body || '{}') as { Namespace: string; MetricData: unknown[] };
        for (const m of MetricData ?? []) this.metrics.push({ namespace: Namespace, ...(m as object) });
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}');
        return;
      }
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'Publish') {
        const messageId = randomUUID();
        this.publish({
          messageId,
          topicArn: form.get('TopicArn') ?? '',
          subject: form.get('Subject') ?? undefined,
          message: form.get('Message') ?? '',
          publishedAt: new Date().toISOString(),
        });
        res
          .writeHead(200, { 'content-type': 'text/xml' })
          .end(
            `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
          );
        return;
      }
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' }).end(
        JSON.stringify({
          __type: 'UnknownOperationException',
          message: `the local endpoint does not serve ${target ?? form.get('Action') ?? 'this request'}`,
        }),
      );
    } catch (e) {
      const err = e as Error;
      const type = err instanceof TaskError ? err.name : 'InvalidParameterValue';
      res
        .writeHead(400, { 'content-type': 'application/x-amz-json-1.0' })
        .end(JSON.stringify({ __type: `com.amazonaws.sfn#${type}`, message: err.message }));
    }
  }

  /**
   * CloudWatch Logs GetLogEvents of a local build's log, from its head: one event per line, at most `limit` (10,000)
   * and ~1 MB a page; the forward token is the next line's index (`f/<n>`), returned unchanged at the end.
   */
  private logEvents(p: Record<string, unknown>): Record<string, unknown> | undefined {
    const log = this.builds!.logFileOf(String(p.logGroupName ?? ''), String(p.logStreamName ?? ''));
    if (!log) return undefined;
    const { file } = log;
    const lines = readFileSync(file, 'utf8').split('\n');
    // The text after the last line break: nothing, or a line still being written, read once it ends (a build that
    // has ended writes no more: its last line is read as it is).
    const partial = lines.pop();
    if (partial && !log.running) lines.push(partial);
    const from = Number(/^f\/(\d+)$/.exec(String(p.nextToken ?? ''))?.[1] ?? 0);
    const limit = Math.min(Number(p.limit ?? 10_000), 10_000);
    const at = statSync(file).mtimeMs;
    const events: { timestamp: number; message: string; ingestionTime: number }[] = [];
    let bytes = 0;
    for (let i = from; i < lines.length && events.length < limit && bytes < 1_000_000; i++) {
      events.push({ timestamp: at, message: lines[i]!, ingestionTime: at });
      bytes += lines[i]!.length + 26;
    }
    return { events, nextForwardToken: `f/${from + events.length}`, nextBackwardToken: `b/${from}` };
  }

  /** S3 GetObject, path-style (`/<bucket>/<key>`), from the bucket's folder; S3's XML errors otherwise. */
  private s3Get(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://local');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = rest.map((p) => decodeURIComponent(p)).join('/');
    const error = (status: number, code: string, message: string): void =>
      void res
        .writeHead(status, { 'content-type': 'application/xml' })
        .end(
          req.method === 'HEAD'
            ? undefined
            : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><BucketName>${bucket}</BucketName><Key>${key}</Key></Error>`,
        );
    const folder = this.buckets[bucket];
    if (!folder) return error(404, 'NoSuchBucket', 'The specified bucket does not exist');
    const file = normalize(join(folder, key));
    if (!file.startsWith(normalize(folder) + sep) || !existsSync(file) || !statSync(file).isFile())
      return error(404, 'NoSuchKey', 'The specified key does not exist.');
    const body = readFileSync(file);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private stepFunctions(operation: string, p: Record<string, unknown>): unknown {
    const e = this.engine;
    switch (operation) {
      case 'StartExecution': {
        const input = typeof p.input === 'string' ? (JSON.parse(p.input) as unknown) : {};
        const ex = e.startExecution(String(p.stateMachineArn), input, typeof p.name === 'string' ? p.name : undefined);
        return { executionArn: ex.executionArn, startDate: ex.startDate.getTime() / 1000 };
      }
      case 'DescribeExecution': {
        const ex = e.execution(String(p.executionArn));
        return {
          executionArn: ex.executionArn,
          stateMachineArn: ex.stateMachineArn,
          name: ex.name,
          status: ex.status,
          startDate: ex.startDate.getTime() / 1000,
          ...(ex.stopDate ? { stopDate: ex.stopDate.getTime() / 1000 } : {}),
          input: JSON.stringify(ex.input),
          ...(ex.output !== undefined ? { output: JSON.stringify(ex.output) } : {}),
          ...(ex.error ? { error: ex.error } : {}),
          ...(ex.cause ? { cause: ex.cause } : {}),
        };
      }
      case 'StopExecution': {
        const ex = e.stopExecution(
          String(p.executionArn),
          p.error as string | undefined,
          p.cause as string | undefined,
        );
        return { stopDate: (ex.stopDate ?? new Date()).getTime() / 1000 };
      }
      case 'SendTaskSuccess':
        e.sendTaskSuccess(String(p.taskToken), JSON.parse(String(p.output ?? 'null')));
        return {};
      case 'SendTaskFailure':
        e.sendTaskFailure(String(p.taskToken), p.error as string | undefined, p.cause as string | undefined);
        return {};
      case 'SendTaskHeartbeat':
        return {};
      default:
        throw new TaskError(
          'UnknownOperationException',
          `the local Step Functions endpoint does not serve ${operation}`,
        );
    }
  }
}
