// `modelseal demo`: the main job in one command. Seals the sample model (BlazeFace from
// @vladmandic/human, MIT), starts the key server and a static server for the demo page on 127.0.0.1,
// and loads the sealed model once in Node to check it predicts exactly what the plain model predicts.

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import type * as tfTypes from '@tensorflow/tfjs';
import { createKeyServer, mintDevToken } from '../../keyserver/index.js';
import { sealedModel } from '../../loader/index.js';
import { CliError } from '../errors.js';
import { note, printLine } from '../output.js';
import { releaseSignals } from '../signals.js';
import { openStore } from '../store.js';
import { collectSeal } from './seal.js';

/** The model id the demo seals the sample model under. */
export const DEMO_MODEL_ID = 'blazeface';

/** Options of `modelseal demo`, as commander parses them. */
export interface DemoOptions {
  host: string;
  port: number;
  keyPort: number;
  store?: string;
  checkOnly?: boolean;
  /** Folder holding web/ and model/ (default: dist/demo next to the built CLI). */
  assets?: string;
}

/** The outcome of the Node check: sealed and plain outputs on the same input. */
export interface DemoCheck {
  equal: boolean;
  maxAbsDiff: number;
  outputs: number;
}

/** A running demo: URLs, the check, and how to stop it. */
export interface RunningDemo {
  pageUrl: string;
  keyServerUrl: string;
  modelUrl: string;
  check: DemoCheck;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.json': 'application/json',
  '.sealed': 'application/octet-stream',
};

/** The folder `npm run build` fills from examples/web (shipped in the package). */
function defaultAssets(): string {
  return fileURLToPath(new URL('../../demo/', import.meta.url));
}

/** Loads @tensorflow/tfjs, which the demo's Node check needs (a dev dependency of modelseal). */
async function importTf(): Promise<typeof tfTypes> {
  try {
    const tf = await import('@tensorflow/tfjs');
    // Production mode skips debug checks and the "install tfjs-node" banner tfjs prints in Node.
    tf.enableProdMode();
    await tf.setBackend('cpu');
    return tf;
  } catch (err) {
    throw new CliError('io_error', 'the demo\'s Node check needs @tensorflow/tfjs, which is not installed', {
      cause: err,
      hint: 'npm install @tensorflow/tfjs (modelseal itself only needs @tensorflow/tfjs-core as a peer)',
    });
  }
}

/** A fixed pseudo-random input in [-1, 1], so every run checks the same numbers. */
function fixedInput(tf: typeof tfTypes): tfTypes.Tensor4D {
  const values = new Float32Array(256 * 256 * 3);
  let state = 0x2545f491;
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    values[i] = state / 0x7fffffff - 1;
  }
  return tf.tensor4d(values, [1, 256, 256, 3]);
}

/** Runs the model and returns every output's values, in the model's output order. */
async function predict(tf: typeof tfTypes, model: tfTypes.GraphModel, input: tfTypes.Tensor4D): Promise<Float32Array[]> {
  const outputs = model.execute(input) as tfTypes.Tensor[];
  const values = await Promise.all(outputs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(outputs);
  return values;
}

/** Loads the plain model from disk and the sealed one over HTTP, runs both on the same input, compares. */
async function checkSealedLoad(modelDir: string, modelUrl: string, keyServer: string, mint: (jkt: string) => Promise<string>, origin: string): Promise<DemoCheck> {
  const tf = await importTf();
  const modelJson = JSON.parse(await readFile(join(modelDir, 'model.json'), 'utf8')) as tfTypes.io.ModelJSON;
  const weightPaths = modelJson.weightsManifest.flatMap((g) => g.paths);
  const weightFiles = await Promise.all(weightPaths.map((p) => readFile(join(modelDir, p))));
  const weightData = new Uint8Array(Buffer.concat(weightFiles)).buffer;
  const plain = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData,
    ...(modelJson.userDefinedMetadata ? { userDefinedMetadata: modelJson.userDefinedMetadata } : {}),
  }));
  // Node's fetch sends no Origin; the demo key server only serves the demo page's origin, so the
  // check says it comes from there, as a non-browser client can (THREAT_MODEL.md, origin checks).
  const sealed = await tf.loadGraphModel(sealedModel(modelUrl, {
    // Bound to this load's key pair (cnf.jkt), as the page's tokens are.
    token: ({ jkt }) => mint(jkt),
    keyServer,
    modelId: DEMO_MODEL_ID,
    fetch: (input, init) => {
      if (!input.startsWith(keyServer)) return fetch(input, init);
      const headers = new Headers(init?.headers);
      headers.set('origin', origin);
      return fetch(input, { ...init, headers });
    },
  }));
  const input = fixedInput(tf);
  try {
    const [a, b] = [await predict(tf, plain, input), await predict(tf, sealed, input)];
    let maxAbsDiff = 0;
    let equal = a.length === b.length;
    for (let i = 0; equal && i < a.length; i++) {
      const x = a[i]!;
      const y = b[i]!;
      if (x.length !== y.length) {
        equal = false;
        break;
      }
      for (let j = 0; j < x.length; j++) {
        const d = Math.abs(x[j]! - y[j]!);
        if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : Math.max(maxAbsDiff, d);
      }
    }
    return { equal: equal && maxAbsDiff === 0, maxAbsDiff, outputs: a.length };
  } finally {
    input.dispose();
    plain.dispose();
    sealed.dispose();
  }
}

