// transformers.js (web build, onnxruntime-web wasm) in Debian's Chromium on a sealed model folder,
// 4.x, 3.x and 2.x (the aliases transformers-3 and transformers-2, the latter @xenova/transformers):
// pipeline() through useSealedFiles gives the plain folder's embeddings, and Cache Storage stays
// empty, while the plain load (transformers.js's default browser cache) does fill it: the control.
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
 * Each tested version: its package (npm aliases for 3.x and 2.x), the folder it loads (2.x has no
 * external-data support, so its folder keeps the table inline), the `wasmPaths` value its
 * onnxruntime-web takes, and the wasm files to serve from the onnxruntime-web copy that version pins.
 * 4.x imports onnxruntime-web/webgpu, which runs the asyncify build on the CPU; 3.x the plain
 * bundle; 2.x (onnxruntime-web 1.14) takes a folder prefix and picks the single-threaded SIMD build.
 */
const VERSIONS = {
  '4.x': { pkg: '@huggingface/transformers', folder: 'external', files: ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'], prefix: false },
  '3.x': { pkg: 'transformers-3', folder: 'external', files: ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'], prefix: false },
  '2.x': { pkg: 'transformers-2', folder: 'inline', files: ['ort-wasm-simd.wasm'], prefix: true },
} as const;
type Version = keyof typeof VERSIONS;

const rootRequire = createRequire(join(ROOT, 'package.json'));
let fx: RuntimeFixture;
let browser: Browser;

type Storage = { caches: string[]; entries: string[]; databases: string[] };
type TransformersTest = { version(): string; plain(host: string, name: string): Promise<number[]>; sealed(url: string, token: string, keyServer: string, name: string): Promise<number[]>; storage(): Promise<Storage> };

/** The page, the script bundled with that version, and its wasm, under /<version>/. */
async function pageFiles(version: Version): Promise<Record<string, Uint8Array | string>> {
  const { pkg, files, prefix } = VERSIONS[version];
  const ortDist = dirname(createRequire(rootRequire.resolve(pkg)).resolve('onnxruntime-web'));
  const base = `/${version}`;
  const wasmPaths = prefix ? `${base}/` : { mjs: `${base}/${files[0]}`, wasm: `${base}/${files[1]}` };
  const script = await bundle(join(import.meta.dirname, 'transformers-page.ts'), {
    format: 'esm',
    alias: { '@huggingface/transformers': pkg },
    define: { WASM_PATHS: JSON.stringify(wasmPaths) },
  });
  const wasm = await Promise.all(files.map(async (name) => [`${base}/${name}`, new Uint8Array(await readFile(join(ortDist, name)))] as const));
  return {
    [`${base}/index.html`]: `<!doctype html><meta charset="utf-8"><title>modelseal transformers.js ${version} test</title><script type="module" src="${base}/page.js"></script>`,
    [`${base}/page.js`]: script,
    ...Object.fromEntries(wasm),
  };
}

beforeAll(async () => {
  const files = Object.assign({}, ...(await Promise.all((Object.keys(VERSIONS) as Version[]).map(pageFiles)))) as Record<string, Uint8Array | string>;
  fx = await startRuntimeFixture({ external: tinyTransformersFolder({ externalData: true }), inline: tinyTransformersFolder() }, { files });
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
  const name = VERSIONS[version].folder;
  it('loads the sealed folder from memory: same embeddings as the plain folder; Cache Storage stays empty', async () => {
    const plainPage = await openPage(version);
    expect(await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.version())).toMatch(new RegExp(`^${version[0]}\\.`));
    const plain = await plainPage.page.evaluate(({ host, name }) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.plain(host, name), { host: fx.server.url, name });
    // The control: transformers.js's own browser cache keeps the plain model files (so the check can fail).
    const plainStorage = await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage());
    expect(plainStorage.entries.some((u) => u.endsWith(`/plain/${name}/onnx/model.onnx`))).toBe(true);
    await plainPage.context.close();

    const { page, context } = await openPage(version);
    const before = fx.server.requests.length;
    const sealed = await page.evaluate(
      ({ url, token, keyServer, name }) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.sealed(url, token, keyServer, name),
      { url: fx.sealedUrl(name), token: await fx.token(), keyServer: fx.keyServer, name },
    );
    expect(plain.length).toBe(3 * 8);
    expect(sealed).toEqual(plain);
    expect(await page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage())).toEqual({ caches: [], entries: [], databases: [] });
    // Nothing fell through to a local /models/ path or to the plain host.
    expect(fx.server.requests.slice(before).filter((r) => r.includes('/models/') || r.includes('/plain/'))).toEqual([]);
    await context.close();
  });
});
