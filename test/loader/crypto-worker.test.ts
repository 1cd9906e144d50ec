// The browser crypto worker in Debian's Chromium (loader/crypto-worker.ts): a sealed load decrypts
// and hashes its chunks in a dedicated worker, seen from the page by wrapping the page realm's own
// SubtleCrypto.decrypt and Worker.postMessage (crypto-worker-page.ts). Same tensors as the plain
// model; every chunk goes to the worker once it runs; the keys it gets are non-extractable
// CryptoKeys, no bytes; a CSP that forbids workers and `decryptWorker: false` load on the main
// thread; a chunk the worker fails on is decrypted there; a worker that stops mid-load fails the
// load with `worker_failed`; a tampered chunk fails `tampered` in the worker.

import { readdir, readFile, rm, writeFile, mkdtemp, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url } from '../../format/bytes.js';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { sampleFolder, sealFolderInto } from './files-fixtures.js';
import { copyHumanModel, sealInto } from './fixtures.js';
import type { Counts } from './crypto-worker-page.js';
import type { ModelFingerprint } from './page-common.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHUNK = 64 * 1024;

interface PageApi {
  load(url: string, options: Record<string, unknown>, fault?: Fault): Promise<ModelFingerprint & { counts: Counts }>;
  tryLoad(url: string, options: Record<string, unknown>, fault?: Fault): Promise<{ code?: string; message: string; counts: Counts } | null>;
  files(url: string, options: Record<string, unknown>): Promise<{ digests: Record<string, string>; counts: Counts }>;
  probeKeys(): Promise<Array<{ extractable: boolean; exported: boolean; error: string }>>;
  loadPlain(url: string): Promise<ModelFingerprint>;
}

type Fault = { at: number; kind: 'error' | 'unknown-key' } | undefined;

let root: string;
let storeDir: string;
let files: StaticServer;
let keys: KeyServer;
let keyServer: string;
let browser: Browser;
let plain: ModelFingerprint;
/** Chunks (with tags) of every sealed file of the model: header and shards. */
let chunkCount: number;

/** Chunks of a sealed file of `size` bytes: after the 56-byte head, pieces of chunk + tag, the last one short or empty. */
function chunksOf(size: number): number {
  let rest = size - 56;
  let n = 0;
  while (rest > CHUNK + 16) {
    rest -= CHUNK + 16;
    n++;
  }
  return n + (rest > 0 ? 1 : 0);
}

