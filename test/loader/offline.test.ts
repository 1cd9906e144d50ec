// Offline leases end to end in Debian's Chromium with a persistent profile: load online with a
// lease, stop the key server and the file host, restart the browser on the same profile, load again
// from the offline copy; the stored key cannot be exported; a lease that ended gives lease_expired;
// a policy without leases stores nothing; a swapped copy or key does not load; clearOffline removes
// both stores. The same for the generic form: openSealedFiles (all files, or a selection) and
// openSealedFileStream keep a lease of what they read. The page is served by the test's static
// server while it runs, and by Playwright's request routing (the page script only) once it is
// stopped, so the origin, and with it the browser's storage, stays the same.

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { clearOffline, openSealedFiles, sealedModel, sealedOnnxSession, useSealedModel } from '../../loader/index.js';
import { bundle } from '../helpers/bundle.js';
import { CHROMIUM_ARGS } from '../helpers/chromium.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { filesInMemory, sealFiles, sealModel } from '../../format/index.js';
import { copyHumanModel, sealInto } from './fixtures.js';
import type { OfflineTest, Outcome } from './offline-page.js';
import type { ModelFingerprint } from './page-common.js';

const here = dirname(fileURLToPath(import.meta.url));

type LoadResult = ModelFingerprint;

const MODELS = ['antispoof', 'other', 'nolease', 'short', 'short-edited'] as const;
type ModelName = (typeof MODELS)[number];

let root: string;
let storeDir: string;
let profile: string;
let files: StaticServer | undefined;
let keys: KeyServer | undefined;
let keyServer: string;
let context: BrowserContext | undefined;
let script: string;
let indexHtml: string;
let origin: string;
let plain: LoadResult;
/** SHA-256 (hex) of every sealed file on disk, by URL. */
const sealedDigests = new Map<string, string>();
/** SHA-256 (hex) of every plaintext weight file. */
const plainDigests = new Set<string>();
/** The model's weight bytes, concatenated. */
let plainWeights: Uint8Array;
/** A second published sealing of antispoof k1 (another shard length): its manifest. */
let secondSealing: string;

/**
 * The generic form: one folder of three files sealed under five model ids, each loaded its own
 * way with `offline: true` (all files; one file streamed; a selection; a stream cancelled; a copy
 * whose last shard the host serves altered, so the loads fail part-way). 16 KiB chunks in 64 KiB
 * shards, so the files span several shards and config.json sits in the last one alone with b.bin's end.
 */
const FOLDERS = ['folder', 'folder-stream', 'folder-part', 'folder-cancel', 'folder-broken'] as const;
type FolderName = (typeof FOLDERS)[number];
const folderFiles = [
  { path: 'a.onnx', data: new Uint8Array(150_000).map((_, i) => (i * 7) % 251) },
  { path: 'b.bin', data: new Uint8Array(100_000).map((_, i) => (i * 13) % 253) },
  { path: 'config.json', data: new TextEncoder().encode('{"model_type":"test"}') },
];
const folderDigests = Object.fromEntries(folderFiles.map((f) => [f.path, createHash('sha256').update(f.data).digest('hex')]));
const folderUrl = (m: FolderName) => `${origin}/sealed/${m}/model.json`;

const url = (m: ModelName) => `${origin}/sealed/${m}/model.json`;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function launch(): Promise<Page> {
  context = await chromium.launchPersistentContext(profile, { executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => console.error('page error:', err));
  return page;
}

async function open(page: Page, viaRoute: boolean): Promise<void> {
  if (viaRoute) {
    // The file host is down: only the page itself is answered (from memory); every model file request goes to the dead port.
    await page.route(`${origin}/index.html`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: indexHtml }));
    await page.route(`${origin}/page.js`, (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: script }));
  }
  await page.goto(`${origin}/index.html`);
  await page.waitForFunction(() => 'offlineTest' in globalThis);
}

function call<K extends keyof OfflineTest>(page: Page, name: K, ...args: Parameters<OfflineTest[K]>): Promise<Awaited<ReturnType<OfflineTest[K]>>> {
  return page.evaluate(({ name, args }) => (globalThis as unknown as { offlineTest: Record<string, (...a: unknown[]) => unknown> }).offlineTest[name]!(...args), { name, args: args as unknown[] }) as Promise<Awaited<ReturnType<OfflineTest[K]>>>;
}

