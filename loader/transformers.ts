// transformers.js (@huggingface/transformers) on sealed files: a custom cache that answers
// transformers.js's cache look-ups for one model id from decrypted files held in memory, and never
// stores anything. transformers.js asks a cache first for every model file (utils/hub.js: the local
// path `env.localModelPath/<model>/<file>`, then the remote URL `env.remoteHost/<model>/resolve/
// <revision>/<file>`), so a hit there means it never reads the network, the disk or a real cache.

import type { OpenSealedFilesOptions } from './files-session.js';
import { openSealedFiles } from './sealed-files.js';

/** The fields of transformers.js's `env` this adapter reads and sets. */
export interface TransformersEnvLike {
  useCustomCache: boolean;
  customCache: unknown;
  useBrowserCache: boolean;
  useFSCache: boolean;
  allowRemoteModels: boolean;
  allowLocalModels: boolean;
  localModelPath: string;
  remoteHost: string;
  remotePathTemplate: string;
  /** transformers.js 4.x's network fetch (`env.fetch`); older versions have none. */
  fetch?: (input: string | URL, init?: unknown) => Promise<unknown>;
}

/** A model registered with {@link useSealedFiles}; `release()` forgets it and zeroes its bytes. */
export interface SealedTransformersModel {
  /** The model id to pass to `pipeline()` / `from_pretrained()`. */
  readonly modelId: string;
  /** The relative paths transformers.js can load for this model. */
  readonly paths: string[];
  /** Zeroes and drops the decrypted files; once no sealed model is left, restores the `env` settings it changed. */
  release(): void;
}

type EnvFlags = Pick<TransformersEnvLike, 'useCustomCache' | 'customCache' | 'useBrowserCache' | 'useFSCache' | 'allowRemoteModels' | 'allowLocalModels' | 'fetch'>;

// transformers.js's own pathJoin (utils/hub/utils.js): keys are built with it, so match with it.
function pathJoin(...parts: string[]): string {
  return parts
    .map((part, index) => {
      let p = part;
      if (index) p = p.replace(/^\//, '');
      if (index !== parts.length - 1) p = p.replace(/\/$/, '');
      return p;
    })
    .join('/');
}

const REVISION = '\u0000revision\u0000';

/**
 * The answer to a cache hit: a Response over a decrypted file whose `arrayBuffer()` resolves with
 * the file's own ArrayBuffer, not a copy. transformers.js reads a cache hit with `arrayBuffer()`
 * (utils/hub.js; in Node always for .onnx files) and hands the bytes to the runtime, which copies
 * them; a copy here would hold the model's size once more until the pipeline is ready (measured:
 * docs/LOADER.md). Its body, for a reader that streams it (transformers.js's progress reader), is
 * the same bytes in one piece; a Response nobody reads (it asks twice for each .onnx file in
 * Node) costs nothing.
 */
class HeldBytesResponse extends Response {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes);
        controller.close();
      },
    });
    super(body, { status: 200, headers: { 'content-length': String(bytes.byteLength), 'content-type': 'application/octet-stream' } });
    this.#bytes = bytes;
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#bytes;
    // The files openSealedFiles returns each own their buffer; any other view is copied out, with
    // the Uint8Array constructor: a Node Buffer's slice() is a view into the same (often pooled) memory.
    if (bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
    return new Uint8Array(bytes).buffer;
  }
}

/**
 * The cache object set as `env.customCache`: `match()` answers from decrypted files in memory,
 * `put()` stores nothing (so no plaintext ever reaches Cache Storage or a cache folder).
 */
class SealedFilesCache {
  readonly #models = new Map<string, Map<string, Uint8Array>>();
  readonly #env: TransformersEnvLike;
  readonly saved: EnvFlags;
  #globalFetch: typeof globalThis.fetch | undefined;
  #globalGuard: typeof globalThis.fetch | undefined;

  constructor(env: TransformersEnvLike) {
    this.#env = env;
    this.saved = {
      useCustomCache: env.useCustomCache, customCache: env.customCache, useBrowserCache: env.useBrowserCache,
      useFSCache: env.useFSCache, allowRemoteModels: env.allowRemoteModels, allowLocalModels: env.allowLocalModels,
      ...(typeof env.fetch === 'function' ? { fetch: env.fetch } : {}),
    };
  }

