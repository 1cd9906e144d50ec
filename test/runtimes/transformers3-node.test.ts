// transformers.js 3.x (installed as the alias transformers-3) in Node on sealed model folders: the
// same adapter as for 4.x. A folder without external data loads through useSealedModel alone. With
// external data, 3.x in Node hands onnxruntime-node only file paths for the data (it drops the
// bytes it fetched), so the app passes them itself through session_options: the documented setup.
// 2.x is in transformers2-node.test.ts: each pins its own onnxruntime-node, and two native copies
// in one process clash at exit.
import { env as env3, pipeline as pipeline3 } from 'transformers-3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxModelFromFiles, useSealedFiles } from '../../loader/index.js';
import { tinyTransformersFolder } from './onnx-models.js';
import { openSealed, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { embed, SENTENCES, usePlainHost } from './transformers-run.js';
import { expectSealedFolderLoads } from './transformers-older.js';

// transformers-run.ts is typed against 4.x; the calls it makes (pipeline, env's hub settings) are 3.x's too.
const env = env3 as unknown as Parameters<typeof usePlainHost>[0];
const pipeline = pipeline3 as unknown as Parameters<typeof embed>[0];
let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await startRuntimeFixture({ inline: tinyTransformersFolder(), external: tinyTransformersFolder({ externalData: true }) });
});
afterAll(async () => {
  await fx?.close();
});

describe('transformers.js 3.x pipeline() in Node', () => {
  it('loads a sealed folder from memory: the plain folder\'s embeddings, nothing in the file cache, no request', async () => {
    expect(env3.version).toMatch(/^3\./);
    await expectSealedFolderLoads(fx, { env: env3, pipeline: pipeline3 }, 'inline');
  });

  it('external data: 3.x alone cannot load it from memory in Node; with session_options.externalData from onnxModelFromFiles it can', async () => {
    const saved = { ...env3 };
    usePlainHost(env, fx.server.url, {});
    const plain = await embed(pipeline, 'plain/inline'); // the same embedding table, stored inline
    Object.assign(env3, saved);
    const files = await openSealed(fx, 'external');
    // The limit: 3.x fetches model.onnx_data through the cache, then gives onnxruntime-node a path
    // (the files are copied here, as release() zeroes what it was given).
    const alone = useSealedFiles(env3, 'sealed-org/external', new Map([...files].map(([path, bytes]) => [path, bytes.slice()])));
    const failed = await embed(pipeline, 'sealed-org/external').catch((e: unknown) => e);
    alone.release();
    expect(String(failed)).toMatch(/model\.onnx_data/);
    // The setup LOADER.md documents: the data files go in as session options.
    const { options: sessionOptions } = onnxModelFromFiles(files, { model: 'onnx/model.onnx' });
    const handle = useSealedFiles(env3, 'sealed-org/external', files);
    const extractor = await pipeline3('feature-extraction', 'sealed-org/external', { dtype: 'fp32', session_options: sessionOptions });
    handle.release(); // zeroes the decrypted files: the session holds its own copy
    const out = await extractor(SENTENCES, { pooling: 'mean', normalize: true });
    expect(Array.from(out.data as Float32Array)).toEqual(plain);
    await extractor.dispose();
    expect(files.size).toBe(0);
    Object.assign(env3, saved);
  });
});