function portError(err: NodeJS.ErrnoException, host: string, port: number, flag: string): Error {
  if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') return err;
  return new CliError('io_error', `cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}`, {
    cause: err,
    hint: `pass ${flag} with another port, or ${flag} 0 for a free one`,
  });
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-content-type-options': 'nosniff', ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * The demo backend: the page, the sealed files, `GET /api/config` (where the model and key server
 * are) and `GET /api/session[?jkt=…]` (a short dev token, bound to the page's key when it sends `jkt`).
 */
function createDemoServer(
  webDir: string,
  sealedDir: string,
  sealedFiles: Set<string>,
  config: () => { keyServer: string; modelId: string; modelUrl: string },
  mint: (jkt: string | undefined) => Promise<string>,
): Server {
  const pageFiles = new Set(['index.html', 'main.js', 'main.js.LEGAL.txt', 'sample.jpg']);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, HEAD' });
      const requestUrl = new URL(req.url ?? '/', 'http://demo');
      const path = requestUrl.pathname;
      if (path === '/api/config') {
        return send(res, 200, TYPES['.json']!, JSON.stringify(config()), { 'cache-control': 'no-store' });
      }
      if (path === '/api/session') {
        const jkt = requestUrl.searchParams.get('jkt') ?? undefined;
        // An RFC 7638 SHA-256 thumbprint is 43 base64url characters; anything else is refused.
        if (jkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(jkt)) return send(res, 400, 'text/plain', 'jkt must be a SHA-256 JWK thumbprint\n');
        return send(res, 200, TYPES['.json']!, JSON.stringify({ ...config(), token: await mint(jkt) }), { 'cache-control': 'no-store' });
      }
      const name = path === '/' ? 'index.html' : path.slice(1);
      // Only names from fixed lists are served, so no path can leave the two folders.
      let file: string | undefined;
      if (pageFiles.has(name)) file = join(webDir, name);
      else if (name.startsWith('models/blazeface/') && sealedFiles.has(name.slice('models/blazeface/'.length))) {
        file = join(sealedDir, name.slice('models/blazeface/'.length));
      }
      if (!file) return send(res, 404, 'text/plain', 'not found\n');
      return send(res, 200, TYPES[extname(file)] ?? 'application/octet-stream', await readFile(file));
    })().catch((err: unknown) => {
      note(`demo server: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
}

/** Listens; a taken port becomes an error that says which flag to change. */
function listen(server: Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(portError(err, host, port, '--port')));
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      const { port: bound } = server.address() as AddressInfo;
      resolve(`http://${host.includes(':') ? `[${host}]` : host}:${bound}`);
    });
  });
}

/**
 * Seals the sample model, starts the demo page and the key server, and checks a sealed load in Node.
 * @example const demo = await startDemo({ host: '127.0.0.1', port: 0, keyPort: 0 }); await demo.close();
 */
