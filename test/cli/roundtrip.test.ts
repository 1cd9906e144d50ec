// seal → verify → open on real models through the built bin; the opened model loads in real tfjs
// and predicts bit-identically to the original.

import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convModel, saveLayersModel, sequenceModel } from './layers-models.js';
import { fileHandler, HUMAN_MODELS, listDir, run, tempDir, weightPaths } from './helpers.js';
import { reluModelJson } from '../loader/fixtures.js';
import { expectSameBytes } from '../helpers/bytes.js';

const tmp = tempDir();
const store = join(tmp.dir, 'store');

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => tmp.cleanup());

interface Sealed {
  summary: { modelId: string; keyId: string; files: Array<{ path: string; size: number }>; weightBytes: number; chunkLength: number; shardLength: number; header: string };
  sealedDir: string;
  openedDir: string;
}

/** Seals, verifies, inspects and opens through the CLI, checking each step's output. */
function roundTrip(modelPath: string, modelId: string, extra: string[]): Sealed {
  const sealedDir = join(tmp.dir, `${modelId}-sealed`);
  const openedDir = join(tmp.dir, `${modelId}-opened`);
  const sealed = run(['seal', modelPath, '--out', sealedDir, '--model-id', modelId, '--store', store, '--json', ...extra]);
  expect(sealed.stderr).not.toContain('error');
  expect(sealed.code).toBe(0);
  const summary = JSON.parse(sealed.stdout) as Sealed['summary'];
  expect(summary.modelId).toBe(modelId);
  expect(listDir(sealedDir)).toEqual(summary.files.map((f) => f.path).sort());

  // The public manifest shows no layer or weight name.
  const original = JSON.parse(readFileSync(modelPath, 'utf8'));
  const publicText = readFileSync(join(sealedDir, 'model.json'), 'utf8');
  for (const group of original.weightsManifest) for (const w of group.weights.slice(0, 20)) expect(publicText).not.toContain(`"${w.name}"`);

  const verified = run(['verify', join(sealedDir, 'model.json'), '--store', store]);
  expect(verified.stderr).toBe('');
  expect(verified.code).toBe(0);
  expect(verified.stdout).toMatch(/^ok .*model\.json: model /);

  const opened = run(['open', join(sealedDir, 'model.json'), '--out', openedDir, '--store', store]);
  expect(opened.code).toBe(0);
  expect(opened.stderr).toContain('modelseal: opened');
  expect(opened.stdout).toBe('');
  // The same model.json and the same weight files, byte for byte, under their original names.
  expect(readFileSync(join(openedDir, 'model.json')).equals(readFileSync(modelPath))).toBe(true);
  expect(JSON.parse(readFileSync(join(openedDir, 'model.json'), 'utf8'))).toEqual(original);
  const paths = weightPaths(modelPath);
  expect(listDir(openedDir)).toEqual(['model.json', ...paths].sort());
  const dir = join(modelPath, '..');
  for (const p of paths) expect(Buffer.compare(readFileSync(join(openedDir, p)), readFileSync(join(dir, p)))).toBe(0);
  return { summary, sealedDir, openedDir };
}

function bytesOf(tensors: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap): Buffer[] {
  const list = tensors instanceof tf.Tensor ? [tensors] : Array.isArray(tensors) ? tensors : Object.values(tensors);
  return list.map((t) => {
    const data = t.dataSync();
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  });
}

async function predictGraph(modelPath: string): Promise<Buffer[]> {
  const model = await tf.loadGraphModel(fileHandler(tf, modelPath));
  // Fixed-seed inputs, the same for both loads; dynamic dimensions become 64.
  const feed: tf.NamedTensorMap = {};
  for (const input of model.inputs) {
    const shape = input.shape!.map((d, i) => (d === -1 ? (i === 0 ? 1 : 64) : d));
    const values = tf.randomUniform(shape, 0, input.dtype === 'int32' ? 255 : 1, 'float32', 42);
    feed[input.name] = input.dtype === 'int32' ? values.toInt() : values;
  }
  const out = await model.executeAsync(feed);
  const result = bytesOf(out);
  model.dispose();
  return result;
}

