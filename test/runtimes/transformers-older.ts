// The check the Node tests of transformers.js share (2.x and 3.x for every folder, 4.x for the
// image one): a sealed folder loaded through useSealedModel gives the plain folder's embeddings
// (or generated text, or image labels), with no request and nothing in the file cache, while the
// plain load (its file cache on) does write the model there: the control. The sealed run's
// env.localModelPath is the static server, as on a web page, so a file the sealed set lacks (the
// seq2seq folder has no generation_config.json) would be requested there through the global fetch
// (2.x, 3.x) or env.fetch (4.x), which useSealedFiles guards.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { useSealedModel } from '../../loader/index.js';
import type { RuntimeFixture } from './fixtures.js';
import { embed, outputCount, usePlainHost, type FolderRun } from './transformers-run.js';

type Env = Parameters<typeof usePlainHost>[0];
type Pipeline = Parameters<typeof embed>[0];

/** The outputs of `run` (embeddings by default; generated text; image labels) on sealed set `name` through useSealedModel equal its plain copy's; returns the plain ones. */
export async function expectSealedFolderLoads(fx: RuntimeFixture, runtime: { env: unknown; pipeline: unknown }, name: string, run: FolderRun = embed): Promise<unknown[]> {
  const env = runtime.env as Env & { cacheDir: string; useFSCache: boolean };
  const pipeline = runtime.pipeline as Pipeline;
  const saved = { ...env };
  const cacheDir = await mkdtemp(join(tmpdir(), 'modelseal-transformers-cache-'));
  try {
    usePlainHost(env, fx.server.url, { fs: true });
    env.cacheDir = join(cacheDir, 'plain');
    const plain = await run(pipeline, `plain/${name}`);
    expect(plain.length).toBe(outputCount(run));
    expect((await readdir(env.cacheDir, { recursive: true })).some((f) => String(f).endsWith('model.onnx'))).toBe(true);
    Object.assign(env, saved);
    env.cacheDir = join(cacheDir, 'sealed');
    env.useFSCache = true;
    env.localModelPath = `${fx.server.url}/models/`;
    // The fetch transformers.js requests files with: env.fetch in 4.x, the global one before.
    const transformersFetch = () => (typeof saved.fetch === 'function' ? env.fetch : globalThis.fetch);
    const unguarded = transformersFetch();
    const options = { token: await fx.token(), keyServer: fx.keyServer, modelId: name };
    const handle = await useSealedModel(env, `sealed-org/${name}`, fx.sealedUrl(name), options);
    expect(transformersFetch()).not.toBe(unguarded);
    const before = fx.server.requests.length;
    expect(await run(pipeline, `sealed-org/${name}`)).toEqual(plain);
    handle.release();
    expect(fx.server.requests.slice(before)).toEqual([]);
    expect(await readdir(cacheDir)).toEqual(['plain']);
    // release() put back the settings it changed.
    expect(env.useCustomCache).toBe(saved.useCustomCache);
    expect(transformersFetch()).toBe(unguarded);
    return plain;
  } finally {
    Object.assign(env, saved);
    await rm(cacheDir, { recursive: true, force: true });
  }
}