async function openPage(path = '/index.html'): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${files.url}${path}`);
  await page.waitForFunction(() => 'workerTest' in globalThis);
  return page;
}

const api = (page: Page) => ({
  load: (options: Record<string, unknown>, fault?: Fault) => page.evaluate(({ url, options, fault }) => (globalThis as unknown as { workerTest: PageApi }).workerTest.load(url, options, fault), { url: `${files.url}/sealed/model.json`, options, fault }),
  tryLoad: (path: string, options: Record<string, unknown>, fault?: Fault) => page.evaluate(({ url, options, fault }) => (globalThis as unknown as { workerTest: PageApi }).workerTest.tryLoad(url, options, fault), { url: `${files.url}/${path}/model.json`, options, fault }),
  files: (options: Record<string, unknown>) => page.evaluate(({ url, options }) => (globalThis as unknown as { workerTest: PageApi }).workerTest.files(url, options), { url: `${files.url}/folder/model.json`, options }),
  probeKeys: () => page.evaluate(() => (globalThis as unknown as { workerTest: PageApi }).workerTest.probeKeys()),
});

const token = (models = ['antispoof']) => mintDevToken({ store: storeDir, models, ttl: '5m' });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-crypto-worker-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  const model = await copyHumanModel('antispoof', join(root, 'www/plain'));
  await sealInto(store, 'antispoof', model, join(root, 'www/sealed'), { chunkLength: CHUNK, shardLength: 4 * CHUNK });
  const manifest = JSON.parse(await readFile(join(root, 'www/sealed/model.json'), 'utf8')) as { header: { data?: string; size?: number }; shards: Array<{ size: number }> };
  const headerSize = manifest.header.data === undefined ? manifest.header.size! : fromBase64url(manifest.header.data).length;
  chunkCount = [headerSize, ...manifest.shards.map((s) => s.size)].reduce((n, size) => n + chunksOf(size), 0);
  // One bit of one chunk of the second shard flipped.
  await cp(join(root, 'www/sealed'), join(root, 'www/tampered'), { recursive: true });
  const shard = (await readdir(join(root, 'www/tampered'))).filter((f) => f.endsWith('.sealed')).sort()[1]!;
  const bytes = await readFile(join(root, 'www/tampered', shard));
  bytes[56 + CHUNK + 100]! ^= 1;
  await writeFile(join(root, 'www/tampered', shard), bytes);
  await sealFolderInto(store, 'folder', sampleFolder(), join(root, 'www/folder'), { chunkLength: CHUNK, shardLength: 4 * CHUNK });
  const script = await bundle(join(here, 'crypto-worker-page.ts'), { format: 'iife' });
  const html = (head = '') => `<!doctype html><meta charset="utf-8">${head}<title>crypto worker test</title><script src="/page.js"></script>`;
  files = await startStaticServer({
    root: join(root, 'www'),
    files: {
      '/index.html': html(),
      // The page may run scripts from its origin but start no worker at all.
      '/no-workers.html': html(`<meta http-equiv="Content-Security-Policy" content="worker-src 'none'">`),
      '/page.js': script,
    },
  });
  ({ server: keys, url: keyServer } = await startKeyServer(storeDir, { logLevel: 'silent', auditLog: null, defaults: { origins: [files.url] } }));
  browser = await launchChromium();
  const page = await openPage();
  plain = await page.evaluate((url) => (globalThis as unknown as { workerTest: PageApi }).workerTest.loadPlain(url), `${files.url}/plain/model.json`);
  await page.close();
});

afterAll(async () => {
  await browser?.close();
  await keys?.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the crypto worker in Chromium', () => {
  it('decrypts every chunk of a load in the worker, with the same tensors, and gets non-extractable keys only', async () => {
    expect(chunkCount).toBeGreaterThan(8);
    const page = await openPage();
    const p = api(page);
    // The main thread alone: every chunk decrypts there, none is posted.
    const onMain = await p.load({ token: await token(), keyServer, decryptWorker: false });
    expect(onMain.weights).toEqual(plain.weights);
    expect(onMain.prediction).toBe(plain.prediction);
    expect(onMain.counts.opens).toBe(0);
    expect(onMain.counts.mainDecrypts).toBeGreaterThanOrEqual(chunkCount);
    // The first worker load may decrypt its first chunks here while the worker starts; either
    // way each chunk is decrypted once, in one place or the other.
    const first = await p.load({ token: await token(), keyServer });
    expect(first.weights).toEqual(plain.weights);
    expect(first.counts.opens + first.counts.mainDecrypts).toBe(onMain.counts.mainDecrypts);
    // Once the worker runs, every chunk goes there: the main thread decrypts only the key release.
    for (const streamWeights of [false, true]) {
      const warm = await p.load({ token: await token(), keyServer, streamWeights });
      expect(warm.weights).toEqual(plain.weights);
      expect(warm.prediction).toBe(plain.prediction);
      expect(warm.counts.opens, `streamWeights=${streamWeights}`).toBe(chunkCount);
      expect(warm.counts.mainDecrypts).toBe(onMain.counts.mainDecrypts - chunkCount);
      // One key per sealed file, as CryptoKeys only.
      expect(warm.counts.keys.length).toBeGreaterThan(1);
      expect(warm.counts.otherBinary).toEqual([]);
      for (const key of warm.counts.keys) expect(key).toEqual({ type: 'secret', extractable: false, algorithm: 'AES-GCM', usages: expect.arrayContaining(['decrypt']) });
    }
    // What a second realm receives from those messages cannot be exported either.
    const probed = await p.probeKeys();
    expect(probed.length).toBeGreaterThan(1);
    for (const r of probed) expect(r).toEqual({ extractable: false, exported: false, error: 'InvalidAccessError' });
    await page.close();
  });

  it('openSealedFiles decrypts in the worker too, byte for byte', async () => {
    const page = await openPage();
    const p = api(page);
    const options = { token: await token(['folder']), keyServer };
    const onMain = await p.files({ ...options, decryptWorker: false });
    await p.files(options);
    const warm = await p.files({ ...options, token: await token(['folder']) });
    expect(warm.digests).toEqual(onMain.digests);
    expect(Object.keys(warm.digests).length).toBe(sampleFolder().length);
    expect(onMain.counts.opens).toBe(0);
    expect(warm.counts.opens).toBeGreaterThan(5);
    expect(warm.counts.mainDecrypts).toBe(onMain.counts.mainDecrypts - warm.counts.opens);
    await page.close();
  });

  it('a tampered chunk fails `tampered` in the worker', async () => {
    const page = await openPage();
    const p = api(page);
    expect((await p.load({ token: await token(), keyServer })).weights).toEqual(plain.weights);
    for (const streamWeights of [false, true]) {
      const e = await p.tryLoad('tampered', { token: await token(), keyServer, streamWeights });
      expect(e?.code, e?.message).toBe('tampered');
      expect(e?.counts.opens).toBeGreaterThan(0);
    }
    await page.close();
  });

  it('a page whose CSP forbids workers loads on the main thread', async () => {
    const page = await openPage('/no-workers.html');
    const p = api(page);
    for (let i = 0; i < 2; i++) {
      const r = await p.load({ token: await token(), keyServer });
      expect(r.weights).toEqual(plain.weights);
      expect(r.prediction).toBe(plain.prediction);
      expect(r.counts.opens).toBe(0);
      expect(r.counts.mainDecrypts).toBeGreaterThanOrEqual(chunkCount);
    }
    await page.close();
  });

  it('a chunk the worker fails on for its own reasons is decrypted on the main thread', async () => {
    const page = await openPage();
    const p = api(page);
    const onMain = await p.load({ token: await token(), keyServer, decryptWorker: false });
    await p.load({ token: await token(), keyServer });
    // The third chunk reaches the worker under a file it has no key for: it hands the chunk back.
    const r = await p.load({ token: await token(), keyServer }, { at: 3, kind: 'unknown-key' });
    expect(r.weights).toEqual(plain.weights);
    expect(r.prediction).toBe(plain.prediction);
    expect(r.counts.opens).toBe(chunkCount);
    expect(r.counts.mainDecrypts).toBe(onMain.counts.mainDecrypts - chunkCount + 1);
    await page.close();
  });

  it('a worker that fails mid-load fails the load with worker_failed, never hangs, and later loads run on the main thread', async () => {
    const page = await openPage();
    const p = api(page);
    await p.load({ token: await token(), keyServer });
    // An `error` event on the worker right after the third chunk is posted to it.
    const e = await p.tryLoad('sealed', { token: await token(), keyServer }, { at: 3, kind: 'error' });
    expect(e?.code, e?.message).toBe('worker_failed');
    expect(e?.message).toMatch(/crypto worker failed while decrypting .* load again/);
    const after = await p.load({ token: await token(), keyServer });
    expect(after.weights).toEqual(plain.weights);
    expect(after.prediction).toBe(plain.prediction);
    expect(after.counts.opens).toBe(0);
    expect(after.counts.mainDecrypts).toBeGreaterThanOrEqual(chunkCount);
    await page.close();
  });
});
