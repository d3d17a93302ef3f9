import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ApiError, type ApiClient } from '../cli/client';

/**
 * `tropos ui`: a web page on loopback over the Tropos HTTP API. The browser talks to this server only; it forwards
 * `/api/<route>` to the API through the CLI's client — the local control plane, or the deployed API signed with the
 * user's AWS credentials. Such a server must not be usable by any other page the browser opens, so:
 *
 * - every `/api/` request carries the per-launch session token (header `x-tropos-session`), which only the URL this
 *   server prints holds (in its fragment, which browsers never send to servers or in a Referer);
 * - a request whose `Origin` is not this server's own is refused (a cross-site form or fetch), and so is one whose
 *   `Host` is not this server's loopback address (DNS rebinding);
 * - no CORS header is ever sent, the page's Content-Security-Policy allows only its own script, and it cannot be framed.
 */
export interface UiServer {
  readonly url: string;
  /** The URL to open: the page, with the session token in its fragment. */
  readonly openUrl: string;
  close(): Promise<void>;
}

/** The API routes the page may call, and with which methods (nothing else is forwarded). */
const FORWARDED: readonly { method: string; path: RegExp }[] = [
  { method: 'GET', path: /^\/runs(\?.*)?$/ },
  { method: 'GET', path: /^\/runs\/[^/?]+$/ },
  { method: 'GET', path: /^\/runs\/[^/?]+\/logs(\?.*)?$/ },
  { method: 'GET', path: /^\/runs\/[^/?]+\/plans\/[^/?]+(\?.*)?$/ },
  { method: 'POST', path: /^\/runs\/[^/?]+\/(retry|stop)$/ },
  { method: 'GET', path: /^\/approvals(\?.*)?$/ },
  { method: 'POST', path: /^\/approvals\/[^/?]+$/ },
  { method: 'GET', path: /^\/environments(\?.*)?$/ },
  { method: 'GET', path: /^\/workflows$/ },
];

const MAX_BODY = 64 * 1024;

export async function startUi(options: { client: ApiClient; port?: number }): Promise<UiServer> {
  const token = randomBytes(32).toString('base64url');
  const script = await bundle();
  let origin = '';
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: 'Internal', message: (e as Error).message });
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = req.headers.host ?? '';
    if (!allowedHosts().includes(host))
      return send(res, 421, { error: 'MisdirectedRequest', message: `this server answers for ${origin} only` });
    if (req.headers.origin !== undefined && req.headers.origin !== origin)
      return send(res, 403, { error: 'Forbidden', message: 'requests from other origins are refused' });
    const url = new URL(req.url ?? '/', origin);
    if (req.method === 'GET' && url.pathname === '/') return page(res);
    if (req.method === 'GET' && url.pathname === '/app.js')
      return raw(res, 200, 'text/javascript; charset=utf-8', script);
    if (!url.pathname.startsWith('/api/')) return send(res, 404, { error: 'NotFound', message: 'no such page' });
    if (!sameToken(String(req.headers['x-tropos-session'] ?? ''), token))
      return send(res, 401, {
        error: 'Unauthorized',
        message: 'missing or wrong session token: open the URL tropos ui printed',
      });
    const path = url.pathname.slice('/api'.length) + url.search;
    if (!FORWARDED.some((r) => r.method === req.method && r.path.test(path)))
      return send(res, 404, { error: 'NotFound', message: `the page does not call ${req.method} ${path}` });
    let body: unknown;
    if (req.method === 'POST') {
      const text = await readBody(req);
      if (text === undefined) return send(res, 413, { error: 'PayloadTooLarge', message: `at most ${MAX_BODY} bytes` });
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        return send(res, 400, { error: 'MalformedJson', message: 'the body is not JSON' });
      }
    }
    try {
      send(res, 200, await options.client.request(req.method!, path, body));
    } catch (e) {
      if (e instanceof ApiError) return send(res, e.status, e.body);
      throw e;
    }
  }

  function allowedHosts(): string[] {
    const port = new URL(origin).port;
    return [`127.0.0.1:${port}`, `localhost:${port}`];
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: origin,
    openUrl: `${origin}/#token=${token}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(size > MAX_BODY ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, body: unknown): void {
  raw(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function raw(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS });
  res.end(body);
}

function page(res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    ...SECURITY_HEADERS,
    // Its own script only; Mermaid's diagrams style themselves inline.
    'content-security-policy':
      "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  });
  res.end(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tropos</title><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><div id="app">Loading…</div><script src="/app.js"></script></body>
</html>`);
}

/** The page's script: lib/ui/app/main.ts and its libraries (Preact, htm, Mermaid), bundled by esbuild. */
async function bundle(): Promise<string> {
  // Loaded only here: the CLI's other commands never need esbuild.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  const out = await esbuild.build({
    entryPoints: [join(__dirname, 'app', 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return out.outputFiles[0]!.text;
}