async function load(page: Page, m: ModelName, offline = true, streamWeights = false): Promise<Outcome> {
  const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '10m' });
  return call(page, 'load', url(m), { token, keyServer, offline, streamWeights });
}

function expectLoaded(o: Outcome): LoadResult {
  if ('error' in o) throw new Error(`load failed: ${o.error.code}: ${o.error.message}`);
  return o.ok;
}

async function startLeaseServer(): Promise<void> {
  ({ server: keys, url: keyServer } = await startKeyServer(storeDir, {
    defaults: { origins: [origin], releasesPerToken: 0 },
    models: { antispoof: { offlineLeaseSeconds: 3600 }, other: { offlineLeaseSeconds: 3600 }, 'short*': { offlineLeaseSeconds: 2 }, 'folder*': { offlineLeaseSeconds: 3600 } },
  }));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-offline-'));
  storeDir = join(root, 'store');
  profile = join(root, 'profile');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  const model = await copyHumanModel('antispoof', join(root, 'www/plain/antispoof'));
  for (const w of model.weightFiles) plainDigests.add(sha(w));
  plainWeights = new Uint8Array(Buffer.concat(model.weightFiles));
  for (const m of MODELS) await sealInto(store, m, model, join(root, 'www/sealed', m), { shardLength: 256 * 1024, headerMode: 'file' });
  const again = await sealModel({ modelJson: model.modelJson, weightFiles: model.weightFiles }, { modelId: 'antispoof', keyId: 'k1', contentKey: (await store.get('antispoof', 'k1'))!.key, shardLength: 128 * 1024, headerMode: 'file' });
  await store.publish('antispoof', 'k1', again.manifest.sealing);
  secondSealing = JSON.stringify(again.manifest);
  for (const m of FOLDERS) {
    const { record, key } = await store.rotate(m);
    const sealed = await sealFiles(filesInMemory(folderFiles), { modelId: m, keyId: record.keyId, contentKey: key, chunkLength: 16 * 1024, shardLength: 64 * 1024 });
    await store.publish(m, record.keyId, sealed.manifest.sealing);
    await mkdir(join(root, 'www/sealed', m), { recursive: true });
    await writeFile(join(root, 'www/sealed', m, 'model.json'), JSON.stringify(sealed.manifest));
    for (const f of sealed.files) await writeFile(join(root, 'www/sealed', m, f.path), f.bytes);
    if (m === 'folder-broken') {
      const last = sealed.manifest.shards.at(-1)!.path;
      const bytes = sealed.files.find((f) => f.path === last)!.bytes.slice();
      bytes[bytes.length - 1]! ^= 1;
      await writeFile(join(root, 'www/sealed', m, last), bytes);
    }
  }
  script = await bundle(join(here, 'offline-page.ts'), { format: 'iife' });
  indexHtml = '<!doctype html><meta charset="utf-8"><title>modelseal offline test</title><script src="/page.js"></script>';
  files = await startStaticServer({ root: join(root, 'www'), files: { '/index.html': indexHtml, '/page.js': script } });
  origin = files.url;
  for (const m of [...MODELS, ...FOLDERS]) {
    for (const name of await readdir(join(root, 'www/sealed', m))) sealedDigests.set(`${origin}/sealed/${m}/${name}`, sha(await readFile(join(root, 'www/sealed', m, name))));
  }
  await startLeaseServer();
});