describe('seal, verify and open real graph models (@vladmandic/human)', () => {
  const cases = [
    { name: 'handtrack', note: 'uint8-quantized and int32 weights', extra: ['--shard-size', '1MiB'], minShards: 3 },
    { name: 'movenet-lightning', note: 'float16-quantized and int32 weights', extra: ['--shard-size', '512KiB', '--chunk-size', '64KiB', '--header', 'inline'], minShards: 8 },
    { name: 'faceres', note: 'float16-quantized, default 4 MiB shards', extra: ['--header', 'file'], minShards: 2 },
    { name: 'blazeface', note: 'float32 and int32 weights, 16 KiB chunks', extra: ['--shard-size', '128KiB', '--chunk-size', '16KiB'], minShards: 4 },
    // The other graph models the package ships, with the defaults.
    ...['antispoof', 'centernet', 'emotion', 'facemesh', 'handlandmark-lite', 'iris', 'liveness'].map((name) => ({ name, note: 'defaults', extra: [], minShards: 1 })),
  ];
  for (const c of cases) {
    it(`${c.name} (${c.note}) round-trips and predicts identically`, async () => {
      const src = join(tmp.dir, `${c.name}-src`);
      mkdirSync(src);
      copyFileSync(join(HUMAN_MODELS, `${c.name}.json`), join(src, 'model.json'));
      for (const p of weightPaths(join(src, 'model.json'))) copyFileSync(join(HUMAN_MODELS, p), join(src, p));
      const { summary, sealedDir, openedDir } = roundTrip(join(src, 'model.json'), c.name, c.extra);
      const shards = summary.files.filter((f) => f.path.startsWith('shard-')).length;
      expect(shards).toBeGreaterThanOrEqual(c.minShards);
      if (c.extra.includes('inline')) expect(summary.header).toBe('inline');

      const inspect = run(['inspect', join(sealedDir, 'model.json'), '--store', store, '--json']);
      expect(inspect.code).toBe(0);
      const facts = JSON.parse(inspect.stdout);
      const original = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
      const dtypes: Record<string, number> = {};
      for (const g of original.weightsManifest) for (const w of g.weights) dtypes[w.dtype] = (dtypes[w.dtype] ?? 0) + 1;
      expect(facts.private.dtypes).toEqual(dtypes);
      expect(facts.private.format).toBe('graph-model');
      expect(facts.public.shards).toBe(shards);

      const expected = await predictGraph(join(src, 'model.json'));
      const actual = await predictGraph(join(openedDir, 'model.json'));
      expectSameBytes(actual, expected, 'output');
    });
  }
});

describe('seal, verify and open layers models saved by tfjs', () => {
  it('a Conv2D/BatchNorm/Dense model in one weight file', async () => {
    const model = convModel(tf);
    const path = await saveLayersModel(tf, model, join(tmp.dir, 'conv-src'));
    const { summary, openedDir } = roundTrip(path, 'conv', ['--chunk-size', '4KiB', '--shard-size', '16KiB']);
    expect(summary.files.filter((f) => f.path.startsWith('shard-')).length).toBeGreaterThan(3);
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 7);
    const reloadedOriginal = await tf.loadLayersModel(fileHandler(tf, path));
    const reopened = await tf.loadLayersModel(fileHandler(tf, join(openedDir, 'model.json')));
    const expected = bytesOf(reloadedOriginal.predict(x) as tf.Tensor);
    expect(bytesOf(reopened.predict(x) as tf.Tensor)[0]!.equals(expected[0]!)).toBe(true);
  });

  it('an Embedding/GRU/Dense model split into 3 weight files over 2 groups', async () => {
    const model = sequenceModel(tf);
    const path = await saveLayersModel(tf, model, join(tmp.dir, 'seq-src'), { split: true });
    const manifest = JSON.parse(readFileSync(path, 'utf8'));
    expect(manifest.weightsManifest.map((g: { paths: string[] }) => g.paths.length)).toEqual([2, 1]);
    const { summary, openedDir } = roundTrip(path, 'seq', ['--shard-size', '1MiB']);
    expect(summary.files.filter((f) => f.path.startsWith('shard-')).length).toBeGreaterThanOrEqual(3);
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 4999], [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]], [2, 12], 'int32');
    const expected = bytesOf((await tf.loadLayersModel(fileHandler(tf, path))).predict(x) as tf.Tensor);
    const actual = bytesOf((await tf.loadLayersModel(fileHandler(tf, join(openedDir, 'model.json')))).predict(x) as tf.Tensor);
    expect(actual[0]!.equals(expected[0]!)).toBe(true);
  });
});

