// The demo (examples/demo/main.ts is its command line, run by `npm run demo`; it is not part of the
// `modelseal` bin or the npm package): seals the sample model (BlazeFace from @vladmandic/human, MIT) with a key from a local
// keystore, serves the demo page and its token backend on one port and the key server on another
// (127.0.0.1), and loads the sealed model once in Node to check it predicts exactly what the plain
// model predicts. It uses modelseal's public parts as an app would: sealModel, FileKeyStore,
// createKeyServer, mintDevToken and the loader.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sealModel } from '../../format/index.js';
import { JKT_PATTERN } from '../../format/ids.js';
import { createKeyServer, FileKeyStore, mintDevToken } from '../../keyserver/index.js';
import { defaultStoreDir } from '../../keystore/index.js';
import { CliError } from '../../cli/errors.js';
import { note, printLine } from '../../cli/output.js';
import { checkSealedLoad, type DemoCheck } from './check.js';
import { buildPage, PAGE_DIR, PAGE_FILES, ROOT } from './page.js';
import { startStaticServer, type StaticServer } from './static-server.js';

/** The model id the demo seals the sample model under. */
export const DEMO_MODEL_ID = 'blazeface';
/** The plain sample model the demo seals at start. */
export const SAMPLE_MODEL = join(ROOT, 'node_modules', '@vladmandic', 'human', 'models', 'blazeface.json');

/** Options of the demo, as commander parses them. */
export interface DemoOptions {
  host: string;
  port: number;
  keyPort: number;
  store?: string;
  checkOnly?: boolean;
}

/** A running demo: URLs, the check, and how to stop it. */
export interface RunningDemo {
  pageUrl: string;
  keyServerUrl: string;
  modelUrl: string;
  check: DemoCheck;
  close(): Promise<void>;
}

/** A taken port becomes an error that says which flag to change. */
function portError(err: unknown, host: string, port: number, flag: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES') return err;
  return new CliError('io_error', `cannot listen on ${host}:${port}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}`, {
    cause: err,
    hint: `pass ${flag} with another port, or ${flag} 0 for a free one`,
  });
}

/** Seals the sample model in memory with the store's active key (its first key on a new store), and records the sealing. */
async function sealSample(store: FileKeyStore): Promise<{ files: Map<string, Uint8Array>; keyId: string; weightBytes: number }> {
  const modelJson = await readFile(SAMPLE_MODEL, 'utf8');
  const parsed = JSON.parse(modelJson) as { weightsManifest: Array<{ paths: string[] }> };
  const weightFiles = await Promise.all(parsed.weightsManifest.flatMap((g) => g.paths).map(async (path) => new Uint8Array(await readFile(join(SAMPLE_MODEL, '..', path)))));
  const entry = (await store.active(DEMO_MODEL_ID)) ?? (await store.rotate(DEMO_MODEL_ID));
  try {
    const sealed = await sealModel({ modelJson, weightFiles }, { modelId: DEMO_MODEL_ID, keyId: entry.record.keyId, contentKey: entry.key, headerMode: 'auto' });
    // The key server releases keys only for sealings the keystore records.
    await store.publish(DEMO_MODEL_ID, entry.record.keyId, sealed.manifest.sealing);
    const files = new Map<string, Uint8Array>(sealed.files.map((f) => [f.path, f.bytes]));
    files.set('model.json', new TextEncoder().encode(`${JSON.stringify(sealed.manifest, null, 2)}\n`));
    return { files, keyId: entry.record.keyId, weightBytes: weightFiles.reduce((n, f) => n + f.length, 0) };
  } finally {
    entry.key.fill(0);
  }
}

/**
 * Seals the sample model, starts the demo page and the key server, and checks a sealed load in Node.
 * @example const demo = await startDemo({ host: '127.0.0.1', port: 0, keyPort: 0 }); await demo.close();
 */
export async function startDemo(opts: DemoOptions): Promise<RunningDemo> {
  if (await buildPage()) note(`built the demo page into ${PAGE_DIR}`);
  const { store, created } = await FileKeyStore.open(defaultStoreDir(opts.store), { create: true });
  if (created) note(`created keystore at ${store.dir} (keep master.key secret and backed up)`);
  const sample = await sealSample(store);
  note(`sealed the sample model (BlazeFace, ${sample.weightBytes} weight bytes) as ${DEMO_MODEL_ID} ${sample.keyId}, served from memory`);

  const files: Record<string, Uint8Array> = {};
  for (const name of PAGE_FILES) files[`/${name}`] = new Uint8Array(await readFile(join(PAGE_DIR, name)));
  for (const [name, bytes] of sample.files) files[`/models/${DEMO_MODEL_ID}/${name}`] = bytes;

  let keyServerUrl = '';
  // A path, so the page works whether it was opened as 127.0.0.1 or localhost.
  const config = () => ({ keyServer: keyServerUrl, modelId: DEMO_MODEL_ID, modelUrl: `/models/${DEMO_MODEL_ID}/model.json` });
  const mint = (jkt: string | undefined): Promise<string> => mintDevToken({ store: store.dir, models: [DEMO_MODEL_ID], ttl: '5m', sub: 'demo-visitor', ...(jkt ? { cnfJkt: jkt } : {}) });
  let page: StaticServer;
  try {
    page = await startStaticServer({
      host: opts.host,
      port: opts.port,
      files,
      // The demo backend: where the model and key server are, and a short dev token bound to the page's key.
      routes: {
        '/api/config': () => Response.json(config()),
        '/api/session': async (url) => {
          const jkt = url.searchParams.get('jkt') ?? undefined;
          // An RFC 7638 SHA-256 thumbprint is 43 base64url characters; anything else is refused.
          if (jkt !== undefined && !JKT_PATTERN.test(jkt)) return new Response('jkt must be a SHA-256 JWK thumbprint\n', { status: 400, headers: { 'content-type': 'text/plain' } });
          return Response.json({ ...config(), token: await mint(jkt) });
        },
      },
    });
  } catch (err) {
    throw portError(err, opts.host, opts.port, '--port');
  }
  const origin = new URL(page.url).origin;
  const origins = [origin];
  if (opts.host === '127.0.0.1') origins.push(origin.replace('127.0.0.1', 'localhost'));

  let keyServer: Awaited<ReturnType<typeof createKeyServer>> | undefined;
  const close = async (): Promise<void> => {
    await Promise.all([page.close(), keyServer?.close()]);
  };
  try {
    keyServer = await createKeyServer({ store: store.dir, config: { logLevel: 'warn', defaults: { origins } } });
    keyServerUrl = await keyServer.listen({ host: opts.host, port: opts.keyPort }).catch((err: unknown) => {
      throw portError(err, opts.host, opts.keyPort, '--key-port');
    });
    const modelUrl = `${page.url}/models/${DEMO_MODEL_ID}/model.json`;
    const check = await checkSealedLoad(SAMPLE_MODEL, { modelUrl, keyServer: keyServerUrl, modelId: DEMO_MODEL_ID, origin, token: (jkt) => mint(jkt) });
    return { pageUrl: `${page.url}/`, keyServerUrl, modelUrl, check, close };
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
