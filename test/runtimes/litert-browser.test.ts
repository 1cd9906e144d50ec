// LiteRT.js (@litertjs/core, its wasm on the CPU) in Debian's Chromium on a sealed .tflite: BlazeFace
// short range from @mediapipe/face_detection, sealed by the CLI, compiled by loadAndCompile from
// openSealedFileStream's reader and from openSealedFiles's bytes; every output tensor on two real
// portraits equals the plain model's, bit for bit, in the same page, and nothing lands in Cache
// Storage or IndexedDB.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { ROOT, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { FACE_MODEL_NAME, PORTRAITS, SAMPLE_IMAGE, faceModelForTasks, faceModelSet, filesOf, tamperedCopy } from './mediapipe-fixtures.js';

type Run = { shapes: number[][]; outputs: number[][] };
type LitertTest = {
  setup(imageUrl: string, rects: Array<[number, number, number, number]>): Promise<void>;
  plain(url: string): Promise<Run>;
  sealedStream(url: string, path: string, token: string, keyServer: string): Promise<Run>;
  sealedBytes(url: string, path: string, token: string, keyServer: string): Promise<Run & { wiped: boolean }>;
  streamFailure(url: string, path: string, token: string, keyServer: string): Promise<string>;
  storage(): Promise<{ caches: string[]; databases: string[] }>;
};

let fx: RuntimeFixture;
let browser: Browser;
let page: Page;
let tampered: string;
let plain: Run;

const call = <K extends keyof LitertTest>(name: K, ...args: Parameters<LitertTest[K]>) =>
  page.evaluate(({ name, args }) => ((globalThis as unknown as { litertTest: Record<string, (...a: unknown[]) => unknown> }).litertTest[name]!(...args)), { name, args }) as ReturnType<LitertTest[K]>;

beforeAll(async () => {
  const script = await bundle(join(import.meta.dirname, 'litert-page.ts'), { format: 'esm' });
  fx = await startRuntimeFixture({ face: await faceModelSet(), faceTasks: new Map([[FACE_MODEL_NAME, await faceModelForTasks()]]) }, {
    entries: { face: FACE_MODEL_NAME, faceTasks: FACE_MODEL_NAME },
    files: {
      '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal LiteRT.js test</title><script type="module" src="/page.js"></script>',
      '/page.js': script,
      '/samples.jpg': new Uint8Array(await readFile(SAMPLE_IMAGE)),
      // The single-threaded builds only (with and without relaxed SIMD): the page is not cross-origin isolated.
      ...(await filesOf(join(ROOT, 'node_modules/@litertjs/core/wasm'), /^litert_wasm_(compat_)?internal\.(js|wasm)$/, '/litert/')),
    },
  });
  tampered = `${fx.server.url}${await tamperedCopy(fx.root, 'face')}`;
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${fx.server.url}/index.html`);
  await page.waitForFunction(() => 'litertTest' in globalThis);
  await call('setup', `${fx.server.url}/samples.jpg`, PORTRAITS.map((r) => [...r] as [number, number, number, number]));
  plain = await call('plain', fx.plainUrl('face', FACE_MODEL_NAME));
});
afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

describe('LiteRT.js loadAndCompile in Chromium', () => {
  it('the plain model runs: BlazeFace shapes, 896 boxes of 16 and 896 scores per portrait, some face found', () => {
    expect(plain.shapes).toEqual([[1, 128, 128, 3], [1, 896, 16], [1, 896, 1]]);
    expect(plain.outputs.map((o) => o.length)).toEqual([896 * 17, 896 * 17]);
    // The score logits: a face in each portrait gives at least one anchor with sigmoid(score) > 0.5.
    for (const out of plain.outputs) expect(Math.max(...out.slice(896 * 16))).toBeGreaterThan(0);
    // The runtime came from this origin's node_modules copy, not from a CDN.
    expect(fx.server.requests.filter((r) => /^GET \/litert\/litert_wasm_(compat_)?internal\.wasm$/.test(r))).toHaveLength(1);
  });

  it('loadAndCompile(openSealedFileStream(...).getReader()): every output equal; no cache or database', async () => {
    const before = fx.server.requests.length;
    const sealed = await call('sealedStream', fx.sealedUrl('face'), FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    expect(sealed).toEqual(plain);
    expect(fx.server.requests.slice(before).filter((r) => r.includes('/plain/'))).toEqual([]);
    expect(await call('storage')).toEqual({ caches: [], databases: [] });
  });

  it('loadAndCompile(openSealedFiles bytes), zeroed once compiled: every output equal', async () => {
    const sealed = await call('sealedBytes', fx.sealedUrl('face'), FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    expect(sealed.wiped).toBe(true);
    expect({ shapes: sealed.shapes, outputs: sealed.outputs }).toEqual(plain);
    expect(await call('storage')).toEqual({ caches: [], databases: [] });
  });

  it('a stream that fails its check part-way (one flipped byte in the shard): the runtime create call rejects', async () => {
    const outcome = await call('streamFailure', tampered, FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    // The loader's own error comes through the runtime, code and all.
    expect(outcome).toMatch(/^rejected: tampered .*failed authentication/);
  });

  it('the copy with the metadata MediaPipe Tasks needs (its test seals that one) computes the same outputs', async () => {
    expect(await call('plain', fx.plainUrl('faceTasks', FACE_MODEL_NAME))).toEqual(plain);
  });
});