describe('models of unusual shape', () => {
  it('weight files in a subfolder, with a space and a % in their names, come back under the same paths', async () => {
    const src = join(tmp.dir, 'subfolder-src');
    mkdirSync(join(src, 'weights'), { recursive: true });
    const names = ['weights/group 1%-shard1of2.bin', 'weights/group 1%-shard2of2.bin'];
    const values = new Float32Array(1000).map((_, i) => Math.sin(i));
    const bytes = Buffer.from(values.buffer);
    writeFileSync(join(src, names[0]!), bytes.subarray(0, 2000));
    writeFileSync(join(src, names[1]!), bytes.subarray(2000));
    const modelJson = {
      format: 'graph-model',
      modelTopology: { node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '1000' }] } } } },
        { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '1000' }] } } } } },
        { name: 'y', op: 'AddV2', input: ['x', 'w'], attr: { T: { type: 'DT_FLOAT' } } },
      ], library: {}, versions: { producer: 1 } },
      weightsManifest: [{ paths: names, weights: [{ name: 'w', shape: [1000], dtype: 'float32' }] }],
    };
    writeFileSync(join(src, 'model.json'), JSON.stringify(modelJson));
    const sealedDir = join(tmp.dir, 'subfolder-sealed');
    const openedDir = join(tmp.dir, 'subfolder-opened');
    expect(run(['seal', join(src, 'model.json'), '--out', sealedDir, '--model-id', 'subfolder', '--store', store]).code).toBe(0);
    expect(run(['verify', join(sealedDir, 'model.json'), '--store', store]).code).toBe(0);
    expect(run(['open', join(sealedDir, 'model.json'), '--out', openedDir, '--store', store]).code).toBe(0);
    expect(readFileSync(join(openedDir, 'model.json')).equals(readFileSync(join(src, 'model.json')))).toBe(true);
    for (const p of names) expect(readFileSync(join(openedDir, p)).equals(readFileSync(join(src, p)))).toBe(true);
    expect(await predictGraph(join(openedDir, 'model.json'))).toEqual(await predictGraph(join(src, 'model.json')));
  });

  it('a model without weights seals into no shards and opens back', async () => {
    const src = join(tmp.dir, 'noweights-src');
    mkdirSync(src);
    const modelJson = reluModelJson();
    writeFileSync(join(src, 'model.json'), JSON.stringify(modelJson));
    const { summary, openedDir } = roundTrip(join(src, 'model.json'), 'noweights', []);
    expect(summary.weightBytes).toBe(0);
    expect(summary.files.filter((f) => f.path.startsWith('shard-'))).toEqual([]);
    expect(await predictGraph(join(openedDir, 'model.json'))).toEqual(await predictGraph(join(src, 'model.json')));
  });

  it('a model.json that starts with a UTF-8 byte order mark seals (fetch drops it too) and opens byte for byte, the mark included', () => {
    const src = join(tmp.dir, 'bom-src');
    mkdirSync(src);
    copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(src, 'plain.json'));
    copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(src, 'blazeface.bin'));
    writeFileSync(join(src, 'model.json'), `\uFEFF${readFileSync(join(src, 'plain.json'), 'utf8')}`);
    const sealedDir = join(tmp.dir, 'bom-sealed');
    const openedDir = join(tmp.dir, 'bom-opened');
    const sealed = run(['seal', join(src, 'model.json'), '--out', sealedDir, '--model-id', 'bom', '--store', store]);
    expect(sealed.stderr).not.toContain('error');
    expect(sealed.code).toBe(0);
    expect(run(['open', join(sealedDir, 'model.json'), '--out', openedDir, '--store', store]).code).toBe(0);
    expect(readFileSync(join(openedDir, 'model.json')).equals(readFileSync(join(src, 'model.json')))).toBe(true);
    expect(readFileSync(join(openedDir, 'blazeface.bin')).equals(readFileSync(join(src, 'blazeface.bin')))).toBe(true);
  });
});
