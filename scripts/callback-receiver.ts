// npm run callback-receiver -- [--port 9000] [--data-dir .tropos]
// A ticketing system's webhook, for trying the onboarding API locally: listens on 127.0.0.1, verifies each Tropos
// callback's signature (X-Tropos-Timestamp, X-Tropos-Signature) with the local secret (the control plane's
// <data-dir>/callback-secret, or $TROPOS_CALLBACK_SECRET), and prints what it received. What a real receiver does
// is the same: recompute the HMAC over the raw body, compare in constant time, refuse stale timestamps.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { verifyCallback } from '../lib/domain/callback';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9000' },
    'data-dir': { type: 'string', default: join(process.cwd(), '.tropos') },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`--port: "${values.port}" is not a port number (1-65535)`);
  process.exit(2);
}

function secret(): string {
  if (process.env.TROPOS_CALLBACK_SECRET) return process.env.TROPOS_CALLBACK_SECRET;
  const file = join(values['data-dir'], 'callback-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    throw new Error(`no ${file}: start \`tropos serve\` with --data-dir ${values['data-dir']} first (it creates it)`);
  }
}

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let verdict: ReturnType<typeof verifyCallback>;
    try {
      verdict = verifyCallback(secret(), req.headers, body);
    } catch (e) {
      verdict = { ok: false, reason: (e as Error).message };
    }
    if (!verdict.ok) {
      console.log(`✗ ${req.method} ${req.url}: refused (${verdict.reason})`);
      return void res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify(verdict));
    }
    const event = JSON.parse(body) as { runId: string; status: string; stack?: string; ticketId?: string };
    console.log(
      `✓ ${req.method} ${req.url}: signature verified — ticket ${event.ticketId ?? '-'}, ${event.stack ?? ''} run ${event.runId} ${event.status}`,
    );
    console.log(`  ${body}`);
    res.writeHead(204).end();
  });
}).listen(port, '127.0.0.1', () => console.log(`callback receiver on http://127.0.0.1:${port} (Ctrl-C stops it)`));