  /**
   * A fetch that answers 404, with no network, for any file of a sealed model (an optional file the
   * sealed set lacks, such as generation_config.json, looked up at `env.localModelPath` on the
   * page's origin): no file from outside the sealing joins the model. Every other request goes to
   * `fetch`. It guards transformers.js 4.x's `env.fetch`, or, for 3.x and 2.x (which call the global
   * fetch), `globalThis.fetch`.
   */
  guard(fetch: NonNullable<TransformersEnvLike['fetch']>): NonNullable<TransformersEnvLike['fetch']> {
    return (input, init) => {
      const key = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as { url?: unknown } | undefined)?.url;
      if (typeof key === 'string' && this.owns(key)) return Promise.resolve(new Response(null, { status: 404, statusText: 'Not in the sealed files' }));
      return fetch(input, init);
    };
  }

  /** Installs the fetch guard: on `env.fetch` where it exists, else on `globalThis.fetch`. */
  installGuard(): void {
    if (typeof this.saved.fetch === 'function') {
      this.#env.fetch = this.guard(this.saved.fetch);
    } else if (typeof globalThis.fetch === 'function') {
      this.#globalFetch = globalThis.fetch;
      this.#globalGuard = this.guard(this.#globalFetch as NonNullable<TransformersEnvLike['fetch']>) as typeof globalThis.fetch;
      globalThis.fetch = this.#globalGuard;
    }
  }

  /** Restores `env` and, if nobody has replaced the guard since, `globalThis.fetch`. */
  restore(): void {
    Object.assign(this.#env, this.saved);
    // A guard someone else has since wrapped stays in place, and passes every request on: no model is left to own one.
    if (this.#globalGuard !== undefined && globalThis.fetch === this.#globalGuard) globalThis.fetch = this.#globalFetch!;
  }

  get size(): number {
    return this.#models.size;
  }

  add(modelId: string, files: Map<string, Uint8Array>): void {
    this.#models.set(modelId, files);
  }

  remove(modelId: string, files: Map<string, Uint8Array>): void {
    if (this.#models.get(modelId) === files) this.#models.delete(modelId);
  }

  /** The decrypted file a transformers.js cache key names, if it belongs to a sealed model. */
  lookup(key: string): Uint8Array | undefined {
    const owner = this.#owner(key);
    return owner?.files.get(owner.path);
  }

  /** Whether `key` (a local path or a remote URL) names a file of a sealed model, held or not. */
  owns(key: string): boolean {
    return this.#owner(key) !== undefined;
  }

  #owner(key: string): { files: Map<string, Uint8Array>; path: string } | undefined {
    for (const [modelId, files] of this.#models) {
      const path = this.#relative(key, modelId);
      if (path !== undefined) return { files, path };
    }
    return undefined;
  }

  #relative(key: string, modelId: string): string | undefined {
    const env = this.#env;
    for (const prefix of [pathJoin(env.localModelPath, modelId, ''), pathJoin(modelId, '')]) {
      if (key.startsWith(prefix)) return key.slice(prefix.length);
    }
    // The remote URL, for any revision: <remoteHost>/<template with {model} and {revision}>/<file>.
    const template = pathJoin(env.remoteHost, env.remotePathTemplate.replaceAll('{model}', modelId).replaceAll('{revision}', REVISION), '');
    const [before, after] = template.split(REVISION) as [string, string | undefined];
    if (after === undefined) return key.startsWith(before) ? key.slice(before.length) : undefined;
    if (!key.startsWith(before)) return undefined;
    const rest = key.slice(before.length);
    const end = rest.indexOf(after);
    if (end <= 0 || rest.slice(0, end).includes('/')) return undefined;
    return rest.slice(end + after.length);
  }

  // The methods transformers.js calls (utils/cache.js checks that both exist).
  async match(request: string | { url: string }): Promise<Response | undefined> {
    const key = typeof request === 'string' ? request : request?.url;
    if (typeof key !== 'string') return undefined;
    const bytes = this.lookup(key);
    if (bytes === undefined) return undefined;
    return new HeldBytesResponse(bytes);
  }

  async put(): Promise<void> {
    // Deliberately nothing: whatever transformers.js would cache (model files, the runtime's wasm)
    // must not land in a cache from here.
  }

  async delete(): Promise<boolean> {
    return false;
  }
}

