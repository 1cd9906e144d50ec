// The Chromium page of bench/transformers.ts: transformers.js's pipeline() made ready plainly (from
// the static server, with or without its Cache Storage copy) or from sealed files (openSealedFiles +
// useSealedFiles, online or from an offline lease's copy); returns the milliseconds until the
// pipeline exists.
import { env, pipeline } from '@huggingface/transformers';
import { OFFLINE_CACHE, openSealedFiles, useSealedFiles, type TransformersEnvLike } from '../../loader/index.js';

const wasm = env.backends.onnx.wasm!;
wasm.numThreads = 1;
wasm.wasmPaths = { mjs: new URL('/tfort/ort-wasm-simd-threaded.asyncify.mjs', location.href).href, wasm: new URL('/tfort/ort-wasm-simd-threaded.asyncify.wasm', location.href).href };
const saved = { ...env };

type Extractor = { dispose(): Promise<unknown> };
const ready = async (id: string) => (await pipeline('feature-extraction', id, { dtype: 'fp32', device: 'wasm' })) as unknown as Extractor;

/**
 * One timed load. 'first': the plain folder from `host`, Cache Storage emptied first (an app's first
 * visit, which also fills the cache); 'cached': the plain folder again, from the Cache Storage copy
 * the previous 'first' left (a returning visit); 'sealed': openSealedFiles then pipeline();
 * 'offline': the same with `offline: true`, within the lease an earlier offline load stored (no key
 * release, the ciphertext from Cache Storage; the decryption as online).
 */
async function benchTransformers(mode: 'first' | 'cached' | 'sealed' | 'offline', host: string, modelId: string, url: string, token: string, keyServer: string): Promise<number> {
  Object.assign(env, saved);
  if (mode === 'first') for (const name of await caches.keys()) if (name !== OFFLINE_CACHE) await caches.delete(name);
  let extractor: Extractor;
  let t0: number;
  if (mode === 'sealed' || mode === 'offline') {
    t0 = performance.now();
    const sealed = useSealedFiles(env as unknown as TransformersEnvLike, modelId, await openSealedFiles(url, { token, keyServer, offline: mode === 'offline' }));
    extractor = await ready(modelId);
    sealed.release();
  } else {
    Object.assign(env, { remoteHost: host, remotePathTemplate: '{model}/', allowRemoteModels: true, allowLocalModels: false, useCustomCache: false, useBrowserCache: true });
    t0 = performance.now();
    extractor = await ready(modelId);
  }
  const ms = performance.now() - t0;
  await extractor.dispose();
  Object.assign(env, saved);
  return ms;
}
(globalThis as unknown as { benchTransformers: typeof benchTransformers }).benchTransformers = benchTransformers;
