// The determined user's own script, run in the demo app's origin (as from the DevTools console): it
// uses only what any visitor has, the app's session route and the public modelseal loader.
import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../loader/index.js';

/** What the determined user walks away with. */
export interface Loot {
  /** The weight bytes `model.save()` hands to a save handler, base64. */
  savedWeights: string;
  /** Names of the weights in the saved artifacts, in order. */
  savedNames: string[];
  /** Every weight tensor's values, read back from the loaded model. */
  tensors: Record<string, number[]>;
}

function base64(bytes: Uint8Array): string {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

/** Loads the sealed model with a fresh session, then copies the weights out twice. */
export async function steal(): Promise<Loot> {
  await tf.setBackend('cpu');
  const session = (await (await fetch('/api/session')).json()) as { token: string; keyServer: string; modelUrl: string };
  const modelUrl = new URL(session.modelUrl, location.href).href;
  const model = await tf.loadGraphModel(sealedModel(modelUrl, { token: session.token, keyServer: session.keyServer }));

  // 1. tfjs's own save(): the handler receives the loaded artifacts, weights included.
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const buffers = saved?.weightData === undefined ? [] : Array.isArray(saved.weightData) ? saved.weightData : [saved.weightData];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    joined.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }

  // 2. The tensors the model runs with, read back one by one.
  const tensors: Record<string, number[]> = {};
  for (const [name, tensor] of Object.entries(model.weights)) tensors[name] = Array.from(tensor[0]!.dataSync());
  return { savedWeights: base64(joined), savedNames: (saved?.weightSpecs ?? []).map((s) => s.name), tensors };
}
