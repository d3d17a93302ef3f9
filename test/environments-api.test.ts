import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyCallback } from '../lib/domain/callback';
import type { RunDetail } from '../lib/records/run';
import type { Environment } from '../lib/records/environment';
import { EnvironmentWriter, TICKET_LEASE_MS, TicketStore } from '../lib/records/environment-store';
import { startTestPlane, TestPlane } from './helpers/local';

jest.setTimeout(180_000);

/** A ticketing system's webhook receiver on loopback: keeps every callback with its raw body and headers. */
interface Receiver {
  readonly url: string;
  readonly received: { path: string; headers: IncomingHttpHeaders; body: string }[];
  /** Answer the next n callbacks with this status first (to see the retries). */
  failNext(n: number, status: number): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  let failing = { n: 0, status: 503 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (failing.n > 0) {
        failing.n -= 1;
        return void res.writeHead(failing.status).end('try later');
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    failNext: (n, status) => (failing = { n, status }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let t: TestPlane;
let receiver: Receiver;
/** The signing secret a receiver is given: the one the local control plane generated into its data folder. */
function secret(): string {
  const value = readFileSync(join(t.plane.dataDir, 'callback-secret'), 'utf8').trim();
  expect(value).toMatch(/^[0-9a-f]{64}$/);
  return value;
}
beforeAll(async () => {
  t = await startTestPlane();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});
beforeEach(() => t.scenario({}));

let ticketNumber = 0;
/** A valid onboarding request; each call gets a new ticket. */
function request(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  ticketNumber += 1;
  return {
    tenant: 'acme',
    account: 'dev',
    environment: `onb-${ticketNumber}`,
    region: 'us-east-1',
    vpcCidr: `10.${100 + (ticketNumber % 150)}.0.0/16`,
    tier: 'dev',
    tags: { Owner: 'platform', CostCenter: '1234' },
    ticketId: `CHG${String(1000 + ticketNumber)}`,
    requestedBy: 'servicenow@example.com',
    ...overrides,
  };
}

/** Everything in the registry table (environments, allocation items, tickets). */
async function registry(): Promise<Record<string, unknown>[]> {
  const out = await t.plane.dynamo.documents.send(new ScanCommand({ TableName: t.plane.tables.environments }));
  return (out.Items ?? []).sort((a, b) => String(a.stack).localeCompare(String(b.stack)));
}

/** The executions of onboard-environment (not the runs they start). */
const onboardings = () =>
  t.plane.engine.listExecutions().filter((e) => e.stateMachineArn.endsWith(':stateMachine:tropos-onboard-environment'));

async function waitUntil(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('POST /environments: a ticketing system onboards an environment', () => {
  test('end to end: 202, the run deploys it, the environment is active, the stack config written, a signed callback', async () => {
    const body = request({
      environment: 'payments',
      vpcCidr: '10.60.0.0/16',
      callbackUrl: `${receiver.url}/hooks/tropos`,
    });
    const res = await t.post('/environments', body);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      stack: 'acme-dev-payments',
      ticketId: body.ticketId,
      workflow: 'onboard-environment',
      status: 'RUNNING',
      statusUrl: `/runs/${String(res.body.runId)}`,
      environmentUrl: '/environments/acme-dev-payments',
    });
    // Registered as onboarding before the run does anything, with its CIDR.
    const early = await t.get('/environments/acme-dev-payments');
    expect(early.status).toBe(200);
    expect(['onboarding', 'active']).toContain(early.body.status);

    const d = await t.waitFor(String(res.body.runId));
    expect(d.run).toMatchObject({
      status: 'SUCCEEDED',
      workflow: 'onboard-environment',
      stack: 'acme-dev-payments',
      ticketId: body.ticketId,
      // Who the ticket says asked, beside the caller the API authenticated.
      requestedBy: 'servicenow@example.com',
      principal: 'local:requester',
      origin: 'api',
    });
    const env = await t.get('/environments/acme-dev-payments');
    expect(env.body).toMatchObject({
      status: 'active',
      vpcCidr: '10.60.0.0/16',
      tier: 'dev',
      tags: { Owner: 'platform', CostCenter: '1234' },
      ticketId: body.ticketId,
      runId: res.body.runId,
      failure: null,
    });
    // The stack configuration the runners read, generated from the catalog.
    const stackFile = join(t.infraDir, 'stacks', 'orgs', 'acme', 'dev', 'payments.yaml');
    expect(existsSync(stackFile)).toBe(true);
    expect(readFileSync(stackFile, 'utf8')).toContain('vpc_cidr: "10.60.0.0/16"');
    // Run records: the onboarding, its steps, and the apply-environment it started.
    const children = (await t.get(`/runs?parentRunId=${String(res.body.runId)}`)).body.runs as RunDetail['run'][];
    expect(children).toEqual([expect.objectContaining({ workflow: 'apply-environment', status: 'SUCCEEDED' })]);
    expect(d.steps.map((s) => s.step)).toEqual(['generate-config']);

    // The callback: once, signed with the shared secret over the raw body, recorded on the run.
    await waitUntil(() => receiver.received.some((r) => r.path === '/hooks/tropos'));
    const callbacks = receiver.received.filter((r) => r.path === '/hooks/tropos');
    expect(callbacks).toHaveLength(1);
    const cb = callbacks[0]!;
    expect(verifyCallback(secret(), cb.headers, cb.body)).toEqual({ ok: true });
    expect(verifyCallback('another-secret', cb.headers, cb.body)).toMatchObject({ ok: false });
    expect(verifyCallback(secret(), cb.headers, cb.body.replace('SUCCEEDED', 'FAILED'))).toMatchObject({
      ok: false,
      reason: 'the signature does not match the body',
    });
    expect(JSON.parse(cb.body)).toMatchObject({
      event: 'run.ended',
      runId: res.body.runId,
      workflow: 'onboard-environment',
      status: 'SUCCEEDED',
      ticketId: body.ticketId,
      stack: 'acme-dev-payments',
    });
    const recorded = await t.waitFor(String(res.body.runId), (r) => r.run.callback?.status === 'DELIVERED');
    expect(recorded.run.callback?.attempts).toHaveLength(1);
  });

  test('a failed onboarding: the environment is failed with the reason, the callback says so, the CIDR is free again', async () => {
    t.scenario({ components: { vpc: { apply: 'fail' } } });
    receiver.failNext(2, 503);
    const body = request({
      environment: 'broken',
      vpcCidr: '10.61.0.0/16',
      callbackUrl: `${receiver.url}/hooks/failed`,
    });
    const res = await t.post('/environments', body);
    expect(res.status).toBe(202);
    const d = await t.waitFor(String(res.body.runId), (r) => r.run.callback?.status === 'DELIVERED', 60_000);
    expect(d.run.status).toBe('FAILED');
    // Two 503s, then delivered: three attempts recorded.
    expect(d.run.callback?.attempts.map((a) => a.statusCode)).toEqual([503, 503, 204]);
    const env = (await t.get('/environments/acme-dev-broken')).body;
    expect(env.status).toBe('failed');
    expect(JSON.stringify(env.failure)).toMatch(/vpc/);
    const callbacks = receiver.received.filter((r) => r.path === '/hooks/failed');
    expect(callbacks).toHaveLength(3);
    for (const cb of callbacks) expect(verifyCallback(secret(), cb.headers, cb.body)).toEqual({ ok: true });
    expect(JSON.parse(callbacks[2]!.body)).toMatchObject({ status: 'FAILED', stack: 'acme-dev-broken' });

    // The CIDR was given back: another environment may take it (and the failed name may be onboarded again).
    t.scenario({});
    const again = await t.post('/environments', request({ environment: 'broken', vpcCidr: '10.61.0.0/16' }));
    expect(again.status).toBe(202);
    const second = await t.waitFor(String(again.body.runId));
    expect([second.run.status, second.run.error, second.run.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect((await t.get('/environments/acme-dev-broken')).body.status).toBe('active');
  });

  test('409 when the CIDR overlaps a registered environment of the tenant, naming it', async () => {
    // acme-dev-testenv-01 (the example environments) holds 10.0.0.0/16.
    const before = onboardings().length;
    const res = await t.post('/environments', request({ environment: 'overlapper', vpcCidr: '10.0.128.0/17' }));
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({
      error: 'CidrOverlap',
      overlapping: { stack: 'acme-dev-testenv-01', vpcCidr: '10.0.0.0/16' },
    });
    expect(String(res.body.message)).toContain('acme-dev-testenv-01');
    expect(onboardings()).toHaveLength(before);
    expect((await t.get('/environments/acme-dev-overlapper')).status).toBe(404);
  });

  test('409 when the stack is registered already', async () => {
    const res = await t.post('/environments', request({ account: 'staging', environment: 'main', tier: undefined }));
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'EnvironmentExists', problems: [{ field: 'environment' }] });
  });

  test('the same ticket twice: the same run (200), one execution; the ticket for another environment: 409', async () => {
    const body = request({ environment: 'twice', vpcCidr: '10.62.0.0/16' });
    const before = onboardings().length;
    // Six at once: one claims the ticket and starts the run (202); the others wait for it and answer its run.
    const all = await Promise.all(Array.from({ length: 6 }, () => t.post('/environments', body)));
    const first = all.find((r) => r.status === 202)!;
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    expect(new Set(all.map((r) => r.body.runId))).toEqual(new Set([first.body.runId]));
    expect(onboardings()).toHaveLength(before + 1);
    const second = await t.post('/environments', body);
    expect([second.status, second.body.runId]).toEqual([200, first.body.runId]);
    const other = await t.post('/environments', { ...body, environment: 'other', vpcCidr: '10.63.0.0/16' });
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ error: 'TicketConflict', stack: 'acme-dev-twice', runId: first.body.runId });
    expect(onboardings()).toHaveLength(before + 1);
    await t.waitFor(String(first.body.runId));
    // Once it has ended, the ticket still answers with its run, now with the run's status.
    const later = await t.post('/environments', body);
    expect(later).toMatchObject({ status: 200, body: { runId: first.body.runId, status: 'SUCCEEDED' } });
  });

  test('20 concurrent onboardings with overlapping CIDRs: exactly one is registered, the others get 409', async () => {
    const before = onboardings().length;
    // Nested blocks, /16 to /24, each twice (and two more /24s): all contain 10.70.0.0/24, so every pair overlaps
    // and whichever request wins, all the others must lose.
    const nested = [16, 17, 18, 19, 20, 21, 22, 23, 24].map((bits) => `10.70.0.0/${bits}`);
    const cidrs = [...nested, ...nested, '10.70.0.0/24', '10.70.0.0/24'];
    expect(cidrs).toHaveLength(20);
    const bodies = cidrs.map((vpcCidr, i) => request({ environment: `race-${i}`, vpcCidr }));
    const answers = await Promise.all(bodies.map((b) => t.post('/environments', b)));
    const won = answers.filter((a) => a.status === 202);
    const lost = answers.filter((a) => a.status !== 202);
    expect(won).toHaveLength(1);
    expect(lost.map((a) => a.status)).toEqual(Array(19).fill(409));
    for (const a of lost) expect(a.body.error).toBe('CidrOverlap');
    const registered = (await registry()).filter((i) => String(i.stack).startsWith('acme-dev-race-'));
    expect(registered.map((i) => i.stack)).toEqual([won[0]!.body.stack]);
    expect(onboardings()).toHaveLength(before + 1);
    const winner = await t.waitFor(String(won[0]!.body.runId));
    expect(winner.run.status).toBe('SUCCEEDED');
    // Every loser's ticket was given back: sent again, it is refused for the overlap again, not as a taken ticket.
    const again = await t.post('/environments', bodies[answers.indexOf(lost[0]!)]);
    expect(again.body.error).toBe('CidrOverlap');
  });
});

describe('a request abandoned between claiming its ticket and starting its run (its function timed out)', () => {
  /** A ticket claimed TICKET_LEASE_MS ago by a request that got no further than `stage`. */
  async function abandoned(stage: 'claimed' | 'registered' | 'started') {
    const body = request({
      environment: `lost-${stage}`,
      vpcCidr: `10.${stage === 'claimed' ? 81 : stage === 'registered' ? 82 : 83}.0.0/16`,
    });
    const stack = `acme-dev-lost-${stage}`;
    const runId = `onboard-environment-20261122-000000-${stage.slice(0, 4)}`;
    const createdAt = new Date(Date.now() - TICKET_LEASE_MS - 1000).toISOString();
    const input = {
      tenant: 'acme',
      account: 'dev',
      environment: `lost-${stage}`,
      region: 'us-east-1',
      vpc_cidr: body.vpcCidr,
      tier: 'dev',
      tags: 'Owner=platform,CostCenter=1234',
      ticketId: body.ticketId,
      requestedBy: body.requestedBy,
    };
    const registration: Environment = {
      stack,
      tenant: 'acme',
      account: 'dev',
      environment: `lost-${stage}`,
      region: 'us-east-1',
      tier: 'dev',
      vpcCidr: String(body.vpcCidr),
      status: 'onboarding',
      ticketId: String(body.ticketId),
      runId,
      createdAt,
      updatedAt: createdAt,
    };
    const tickets = new TicketStore(t.plane.dynamo.documents, t.plane.tables.environments);
    const registry = new EnvironmentWriter(t.plane.dynamo.documents, t.plane.tables.environments);
    await tickets.claim({
      ticketId: String(body.ticketId),
      stack,
      runId,
      createdAt,
      registration,
      input,
      caller: 'gone',
    });
    if (stage !== 'claimed') await registry.register(registration);
    if (stage === 'started')
      t.plane.engine.startExecution(t.plane.engine.machine('tropos-onboard-environment').arn, input, runId);
    return { body, stack, runId };
  }

  test.each(['claimed', 'registered', 'started'] as const)(
    'abandoned once %s: the ticket sent again finishes it — one execution, the environment active',
    async (stage) => {
      const { body, stack, runId } = await abandoned(stage);
      const before = onboardings().length;
      const res = await t.post('/environments', body);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ runId, stack });
      expect(onboardings().filter((e) => e.name === runId)).toHaveLength(1);
      expect(onboardings()).toHaveLength(stage === 'started' ? before : before + 1);
      expect((await t.waitFor(runId)).run.status).toBe('SUCCEEDED');
      expect((await t.get(`/environments/${stack}`)).body).toMatchObject({ status: 'active', runId });
      // And from now on, the ticket answers with that run.
      expect(await t.post('/environments', body)).toMatchObject({ status: 200, body: { runId, status: 'SUCCEEDED' } });
    },
  );
});

