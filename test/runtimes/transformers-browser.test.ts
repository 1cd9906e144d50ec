// transformers.js (web build, onnxruntime-web wasm) in Debian's Chromium on a sealed model folder:
// pipeline() through useSealedFiles gives the plain folder's embeddings, and Cache Storage stays
// empty, while the plain load (transformers.js's default browser cache) does fill it: the control.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { tinyTransformersFolder } from './onnx-models.js';
import { ROOT, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';

/** The dist folder of the onnxruntime-web that transformers.js itself resolves (it pins its own version). */
const TF_ORT_DIST = dirname(createRequire(createRequire(join(ROOT, 'package.json')).resolve('@huggingface/transformers')).resolve('onnxruntime-web'));
const folder = tinyTransformersFolder({ externalData: true });
let fx: RuntimeFixture;
let browser: Browser;

type Storage = { caches: string[]; entries: string[]; databases: string[] };
type TransformersTest = { plain(host: string): Promise<number[]>; sealed(url: string, token: string, keyServer: string): Promise<number[]>; storage(): Promise<Storage> };

async function wasmFiles(): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(TF_ORT_DIST)) {
    if (/^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/.test(name)) out[`/tfort/${name}`] = new Uint8Array(await readFile(join(TF_ORT_DIST, name)));
  }
  return out;
}

beforeAll(async () => {
  const script = await bundle(join(import.meta.dirname, 'transformers-page.ts'), { format: 'esm' });
  fx = await startRuntimeFixture({ tiny: folder }, {
    files: { '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal transformers.js test</title><script type="module" src="/page.js"></script>', '/page.js': script, ...(await wasmFiles()) },
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

/** A page in a fresh browser context (its own Cache Storage). */
async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${fx.server.url}/index.html`);
  await page.waitForFunction(() => 'transformersTest' in globalThis);
  return { page, context };
}

describe('transformers.js pipeline() in Chromium', () => {
  it('loads the sealed folder from memory: same embeddings as the plain folder; Cache Storage stays empty', async () => {
    const plainPage = await openPage();
    const plain = await plainPage.page.evaluate((host) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.plain(host), fx.server.url);
    // The control: transformers.js's own browser cache keeps the plain model files (so the check can fail).
    const plainStorage = await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage());
    expect(plainStorage.entries.some((u) => u.endsWith('/plain/tiny/onnx/model.onnx'))).toBe(true);
    await plainPage.context.close();

    const { page, context } = await openPage();
    const before = fx.server.requests.length;
    const sealed = await page.evaluate(
      ({ url, token, keyServer }) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.sealed(url, token, keyServer),
      { url: fx.sealedUrl('tiny'), token: await fx.token(), keyServer: fx.keyServer },
    );
    expect(plain.length).toBe(3 * 8);
    expect(sealed).toEqual(plain);
    expect(await page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage())).toEqual({ caches: [], entries: [], databases: [] });
    // Nothing fell through to a local /models/ path or to the plain host.
    expect(fx.server.requests.slice(before).filter((r) => r.includes('/models/') || r.includes('/plain/'))).toEqual([]);
    await context.close();
  });
});