afterAll(async () => {
  await context?.close();
  await keys?.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('offline leases in Chromium (persistent profile)', () => {
  it('session 1, online: a policy without leases stores nothing; a lease keeps ciphertext and a non-extractable key', async () => {
    const page = await launch();
    await open(page, false);
    plain = await call(page, 'loadPlain', `${origin}/plain/antispoof/model.json`);
    expect(Object.keys(plain.weights).length).toBeGreaterThan(5);

    // Policy off (nolease has no offlineLeaseSeconds): the load works, and neither store exists.
    expect(expectLoaded(await load(page, 'nolease'))).toEqual(plain);
    expect(await call(page, 'storage')).toEqual({ caches: [], databases: [] });

    // A load without offline stores nothing either, even where the policy grants a lease.
    expect(expectLoaded(await load(page, 'antispoof', false))).toEqual(plain);
    expect(await call(page, 'storage')).toEqual({ caches: [], databases: [] });

    for (const m of ['antispoof', 'short', 'short-edited'] as const) expect(expectLoaded(await load(page, m))).toEqual(plain);
    // A streamed load stores its lease when the weight stream ends (after tfjs has the model).
    expect(expectLoaded(await load(page, 'other', true, true))).toEqual(plain);
    while (!(await call(page, 'records')).some((r) => r.modelId === 'other')) await page.waitForTimeout(50);
    const now = Date.now() / 1000;
    const records = await call(page, 'records');
    expect(records.map((r) => r.modelId).sort()).toEqual(['antispoof', 'other', 'short', 'short-edited']);
    const lease = records.find((r) => r.modelId === 'antispoof')!;
    expect(lease.url).toBe(url('antispoof'));
    expect(lease.lease).toBeGreaterThan(now + 3500);
    expect(lease.lease).toBeLessThanOrEqual(now + 3601);
    expect(lease.key).toEqual({ type: 'secret', extractable: false, algorithm: 'HMAC/SHA-512', usages: ['sign'] });
    expect(lease.files.sort()).toEqual([...sealedDigests.keys()].filter((u) => u.startsWith(`${origin}/sealed/antispoof/`)).sort());

    // The cache holds exactly the sealed files of the leased models, byte for byte: no plaintext.
    const entries = await call(page, 'cacheEntries');
    expect(entries.map((e) => e.url).sort()).toEqual([...sealedDigests.keys()].filter((u) => !u.includes('/nolease/') && !u.includes('/folder')).sort());
    for (const e of entries) {
      expect(e.sha256, e.url).toBe(sealedDigests.get(e.url));
      expect(plainDigests.has(e.sha256), `${e.url} is a plaintext weight file`).toBe(false);
    }
    expect(await call(page, 'exportStored', url('antispoof'))).toEqual(['raw: InvalidAccessError', 'jwk: InvalidAccessError']);
    // Non-extractable is not unusable: any script on the page decrypts the cached files with it (THREAT_MODEL.md).
    const taken = await call(page, 'decryptWithStoredKey', url('antispoof'));
    expect(taken.weightsManifest).toBeGreaterThan(0);
    expect(taken.shard0.length).toBeGreaterThan(0);
    expect(taken.shard0.sha256).toBe(sha(plainWeights.subarray(0, taken.shard0.length)));

    // Within the lease a load reads the copy: no request reaches the file host.
    const before = files!.requests.length;
    expect(expectLoaded(await load(page, 'antispoof'))).toEqual(plain);
    expect(files!.requests.slice(before)).toEqual([]);
    await context!.close();
    context = undefined;
  });

  it('session 1, the generic form online: openSealedFiles and openSealedFileStream keep a lease of what they read, ciphertext only', async () => {
    const page = await launch();
    await open(page, false);
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '10m' });
    const options = { token, keyServer, offline: true };
    const sealedOf = (m: FolderName) => [...sealedDigests.keys()].filter((u) => u.startsWith(`${origin}/sealed/${m}/`)).sort();
    expect(await call(page, 'loadFiles', folderUrl('folder'), options)).toEqual({ ok: folderDigests });
    expect(await call(page, 'streamFile', folderUrl('folder-stream'), 'a.onnx', options)).toEqual({ ok: folderDigests['a.onnx'] });
    expect(await call(page, 'loadFiles', folderUrl('folder-part'), { ...options, paths: ['config.json'] })).toEqual({ ok: { 'config.json': folderDigests['config.json'] } });
    // Loads that fail part-way (the last shard altered on the host) store nothing, stream or not.
    const broken = await call(page, 'loadFiles', folderUrl('folder-broken'), options);
    expect('error' in broken && broken.error.code, JSON.stringify(broken)).toBe('tampered');
    const brokenStream = await call(page, 'streamFile', folderUrl('folder-broken'), 'config.json', options);
    expect('error' in brokenStream && brokenStream.error.code, JSON.stringify(brokenStream)).toBe('tampered');
    // A stream cancelled part-way stores nothing (checked below, once the others have stored theirs).
    expect(await call(page, 'cancelStream', folderUrl('folder-cancel'), 'a.onnx', options)).toBeGreaterThan(0);
    // The stream stores its lease once it has given the whole file.
    for (let waited = 0; (await call(page, 'records')).filter((r) => r.modelId.startsWith('folder')).length < 3; waited += 50) {
      if (waited > 10_000) throw new Error('the generic-form loads stored no lease within 10 s');
      await page.waitForTimeout(50);
    }
    const records = new Map((await call(page, 'records')).map((r) => [r.modelId, r]));
    expect(records.get('folder')!.files.sort()).toEqual(sealedOf('folder'));
    for (const m of ['folder-cancel', 'folder-broken']) {
      expect(records.has(m), m).toBe(false);
      expect((await call(page, 'cacheEntries')).filter((e) => e.url.includes(`/sealed/${m}/`))).toEqual([]);
    }
    // The stream and the selection keep only the shards they read (and the manifest): fewer files.
    for (const m of ['folder-stream', 'folder-part'] as const) {
      const kept = records.get(m)!.files.sort();
      expect(kept.every((u) => sealedOf(m).includes(u)) && kept.length < sealedOf(m).length, `${m}: ${kept.join(' ')}`).toBe(true);
    }
    const entries = (await call(page, 'cacheEntries')).filter((e) => e.url.includes('/sealed/folder'));
    for (const e of entries) {
      expect(e.sha256, e.url).toBe(sealedDigests.get(e.url));
      expect(Object.values(folderDigests)).not.toContain(e.sha256);
    }
    // Within the lease: no request for a copied file; a file the copy lacks comes from the host (with
    // the stored key) and joins the copy, under the same lease end.
    const before = files!.requests.length;
    expect(await call(page, 'loadFiles', folderUrl('folder'), options)).toEqual({ ok: folderDigests });
    expect(files!.requests.slice(before)).toEqual([]);
    expect(await call(page, 'loadFiles', folderUrl('folder-part'), options)).toEqual({ ok: folderDigests });
    const fetched = files!.requests.slice(before);
    expect(fetched.length).toBeGreaterThan(0);
    expect(fetched.every((r) => r.includes('/sealed/folder-part/') && !r.endsWith('/model.json')), fetched.join(', ')).toBe(true);
    const extended = (await call(page, 'records')).find((r) => r.modelId === 'folder-part')!;
    expect(extended.files.sort()).toEqual(sealedOf('folder-part'));
    expect(extended.lease).toBe(records.get('folder-part')!.lease);
    await context!.close();
    context = undefined;
  });

  it('session 2, key server and file host stopped, browser restarted on the same profile: loads from the offline copy, bit-identical', async () => {
    await keys!.close();
    keys = undefined;
    await files!.close();
    files = undefined;
    const page = await launch();
    await open(page, true);
    expect(expectLoaded(await load(page, 'antispoof'))).toEqual(plain);
    expect(expectLoaded(await load(page, 'other'))).toEqual(plain);
    // The stored key survived the restart and is still not extractable.
    expect(await call(page, 'exportStored', url('antispoof'))).toEqual(['raw: InvalidAccessError', 'jwk: InvalidAccessError']);
    // Not extractable through WebCrypto, but on disk in the clear: Chromium serialises a CryptoKey's
    // raw bytes into the profile's IndexedDB files (the documented limit, THREAT_MODEL.md).
    const key = (await (await FileKeyStore.open(storeDir)).store.get('antispoof', 'k1'))!.key;
    const idb = await readdir(join(profile, 'Default', 'IndexedDB'), { recursive: true, withFileTypes: true });
    const onDisk = await Promise.all(idb.filter((e) => e.isFile()).map((e) => readFile(join(e.parentPath, e.name))));
    expect(onDisk.some((bytes) => bytes.includes(Buffer.from(key)))).toBe(true);
    // A model that never had a lease needs the network, which is gone.
    const none = await load(page, 'nolease');
    expect('error' in none && none.error.code).toBe('file_unavailable');
    // The generic form from its copies: all files, the streamed file, the selection and the files added to it online.
    const options = { token: 'unused: no request goes to the key server', keyServer: 'http://127.0.0.1:9', offline: true };
    expect(await call(page, 'loadFiles', folderUrl('folder'), options)).toEqual({ ok: folderDigests });
    expect(await call(page, 'streamFile', folderUrl('folder-stream'), 'a.onnx', options)).toEqual({ ok: folderDigests['a.onnx'] });
    expect(await call(page, 'loadFiles', folderUrl('folder-part'), { ...options, paths: ['config.json'] })).toEqual({ ok: { 'config.json': folderDigests['config.json'] } });
    expect(await call(page, 'loadFiles', folderUrl('folder-part'), options)).toEqual({ ok: folderDigests });
    // More than the copy holds needs the host, which is gone: the stream's copy has a.onnx's shards only.
    const more = await call(page, 'loadFiles', folderUrl('folder-stream'), options);
    expect('error' in more && more.error.code).toBe('file_unavailable');
  });

  it('past the lease: lease_expired, and the expired key is removed; an expiry the user edited is honoured (the documented limit)', async () => {
    const page = context!.pages()[0]!;
    const records = await call(page, 'records');
    const end = Math.max(...records.filter((r) => r.modelId.startsWith('short')).map((r) => r.lease));
    // Wait until both 2-second leases have ended (the test timeout bounds the wait).
    while (Date.now() <= end * 1000) await page.waitForTimeout(100);
    await call(page, 'setLease', url('short-edited'), Math.floor(Date.now() / 1000) + 3600);

    const expired = await load(page, 'short');
    if (!('error' in expired)) throw new Error('an expired lease loaded');
    expect(expired.error.code).toBe('lease_expired');
    expect(expired.error.message).toMatch(new RegExp(`the offline lease for ${url('short').replaceAll('.', '\\.')} ended at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z and could not be renewed: could not download`));
    expect((await call(page, 'records')).map((r) => r.modelId)).not.toContain('short');
    expect((await call(page, 'cacheEntries')).some((e) => e.url.includes('/sealed/short/'))).toBe(false);

    // The client enforces the lease: a user who moves the expiry in IndexedDB keeps loading.
    expect(expectLoaded(await load(page, 'short-edited'))).toEqual(plain);
  });

  it('a swapped copy or key does not load: lease_invalid for another model\'s manifest; wrong_key for another model\'s key, and that copy is removed', async () => {
    const page = context!.pages()[0]!;
    await call(page, 'swapCached', url('antispoof'), url('other'));
    const swapped = await load(page, 'antispoof');
    expect('error' in swapped && swapped.error.code).toBe('lease_invalid');
    expect('error' in swapped && swapped.error.message).toMatch(/is model other key k1 sealing .* but its lease covers model antispoof key k1 .*call clearOffline\(url\) and load online/);
    await call(page, 'restoreCached', url('antispoof'));
    // Another sealing the publisher recorded for the same key version: the lease names one sealing.
    await call(page, 'swapCached', url('antispoof'), url('antispoof'));
    await call(page, 'putCached', url('antispoof'), secondSealing);
    const otherSealing = await load(page, 'antispoof');
    expect('error' in otherSealing && otherSealing.error.code).toBe('lease_invalid');
    expect('error' in otherSealing && otherSealing.error.message).toMatch(/is model antispoof key k1 sealing (\S+), but its lease covers model antispoof key k1 sealing (?!\1)/);
    await call(page, 'restoreCached', url('antispoof'));

    await call(page, 'swapKey', url('other'), url('antispoof'));
    const wrongKey = await load(page, 'antispoof');
    expect('error' in wrongKey && wrongKey.error.code).toBe('wrong_key');
    // The stored copy is at fault, not the host: it is removed, and the load tried online, which
    // failed (the network is gone), and the error says both.
    expect('error' in wrongKey && wrongKey.error.message).toContain(`(this load read the browser's offline copy of ${url('antispoof')}, which is damaged: it was removed, and loading the model online instead failed too (file_unavailable: could not download ${url('antispoof')}`);
    expect((await call(page, 'records')).map((r) => r.modelId)).not.toContain('antispoof');
    expect((await call(page, 'cacheEntries')).some((e) => e.url.includes('/sealed/antispoof/'))).toBe(false);
  });

  it('clearOffline(url) removes that model\'s key and files; clearOffline() removes the rest', async () => {
    const page = context!.pages()[0]!;
    await call(page, 'clearOffline', url('short-edited'));
    expect((await call(page, 'records')).map((r) => r.modelId).filter((m) => !m.startsWith('folder')).sort()).toEqual(['other']);
    const left = (await call(page, 'cacheEntries')).map((e) => e.url);
    expect(left.some((u) => u.includes('/sealed/short-edited/'))).toBe(false);
    expect(left.some((u) => u.includes('/sealed/other/'))).toBe(true);
    const gone = await load(page, 'short-edited');
    expect('error' in gone && gone.error.code).toBe('file_unavailable');

    await call(page, 'clearOffline');
    expect(await call(page, 'records')).toEqual([]);
    expect((await call(page, 'storage')).caches).toEqual([]);

    // A database at a higher version this modelseal cannot open: loads say so and how to fix it; clearOffline() deletes it.
    await call(page, 'bumpDatabase', 99);
    const blocked = await load(page, 'antispoof');
    expect('error' in blocked && blocked.error).toMatchObject({ code: 'offline_unavailable', message: expect.stringContaining('made by another version of modelseal: clearOffline() with no URL deletes it') });
    await call(page, 'clearOffline');
    expect((await call(page, 'storage')).databases).not.toContain('modelseal-offline');
    const after = await load(page, 'antispoof'); // past the storage now: the network is down
    expect('error' in after && after.error.code).toBe('file_unavailable');
  });

  it('after expiry, a load that reaches the key server and the file host again renews the lease', async () => {
    const page = context!.pages()[0]!;
    // The network is back: the file host on its old port (same origin, same storage), a key server.
    await page.unroute(`${origin}/index.html`);
    await page.unroute(`${origin}/page.js`);
    files = await startStaticServer({ root: join(root, 'www'), files: { '/index.html': indexHtml, '/page.js': script }, port: Number(new URL(origin).port) });
    await startLeaseServer();
    // Reopened from the host: Chromium treats a page Playwright fulfilled as public, and blocks
    // its requests to a loopback key server (Local Network Access).
    await open(page, false);
    expect((await call(page, 'records')).map((r) => r.modelId)).not.toContain('short');
    expect(expectLoaded(await load(page, 'short'))).toEqual(plain);
    const renewed = (await call(page, 'records')).find((r) => r.modelId === 'short');
    expect(renewed?.lease).toBeGreaterThan(Math.floor(Date.now() / 1000) - 2);
    expect((await call(page, 'cacheEntries')).filter((e) => e.url.includes('/sealed/short/')).length).toBe(renewed!.files.length);
  });

  it('after a reseal, a load that pins the new sealing drops the stale copy and loads online, leasing the new one', async () => {
    const page = context!.pages()[0]!;
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '10m' });
    expect(expectLoaded(await load(page, 'other'))).toEqual(plain);
    const before = (await call(page, 'records')).find((r) => r.modelId === 'other')!;
    // The publisher reseals `other` (same key, another shard length) at the same URL and pins the new sealing in the app.
    const model = await copyHumanModel('antispoof', join(root, 'reseal-src'));
    const { store } = await FileKeyStore.open(storeDir);
    const resealed = await sealModel({ modelJson: model.modelJson, weightFiles: model.weightFiles }, { modelId: 'other', keyId: before.keyId, contentKey: (await store.get('other', before.keyId))!.key, shardLength: 128 * 1024, headerMode: 'file' });
    await store.publish('other', before.keyId, resealed.manifest.sealing);
    await writeFile(join(root, 'www/sealed/other/model.json'), JSON.stringify(resealed.manifest));
    await Promise.all(resealed.files.map((f) => writeFile(join(root, 'www/sealed/other', f.path), f.bytes)));
    await keys!.close();
    await startLeaseServer(); // reads the new sealing record
    const pinned = await call(page, 'load', url('other'), { token, keyServer, offline: true, sealing: resealed.manifest.sealing });
    expect(expectLoaded(pinned)).toEqual(plain);
    const after = (await call(page, 'records')).find((r) => r.modelId === 'other')!;
    expect(before.sealing).not.toBe(resealed.manifest.sealing);
    expect(after.sealing).toBe(resealed.manifest.sealing);
  });

  it('a damaged copy, online: the load removes it and loads from the host in the same call, leasing anew; a stream that meets it mid-way errors and removes it', async () => {
    const page = context!.pages()[0]!;
    const shardsOf = (r: { files: string[] }) => r.files.filter((f) => /\/shard-\d+-of-\d+\.sealed$/.test(f)).sort();
    const before = (await call(page, 'records')).find((r) => r.modelId === 'other')!;
    const shard = shardsOf(before)[0]!;
    await call(page, 'putCached', shard, 'not the sealed shard');
    expect(expectLoaded(await load(page, 'other'))).toEqual(plain);
    const after = (await call(page, 'records')).find((r) => r.modelId === 'other')!;
    expect(after.lease).toBeGreaterThanOrEqual(before.lease);
    // The cache holds the host's shard again, not the damaged body.
    const onHost = await readFile(join(root, 'www/sealed/other', shard.split('/').at(-1)!));
    expect((await call(page, 'cacheEntries')).find((e) => e.url === shard)?.sha256).toBe(sha(onHost));

    // The generic form's stream: a.onnx's copy damaged past its first shard, met after the stream was returned.
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '10m' });
    const options = { token, keyServer, offline: true };
    expect(await call(page, 'streamFile', folderUrl('folder-stream'), 'a.onnx', options)).toEqual({ ok: folderDigests['a.onnx'] });
    // A stream's lease is stored once the reader has had the whole file, after streamFile returns: wait for it.
    let streamed: { files: string[] } | undefined;
    for (let i = 0; i < 250 && !(streamed = (await call(page, 'records')).find((r) => r.modelId === 'folder-stream')); i++) await page.waitForTimeout(20);
    await call(page, 'putCached', shardsOf(streamed!).at(-1)!, 'not the sealed shard');
    const broken = await call(page, 'streamFile', folderUrl('folder-stream'), 'a.onnx', options);
    expect('error' in broken && broken.error.message).toContain(`this stream read the browser's offline copy of ${folderUrl('folder-stream')}, which is damaged: it was removed`);
    expect((await call(page, 'records')).map((r) => r.modelId)).not.toContain('folder-stream');
    expect(await call(page, 'streamFile', folderUrl('folder-stream'), 'a.onnx', options)).toEqual({ ok: folderDigests['a.onnx'] });
  });
});