describe('400 for each kind of bad field, naming it; nothing started or written', () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['a required field missing', { tenant: undefined }, 'tenant', /required/],
    ['a field that is not a string', { account: 42 }, 'account', /must be a string/],
    ['an unknown field', { colour: 'blue' }, 'colour', /not a field of POST \/environments; allowed: tenant/],
    ['an account not in the configuration', { account: 'qa' }, 'account', /qa/],
    ['a name that is not allowed', { environment: 'Bad_Name!' }, 'environment', /Bad_Name!/],
    ['a tier that is not allowed', { tier: 'gold' }, 'tier', /gold/],
    ['a region that is not one', { region: 'mars-1' }, 'region', /mars-1/],
    ['a CIDR that is not one', { vpcCidr: '10.300.0.0/16' }, 'vpcCidr', /10\.300\.0\.0\/16/],
    ['tags missing what the policy requires', { tags: { Owner: 'platform' } }, 'tags', /CostCenter/],
    ['tags that are not an object', { tags: 'Owner=a' }, 'tags', /must be an object/],
    ['a ticket id that is not one', { ticketId: 'has spaces in it' }, 'ticketId', /not allowed/],
    ['an empty requestedBy', { requestedBy: '   ' }, 'requestedBy', /name or an e-mail address/],
    ['a requestedBy with control characters', { requestedBy: 'jane\u001b[31m' }, 'requestedBy', /no control/],
    ['a tier looser than the account', { account: 'prod', tier: 'dev' }, 'tier', /looser than the prod account's tier/],
    ['a callback URL over http to another host', { callbackUrl: 'http://example.com/hook' }, 'callbackUrl', /https/],
    ['a callback URL that is not a URL', { callbackUrl: 'not a url' }, 'callbackUrl', /not a URL/],
  ];

  test.each(cases)('%s', async (_, overrides, field, problem) => {
    const before = { executions: onboardings().length, registry: await registry() };
    const body = request(overrides);
    for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete body[k];
    const res = await t.post('/environments', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('InvalidInput');
    const problems = res.body.problems as { field: string; problem: string }[];
    expect(problems).toEqual([expect.objectContaining({ field, problem: expect.stringMatching(problem) })]);
    expect(onboardings()).toHaveLength(before.executions);
    expect(await registry()).toEqual(before.registry);
  });

  test('every bad field of one request is listed at once', async () => {
    const res = await t.post('/environments', {
      tenant: 'ACME',
      account: 'qa',
      environment: 'ok-name',
      region: 'us-east-1',
      vpcCidr: 'nope',
      ticketId: 'CHG-9',
      requestedBy: 'me',
      extra: true,
    });
    expect(res.status).toBe(400);
    const fields = [...new Set((res.body.problems as { field: string }[]).map((p) => p.field))].sort();
    expect(fields).toEqual(['account', 'extra', 'tags', 'tenant', 'vpcCidr']);
  });
});

