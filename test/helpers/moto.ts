import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * A local AWS endpoint for the real terraform's S3 backend: the Python `moto` server (S3 with versioning, DynamoDB
 * with conditional writes, STS) on loopback, started by the tests. `available()` says why it cannot run here.
 */
export class MotoServer {
  private constructor(
    private readonly child: ChildProcess,
    public readonly url: string,
  ) {}

  /** Why moto cannot run on this machine (undefined: it can). */
  public static unavailable(): string | undefined {
    const probe = spawnSync('python3', ['-c', 'import moto.server'], { encoding: 'utf8' });
    if (probe.error) return `python3 is not installed (${probe.error.message})`;
    if (probe.status !== 0) return `the Python moto server is not installed: ${probe.stderr.trim().split('\n').pop()}`;
    return undefined;
  }

  public static async start(): Promise<MotoServer> {
    const port = await freePort();
    const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}): ${stderr}`);
      try {
        const res = await fetch(`${url}/moto-api/`);
        if (res.status < 500) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill();
        throw new Error(`moto did not answer on ${url} within 30 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return new MotoServer(child, url);
  }

  /** What terraform's S3 backend and the aws CLI need to use this endpoint (AWS_ENDPOINT_URL_* are read by both). */
  public environment(region = 'us-east-1'): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: 'moto',
      AWS_SECRET_ACCESS_KEY: 'moto',
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ENDPOINT_URL_S3: this.url,
      AWS_ENDPOINT_URL_DYNAMODB: this.url,
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
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
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
