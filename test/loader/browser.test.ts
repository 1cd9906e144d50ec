// End to end in Debian's Chromium: a page (loader + @tensorflow/tfjs, bundled by esbuild) loads a
// sealed model through the real key server, predicts like the plain model, never sees the raw key
// in any response, and writes nothing to Cache Storage or IndexedDB.

import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { toBase64url, toHex } from '../../format/bytes.js';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { forge, type Forgeries } from '../helpers/substitution.js';
import { copyHumanModel, sealInto } from './fixtures.js';
import type { ModelFingerprint } from './page-common.js';

const here = dirname(fileURLToPath(import.meta.url));

type LoadResult = ModelFingerprint & { fractions: number[] };

let root: string;
let storeDir: string;
let files: StaticServer;
let keys: KeyServer;
let keyServer: string;
let browser: Browser;
let contentKey: Uint8Array;
let forgeries: Forgeries;
const bodies: Array<{ url: string; body: Buffer }> = [];
// Every body read the pages started (awaited before the scan; a body Chromium no longer holds is skipped).
const reads: Array<Promise<void>> = [];
const releaseBodies: Array<{ url: string; body: Buffer }> = [];

/** Every text form of the key a response could carry. */
function keyForms(key: Uint8Array): Buffer[] {
  const b = Buffer.from(key);
  return [b, Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64').replace(/=+$/, '')), Buffer.from(toBase64url(key)), Buffer.from(toHex(key)), Buffer.from(toHex(key).toUpperCase())];
}

function containsKey(body: Buffer, key: Uint8Array): boolean {
  return keyForms(key).some((form) => body.includes(form));
}

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  // The release answers are what could carry a key, so they are taken as the page receives them: the
  // request goes to the real key server (route.fetch) and its answer is kept, then handed to the page.
  // Reading them back afterwards (response.body()) fails on a loaded machine: Chromium's debugger
  // buffer drops them once the shards, read at the same time, fill it.
  await page.route((url) => url.pathname === '/v2/release', async (route) => {
    const answer = await route.fetch();
    const body = await answer.body();
    releaseBodies.push({ url: route.request().url(), body });
    await route.fulfill({ response: answer, body });
  });
  page.on('response', (response) => {
    // Bodies of redirects and preflights are empty; everything else is read and kept for the scan.
    reads.push(response.body().then((body) => { bodies.push({ url: response.url(), body }); }, () => undefined));
  });
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${files.url}/index.html`);
  await page.waitForFunction(() => 'modelsealTest' in globalThis);
  return page;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-loader-browser-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  const model = await copyHumanModel('antispoof', join(root, 'www/plain/antispoof'));
  ({ key: contentKey } = await sealInto(store, 'antispoof', model, join(root, 'www/sealed/antispoof'), { shardLength: 256 * 1024, keyServer: 'https://keys.example.com' }));
  forgeries = await forge(join(root, 'www/sealed/antispoof'), model, contentKey, join(root, 'www/forged'));
  const script = await bundle(join(here, 'browser-page.ts'), { format: 'iife' });
  files = await startStaticServer({
    root: join(root, 'www'),
    files: { '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal loader test</title><script src="/page.js"></script>', '/page.js': script },
  });
  ({ server: keys, url: keyServer } = await startKeyServer(storeDir, { auditLog: join(root, 'audit.log'), defaults: { origins: [files.url] } }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await keys?.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('sealedModel in Chromium', () => {
  it('the key scan finds the key when it is there (so the real scan can fail)', () => {
    expect(containsKey(Buffer.from(`{"k":"${toBase64url(contentKey)}"}`), contentKey)).toBe(true);
    expect(containsKey(Buffer.concat([Buffer.from('xx'), Buffer.from(contentKey)]), contentKey)).toBe(true);
    expect(containsKey(Buffer.from(toHex(contentKey)), contentKey)).toBe(true);
  });

  it('loads a sealed graph model through the key server and predicts exactly like the plain model', async () => {
    const page = await openPage();
    const plain = await page.evaluate((url) => (globalThis as unknown as { modelsealTest: { loadPlain(u: string): Promise<LoadResult> } }).modelsealTest.loadPlain(url), `${files.url}/plain/antispoof/model.json`);
    const run = async (streamWeights: boolean) => page.evaluate(
      async ({ url, token, keyServer, streamWeights }) => (globalThis as unknown as { modelsealTest: { loadSealed(u: string, t: string, k: string, s: boolean): Promise<LoadResult> } }).modelsealTest.loadSealed(url, token, keyServer, streamWeights),
      { url: `${files.url}/sealed/antispoof/model.json`, token: await mintDevToken({ store: storeDir, models: ['antispoof'], ttl: '5m' }), keyServer, streamWeights },
    );
    const sealed = await run(false);
    expect(Object.keys(plain.weights).length).toBeGreaterThan(5);
    expect(sealed.weights).toEqual(plain.weights);
    expect(sealed.prediction).toBe(plain.prediction);
    expect(sealed.fractions[0]).toBe(0);
    expect(sealed.fractions.at(-1)).toBe(1);
    const streamed = await run(true);
    expect(streamed.weights).toEqual(plain.weights);
    expect(streamed.prediction).toBe(plain.prediction);

    // What the page saw: the release answers (JWE) and the sealed files, never the key itself.
    // Other response bodies are read asynchronously: wait until every read the page started has settled.
    // Chromium does not keep every streamed body for the debugger (shards and manifests read as streams
    // are often gone), so the sealed files are scanned as the static server sends them: from disk.
    for (let settled = 0; settled < reads.length; settled = reads.length) await Promise.all(reads.slice(settled));
    expect(releaseBodies.length).toBe(2);
    for (const { body } of releaseBodies) expect(JSON.parse(body.toString('utf8')).key).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+\.[\w-]+$/);
    const served = await readdir(join(root, 'www/sealed/antispoof'));
    expect(served.filter((f) => f.endsWith('.sealed')).length).toBeGreaterThan(1);
    for (const f of served) expect(containsKey(await readFile(join(root, 'www/sealed/antispoof', f)), contentKey), `key found in ${f}`).toBe(false);
    for (const { url, body } of [...releaseBodies, ...bodies]) expect(containsKey(body, contentKey), `key found in ${url}`).toBe(false);

    const storage = await page.evaluate(() => (globalThis as unknown as { modelsealTest: { storage(): Promise<{ caches: string[]; databases: string[] }> } }).modelsealTest.storage());
    expect(storage).toEqual({ caches: [], databases: [] });
    await page.close();
  });

  it('a page preflights its first release only (later releases reuse the cached preflight), and its key is X25519', async () => {
    // Not routed (openPage's route would answer in place of Chromium's network stack): the page's
    // own requests, as Chromium's network stack sends them, seen through CDP.
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const sent: string[] = [];
    const epks: unknown[] = [];
    cdp.on('Network.requestWillBeSent', (e) => {
      if (!e.request.url.startsWith(`${keyServer}/v2/release`)) return;
      sent.push(e.request.method);
      if (e.request.method === 'POST') epks.push((JSON.parse(e.request.postData ?? '{}') as { epk?: unknown }).epk);
    });
    await page.goto(`${files.url}/index.html`);
    await page.waitForFunction(() => 'modelsealTest' in globalThis);
    const token = await mintDevToken({ store: storeDir, models: ['antispoof'], ttl: '5m' });
    for (let i = 0; i < 3; i++) {
      await page.evaluate(
        ({ url, token, keyServer }) => (globalThis as unknown as { modelsealTest: { loadSealed(u: string, t: string, k: string, s: boolean): Promise<unknown> } }).modelsealTest.loadSealed(url, token, keyServer, false),
        { url: `${files.url}/sealed/antispoof/model.json`, token, keyServer },
      );
    }
    expect(sent.filter((m) => m === 'POST')).toHaveLength(3);
    expect(sent.filter((m) => m === 'OPTIONS')).toHaveLength(1);
    // Chromium 133+ has X25519 in WebCrypto: the loader's first choice (loader/release.ts).
    expect(epks).toHaveLength(3);
    for (const epk of epks) expect(Object.keys(epk as object).sort()).toEqual(['crv', 'kty', 'x']);
    expect(epks[0]).toMatchObject({ kty: 'OKP', crv: 'X25519' });
    await page.close();
  });

  it('substitution by a key holder who can write to the CDN is refused, and the manifest cannot choose the key server', async () => {
    expect(forgeries.resealed).toContain('forged');
    const page = await openPage();
    const tryLoad = async (path: string, options: Record<string, unknown>) => page.evaluate(
      ({ url, options }) => (globalThis as unknown as { modelsealTest: { tryLoad(u: string, o: unknown): Promise<{ code?: string; message: string } | null> } }).modelsealTest.tryLoad(url, options),
      { url: `${files.url}/${path}/model.json`, options: { token: await mintDevToken({ store: storeDir, models: ['antispoof'], ttl: '5m' }), ...options } },
    );
    expect(await tryLoad('sealed/antispoof', { keyServer, modelId: 'antispoof' })).toBeNull();
    for (const variant of ['resealed', 'forged-header', 'forged-shard']) {
      for (const streamWeights of [false, true]) {
        const e = await tryLoad(`forged/${variant}`, { keyServer, streamWeights });
        expect(e?.code, `${variant} streamWeights=${streamWeights}: ${e?.message}`).toBe('not_published');
      }
    }
    // The manifest names https://keys.example.com; the page allows only its own key server's origin.
    const e = await tryLoad('sealed/antispoof', { allowManifestKeyServer: [new URL(keyServer).origin] });
    expect(e?.code).toBe('key_server_not_allowed');
    expect(e?.message).toMatch(/names the key server https:\/\/keys\.example\.com, whose origin is not in options\.allowManifestKeyServer/);
    await page.close();
  });

  it('a page that is not a secure context (plain http, not localhost) gets crypto_unavailable, not a TypeError', async () => {
    // http://insecure.test is not potentially trustworthy, so Chromium gives it no crypto.subtle; its requests are answered by the static server.
    const page = await browser.newPage();
    await page.route('http://insecure.test/**', async (route) => {
      const answer = await route.fetch({ url: `${files.url}${new URL(route.request().url()).pathname}` });
      await route.fulfill({ response: answer });
    });
    // The failed load's shard downloads may still be in these handlers when the page closes.
    await page.goto('http://insecure.test/index.html');
    await page.waitForFunction(() => 'modelsealTest' in globalThis);
    expect(await page.evaluate(() => globalThis.isSecureContext)).toBe(false);
    const refused = await page.evaluate(({ keyServer }) => (globalThis as unknown as { modelsealTest: { tryLoad(u: string, o: unknown): Promise<{ code?: string; message: string } | null> } }).modelsealTest.tryLoad('http://insecure.test/sealed/antispoof/model.json', { token: 'unused', keyServer }), { keyServer });
    expect(refused).toMatchObject({ code: 'crypto_unavailable', message: expect.stringContaining('serve the app over https, or from localhost') });
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await page.close();
  });

  it('a rate-limited page reads Retry-After across origins (exposed by CORS): err.retryAfter and the message say how long to wait', async () => {
    const limited = await startKeyServer(storeDir, { defaults: { origins: [files.url], ratePerSubject: 1 } });
    try {
      const page = await openPage();
      const token = await mintDevToken({ store: storeDir, models: ['antispoof'], ttl: '5m', sub: 'limited-page' });
      const load = () => page.evaluate(({ url, token, keyServer }) => (globalThis as unknown as { modelsealTest: { tryLoad(u: string, o: unknown): Promise<{ code?: string; message: string; retryAfter?: number } | null> } }).modelsealTest.tryLoad(url, { token, keyServer }), { url: `${files.url}/sealed/antispoof/model.json`, token, keyServer: limited.url });
      expect(await load()).toBeNull();
      const refused = await load();
      expect(refused).toMatchObject({ code: 'rate_limited' });
      // The window is a minute: more than the loader's one retry waits for, so the wait is the caller's.
      expect(refused?.retryAfter).toBeGreaterThan(5);
      expect(refused?.message).toContain(`retry in ${refused?.retryAfter} s`);
      await page.close();
    } finally {
      await limited.server.close();
    }
  });

  it('a page on an origin the key server does not allow reads the refusal (origin_not_allowed), and the refusal is audited', async () => {
    // The other origin serves the same sealed files itself; only the key server's policy refuses it.
    const other = await startStaticServer({ root: join(root, 'www'), files: { '/index.html': '<!doctype html><script src="/page.js"></script>', '/page.js': await bundle(join(here, 'browser-page.ts'), { format: 'iife' }) } });
    try {
      const page = await browser.newPage();
      await page.goto(`${other.url}/index.html`);
      await page.waitForFunction(() => 'modelsealTest' in globalThis);
      const before = bodies.length;
      page.on('response', (response) => {
        reads.push(response.body().then((body) => { bodies.push({ url: response.url(), body }); }, () => undefined));
      });
      const error = await page.evaluate(async ({ url, token, keyServer }) => {
        try {
          await (globalThis as unknown as { modelsealTest: { loadSealed(u: string, t: string, k: string, s: boolean): Promise<unknown> } }).modelsealTest.loadSealed(url, token, keyServer, false);
          return null;
        } catch (err) {
          const e = err as { name?: string; code?: string; serverCode?: string; status?: number; message: string };
          return { name: e.name, code: e.code, serverCode: e.serverCode, status: e.status, message: e.message };
        }
      }, { url: `${other.url}/sealed/antispoof/model.json`, token: await mintDevToken({ store: storeDir, models: ['antispoof'], ttl: '5m', sub: 'stranger-page' }), keyServer });
      expect(error).toMatchObject({ name: 'ModelsealError', code: 'key_denied', serverCode: 'origin_not_allowed', status: 403 });
      expect(error?.message).toContain(`origin ${other.url} is not allowed for antispoof`);
      expect(error?.message).toMatch(/have the operator add this one to the model's `origins`/);
      // The refused answer carries no key: it is the error body, nothing else.
      for (const { url, body } of bodies.slice(before)) expect(containsKey(body, contentKey), `key found in ${url}`).toBe(false);

      await keys.audit.flush();
      const lines = (await readFile(join(root, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((l) => l['sub'] === 'stranger-page')).toEqual([
        expect.objectContaining({ modelId: 'antispoof', origin: other.url, outcome: 'denied', reason: 'origin_not_allowed', status: 403 }),
      ]);

      // A browser may not choose its Origin: the Node-only option is refused there with a clear error.
      const refused = await page.evaluate(({ url, token, keyServer }) => (globalThis as unknown as { modelsealTest: { tryLoad(u: string, o: unknown): Promise<{ code?: string; message: string } | null> } }).modelsealTest.tryLoad(url, { token, keyServer, origin: 'https://app.example' }), { url: `${other.url}/sealed/antispoof/model.json`, token: 'unused', keyServer });
      expect(refused?.message).toMatch(/options\.origin works only in Node: a browser sends the page's own Origin/);
      await page.close();
    } finally {
      await other.close();
    }
  });
});
