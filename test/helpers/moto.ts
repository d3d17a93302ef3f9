import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * A local AWS endpoint for the real terraform's S3 backend, started by the tests on loopback: the Python `moto` server
 * for S3 (with versioning) and STS, and dynalite (its own process) for the DynamoDB lock table. `unavailable()` says
 * why it cannot run here.
 *
 * Why not moto's DynamoDB as well: against it, terraform's AWS SDK now and then retried a DynamoDB call whose first
 * attempt moto had carried out (measured: 10 retried calls in ~1,650 applies of 14 states, 10 at a time). When that
 * call is the lock's conditional PutItem, the retry finds the lock terraform itself just took, and terraform waits
 * for its own lock until its -lock-timeout: the "hung" plans of test/real-terraform.test.ts under load. Against
 * dynalite the same load made no retried call (2,000 applies).
 */
export class MotoServer {
  private constructor(
    private readonly child: ChildProcess,
    public readonly url: string,
    private readonly dynamo: ChildProcess,
    public readonly dynamoUrl: string,
  ) {}

  /** Why moto cannot run on this machine (undefined: it can). */
  public static unavailable(): string | undefined {
    const probe = spawnSync('python3', ['-c', 'import moto.server'], { encoding: 'utf8' });
    if (probe.error) return `python3 is not installed (${probe.error.message})`;
    if (probe.status !== 0) return `the Python moto server is not installed: ${probe.stderr.trim().split('\n').pop()}`;
    return undefined;
  }

  public static async start(): Promise<MotoServer> {
    const dynamoPort = await freePort();
    const dynamo = spawn(
      process.execPath,
      ['-e', `require('dynalite')({ createTableMs: 0, deleteTableMs: 0 }).listen(${dynamoPort}, '127.0.0.1')`],
      { cwd: join(__dirname, '..', '..'), stdio: 'ignore' },
    );
    const port = await freePort();
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const dynamoUrl = `http://127.0.0.1:${dynamoPort}`;
    const deadline = Date.now() + 30_000;
    for (const [name, proc, probe] of [
      ['moto', child, `${url}/moto-api/`],
      ['dynalite', dynamo, dynamoUrl],
    ] as const) {
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`${name} exited (${proc.exitCode}): ${stderr}`);
        try {
          const res = await fetch(probe);
          if (res.status < 500) break;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) {
          child.kill();
          dynamo.kill();
          throw new Error(`${name} did not answer on ${probe} within 30 s: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return new MotoServer(child, url, dynamo, dynamoUrl);
  }

  /** What terraform's S3 backend and the aws CLI need to use this endpoint (AWS_ENDPOINT_URL_* are read by both). */
  public environment(region = 'us-east-1'): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: 'moto',
      AWS_SECRET_ACCESS_KEY: 'moto',
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ENDPOINT_URL_S3: this.url,
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamoUrl,
      AWS_ENDPOINT_URL_STS: this.url,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  }

  /** Runs the aws CLI against this endpoint; its JSON answer (or text, when it printed no JSON). */
  public aws(...args: string[]): unknown {
    const out = execFileSync('aws', [...args, '--output', 'json'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...this.environment() },
      encoding: 'utf8',
    });
    try {
      return out.trim() ? JSON.parse(out) : undefined;
    } catch {
      return out;
    }
  }

  /** A versioned state bucket and a lock table shaped as terraform's S3 backend wants them. */
  public stateBackend(bucket: string, lockTable: string): void {
    this.aws('s3api', 'create-bucket', '--bucket', bucket);
    this.aws('s3api', 'put-bucket-versioning', '--bucket', bucket, '--versioning-configuration', 'Status=Enabled');
    this.aws(
      'dynamodb',
      'create-table',
      '--table-name',
      lockTable,
      '--attribute-definitions',
      'AttributeName=LockID,AttributeType=S',
      '--key-schema',
      'AttributeName=LockID,KeyType=HASH',
      '--billing-mode',
      'PAY_PER_REQUEST',
    );
  }

  public async stop(): Promise<void> {
    for (const child of [this.child, this.dynamo]) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
