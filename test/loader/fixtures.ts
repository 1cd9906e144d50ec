// Shared fixtures of the loader tests and bench: real models, sealed into a temp folder that a
// static server serves, with keys in a real FileKeyStore.

import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tfType from '@tensorflow/tfjs';
import { sealModel, type SealOptions } from '../../format/index.js';
import type { FileKeyStore } from '../../keyserver/index.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The folder of the pretrained graph models shipped in @vladmandic/human. */
export const HUMAN_MODELS = join(here, '../../node_modules/@vladmandic/human/models');

/** A model as files: model.json and its weight files in manifest order. */
export interface ModelFiles {
  modelJson: { weightsManifest: Array<{ paths: string[]; [k: string]: unknown }>; [k: string]: unknown };
  weightFiles: Uint8Array[];
  names: string[];
}

/** Reads a model folder's model.json (given by file name) and weight files. */
export async function readModel(dir: string, jsonName = 'model.json'): Promise<ModelFiles> {
  const modelJson = JSON.parse(await readFile(join(dir, jsonName), 'utf8')) as ModelFiles['modelJson'];
  const names = modelJson.weightsManifest.flatMap((g) => g.paths);
  const weightFiles = await Promise.all(names.map(async (p) => new Uint8Array(await readFile(join(dir, p)))));
  return { modelJson, weightFiles, names };
}

/** Writes a plain model (model.json + weight files) into `dir`. */
export async function writePlain(dir: string, model: ModelFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(model.modelJson));
  await Promise.all(model.names.map((p, i) => writeFile(join(dir, p), model.weightFiles[i]!)));
}

/** Copies one of the human models into `dir` as a plain model folder with model.json. */
export async function copyHumanModel(name: string, dir: string): Promise<ModelFiles> {
  const model = await readModel(HUMAN_MODELS, `${name}.json`);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(model.modelJson));
  await Promise.all(model.names.map((p) => copyFile(join(HUMAN_MODELS, p), join(dir, p))));
  return model;
}

/** Seals `model` under a fresh key version of `modelId` and writes the sealed folder `dir`. */
export async function sealInto(
  store: FileKeyStore,
  modelId: string,
  model: ModelFiles,
  dir: string,
  options: Partial<Pick<SealOptions, 'chunkLength' | 'shardLength' | 'headerMode' | 'keyServer'>> = {},
): Promise<{ keyId: string; key: Uint8Array }> {
  const { record, key } = await store.rotate(modelId);
  const sealed = await sealModel({ modelJson: model.modelJson, weightFiles: model.weightFiles }, { modelId, keyId: record.keyId, contentKey: key, ...options });
  await store.publish(modelId, record.keyId, sealed.manifest.sealing);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(sealed.manifest));
  await Promise.all(sealed.files.map((f) => writeFile(join(dir, f.path), f.bytes)));
  return { keyId: record.keyId, key: key.slice() };
}

/** Builds a small layers model in tfjs and returns it as files (model.json + one weight file). */
export async function buildLayersModel(tf: typeof tfType, hidden = 256): Promise<ModelFiles> {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [64], units: hidden, activation: 'relu' }));
  model.add(tf.layers.dense({ units: hidden, activation: 'tanh' }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  let files: ModelFiles | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const data = artifacts.weightData as ArrayBuffer;
    const modelJson = {
      modelTopology: artifacts.modelTopology,
      format: 'layers-model',
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs! }],
    };
    files = { modelJson: modelJson as ModelFiles['modelJson'], weightFiles: [new Uint8Array(data.slice(0))], names: ['weights.bin'] };
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  model.dispose();
  return files!;
}

/** Deterministic pseudo-random inputs matching a graph model's signature. */
export function inputsFor(tf: typeof tfType, model: tfType.GraphModel, seed = 1): tfType.Tensor[] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return model.inputs.map((input) => {
    const shape = (input.shape ?? [1]).map((d) => (d === -1 || d === null ? 1 : d));
    const size = shape.reduce((a, b) => a * b, 1);
    if (input.dtype === 'int32') return tf.tensor(Int32Array.from({ length: size }, () => Math.floor(rand() * 255)), shape, 'int32');
    return tf.tensor(Float32Array.from({ length: size }, () => rand()), shape, 'float32');
  });
}

/** The bytes of a tensor's data, for bit-for-bit comparison. */
export function tensorBytes(t: tfType.Tensor): Uint8Array {
  const data = t.dataSync() as Float32Array | Int32Array | Uint8Array;
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

/** A graph model.json without weights (weightsManifest: []): y = relu(x) for x of shape [4]. */
export function reluModelJson(): ModelFiles['modelJson'] {
  return {
    format: 'graph-model',
    modelTopology: { node: [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '4' }] } } } },
      { name: 'y', op: 'Relu', input: ['x'], attr: { T: { type: 'DT_FLOAT' } } },
    ], library: {}, versions: { producer: 1 } },
    weightsManifest: [],
  };
}
