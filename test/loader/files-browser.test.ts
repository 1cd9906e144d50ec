// The generic form in Debian's Chromium: a page bundled with the loader opens a sealed folder with
// openSealedFiles through the real key server and gets every file byte for byte (compared by
// SHA-256 with the plaintext), streams one large file, and leaves Cache Storage and IndexedDB empty;
// with every pin set, its key release goes out before the manifest is answered, as in Node.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { sampleFolder, sealFolderInto, type PlainFolder } from './files-fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

let root: string;
let storeDir: string;
let files: StaticServer;
let keys: KeyServer;
let keyServer: string;
let browser: Browser;
let page: Page;
let folder: PlainFolder;

interface PageApi {
  openAll(url: string, token: string, keyServer: string): Promise<{ files: Array<[string, number, string]>; fractions: number[]; caches: string[]; databases: string[] }>;
  streamOne(url: string, path: string, token: string, keyServer: string): Promise<{ length: number; sha256: string } | { code: string | undefined }>;
  openPinned(url: string, token: string, keyServer: string, pins: { modelId: string; keyId: string; sealing: string }): Promise<{ files: Array<[string, number, string]>; log: string[] }>;
  openGiven(url: string, token: string, keyServer: string, manifest: string): Promise<{ files: Array<[string, number, string]>; requested: string[] }>;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-files-browser-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  folder = sampleFolder();
  await sealFolderInto(store, 'folder', folder, join(root, 'www/folder'), { chunkLength: 16 * 1024, shardLength: 64 * 1024 });
  // A tampered copy: one bit of shard 5 (inside the large file).
  const tampered = join(root, 'www/tampered');
  await sealFolderInto(store, 'tampered', folder, tampered, { chunkLength: 16 * 1024, shardLength: 64 * 1024 });
  const shard = join(tampered, 'shard-5-of-9.sealed');
  const bytes = await readFile(shard);
  bytes[56 + 100]! ^= 1;
  await writeFile(shard, bytes);
  const script = await bundle(join(here, 'files-browser-page.ts'), { format: 'iife' });
  files = await startStaticServer({
    root: join(root, 'www'),
    files: { '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal files test</title><script src="/page.js"></script>', '/page.js': script },
  });
  ({ server: keys, url: keyServer } = await startKeyServer(storeDir, { defaults: { origins: [files.url] } }));
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${files.url}/index.html`);
  await page.waitForFunction(() => 'modelsealFilesTest' in globalThis);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await keys?.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

const token = () => mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' });
const api = (p: Page) => ({
  openAll: (url: string, t: string) => p.evaluate(([u, tk, ks]) => (globalThis as unknown as { modelsealFilesTest: PageApi }).modelsealFilesTest.openAll(u, tk, ks), [url, t, keyServer] as const),
  streamOne: (url: string, path: string, t: string) => p.evaluate(([u, pa, tk, ks]) => (globalThis as unknown as { modelsealFilesTest: PageApi }).modelsealFilesTest.streamOne(u, pa, tk, ks), [url, path, t, keyServer] as const),
  openPinned: (url: string, t: string, pins: { modelId: string; keyId: string; sealing: string }) => p.evaluate(([u, tk, ks, pn]) => (globalThis as unknown as { modelsealFilesTest: PageApi }).modelsealFilesTest.openPinned(u, tk, ks, pn), [url, t, keyServer, pins] as const),
  openGiven: (url: string, t: string, manifest: string) => p.evaluate(([u, tk, ks, m]) => (globalThis as unknown as { modelsealFilesTest: PageApi }).modelsealFilesTest.openGiven(u, tk, ks, m), [url, t, keyServer, manifest] as const),
});

describe('openSealedFiles in Chromium', () => {
  it('opens a sealed folder: every file byte for byte, progress 0 to 1, nothing in Cache Storage or IndexedDB', async () => {
    const result = await api(page).openAll(`${files.url}/folder/model.json`, await token());
    expect(result.files).toEqual(folder.map((f) => [f.path, f.data.length, sha256(f.data)]));
    expect(result.fractions[0]).toBe(0);
    expect(result.fractions.at(-1)).toBe(1);
    expect(result.caches).toEqual([]);
    expect(result.databases).toEqual([]);
  });

  it('streams one file across shards byte for byte; a tampered shard errors the stream with tampered', async () => {
    const large = folder.find((f) => f.path === 'onnx/model.onnx_data')!;
    expect(await api(page).streamOne(`${files.url}/folder/model.json`, large.path, await token())).toEqual({ length: large.data.length, sha256: sha256(large.data) });
    expect(await api(page).streamOne(`${files.url}/tampered/model.json`, large.path, await token())).toEqual({ code: 'tampered' });
  });

  it('with modelId, keyId, sealing and keyServer pinned, the release is sent before the manifest is answered, and every file opens', async () => {
    const { modelId, keyId, sealing } = JSON.parse(await readFile(join(root, 'www/folder/model.json'), 'utf8')) as { modelId: string; keyId: string; sealing: string };
    const result = await api(page).openPinned(`${files.url}/folder/model.json`, await token(), { modelId, keyId, sealing });
    expect(result.log.slice(0, 3)).toEqual(['manifest sent', 'release sent', 'manifest answered']);
    expect(result.files).toEqual(folder.map((f) => [f.path, f.data.length, sha256(f.data)]));
  });

  it('with the app\'s own copy of the manifest (options.manifest), the manifest is not requested, and every file opens', async () => {
    const result = await api(page).openGiven(`${files.url}/folder/model.json`, await token(), await readFile(join(root, 'www/folder/model.json'), 'utf8'));
    expect(result.requested.length).toBeGreaterThan(1);
    expect(result.requested.filter((u) => u.endsWith('/model.json'))).toEqual([]);
    expect(result.files).toEqual(folder.map((f) => [f.path, f.data.length, sha256(f.data)]));
  });
});
