// transformers.js 2.x (@xenova/transformers, installed as the alias transformers-2) in Node on a
// sealed model folder, with the same adapter as 4.x: useSealedModel alone. 2.x has no external-data
// support, so its folder keeps the embedding table inline. Its sharp 0.32 would download libvips
// from GitHub at install, so package.json overrides it with sharp 0.34 (prebuilt from the registry);
// the text pipeline here does not use sharp.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env as env2, pipeline as pipeline2 } from 'transformers-2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSealedModel, type TransformersEnvLike } from '../../loader/index.js';
import { tinyTransformersFolder } from './onnx-models.js';
import { startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { embed, usePlainHost } from './transformers-run.js';

// transformers-run.ts is typed against 4.x; the calls it makes (pipeline, env's hub settings) are 2.x's too.
const env = env2 as unknown as Parameters<typeof usePlainHost>[0];
const pipeline = pipeline2 as unknown as Parameters<typeof embed>[0];
let fx: RuntimeFixture;
let cacheDir: string;

beforeAll(async () => {
  fx = await startRuntimeFixture({ inline: tinyTransformersFolder() });
  cacheDir = await mkdtemp(join(tmpdir(), 'modelseal-tfjs2-cache-'));
});
afterAll(async () => {
  await fx?.close();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe('transformers.js 2.x (@xenova/transformers) pipeline() in Node', () => {
  it('loads a sealed folder from memory: the plain folder\'s embeddings, nothing in the file cache, no request', async () => {
    const saved = { ...env2 };
    expect(env2.version).toMatch(/^2\./);
    // The control: the plain load with the file cache on does write the model there.
    usePlainHost(env, fx.server.url, { fs: true });
    env2.cacheDir = join(cacheDir, 'plain');
    const plain = await embed(pipeline, 'plain/inline');
    expect(plain.length).toBe(3 * 8);
    expect((await readdir(env2.cacheDir, { recursive: true })).some((f) => String(f).endsWith('model.onnx'))).toBe(true);
    Object.assign(env2, saved);
    env2.cacheDir = join(cacheDir, 'sealed');
    env2.useFSCache = true;
    const options = { token: await fx.token(), keyServer: fx.keyServer, modelId: 'inline' };
    const handle = await useSealedModel(env2 as unknown as TransformersEnvLike, 'sealed-org/inline-2', fx.sealedUrl('inline'), options);
    const before = fx.server.requests.length;
    expect(await embed(pipeline, 'sealed-org/inline-2')).toEqual(plain);
    handle.release();
    expect(fx.server.requests.slice(before)).toEqual([]);
    expect(await readdir(cacheDir)).toEqual(['plain']);
    expect(env2.useCustomCache).toBe(saved.useCustomCache);
    Object.assign(env2, saved);
  });
});

