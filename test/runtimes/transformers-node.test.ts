// transformers.js in Node on a sealed model folder: a tiny BERT-shaped feature-extraction model
// (config, WordPiece tokenizer, onnx/model.onnx with its embedding table in onnx/model.onnx_data),
// and a tiny T5-shaped text2text-generation one (two sessions, each with its own data file),
// sealed by the CLI, served to pipeline() by useSealedFiles; outputs equal the plain folder's, and
// transformers.js's file cache (env.cacheDir) receives nothing, while the plain run does fill it.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline, RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError, useSealedFiles, useSealedModel, type TransformersEnvLike } from '../../loader/index.js';
import { IMAGE_LABELS, tinyImageFolder, tinySeq2SeqFolder, tinyTransformersFolder } from './onnx-models.js';
import { openSealed, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { classifyWith, embed, embedSealed, generate, PROMPTS, usePlainHost, type RawImageClass } from './transformers-run.js';
import { expectSealedFolderLoads } from './transformers-older.js';

const folder = tinyTransformersFolder({ externalData: true });
let fx: RuntimeFixture;
let cacheRoot: string;

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
}

// A folder that ships several ONNX variants, as hub folders do: the fp32 model of `folder`, and a
// "quantized" one (another tiny model: different embeddings if it were the one loaded).
const variants = new Map([...folder, ['onnx/model_quantized.onnx', tinyTransformersFolder({ hidden: 4 }).get('onnx/model.onnx')!]]);

beforeAll(async () => {
  fx = await startRuntimeFixture({ tiny: folder, variants, seq2seq: tinySeq2SeqFolder({ externalData: true }), image: tinyImageFolder() });
  cacheRoot = await mkdtemp(join(tmpdir(), 'modelseal-tfjs-cache-'));
});
afterAll(async () => {
  await fx?.close();
  if (cacheRoot) await rm(cacheRoot, { recursive: true, force: true });
});

