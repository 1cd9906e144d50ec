// The page script of the browser test, bundled by esbuild with the loader and @tensorflow/tfjs.
// It exposes two functions the test calls through page.evaluate.

import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../loader/index.js';

interface LoadResult {
  /** SHA-256 (hex) of every weight tensor's bytes, by name. */
  weights: Record<string, string>;
  /** The prediction's bytes, hex. */
  prediction: string;
  fractions: number[];
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function describeModel(model: tf.GraphModel, fractions: number[]): Promise<LoadResult> {
  const weights: Record<string, string> = {};
  for (const [name, tensors] of Object.entries(model.weights)) {
    const data = tensors[0]!.dataSync() as Float32Array | Int32Array;
    weights[name] = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as BufferSource)));
  }
  const input = model.inputs[0]!;
  const shape = (input.shape ?? [1]).map((d) => (d === -1 ? 1 : d));
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 1000) / 1000), shape, 'float32');
  const y = model.predict(x) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  const prediction = hex(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  tf.dispose([x, y]);
  model.dispose();
  return { weights, prediction, fractions };
}

async function loadPlain(url: string): Promise<LoadResult> {
  await tf.setBackend('cpu');
  return describeModel(await tf.loadGraphModel(url), []);
}

async function loadSealed(url: string, token: string, keyServer: string, streamWeights: boolean): Promise<LoadResult> {
  await tf.setBackend('cpu');
  const fractions: number[] = [];
  const model = await tf.loadGraphModel(sealedModel(url, { token, keyServer, streamWeights, onProgress: (f) => fractions.push(f) }));
  return describeModel(model, fractions);
}

/** Loads with the given options; returns the error's code and message, or null when it loaded. */
async function tryLoad(url: string, options: { token: string; keyServer?: string; allowManifestKeyServer?: string[]; modelId?: string; streamWeights?: boolean }): Promise<{ code: string | undefined; message: string } | null> {
  await tf.setBackend('cpu');
  try {
    (await tf.loadGraphModel(sealedModel(url, options))).dispose();
    return null;
  } catch (err) {
    return { code: (err as { code?: string }).code, message: (err as Error).message };
  }
}

async function storage(): Promise<{ caches: string[]; databases: string[] }> {
  const dbs = await indexedDB.databases();
  return { caches: await caches.keys(), databases: dbs.map((d) => d.name ?? '') };
}

Object.assign(globalThis, { modelsealTest: { loadPlain, loadSealed, tryLoad, storage } });
