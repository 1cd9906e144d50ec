// transformers.js 3.x (installed as the alias transformers-3) in Node on sealed model folders: the
// same adapter as for 4.x. A folder without external data loads through useSealedModel alone. With
// external data, 3.x in Node hands onnxruntime-node only file paths for the data (it drops the
// bytes it fetched), so the app passes them itself through session_options: the documented setup.
// 2.x is in transformers2-node.test.ts: each pins its own onnxruntime-node, and two native copies
// in one process clash at exit.
import { env as env3, pipeline as pipeline3, RawImage as RawImage3 } from 'transformers-3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onnxModelFromFiles, useSealedFiles } from '../../loader/index.js';
import { tinyImageFolder, tinySeq2SeqFolder, tinyTransformersFolder } from './onnx-models.js';
import { openSealed, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { classifyWith, embed, generate, runSealed, usePlainHost, type RawImageClass } from './transformers-run.js';
import { expectSealedFolderLoads } from './transformers-older.js';

// transformers-run.ts is typed against 4.x; the calls it makes (pipeline, env's hub settings) are 3.x's too.
const env = env3 as unknown as Parameters<typeof usePlainHost>[0];
const pipeline = pipeline3 as unknown as Parameters<typeof embed>[0];
let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await startRuntimeFixture({
    inline: tinyTransformersFolder(), external: tinyTransformersFolder({ externalData: true }),
    seq2seq: tinySeq2SeqFolder(), 'seq2seq-external': tinySeq2SeqFolder({ externalData: true }), image: tinyImageFolder(),
  });
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
    const { options: session_options } = onnxModelFromFiles(files, { model: 'onnx/model.onnx' });
    // runSealed zeroes the decrypted files once the pipeline is ready: the session holds its own copy.
    expect(await runSealed(env, pipeline, 'sealed-org/external', files, (p, id, device, ready) => embed(p, id, device, ready, { session_options }))).toEqual(plain);
    expect(files.size).toBe(0);
    Object.assign(env3, saved);
  });

  it('a seq2seq folder (encoder and decoder, two sessions): the plain folder\'s text, inline or with each session\'s external data', async () => {
    const plain = await expectSealedFolderLoads(fx, { env: env3, pipeline: pipeline3 }, 'seq2seq', generate);
    // With external data, one onnxModelFromFiles call serves both sessions: it lists every data
    // file of the model's folder (onnx/), and each session reads the ones its graph names.
    const files = await openSealed(fx, 'seq2seq-external');
    const { options: session_options } = onnxModelFromFiles(files, { model: 'onnx/encoder_model.onnx' });
    expect(session_options.externalData.map((d) => d.path)).toEqual(['decoder_model_merged.onnx_data', 'encoder_model.onnx_data']);
    const saved = { ...env3 };
    try {
      const sealed = await runSealed(env, pipeline, 'sealed-org/seq2seq-external', files, (p, id, device, ready) => generate(p, id, device, ready, { session_options }));
      expect(sealed).toEqual(plain);
      expect(files.size).toBe(0);
    } finally {
      Object.assign(env3, saved);
    }
  });

  it('an image-classification folder (a processor config, no tokenizer; sharp resizes): the plain folder\'s labels and scores', async () => {
    await expectSealedFolderLoads(fx, { env: env3, pipeline: pipeline3 }, 'image', classifyWith(RawImage3 as unknown as RawImageClass));
  });
});