describe('transformers.js pipeline() in Node', () => {
  it('loads the sealed folder from memory: same embeddings as the plain folder, nothing in the file cache, no request', async () => {
    const saved = { ...env };
    usePlainHost(env, fx.server.url, { fs: true });
    env.cacheDir = join(cacheRoot, 'plain');
    const plain = await embed(pipeline, 'plain/tiny');
    // The control: the plain load does fill the file cache with the model's bytes, so the check below can fail.
    const cachedPlain = await filesUnder(env.cacheDir);
    const onnxBytes = Buffer.from(folder.get('onnx/model.onnx')!);
    expect((await Promise.all(cachedPlain.map((f) => readFile(f)))).some((b) => b.equals(onnxBytes))).toBe(true);

    env.cacheDir = join(cacheRoot, 'sealed');
    env.useFSCache = true;
    const files = await openSealed(fx, 'tiny');
    const before = fx.server.requests.length;
    const sealed = await embedSealed(env, pipeline, 'sealed-org/tiny', files);
    expect(plain.length).toBe(3 * 8);
    expect(sealed).toEqual(plain);
    expect(await filesUnder(env.cacheDir)).toEqual([]);
    expect(fx.server.requests.slice(before)).toEqual([]);
    // release() zeroed and dropped the decrypted files and gave env back its own settings.
    expect(files.size).toBe(0);
    expect(env.useCustomCache).toBe(false);
    expect(env.useFSCache).toBe(true);
    Object.assign(env, saved);
  });

  it('useSealedModel opens the sealing itself, and a refused load fails with its code and leaves env alone', async () => {
    const saved = { ...env };
    usePlainHost(env, fx.server.url, { fs: true });
    env.cacheDir = join(cacheRoot, 'plain-2');
    const plain = await embed(pipeline, 'plain/tiny');
    Object.assign(env, saved);
    const options = { token: await fx.token(), keyServer: fx.keyServer, modelId: 'tiny' };
    const handle = await useSealedModel(env as unknown as TransformersEnvLike, 'sealed-org/tiny-2', fx.sealedUrl('tiny'), options);
    expect(handle.paths).toEqual([...folder.keys()].sort());
    expect(await embed(pipeline, 'sealed-org/tiny-2')).toEqual(plain);
    handle.release();
    const denied = await useSealedModel(env as unknown as TransformersEnvLike, 'sealed-org/tiny-3', fx.sealedUrl('tiny'), { ...options, token: 'not-a-token' }).catch((e: unknown) => e);
    expect(isModelsealError(denied, 'key_denied'), String(denied)).toBe(true);
    // A refused load changes nothing in env.
    expect(env.useCustomCache).toBe(saved.useCustomCache);
    await expect(useSealedModel(env as unknown as TransformersEnvLike, '', fx.sealedUrl('tiny'), options)).rejects.toThrow(/useSealedModel: modelId must be the model id/);
    Object.assign(env, saved);
  });

  it('a folder of several ONNX variants: paths picks the config files and one variant, and pipeline() needs no other', async () => {
    const saved = { ...env };
    try {
      usePlainHost(env, fx.server.url, { fs: true }); // 4.x in Node gives onnxruntime-node a cached file's path
      env.cacheDir = join(cacheRoot, 'plain-variants');
      const plain = await embed(pipeline, 'plain/tiny');
      Object.assign(env, saved);
      // The selection LOADER.md shows: every file outside onnx/, and the fp32 model with its data.
      const paths = (path: string) => !path.startsWith('onnx/') || path.startsWith('onnx/model.onnx');
      const handle = await useSealedModel(env as unknown as TransformersEnvLike, 'sealed-org/variants', fx.sealedUrl('variants'), { token: await fx.token(), keyServer: fx.keyServer, modelId: 'variants', paths });
      expect(handle.paths).toEqual(['config.json', 'onnx/model.onnx', 'onnx/model.onnx_data', 'tokenizer.json', 'tokenizer_config.json']);
      expect(await embed(pipeline, 'sealed-org/variants')).toEqual(plain);
      handle.release();
      // A selection that leaves out a file the pipeline needs fails, with no request elsewhere.
      const partial = await useSealedModel(env as unknown as TransformersEnvLike, 'sealed-org/variants-2', fx.sealedUrl('variants'), { token: await fx.token(), keyServer: fx.keyServer, modelId: 'variants', paths: (path) => path !== 'onnx/model.onnx_data' });
      const before = fx.server.requests.length;
      await expect(embed(pipeline, 'sealed-org/variants-2')).rejects.toThrow();
      expect(fx.server.requests.slice(before)).toEqual([]);
      partial.release();
    } finally {
      Object.assign(env, saved);
    }
  });

  it('a seq2seq folder (encoder and decoder sessions, each with external data): the plain folder\'s text, nothing in the file cache, no request', async () => {
    const saved = { ...env };
    try {
      usePlainHost(env, fx.server.url, { fs: true });
      env.cacheDir = join(cacheRoot, 'plain-seq2seq');
      const plain = await generate(pipeline, 'plain/seq2seq');
      expect(plain.length).toBe(PROMPTS.length);
      expect(plain.every((text) => text.length > 0)).toBe(true);
      Object.assign(env, saved);
      env.cacheDir = join(cacheRoot, 'sealed-seq2seq');
      env.useFSCache = true;
      const handle = await useSealedModel(env as unknown as TransformersEnvLike, 'sealed-org/seq2seq', fx.sealedUrl('seq2seq'), { token: await fx.token(), keyServer: fx.keyServer, modelId: 'seq2seq' });
      expect(handle.paths.filter((p) => p.startsWith('onnx/'))).toEqual(['onnx/decoder_model_merged.onnx', 'onnx/decoder_model_merged.onnx_data', 'onnx/encoder_model.onnx', 'onnx/encoder_model.onnx_data']);
      const before = fx.server.requests.length;
      // Released (zeroed) once both sessions are built, before the first generation step.
      expect(await generate(pipeline, 'sealed-org/seq2seq', undefined, () => handle.release())).toEqual(plain);
      expect(fx.server.requests.slice(before)).toEqual([]);
      expect(await filesUnder(env.cacheDir)).toEqual([]);
    } finally {
      Object.assign(env, saved);
    }
  });

  it('an image-classification folder (a processor config, no tokenizer; sharp resizes): the plain folder\'s labels and scores, nothing cached, no request', async () => {
    const plain = await expectSealedFolderLoads(fx, { env, pipeline }, 'image', classifyWith(RawImage as unknown as RawImageClass));
    // Each image gets every label once, most likely first: the run read the model's id2label.
    for (const labels of plain as Array<Array<[string, number]>>) {
      expect(labels.map(([label]) => label).sort()).toEqual([...IMAGE_LABELS].sort());
      expect(labels.map(([, score]) => score)).toEqual(labels.map(([, score]) => score).sort((a, b) => b - a));
    }
  });

  it('answers the local-path and the remote-URL keys, for any revision, and only for its model', async () => {
    const saved = { ...env };
    const files = new Map([['config.json', new Uint8Array([123, 125])], ['onnx/model.onnx', new Uint8Array([1, 2])]]);
    const handle = useSealedFiles(env as unknown as TransformersEnvLike, 'org/m', files);
    const cache = env.customCache as { match(k: string): Promise<Response | undefined>; put(k: string, r: Response): Promise<void> };
    const text = async (k: string) => {
      const r = await cache.match(k);
      return r ? [...new Uint8Array(await r.arrayBuffer())] : undefined;
    };
    expect(await text(`${env.localModelPath.replace(/\/$/, '')}/org/m/config.json`)).toEqual([123, 125]);
    expect(await text('https://huggingface.co/org/m/resolve/main/onnx/model.onnx')).toEqual([1, 2]);
    expect(await text('https://huggingface.co/org/m/resolve/v1.2/onnx/model.onnx')).toEqual([1, 2]);
    expect(await text('https://huggingface.co/org/mm/resolve/main/config.json')).toBeUndefined();
    expect(await text('https://huggingface.co/org/m/resolve/main/missing.json')).toBeUndefined();
    expect(await text('https://example.com/org/m/resolve/main/config.json')).toBeUndefined();
    // A hit hands over the file's own buffer (no second copy of the model until the pipeline is
    // ready); its body streams the same bytes; a view into a larger buffer is copied out.
    const key = 'https://huggingface.co/org/m/resolve/main/onnx/model.onnx';
    expect(await (await cache.match(key))!.arrayBuffer()).toBe(files.get('onnx/model.onnx')!.buffer);
    expect([...new Uint8Array(await new Response((await cache.match(key))!.body).arrayBuffer())]).toEqual([1, 2]);
    const view = useSealedFiles(env as unknown as TransformersEnvLike, 'org/v', new Map([['config.json', new Uint8Array([9, 123, 125, 9]).subarray(1, 3)]]));
    const copied = await (await cache.match('https://huggingface.co/org/v/resolve/main/config.json'))!.arrayBuffer();
    expect([copied.byteLength, ...new Uint8Array(copied)]).toEqual([2, 123, 125]);
    view.release();
    // So is a Node Buffer's view (protobuf encoders and Buffer.from hand out views into a shared pool).
    const pooled = useSealedFiles(env as unknown as TransformersEnvLike, 'org/b', new Map([['config.json', Buffer.from(new Uint8Array([9, 123, 125, 9]).buffer, 1, 2)]]));
    const fromBuffer = await (await cache.match('https://huggingface.co/org/b/resolve/main/config.json'))!.arrayBuffer();
    expect([fromBuffer.byteLength, ...new Uint8Array(fromBuffer)]).toEqual([2, 123, 125]);
    pooled.release();
    // put() stores nothing.
    await cache.put('https://huggingface.co/org/m/resolve/main/new.json', new Response('x'));
    expect(await text('https://huggingface.co/org/m/resolve/main/new.json')).toBeUndefined();
    expect({ custom: env.useCustomCache, browser: env.useBrowserCache, fs: env.useFSCache, remote: env.allowRemoteModels }).toEqual({ custom: true, browser: false, fs: false, remote: false });
    // env.fetch answers 404 with no network for any file of a sealed model (held or not: a file the
    // sealed set lacks must not come from elsewhere) and passes every other request on.
    const guarded = await env.fetch('https://huggingface.co/org/m/resolve/main/generation_config.json');
    expect(guarded.status).toBe(404);
    expect((await env.fetch(`${env.localModelPath.replace(/\/$/, '')}/org/m/config.json`)).status).toBe(404);
    const before = fx.server.requests.length;
    expect((await env.fetch(`${fx.server.url}/not-sealed.json`)).status).toBe(404);
    expect(fx.server.requests.slice(before)).toEqual(['GET /not-sealed.json']);
    handle.release();
    expect(await text('https://huggingface.co/org/m/resolve/main/config.json')).toBeUndefined();
    expect(env.fetch).toBe(saved.fetch);
    Object.assign(env, saved);
    expect(() => useSealedFiles({} as never, 'x', files)).toThrow(/pass transformers\.js's env/);
    expect(() => useSealedFiles(env as unknown as TransformersEnvLike, '/x/', files)).toThrow(/the model id you pass to pipeline/);
  });

  it('without env.fetch (3.x, 2.x): guards globalThis.fetch the same way, and restores it unless someone has wrapped it since', async () => {
    const { fetch: _fetch, ...rest } = env as unknown as TransformersEnvLike;
    // An env as 3.x and 2.x have it (no fetch), whose local models are on a web server, as in a page.
    const older = { ...rest, localModelPath: `${fx.server.url}/models/` } as TransformersEnvLike;
    const local = `${fx.server.url}/models/org/g/generation_config.json`;
    const globalFetch = globalThis.fetch;
    const files = () => new Map([['config.json', new Uint8Array([123, 125])]]);
    const handle = useSealedFiles(older, 'org/g', files());
    expect(older.fetch).toBeUndefined();
    const before = fx.server.requests.length;
    expect((await globalThis.fetch(local)).status).toBe(404);
    expect((await globalThis.fetch('https://huggingface.co/org/g/resolve/main/generation_config.json')).status).toBe(404);
    expect((await globalThis.fetch(`${fx.server.url}/not-sealed.json`)).status).toBe(404);
    expect(fx.server.requests.slice(before)).toEqual(['GET /not-sealed.json']);
    handle.release();
    expect(globalThis.fetch).toBe(globalFetch);
    // Wrapped by someone else meanwhile: the wrapper stays, and the guard under it, with no model left, passes every request on.
    const again = useSealedFiles(older, 'org/g', files());
    const guarded = globalThis.fetch;
    const wrapper = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => guarded(input, init)) as typeof fetch;
    globalThis.fetch = wrapper;
    try {
      again.release();
      expect(globalThis.fetch).toBe(wrapper);
      const after = fx.server.requests.length;
      await globalThis.fetch(local);
      expect(fx.server.requests.slice(after)).toEqual(['GET /models/org/g/generation_config.json']);
    } finally {
      globalThis.fetch = globalFetch;
    }
  });
});
