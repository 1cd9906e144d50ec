// The transformers.js side of the runtime tests and bench, shared by Node and the Chromium page
// (browser-safe): a feature-extraction pipeline on fixed sentences, a text2text-generation one on
// fixed prompts and an image-classification one on fixed images, plain (from a static server as a
// "remote" host) or sealed (from decrypted files through useSealedFiles).
import type { env as envType, pipeline as pipelineType } from '@huggingface/transformers';
import { useSealedFiles, type TransformersEnvLike } from '../../loader/index.js';

/** The sentences every run embeds. */
export const SENTENCES = ['hello sealed world', 'the key server is in memory', 'a web model'];

type Env = typeof envType;
type Pipeline = typeof pipelineType;

/** The prompts every text2text-generation run continues. */
export const PROMPTS = ['hello sealed world', 'the key server'];

/** The images every image-classification run labels: three 16×16 RGB patterns (the processor resizes them to 8×8). */
export const IMAGES = [1, 2, 3].map((seed) => {
  const side = 16;
  const data = new Uint8ClampedArray(side * side * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 * seed + seed * 11) % 256;
  return { data, width: side, height: side, channels: 3 as const };
});

/** What a run hands `pipeline()` besides fp32 and the device: session options (3.x in Node). */
export interface RunOptions {
  session_options?: object;
}

/** A pipeline of `task` for `modelId` in fp32, given to `use` and disposed after; `ready` runs once it is built. */
async function withPipeline<T>(pipeline: Pipeline, task: 'feature-extraction' | 'text2text-generation' | 'image-classification', modelId: string, run: RunOptions & { device?: 'wasm' | 'cpu' }, ready: (() => void) | undefined, use: (pipe: (...args: unknown[]) => Promise<unknown>) => Promise<T>): Promise<T> {
  // `dtype` says fp32 to 3.x and 4.x, `quantized: false` to 2.x (@xenova/transformers); each ignores the other's.
  const options = { dtype: 'fp32', quantized: false, ...run } as Parameters<Pipeline>[2];
  const pipe = (await pipeline(task, modelId, options)) as unknown as ((...args: unknown[]) => Promise<unknown>) & { dispose(): Promise<void> };
  try {
    ready?.();
    return await use(pipe);
  } finally {
    await pipe.dispose();
  }
}

/** Embeds SENTENCES with mean pooling; returns the flattened embeddings. `ready` runs once the pipeline is. */
export async function embed(pipeline: Pipeline, modelId: string, device?: 'wasm' | 'cpu', ready?: () => void, run: RunOptions = {}): Promise<number[]> {
  return withPipeline(pipeline, 'feature-extraction', modelId, { ...run, ...(device ? { device } : {}) }, ready, async (extractor) => {
    const out = (await extractor(SENTENCES, { pooling: 'mean', normalize: true })) as { data: Float32Array };
    return Array.from(out.data);
  });
}

/** Continues PROMPTS greedily by 8 tokens with text2text-generation; returns the generated texts. */
export async function generate(pipeline: Pipeline, modelId: string, device?: 'wasm' | 'cpu', ready?: () => void, run: RunOptions = {}): Promise<string[]> {
  return withPipeline(pipeline, 'text2text-generation', modelId, { ...run, ...(device ? { device } : {}) }, ready, async (generator) => {
    const out = (await generator(PROMPTS, { max_new_tokens: 8, do_sample: false })) as Array<{ generated_text: string }>;
    return out.map((o) => o.generated_text);
  });
}

/** The RawImage class of the transformers.js version that runs (its pipeline only takes its own). */
export type RawImageClass = new (data: Uint8ClampedArray, width: number, height: number, channels: 1 | 2 | 3 | 4) => unknown;

/** An image-classification run on IMAGES, built with that version's RawImage: each image's top 3 labels and scores. */
export function classifyWith(RawImage: RawImageClass): FolderRun {
  return (pipeline, modelId, device, ready, run = {}) =>
    withPipeline(pipeline, 'image-classification', modelId, { ...run, ...(device ? { device } : {}) }, ready, async (classifier) => {
      const images = IMAGES.map(({ data, width, height, channels }) => new RawImage(data, width, height, channels));
      // top_k is 3.x's and 4.x's option, topk 2.x's.
      const out = (await classifier(images, { top_k: 3, topk: 3 })) as Array<Array<{ label: string; score: number }>>;
      return out.map((labels) => labels.map(({ label, score }) => [label, score]));
    });
}

/** A run of a model folder: {@link embed}, {@link generate} or a {@link classifyWith} run. */
export type FolderRun = (pipeline: Pipeline, modelId: string, device?: 'wasm' | 'cpu', ready?: () => void, run?: RunOptions) => Promise<unknown[]>;

/** How many outputs `run` gives: one per embedded float, generated text or labelled image. */
export function outputCount(run: FolderRun): number {
  return run === embed ? SENTENCES.length * 8 : run === generate ? PROMPTS.length : IMAGES.length;
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
 * ready, before it runs: the documented order, which must hold although transformers.js was
 * handed the decrypted buffers themselves.
 */
export async function runSealed<T>(env: Env, pipeline: Pipeline, modelId: string, files: Map<string, Uint8Array>, run: (pipeline: Pipeline, modelId: string, device?: 'wasm' | 'cpu', ready?: () => void) => Promise<T>, device?: 'wasm' | 'cpu'): Promise<T> {
  const sealed = useSealedFiles(env as unknown as TransformersEnvLike, modelId, files);
  try {
    return await run(pipeline, modelId, device, () => sealed.release());
  } finally {
    sealed.release();
  }
}

/** {@link runSealed} with {@link embed}. */
export function embedSealed(env: Env, pipeline: Pipeline, modelId: string, files: Map<string, Uint8Array>, device?: 'wasm' | 'cpu'): Promise<number[]> {
  return runSealed(env, pipeline, modelId, files, embed, device);
}
