// transformers.js (web build, onnxruntime-web wasm) in Debian's Chromium on sealed model folders,
// 4.x, 3.x and 2.x (the aliases transformers-3 and transformers-2, the latter @xenova/transformers):
// pipeline() through useSealedFiles gives the plain folders' outputs (embeddings; a two-session
// seq2seq model's generated text; an image classifier's labels, its processor resizing on a
// canvas), and Cache Storage stays empty, while the plain load
// (transformers.js's default browser cache) does fill it: the control.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { tinyImageFolder, tinySeq2SeqFolder, tinyTransformersFolder } from './onnx-models.js';
import { ROOT, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { IMAGES, PROMPTS } from './transformers-run.js';

/**
 * Each tested version: its package (npm aliases for 3.x and 2.x), the folders it loads, a
 * feature-extraction one, a seq2seq one of two sessions and an image classifier (2.x has no external-data support, so
 * its folders keep the weights inline), the `wasmPaths` value its
 * onnxruntime-web takes, and the wasm files to serve from the onnxruntime-web copy that version pins.
 * 4.x imports onnxruntime-web/webgpu, which runs the asyncify build on the CPU; 3.x the plain
 * bundle; 2.x (onnxruntime-web 1.14) takes a folder prefix and picks the single-threaded SIMD build.
 */
const VERSIONS = {
  '4.x': { pkg: '@huggingface/transformers', folders: ['external', 'seq2seq-external', 'image'], files: ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'], prefix: false },
  '3.x': { pkg: 'transformers-3', folders: ['external', 'seq2seq-external', 'image'], files: ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'], prefix: false },
  '2.x': { pkg: 'transformers-2', folders: ['inline', 'seq2seq', 'image'], files: ['ort-wasm-simd.wasm'], prefix: true },
} as const;
type Version = keyof typeof VERSIONS;

const rootRequire = createRequire(join(ROOT, 'package.json'));
let fx: RuntimeFixture;
let browser: Browser;

type Storage = { caches: string[]; entries: string[]; databases: string[] };
type Task = 'embed' | 'generate' | 'classify';
type TransformersTest = { version(): string; plain(host: string, name: string, task: Task): Promise<unknown[]>; sealed(url: string, token: string, keyServer: string, name: string, task: Task): Promise<unknown[]>; storage(): Promise<Storage> };

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
  const folders = {
    external: tinyTransformersFolder({ externalData: true }), inline: tinyTransformersFolder(),
    'seq2seq-external': tinySeq2SeqFolder({ externalData: true }), seq2seq: tinySeq2SeqFolder(), image: tinyImageFolder(),
  };
  fx = await startRuntimeFixture(folders, { files });
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
  const [embedding, seq2seq, image] = VERSIONS[version].folders;
  const runs = [[embedding, 'embed'], [seq2seq, 'generate'], [image, 'classify']] as const;
  it('loads sealed folders from memory (feature extraction; seq2seq, two sessions; image classification): the plain folders\' outputs; Cache Storage stays empty', async () => {
    const plainPage = await openPage(version);
    expect(await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.version())).toMatch(new RegExp(`^${version[0]}\\.`));
    const plain: unknown[][] = [];
    for (const [name, task] of runs) {
      plain.push(await plainPage.page.evaluate(({ host, name, task }) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.plain(host, name, task), { host: fx.server.url, name, task }));
    }
    // The control: transformers.js's own browser cache keeps the plain model files (so the check can fail).
    const plainStorage = await plainPage.page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage());
    expect(plainStorage.entries.some((u) => u.endsWith(`/plain/${embedding}/onnx/model.onnx`))).toBe(true);
    expect(plainStorage.entries.some((u) => u.endsWith(`/plain/${seq2seq}/onnx/decoder_model_merged.onnx`))).toBe(true);
    await plainPage.context.close();

    const { page, context } = await openPage(version);
    const before = fx.server.requests.length;
    const sealed: unknown[][] = [];
    for (const [name, task] of runs) {
      sealed.push(await page.evaluate(
        ({ url, token, keyServer, name, task }) => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.sealed(url, token, keyServer, name, task),
        { url: fx.sealedUrl(name), token: await fx.token(), keyServer: fx.keyServer, name, task },
      ));
    }
    expect(plain[0]!.length).toBe(3 * 8);
    expect(plain[1]!.length).toBe(PROMPTS.length);
    expect((plain[1] as string[]).every((text) => text.length > 0)).toBe(true);
    expect((plain[2] as unknown[][]).map((labels) => labels.length)).toEqual(IMAGES.map(() => 3));
    expect(sealed).toEqual(plain);
    expect(await page.evaluate(() => (globalThis as unknown as { transformersTest: TransformersTest }).transformersTest.storage())).toEqual({ caches: [], entries: [], databases: [] });
    // Nothing fell through to the plain host, nor to a local /models/ path: the seq2seq folder has
    // no generation_config.json, an optional file, and useSealedFiles answers 404 for it with no
    // request (4.x through env.fetch, 3.x and 2.x through the global fetch they call). Without the
    // guard, each version asks the page's origin for /models/sealed-org/<id>/generation_config.json.
    expect(fx.server.requests.slice(before).filter((r) => r.includes('/models/') || r.includes('/plain/'))).toEqual([]);
    await context.close();
  });
});
