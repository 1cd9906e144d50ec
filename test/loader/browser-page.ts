// The page script of the browser test, bundled by esbuild with the loader and @tensorflow/tfjs.
// It exposes two functions the test calls through page.evaluate.

import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../loader/index.js';
import { errorOf, fingerprint, loadPlain as loadPlainWith, type ModelFingerprint } from './page-common.js';

interface LoadResult extends ModelFingerprint {
  fractions: number[];
}

async function loadSealed(url: string, token: string, keyServer: string, streamWeights: boolean): Promise<LoadResult> {
  await tf.setBackend('cpu');
  const fractions: number[] = [];
  const model = await tf.loadGraphModel(sealedModel(url, { token, keyServer, streamWeights, onProgress: (f) => fractions.push(f) }));
  return { ...(await fingerprint(tf, model)), fractions };
}

/** Loads with the given options; returns the error's code and message, or null when it loaded. */
async function tryLoad(url: string, options: { token: string; keyServer?: string; allowManifestKeyServer?: string[]; modelId?: string; streamWeights?: boolean }): Promise<{ code: string | undefined; message: string } | null> {
  await tf.setBackend('cpu');
  try {
    (await tf.loadGraphModel(sealedModel(url, options))).dispose();
    return null;
  } catch (err) {
    return errorOf(err);
  }
}

async function storage(): Promise<{ caches: string[]; databases: string[] }> {
  const dbs = await indexedDB.databases();
  return { caches: await caches.keys(), databases: dbs.map((d) => d.name ?? '') };
}

const loadPlain = (url: string) => loadPlainWith(tf, url);

Object.assign(globalThis, { modelsealTest: { loadPlain, loadSealed, tryLoad, storage } });