/** A small deterministic generator, so that a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe('fuzz: malformed bodies', () => {
  test('250 malformed requests: every answer a 4xx with a reason, no execution started, nothing written', async () => {
    const random = prng(20261122);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const junkValues: unknown[] = [
      null,
      true,
      0,
      -1,
      1e308,
      '',
      ' ',
      'x'.repeat(5000),
      [],
      ['10.0.0.0/16'],
      {},
      { nested: { deeper: [1, 2, 3] } },
      '../../etc/passwd',
      '10.0.0.0/33',
      '0.0.0.0/0',
      'acme\u0000dev',
      '<script>alert(1)</script>',
      "'; DROP TABLE environments; --",
      '\u202e\u0301',
      '${jndi:ldap://x}',
    ];
    const fields = [
      'tenant',
      'account',
      'environment',
      'region',
      'vpcCidr',
      'tier',
      'tags',
      'ticketId',
      'requestedBy',
      'callbackUrl',
    ];
    const malformed: { body: string; contentType: string }[] = [];
    const json = (v: unknown) => ({ body: JSON.stringify(v), contentType: 'application/json' });
    const kinds: (() => { body: string; contentType: string })[] = [
      // Not JSON, or JSON that is not an object.
      () => ({ body: JSON.stringify(request()).slice(0, Math.floor(random() * 150)), contentType: 'application/json' }),
      () => json(pick([null, 1, 'text', [request()], true])),
      () => ({
        body: Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))).toString('latin1'),
        contentType: 'application/json',
      }),
      // The wrong content type, with an otherwise good body.
      () => ({
        body: JSON.stringify(request()),
        contentType: pick(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', '']),
      }),
      // Too large.
      () => json({ ...request(), requestedBy: 'y'.repeat(70 * 1024) }),
      // One to three fields replaced by junk (or removed).
      () => {
        const body = request();
        const n = 1 + Math.floor(random() * 3);
        let certain = false;
        for (let i = 0; i < n; i++) {
          const f = pick(fields);
          const v = random() < 0.2 ? undefined : pick(junkValues);
          if (v === undefined) delete body[f];
          else body[f] = v;
          // Some junk is a fine free-text value (requestedBy, ticketId), or leaves out an optional field.
          const absent = v === undefined || v === null || v === '';
          if (!['requestedBy', 'ticketId', 'callbackUrl', 'tier'].includes(f) || (f === 'tier' && !absent))
            certain = true;
        }
        if (!certain) body.environment = pick(['', 'UPPER', 'a'.repeat(100), 'under_score', 7]);
        return json(body);
      },
      // Unknown fields.
      () => json({ ...request(), [pick(['__proto__', 'constructor', 'vpc_cidr', 'Tenant', 'status', 'runId'])]: 'x' }),
    ];
    for (let i = 0; i < 250; i++) malformed.push(kinds[i % kinds.length]!());

    const before = { executions: t.plane.engine.listExecutions().length, registry: await registry() };
    for (let i = 0; i < malformed.length; i += 10) {
      const batch = malformed.slice(i, i + 10);
      const answers = await Promise.all(
        batch.map(async (m) => {
          const res = await fetch(`${t.plane.url}/environments`, {
            method: 'POST',
            headers: m.contentType ? { 'content-type': m.contentType } : {},
            body: m.body,
          });
          return { status: res.status, body: (await res.json()) as { error?: string; message?: string } };
        }),
      );
      for (const [j, a] of answers.entries()) {
        const what = `case ${i + j}: ${batch[j]!.body.slice(0, 200)}`;
        expect({ what, status: a.status >= 400 && a.status < 500 }).toEqual({ what, status: true });
        expect(a.body.error).toEqual(expect.any(String));
        expect(a.body.message).toEqual(expect.any(String));
      }
    }
    expect(t.plane.engine.listExecutions()).toHaveLength(before.executions);
    expect(await registry()).toEqual(before.registry);
  });
});

describe('GET /environments', () => {
  test('lists the registered environments with status, CIDR, tier and last drift; filters by tenant and status', async () => {
    const all = (await t.get('/environments')).body.environments as Record<string, unknown>[];
    expect(all.map((e) => e.stack)).toEqual(expect.arrayContaining(['acme-dev-testenv-01', 'acme-prod-main']));
    // The allocation and ticket items of the registry table are not environments.
    expect(all.every((e) => !String(e.stack).startsWith('#'))).toBe(true);
    expect(all.find((e) => e.stack === 'acme-prod-main')).toMatchObject({
      status: 'active',
      vpcCidr: '10.20.0.0/16',
      tier: 'prod',
      lastDrift: null,
    });
    const failed = (await t.get('/environments?status=failed')).body.environments as { status: string }[];
    expect(failed.every((e) => e.status === 'failed')).toBe(true);
    expect((await t.get('/environments?tenant=globex')).body.environments).toEqual([]);
    const bad = await t.get('/environments?status=sleeping');
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toContain('allowed: ');
    expect((await t.get('/environments/acme-nope-nope')).status).toBe(404);
    // Longer than any key: not found, not a DynamoDB error.
    expect((await t.get(`/environments/${'x'.repeat(3000)}`)).status).toBe(404);
    expect((await t.get(`/environments?tenant=${'t'.repeat(3000)}`)).body.environments).toEqual([]);
    const badStatus = await t.get('/runs?status=DONE');
    expect([badStatus.status, badStatus.body.message]).toEqual([
      400,
      'status: "DONE" is not allowed; allowed: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED',
    ]);
    const malformed = await t.get('/environments/%E0%A4%A');
    expect([malformed.status, malformed.body.error]).toEqual([400, 'MalformedPath']);
  });
});
