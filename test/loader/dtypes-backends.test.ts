// Every weight dtype and quantization passes through sealing and the loader unchanged, and the loader
// works with another tfjs backend (wasm) than the CPU one the other tests use.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { sealedModel } from '../../loader/index.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { copyHumanModel, inputsFor, sealInto, tensorBytes, type ModelFiles } from './fixtures.js';

let root: string;
let storeDir: string;
let store: FileKeyStore;
let files: StaticServer;
let server: KeyServer;
let keyServer: string;

const token = () => mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' });

/** A model.json whose weights cover every dtype and quantization tfjs 4 reads, with its bytes. */
async function everyDtypeModel(): Promise<ModelFiles> {
  const encoded = await tf.io.encodeWeights({
    f32: tf.tensor([1.5, -2.25, 3e-8, 7], [2, 2], 'float32'),
    i32: tf.tensor([1, -2, 2147483647, -2147483648], [4], 'int32'),
    flag: tf.tensor([true, false, true], [3], 'bool'),
    words: tf.tensor(['sealed', '', 'ünïcödé', 'x'.repeat(300)], [4], 'string'),
  });
  const quantized: Array<{ spec: tf.io.WeightsManifestEntry; bytes: Uint8Array }> = [
    { spec: { name: 'q_uint8', shape: [5], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.25, min: -1 } }, bytes: new Uint8Array([0, 1, 2, 128, 255]) },
    { spec: { name: 'q_uint16', shape: [3], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: -5 } }, bytes: new Uint8Array(new Uint16Array([0, 1234, 65535]).buffer) },
    // float16 halves for 1, -2, 0.5, 65504
    { spec: { name: 'q_float16', shape: [4], dtype: 'float32', quantization: { dtype: 'float16' } }, bytes: new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]).buffer) },
    { spec: { name: 'q_int32_uint8', shape: [3], dtype: 'int32', quantization: { dtype: 'uint8', scale: 1, min: -3 } }, bytes: new Uint8Array([0, 3, 200]) },
  ];
  const groupA = new Uint8Array(encoded.data as ArrayBuffer);
  const groupB = new Uint8Array(quantized.reduce((n, q) => n + q.bytes.length, 0));
  let offset = 0;
  for (const q of quantized) {
    groupB.set(q.bytes, offset);
    offset += q.bytes.length;
  }
  // Two groups; the first split over two files, as converters shard large groups.
  const cut = 13;
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'modelseal test',
    convertedBy: 'hand',
    modelTopology: { node: [], library: {}, versions: { producer: 1 } },
    userDefinedMetadata: { note: 'kept' },
    weightsManifest: [
      { paths: ['a1.bin', 'a2.bin'], weights: encoded.specs },
      { paths: ['b.bin'], weights: quantized.map((q) => q.spec) },
    ],
  };
  return { modelJson, weightFiles: [groupA.slice(0, cut), groupA.slice(cut), groupB], names: ['a1.bin', 'a2.bin', 'b.bin'] };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-dtypes-'));
  storeDir = join(root, 'store');
  ({ store } = await FileKeyStore.open(storeDir, { create: true }));
  files = await startStaticServer({ root: join(root, 'www') });
  ({ server, url: keyServer } = await startKeyServer(storeDir));
});

afterAll(async () => {
  await server?.close();
  await files?.close();
  await tf.setBackend('cpu');
  if (root) await rm(root, { recursive: true, force: true });
});

describe('weights of every dtype', () => {
  it('float32, int32, bool, string and uint8/uint16/float16 quantization decode exactly as the plain model\'s', async () => {
    await tf.setBackend('cpu');
    const model = await everyDtypeModel();
    // 1 KiB chunks and shards: the few hundred weight bytes span several shards and chunks.
    await sealInto(store, 'dtypes', model, join(root, 'www/dtypes'), { chunkLength: 1024, shardLength: 1024 });
    const artifacts = await sealedModel(`${files.url}/dtypes/model.json`, { token, keyServer }).load();
    const specs = model.modelJson.weightsManifest.flatMap((g) => (g as unknown as { weights: tf.io.WeightsManifestEntry[] }).weights);
    expect(artifacts.weightSpecs).toEqual(specs);
    expect(artifacts.userDefinedMetadata).toEqual({ note: 'kept' });
    const plainBytes = new Uint8Array(model.weightFiles.reduce((n, f) => n + f.length, 0));
    let offset = 0;
    for (const f of model.weightFiles) {
      plainBytes.set(f, offset);
      offset += f.length;
    }
    const plain = tf.io.decodeWeights(plainBytes.buffer, specs);
    const sealed = tf.io.decodeWeights(artifacts.weightData!, specs);
    expect(Object.keys(sealed).sort()).toEqual(Object.keys(plain).sort());
    for (const name of Object.keys(plain)) {
      expect(sealed[name]!.dtype, name).toBe(plain[name]!.dtype);
      expect(sealed[name]!.shape, name).toEqual(plain[name]!.shape);
      if (plain[name]!.dtype === 'string') expect(await sealed[name]!.array(), name).toEqual(await plain[name]!.array());
      else expect(tensorBytes(sealed[name]!), name).toEqual(tensorBytes(plain[name]!));
    }
    expect(await sealed['words']!.array()).toEqual(['sealed', '', 'ünïcödé', 'x'.repeat(300)]);
    tf.dispose([...Object.values(plain), ...Object.values(sealed)]);
  });
});

describe('other tfjs backends', () => {
  it('the wasm backend loads a sealed graph model and predicts exactly what the plain model predicts', async () => {
    setWasmPaths(`${fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url))}`);
    expect(await tf.setBackend('wasm')).toBe(true);
    const plainFiles = await copyHumanModel('emotion', join(root, 'plain/emotion'));
    await sealInto(store, 'emotion', plainFiles, join(root, 'www/emotion'));
    // The plain load: the same files through tfjs's own in-memory handler.
    const artifacts = { modelTopology: plainFiles.modelJson['modelTopology'] as object, weightSpecs: plainFiles.modelJson.weightsManifest.flatMap((g) => (g as unknown as { weights: tf.io.WeightsManifestEntry[] }).weights), weightData: plainFiles.weightFiles[0]!.slice().buffer };
    const plain = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
    const sealed = await tf.loadGraphModel(sealedModel(`${files.url}/emotion/model.json`, { token, keyServer }));
    expect(tf.getBackend()).toBe('wasm');
    const inputs = inputsFor(tf, plain, 7);
    const a = plain.execute(inputs) as tf.Tensor;
    const b = sealed.execute(inputs) as tf.Tensor;
    expect(tensorBytes(b)).toEqual(tensorBytes(a));
    tf.dispose([a, b, ...inputs]);
  });
});