/** The caller's mistakes, as TypeErrors, before anything is changed or fetched. */
function checkArguments(caller: string, env: unknown, modelId: unknown): void {
  if (!isEnv(env)) throw new TypeError(`${caller}: pass transformers.js's env (import { env } from "@huggingface/transformers")`);
  if (typeof modelId !== 'string' || modelId.length === 0 || modelId.startsWith('/') || modelId.endsWith('/')) {
    throw new TypeError(`${caller}: modelId must be the model id you pass to pipeline(), e.g. "my-org/tiny" (no leading or trailing slash)`);
  }
}

function isEnv(env: unknown): env is TransformersEnvLike {
  const e = env as Partial<TransformersEnvLike> | undefined;
  return typeof e === 'object' && e !== null && typeof e.remotePathTemplate === 'string' && typeof e.remoteHost === 'string' && 'useCustomCache' in e;
}

/**
 * Serves decrypted files (relative path → bytes, as `openSealedFiles` returns them) to
 * transformers.js under `modelId` (the id you pass to `pipeline()`), so `pipeline(task, modelId)`
 * loads them from memory. It sets
 * `env.useCustomCache = true` with its own cache, turns off the browser and file caches, and sets
 * `env.allowRemoteModels = false` (a file missing from the sealed set must not be fetched from a
 * hub) and `env.allowLocalModels = true` (transformers.js refuses to run with both off), and wraps
 * `env.fetch` (4.x) or, in versions without one, `globalThis.fetch`, so that no file of a sealed
 * model is requested anywhere (a 404 instead); `release()` of the last model undoes all of it.
 * @example
 * import { env, pipeline } from '@huggingface/transformers';
 * const sealed = useSealedFiles(env, 'my-org/tiny', await openSealedFiles(url, options));
 * const extractor = await pipeline('feature-extraction', 'my-org/tiny', { dtype: 'fp32' });
 * sealed.release(); // the runtime holds its own copy now: this zeroes the loader's (which transformers.js was handed)
 */
export function useSealedFiles(env: TransformersEnvLike, modelId: string, files: Map<string, Uint8Array>): SealedTransformersModel {
  checkArguments('useSealedFiles', env, modelId);
  if (!(files instanceof Map)) throw new TypeError('useSealedFiles: files must be the Map that openSealedFiles returns (relative path → bytes)');
  let cache = env.customCache instanceof SealedFilesCache && env.useCustomCache ? env.customCache : undefined;
  if (!cache) {
    cache = new SealedFilesCache(env);
    env.customCache = cache;
    cache.installGuard();
  }
  env.useCustomCache = true;
  env.useBrowserCache = false;
  env.useFSCache = false;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  cache.add(modelId, files);
  const owner = cache;
  let released = false;
  return {
    modelId,
    paths: [...files.keys()].sort(),
    release() {
      if (released) return;
      released = true;
      owner.remove(modelId, files);
      for (const bytes of files.values()) bytes.fill(0);
      files.clear();
      if (owner.size === 0 && env.customCache === owner) owner.restore();
    },
  };
}

/**
 * Opens a sealed model folder (`modelseal seal <folder>`) in memory and serves it to transformers.js
 * as `modelId` ({@link useSealedFiles}); `options` are `openSealedFiles`'s (`paths` can pick one
 * ONNX variant and the config files of a folder that ships several).
 * @example
 * import { env, pipeline } from '@huggingface/transformers';
 * await useSealedModel(env, 'my-org/tiny', 'https://cdn.example.com/tiny/model.json', { token, keyServer: 'https://keys.example.com' });
 * const extractor = await pipeline('feature-extraction', 'my-org/tiny', { dtype: 'fp32' });
 */
export async function useSealedModel(env: TransformersEnvLike, modelId: string, url: string, options: OpenSealedFilesOptions): Promise<SealedTransformersModel> {
  checkArguments('useSealedModel', env, modelId);
  return useSealedFiles(env, modelId, await openSealedFiles(url, options));
}