export async function startDemo(opts: DemoOptions): Promise<RunningDemo> {
  const assets = opts.assets ?? defaultAssets();
  const modelDir = join(assets, 'model');
  const webDir = join(assets, 'web');
  if (!existsSync(join(modelDir, 'model.json')) || !existsSync(join(webDir, 'main.js'))) {
    throw new CliError('io_error', `the demo files are missing from ${assets}`, { hint: 'run `npm run build` (it bundles examples/web into dist/demo)' });
  }
  const store = await openStore(opts.store, { create: true });
  const sealedDir = join(store.dir, 'demo', DEMO_MODEL_ID);
  const summary = await collectSeal(join(modelDir, 'model.json'), {
    out: sealedDir, modelId: DEMO_MODEL_ID, store: store.dir, header: 'auto', force: true, json: true,
  });
  note(`sealed the sample model (BlazeFace, ${summary.weightBytes} weight bytes) as ${DEMO_MODEL_ID} ${summary.keyId} into ${sealedDir}`);
  const sealedFiles = new Set(await readdir(sealedDir));

  let keyServerUrl = '';
  const mint = (jkt: string | undefined): Promise<string> => mintDevToken({ store: store.dir, models: [DEMO_MODEL_ID], ttl: '5m', sub: 'demo-visitor', ...(jkt ? { cnfJkt: jkt } : {}) });
  const page = createDemoServer(webDir, sealedDir, sealedFiles, () => ({
    keyServer: keyServerUrl,
    modelId: DEMO_MODEL_ID,
    // A path, so the page works whether it was opened as 127.0.0.1 or localhost.
    modelUrl: `/models/${DEMO_MODEL_ID}/model.json`,
  }), mint);
  const pageUrl = await listen(page, opts.host, opts.port);
  const origin = new URL(pageUrl).origin;
  const origins = [origin];
  if (opts.host === '127.0.0.1') origins.push(origin.replace('127.0.0.1', 'localhost'));

  let keyServer: Awaited<ReturnType<typeof createKeyServer>> | undefined;
  const close = async (): Promise<void> => {
    const pageClosed = new Promise<void>((resolve) => page.close(() => resolve()));
    page.closeAllConnections();
    await Promise.all([pageClosed, keyServer?.close()]);
  };
  try {
    keyServer = await createKeyServer({
      store: store.dir,
      config: { logLevel: 'warn', defaults: { origins } },
    });
    keyServerUrl = await keyServer.listen({ host: opts.host, port: opts.keyPort }).catch((err: NodeJS.ErrnoException) => {
      throw portError(err, opts.host, opts.keyPort, '--key-port');
    });
    const modelUrl = `${pageUrl}/models/${DEMO_MODEL_ID}/model.json`;
    const check = await checkSealedLoad(modelDir, modelUrl, keyServerUrl, mint, origin);
    return { pageUrl: `${pageUrl}/`, keyServerUrl, modelUrl, check, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Prints the URLs and the check line (data, on stdout). */
export function printDemo(demo: RunningDemo, opts: { checkOnly?: boolean }): void {
  if (!opts.checkOnly) {
    printLine(`demo page: ${demo.pageUrl}`);
    printLine(`key server: ${demo.keyServerUrl}`);
  }
  const { check } = demo;
  printLine(check.equal
    ? `check: sealed prediction equals plain prediction (max |diff| = 0 over ${check.outputs} outputs)`
    : `check: FAILED, sealed prediction differs from plain prediction (max |diff| = ${check.maxAbsDiff})`);
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return n;
}

/** The `demo` command. */
export const demoCommand = new Command('demo')
  .description('seal the sample model (BlazeFace), serve the demo page and the key server on 127.0.0.1, and check a sealed load in Node')
  .option('--host <address>', 'address for both servers', '127.0.0.1')
  .option('--port <port>', 'port of the demo page (0 picks a free one)', parsePort, 8080)
  .option('--key-port <port>', 'port of the key server (0 picks a free one)', parsePort, 8787)
  .option('--store <dir>', 'keystore folder (default: $MODELSEAL_HOME, else ./.modelseal)')
  .option('--check-only', 'seal and check the sealed load in Node, then stop the servers and exit')
  .action(async (opts: DemoOptions) => {
    const demo = await startDemo(opts);
    printDemo(demo, opts);
    if (opts.checkOnly || !demo.check.equal) {
      await demo.close();
      if (!demo.check.equal) process.exitCode = 1;
      return;
    }
    note('open the demo page in a browser; press Ctrl-C to stop');
    // Ctrl-C is handled by cli/main.ts (exit 130); SIGTERM (a service manager) closes in order.
    releaseSignals(['SIGTERM']);
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => {
        note('stopping: closing the demo servers');
        void demo.close().then(resolve, resolve);
      });
    });
  });
