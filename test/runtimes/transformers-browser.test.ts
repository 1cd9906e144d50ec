// transformers.js (web build, onnxruntime-web wasm) in Debian's Chromium on a sealed model folder,
// 4.x and 3.x (the alias transformers-3): pipeline() through useSealedFiles gives the plain folder's
// embeddings, and Cache Storage stays empty, while the plain load (transformers.js's default browser
// cache) does fill it: the control.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { tinyTransformersFolder } from './onnx-models.js';
import { ROOT, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';

/**
 * Each tested version: its package (an npm alias for 3.x) and the onnxruntime-web wasm build its web
 * bundle loads (4.x imports onnxruntime-web/webgpu, which runs the asyncify build on the CPU; 3.x
 * imports the plain bundle). The wasm comes from the onnxruntime-web copy that version pins.
 */
const VERSIONS = {
  '4.x': { pkg: '@huggingface/transformers', wasm: 'ort-wasm-simd-threaded.asyncify' },
  '3.x': { pkg: 'transformers-3', wasm: 'ort-wasm-simd-threaded' },
} as const;
type Version = keyof typeof VERSIONS;

const rootRequire = createRequire(join(ROOT, 'package.json'));
const folder = tinyTransformersFolder({ externalData: true });
let fx: RuntimeFixture;
let browser: Browser;

type Storage = { caches: string[]; entries: string[]; databases: string[] };
type TransformersTest = { version(): string; plain(host: string): Promise<number[]>; sealed(url: string, token: string, keyServer: string): Promise<number[]>; storage(): Promise<Storage> };

/** The page, the script bundled with that version, and its wasm, under /<version>/. */
async function pageFiles(version: Version): Promise<Record<string, Uint8Array | string>> {
  const { pkg, wasm } = VERSIONS[version];
  const ortDist = dirname(createRequire(rootRequire.resolve(pkg)).resolve('onnxruntime-web'));
  const base = `/${version}`;
  const script = await bundle(join(import.meta.dirname, 'transformers-page.ts'), {
    format: 'esm',
    alias: { '@huggingface/transformers': pkg },
    define: { WASM_PATHS: JSON.stringify({ mjs: `${base}/${wasm}.mjs`, wasm: `${base}/${wasm}.wasm` }) },
  });
  return {
    [`${base}/index.html`]: `<!doctype html><meta charset="utf-8"><title>modelseal transformers.js ${version} test</title><script type="module" src="${base}/page.js"></script>`,
    [`${base}/page.js`]: script,
    [`${base}/${wasm}.mjs`]: new Uint8Array(await readFile(join(ortDist, `${wasm}.mjs`))),
    [`${base}/${wasm}.wasm`]: new Uint8Array(await readFile(join(ortDist, `${wasm}.wasm`))),
  };
}

beforeAll(async () => {
  const files = Object.assign({}, ...(await Promise.all((Object.keys(VERSIONS) as Version[]).map(pageFiles)))) as Record<string, Uint8Array | string>;
  fx = await startRuntimeFixture({ tiny: folder }, { files });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

/** A page of `version` in a fresh browser context (its own Cache Storage). */
async function openPage(version: Version) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${fx.server.url}/${version}/index.html`);
  await page.waitForFunction(() => 'transformersTest' in globalThis);
  return { page, context };
}

describe.each(Object.keys(VERSIONS) as Version[])('transformers.js %s pipeline() in Chromium', (version) => {
  it('loads the sealed folder from memory: same embeddings as the plain folder; Cache Storage stays empty', async () => {
    const plainPage = await openPage(version);
    expect(await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.version())).toMatch(new RegExp(`^${version[0]}\\.`));
    const plain = await plainPage.page.evaluate((host) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.plain(host), fx.server.url);
    // The control: transformers.js's own browser cache keeps the plain model files (so the check can fail).
    const plainStorage = await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage());
    expect(plainStorage.entries.some((u) => u.endsWith('/plain/tiny/onnx/model.onnx'))).toBe(true);
    await plainPage.context.close();

    const { page, context } = await openPage(version);
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
