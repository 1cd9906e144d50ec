// Layers models the CLI tests build and save with real tfjs, written as model.json + weight files.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tfTypes from '@tensorflow/tfjs';

type Tf = typeof tfTypes;

/** Saves `model` with tf.io.withSaveHandler; returns the artifacts tfjs produced. */
async function artifactsOf(tf: Tf, model: tfTypes.LayersModel): Promise<tfTypes.io.ModelArtifacts> {
  let saved: tfTypes.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return saved!;
}

function bytesOf(data: tfTypes.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  if (Array.isArray(data)) {
    const total = data.reduce((n, b) => n + b.byteLength, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const b of data) {
      out.set(new Uint8Array(b), o);
      o += b.byteLength;
    }
    return out;
  }
  return new Uint8Array(data);
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Writes the model as model.json plus weight files. With `split`, the weights become two groups
 * (cut at a weight boundary near the middle) and the first group's bytes are cut into two files,
 * so the model has 3 weight files in 2 groups, the layout a converter with a small shard size writes.
 */
export async function saveLayersModel(tf: Tf, model: tfTypes.LayersModel, dir: string, options: { split?: boolean } = {}): Promise<string> {
  const artifacts = await artifactsOf(tf, model);
  const data = bytesOf(artifacts.weightData);
  const specs = artifacts.weightSpecs ?? [];
  mkdirSync(dir, { recursive: true });
  let weightsManifest: Array<{ paths: string[]; weights: tfTypes.io.WeightsManifestEntry[] }>;
  if (!options.split) {
    writeFileSync(join(dir, 'group1-shard1of1.bin'), data);
    weightsManifest = [{ paths: ['group1-shard1of1.bin'], weights: specs }];
  } else {
    let cut = 0;
    let at = 0;
    for (let i = 0; i < specs.length && cut < data.length / 2; i++) {
      cut += specs[i]!.shape.reduce((n, d) => n * d, 1) * DTYPE_BYTES[specs[i]!.dtype]!;
      at = i + 1;
    }
    if (at === specs.length) throw new Error('model too small to split');
    const half = Math.floor(cut / 2);
    writeFileSync(join(dir, 'group1-shard1of2.bin'), data.subarray(0, half));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), data.subarray(half, cut));
    writeFileSync(join(dir, 'group2-shard1of1.bin'), data.subarray(cut));
    weightsManifest = [
      { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: specs.slice(0, at) },
      { paths: ['group2-shard1of1.bin'], weights: specs.slice(at) },
    ];
  }
  const modelJson = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    userDefinedMetadata: { note: 'saved by test/cli for the round trip' },
    weightsManifest,
  };
  const path = join(dir, 'model.json');
  writeFileSync(path, JSON.stringify(modelJson));
  return path;
}

/** A small convolutional classifier (Conv2D, BatchNormalization, Dense). */
export function convModel(tf: Tf): tfTypes.LayersModel {
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: 'glorotUniform' }));
  model.add(tf.layers.batchNormalization());
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 64, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
  return model;
}

/** A larger functional model (Embedding, GRU, Dense; ~1.3M parameters) so it spans several shards. */
export function sequenceModel(tf: Tf): tfTypes.LayersModel {
  const input = tf.input({ shape: [12], dtype: 'int32' });
  const embedded = tf.layers.embedding({ inputDim: 5000, outputDim: 128 }).apply(input) as tfTypes.SymbolicTensor;
  const recurrent = tf.layers.gru({ units: 64 }).apply(embedded) as tfTypes.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3000, activation: 'relu' }).apply(recurrent) as tfTypes.SymbolicTensor;
  const output = tf.layers.dense({ units: 5 }).apply(dense) as tfTypes.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output });
}
