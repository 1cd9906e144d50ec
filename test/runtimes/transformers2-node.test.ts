// transformers.js 2.x (@xenova/transformers, installed as the alias transformers-2) in Node on a
// sealed model folder, with the same adapter as 4.x: useSealedModel alone. 2.x has no external-data
// support, so its folder keeps the embedding table inline. Its sharp 0.32 would download libvips
// from GitHub at install, so package.json overrides it with sharp 0.34 (prebuilt from the registry);
// the image-classification folder's processor resizes through it.
import * as transformers2 from 'transformers-2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyImageFolder, tinySeq2SeqFolder, tinyTransformersFolder } from './onnx-models.js';
import { startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { classifyWith, generate, type RawImageClass } from './transformers-run.js';
import { expectSealedFolderLoads } from './transformers-older.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await startRuntimeFixture({ inline: tinyTransformersFolder(), seq2seq: tinySeq2SeqFolder(), image: tinyImageFolder() });
});
afterAll(async () => {
  await fx?.close();
});

describe('transformers.js 2.x (@xenova/transformers) pipeline() in Node', () => {
  it('loads a sealed folder from memory: the plain folder\'s embeddings, nothing in the file cache, no request', async () => {
    expect(transformers2.env.version).toMatch(/^2\./);
    await expectSealedFolderLoads(fx, transformers2, 'inline');
  });

  it('a seq2seq folder (encoder and decoder, two sessions): text2text-generation gives the plain folder\'s text', async () => {
    await expectSealedFolderLoads(fx, transformers2, 'seq2seq', generate);
  });

  it('an image-classification folder (a processor config, no tokenizer; sharp resizes): the plain folder\'s labels and scores', async () => {
    await expectSealedFolderLoads(fx, transformers2, 'image', classifyWith(transformers2.RawImage as unknown as RawImageClass));
  });
});
