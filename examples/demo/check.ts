// The demo's Node check: the plain model from disk and the sealed one over HTTP, run on the same
// input, must predict exactly the same numbers. Needs @tensorflow/tfjs (a dev dependency).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../loader/index.js';

/** The outcome of the Node check: sealed and plain outputs on the same input. */
export interface DemoCheck {
  equal: boolean;
  maxAbsDiff: number;
  outputs: number;
}

/** Where the sealed model is and how to get a session for it. */
export interface CheckTarget {
  modelUrl: string;
  keyServer: string;
  modelId: string;
  /** The origin the key server allows (the demo page's): Node sends none of its own. */
  origin: string;
  /** Mints a session token bound to the loader's key (cnf.jkt), as the page's backend does. */
  token: (jkt: string) => Promise<string>;
}

/** A fixed pseudo-random input in [-1, 1], so every run checks the same numbers. */
function fixedInput(): tf.Tensor4D {
  const values = new Float32Array(256 * 256 * 3);
  let state = 0x2545f491;
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    values[i] = state / 0x7fffffff - 1;
  }
  return tf.tensor4d(values, [1, 256, 256, 3]);
}

/** Runs the model and returns every output's values, in the model's output order. */
async function predict(model: tf.GraphModel, input: tf.Tensor4D): Promise<Float32Array[]> {
  const outputs = model.execute(input) as tf.Tensor[];
  const values = await Promise.all(outputs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(outputs);
  return values;
}

/** The largest absolute difference between two lists of outputs (Infinity when shapes differ or a NaN shows). */
function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length) return Infinity;
    for (let j = 0; j < x.length; j++) {
      const d = Math.abs(x[j]! - y[j]!);
      if (Number.isNaN(d)) return Infinity;
      max = Math.max(max, d);
    }
  }
  return max;
}

/** Loads the plain model from `modelJsonPath` and the sealed one from `target`, runs both, compares. */
export async function checkSealedLoad(modelJsonPath: string, target: CheckTarget): Promise<DemoCheck> {
  // Production mode skips debug checks and the "install tfjs-node" banner tfjs prints in Node.
  tf.enableProdMode();
  await tf.setBackend('cpu');
  const modelJson = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
  const dir = join(modelJsonPath, '..');
  const weightFiles = await Promise.all(modelJson.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p))));
  const plain = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: new Uint8Array(Buffer.concat(weightFiles)).buffer,
    // The signature in it names the outputs, so both models answer with the same list.
    ...(modelJson.userDefinedMetadata ? { userDefinedMetadata: modelJson.userDefinedMetadata } : {}),
  }));
  const sealed = await tf.loadGraphModel(sealedModel(target.modelUrl, {
    token: ({ jkt }) => target.token(jkt),
    keyServer: target.keyServer,
    modelId: target.modelId,
    // The key server serves only the page's origin; a Node client says which it acts for (docs/LOADER.md).
    origin: target.origin,
  }));
  const input = fixedInput();
  try {
    const a = await predict(plain, input);
    const b = await predict(sealed, input);
    const maxAbsDiff = maxDiff(a, b);
    return { equal: maxAbsDiff === 0, maxAbsDiff, outputs: a.length };
  } finally {
    input.dispose();
    plain.dispose();
    sealed.dispose();
  }
}