describe('offline leases in Node', () => {
  it('offline: true is refused with offline_unavailable; a non-boolean is a TypeError', async () => {
    const handler = sealedModel('http://127.0.0.1:9/model.json', { token: 't', keyServer: 'http://127.0.0.1:9', offline: true });
    await expect(handler.load()).rejects.toMatchObject({ code: 'offline_unavailable', message: expect.stringMatching(/Node does not have/) });
    expect(() => sealedModel('http://127.0.0.1:9/model.json', { token: 't', keyServer: 'http://127.0.0.1:9', offline: 'yes' as never })).toThrow(/options\.offline must be a boolean/);
    await expect(clearOffline()).rejects.toMatchObject({ code: 'offline_unavailable' });
    // The generic form refuses it too, before any request (it was silently ignored before 2026-12-03).
    await expect(openSealedFiles('http://127.0.0.1:9/model.json', { token: 't', keyServer: 'http://127.0.0.1:9', offline: true })).rejects.toMatchObject({ code: 'offline_unavailable' });
    // The runtime helpers hand the option on to openSealedFiles (the runtime and env objects here
    // are never reached: the refusal comes first).
    const ort = { InferenceSession: { create: async () => ({}) } };
    await expect(sealedOnnxSession(ort, 'http://127.0.0.1:9/model.json', { token: 't', keyServer: 'http://127.0.0.1:9', offline: true })).rejects.toMatchObject({ code: 'offline_unavailable' });
    const env = { useCustomCache: false, customCache: null, useBrowserCache: true, useFSCache: true, allowRemoteModels: true, allowLocalModels: true, localModelPath: '/models/', remoteHost: 'https://huggingface.co/', remotePathTemplate: '{model}/resolve/{revision}/' };
    await expect(useSealedModel(env, 'org/m', 'http://127.0.0.1:9/model.json', { token: 't', keyServer: 'http://127.0.0.1:9', offline: true })).rejects.toMatchObject({ code: 'offline_unavailable' });
    expect(env.useCustomCache).toBe(false);
  });
});
