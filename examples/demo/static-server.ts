// A small static file server for the demo and for the browser and loader tests (test/helpers
// re-exports it): serves a folder and/or an in-memory map of files with the right content types, plus
// a few dynamic routes (the demo's backend), and is stopped by whoever started it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { AddressInfo } from 'node:net';

/** Content types by file extension; anything else is application/octet-stream. */
export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
  '.bin': 'application/octet-stream',
  '.sealed': 'application/octet-stream',
  '.jpg': 'image/jpeg',
};

/** What to serve: a folder, a map of URL paths (with or without a leading '/') to bodies, or both (the map wins). */
export interface StaticServerOptions {
  root?: string;
  files?: Record<string, Uint8Array | string>;
  /** Adds `Access-Control-Allow-Origin: *` so pages on another origin can fetch the files. */
  cors?: boolean;
  /** Extra headers on every response. */
  headers?: Record<string, string>;
  /** Port to listen on (default 0: a free port); a test that restarts a host on its old origin passes the old port. */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Dynamic GET routes by exact path (the query is in the URL passed); they win over files. */
  routes?: Record<string, (url: URL) => Response | Promise<Response>>;
}

/** A running static server. */
export interface StaticServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:40123 */
  url: string;
  /** Every request as "METHOD /path", in order (for tests that count fetches). */
  requests: string[];
  /** Adds or replaces an in-memory file while running. */
  setFile(path: string, body: Uint8Array | string): void;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

function contentType(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Starts a static server on 127.0.0.1, port 0 (a free port) unless `options.host` / `options.port` say otherwise. */
export async function startStaticServer(options: StaticServerOptions = {}): Promise<StaticServer> {
  const files = new Map<string, Uint8Array | string>();
  const setFile = (path: string, body: Uint8Array | string) => files.set(path.startsWith('/') ? path : `/${path}`, body);
  for (const [path, body] of Object.entries(options.files ?? {})) setFile(path, body);
  const root = options.root === undefined ? undefined : resolve(options.root);
  const requests: string[] = [];

  async function lookup(path: string): Promise<Uint8Array | string | undefined> {
    const inMemory = files.get(path);
    if (inMemory !== undefined) return inMemory;
    if (root === undefined) return undefined;
    const full = resolve(root, `.${path}`);
    // Never serve outside the root, whatever the URL says.
    if (full !== root && !full.startsWith(root + sep)) return undefined;
    try {
      if (!(await stat(full)).isFile()) return undefined;
      return new Uint8Array(await readFile(full));
    } catch {
      return undefined;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    requests.push(`${req.method} ${path}`);
    const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...(options.cors ? { 'Access-Control-Allow-Origin': '*' } : {}), ...options.headers };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    const route = options.routes?.[path];
    if (route !== undefined) {
      const answer = await route(url);
      const bytes = Buffer.from(await answer.arrayBuffer());
      res.writeHead(answer.status, { ...headers, ...Object.fromEntries(answer.headers), 'Content-Length': String(bytes.length) });
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return;
    }
    if (path.endsWith('/')) path = `${path}index.html`;
    const body = await lookup(path);
    if (body === undefined) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
      return;
    }
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(200, { ...headers, 'Content-Type': contentType(path), 'Content-Length': String(bytes.length) });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // No internals to the client: the route that failed shows in the demo's own output, if anywhere.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('internal error\n');
      else res.destroy();
    });
  });
  // Tests block the event loop for seconds (tfjs on the CPU backend); a short keep-alive timeout
  // then lets the server drop a socket the client is about to reuse (ECONNRESET). Keep them long.
  server.keepAliveTimeout = 120_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.removeListener('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests,
    setFile,
    close: () => new Promise<void>((resolveClose, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolveClose()));
    }),
  };
}
