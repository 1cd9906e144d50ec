// The transformers.js side of the runtime tests and bench, shared by Node and the Chromium page
// (browser-safe): a feature-extraction pipeline on fixed sentences, plain (from a static server as a
// "remote" host) or sealed (from decrypted files through useSealedFiles).
import type { env as envType, pipeline as pipelineType } from '@huggingface/transformers';
import { useSealedFiles, type TransformersEnvLike } from '../../loader/index.js';

/** The sentences every run embeds. */
export const SENTENCES = ['hello sealed world', 'the key server is in memory', 'a web model'];

type Env = typeof envType;
type Pipeline = typeof pipelineType;

/** Embeds SENTENCES with mean pooling; returns the flattened embeddings. `ready` runs once the pipeline is. */
export async function embed(pipeline: Pipeline, modelId: string, device?: 'wasm' | 'cpu', ready?: () => void): Promise<number[]> {
  // `dtype` says fp32 to 3.x and 4.x, `quantized: false` to 2.x (@xenova/transformers); each ignores the other's.
  const options = { dtype: 'fp32', quantized: false, ...(device ? { device } : {}) } as Parameters<Pipeline>[2];
  const extractor = await pipeline('feature-extraction', modelId, options);
  try {
    ready?.();
    const out = await extractor(SENTENCES, { pooling: 'mean', normalize: true });
    return Array.from(out.data as Float32Array);
  } finally {
    await extractor.dispose();
  }
}

/** Points transformers.js at a plain copy on `host` (`<host>/<modelId>/<file>`), with its usual caches on. */
export function usePlainHost(env: Env, host: string, caches: { browser?: boolean; fs?: boolean }): void {
  env.remoteHost = host;
  env.remotePathTemplate = '{model}/';
  env.allowRemoteModels = true;
  env.allowLocalModels = false;
  env.useCustomCache = false;
  env.useBrowserCache = caches.browser ?? false;
  env.useFSCache = caches.fs ?? false;
}

/**
 * Loads `files` as `modelId` through useSealedFiles and releases them (zeroed) once the pipeline is
 * ready, before it embeds: the documented order, which must hold although transformers.js was
 * handed the decrypted buffers themselves.
 */
export async function embedSealed(env: Env, pipeline: Pipeline, modelId: string, files: Map<string, Uint8Array>, device?: 'wasm' | 'cpu'): Promise<number[]> {
  const sealed = useSealedFiles(env as unknown as TransformersEnvLike, modelId, files);
  try {
    return await embed(pipeline, modelId, device, () => sealed.release());
  } finally {
    sealed.release();
  }
}
