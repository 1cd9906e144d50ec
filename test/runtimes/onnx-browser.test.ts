// onnxruntime-web (wasm) in Debian's Chromium on sealed files: Silero VAD fp32 and fp16, PP-OCRv4's
// text detector (4.7 MB) and the three-file external-data model, opened through the real key server by the page, outputs equal to
// the plain model's on the same runtime; nothing lands in Cache Storage or IndexedDB.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { externalDataModel } from './onnx-models.js';
import { PPOCR_MODELS, ppocrFiles, ROOT, SILERO_MODELS, sileroFiles, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';

const ORT_DIST = join(ROOT, 'node_modules/onnxruntime-web/dist');
const external = externalDataModel();
let fx: RuntimeFixture;
let browser: Browser;
// One page for every case: the runtime's wasm compiles once.
let page: Page | undefined;

type OnnxTest = {
  plain(base: string, paths: string[], shape: readonly number[] | null): Promise<number[]>;
  sealed(url: string, shape: readonly number[] | null, token: string, keyServer: string): Promise<{ outputs: number[]; wiped: boolean }>;
  storage(): Promise<{ caches: string[]; databases: string[] }>;
};

/** The runtime's wasm files, served the way an app serves them (env.wasm.wasmPaths). */
async function ortFiles(): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(ORT_DIST)) {
    if (/^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/.test(name)) out[`/ort/${name}`] = new Uint8Array(await readFile(join(ORT_DIST, name)));
  }
  return out;
}

beforeAll(async () => {
  const script = await bundle(join(import.meta.dirname, 'onnx-page.ts'), { format: 'esm' });
  fx = await startRuntimeFixture(
    { silero16k: await sileroFiles(SILERO_MODELS.silero16k), sileroHalf: await sileroFiles(SILERO_MODELS.sileroHalf), external: external.files, ppocrDet: await ppocrFiles('det') },
    {
      entries: { silero16k: SILERO_MODELS.silero16k, sileroHalf: SILERO_MODELS.sileroHalf, external: external.model, ppocrDet: PPOCR_MODELS.det.file },
      files: { '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal onnx test</title><script type="module" src="/page.js"></script>', '/page.js': script, ...(await ortFiles()) } },
  );
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${fx.server.url}/index.html`);
  await page.waitForFunction(() => 'onnxTest' in globalThis);
  return page;
}

describe('onnxruntime-web in Chromium', () => {
  it.each(['silero16k', 'sileroHalf', 'external', 'ppocrDet'])('%s: sealed outputs equal plain outputs; no cache or database holds anything', async (name) => {
    page ??= await openPage();
    const shape = name === 'external' ? external.inputShape : name === 'ppocrDet' ? PPOCR_MODELS.det.inputShape : null;
    const paths = fx.paths.get(name)!;
    const plain = await page.evaluate(({ base, paths, shape }) => (globalThis as unknown as { onnxTest: OnnxTest }).onnxTest.plain(base, paths, shape), { base: `${fx.server.url}/plain/${name}/`, paths, shape });
    const sealed = await page.evaluate(
      ({ url, shape, token, keyServer }) => (globalThis as unknown as { onnxTest: OnnxTest }).onnxTest.sealed(url, shape, token, keyServer),
      { url: fx.sealedUrl(name), shape, token: await fx.token(), keyServer: fx.keyServer },
    );
    expect(plain.length).toBeGreaterThan(0);
    expect(sealed.outputs).toEqual(plain);
    expect(sealed.wiped).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { onnxTest: OnnxTest }).onnxTest.storage())).toEqual({ caches: [], databases: [] });
  });
});
