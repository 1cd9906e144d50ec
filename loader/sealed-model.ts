// The tf.io.IOHandler for sealed models, shaped like tfjs's own http handler (tfjs-core/src/io/http.ts).
// Only types come from @tensorflow/tfjs-core: it is an optional peer and never loaded at runtime here.

import type { io } from '@tensorflow/tfjs-core';
import type { ChunkCipherFactory } from '../format/chunked.js';
import { weightByteLengths } from '../format/dtypes.js';
import type { SealedManifest } from '../format/manifest.js';
import { openHeader, type OpenedHeader } from '../format/open.js';
import { abortedError } from './abort.js';
import { artifactsOf, isGraphModel } from './artifacts.js';
import { absoluteUrl, chooseFetch, resolveFileUrl } from './files.js';
import { fetchSealedHeader, loadContentKey, startLoad, type LoadStart } from './manifest-steps.js';
import { checkUrl, resolveOptions, type FetchFunction, type ResolvedOptions, type SealedModelOptions } from './options.js';
import { defaultCipher } from './default-cipher.js';
import { loadAllShards } from './load-shards.js';
import { withOfflineSession, type OfflineSession } from './offline.js';
import { Progress, SETUP_SHARE } from './progress.js';
import { READ_AHEAD_BYTES, type ShardJob, type Unlocked } from './shard-reader.js';
import { traced, traceEnd, traceStart } from './trace.js';
import { streamAllShards } from './weight-stream.js';

/** One load once its manifest is read: what every later step needs. */
interface Load extends LoadStart {
  manifestUrl: string;
  /** Fetch for the model files: through the offline copy when there is one. */
  files: FetchFunction;
  progress: Progress;
  /** The chunk cipher (undefined: WebCrypto). */
  cipher: ChunkCipherFactory | undefined;
}

/**
 * A `tf.io.IOHandler` that loads a sealed model: fetches the public manifest, gets the content key
 * from the key server, and decrypts the header and shards in memory.
 */
export class SealedModelHandler implements io.IOHandler {
  /** The manifest URL this handler loads. */
  readonly url: string;
  readonly #options: ResolvedOptions;
  readonly #fetch: FetchFunction;

  constructor(url: string, options: SealedModelOptions) {
    this.url = checkUrl(url);
    this.#options = resolveOptions(options);
    this.#fetch = chooseFetch(this.#options.fetch);
  }

  /** Loads and decrypts the model; tfjs calls this from loadGraphModel / loadLayersModel. */
  async load(): Promise<io.ModelArtifacts> {
    return withOfflineSession(this.#options.offline, absoluteUrl(this.url), this.#fetch, (offline) => traced('load', () => this.#load(offline)));
  }

  async #load(offline: OfflineSession | undefined): Promise<io.ModelArtifacts> {
    const options = this.#options;
    const progress = new Progress(options.onProgress);
    progress.report(0);
    if (options.signal?.aborted) throw abortedError(options.signal, this.url);
    const manifestUrl = absoluteUrl(this.url);
    // Model files come from the offline copy (or are copied into it); the key server never is.
    const files = offline?.fetch ?? this.#fetch;
    const start = await startLoad(files, this.#fetch, manifestUrl, options, offline);
    const { manifest } = start;
    const urls = await Promise.all(manifest.shards.map((s) => resolveFileUrl(s.path, manifestUrl, options.weightUrlConverter)));
    // The caller's cipher, else node:crypto's in Node, else WebCrypto (undefined). With
    // streamWeights, WebCrypto in Node too: that path is for memory, and node:crypto's faster
    // loads left more garbage behind at the peak there (measured: docs/LOADER.md).
    const cipher = options.cipher ?? (options.streamWeights ? undefined : await defaultCipher());
    const load: Load = { ...start, manifestUrl, files, progress, cipher };
    // The release, the header download and the shard downloads all start now; the shards
    // decrypt as soon as the key is in, while the header is still opening.
    const key = loadContentKey(load);
    const unlocked = this.#unlock(load, key);
    const job = this.#shardJob(load, urls, key, unlocked);
    // The shards are public ciphertext: download them while the key is being released (up to
    // READ_AHEAD_BYTES wait for it), so the key round trip overlaps the download. The streaming
    // path keeps its memory bound instead and starts once the header is open.
    const weights = options.streamWeights ? undefined : loadAllShards(job, options.signal);
    weights?.catch(() => undefined); // a key failure is reported first; shard failures after it
    const opened = await unlocked;
    return this.#artifacts(load, job, opened, weights);
  }

  /** The key and the opened header; the header downloads while the key is being released. */
  #unlock(load: Load, key: Promise<CryptoKey>): Promise<Unlocked<OpenedHeader>> {
    const { manifest, manifestUrl, files, progress } = load;
    const sealedHeader = traced('header.fetch', () => fetchSealedHeader(files, manifest, manifestUrl, this.#options));
    sealedHeader.catch(() => undefined); // thrown through `unlocked`, after a key failure
    const unlocked = (async () => {
      const contentKey = await key;
      progress.report(SETUP_SHARE / 2);
      const opened = await traced('header.open', async () => this.#openHeader(manifest, await sealedHeader, contentKey, load.cipher));
      progress.report(SETUP_SHARE);
      return { opened, contentKey };
    })();
    unlocked.catch(() => undefined); // thrown by #load, before any shard error
    return unlocked;
  }

  #shardJob(load: Load, urls: string[], key: Promise<CryptoKey>, unlocked: Promise<Unlocked>): ShardJob {
    const options = this.#options;
    const total = load.manifest.shards.reduce((n, s) => n + s.size, 0);
    let received = 0;
    return {
      manifest: load.manifest, unlocked, key, urls,
      fetch: load.files,
      requestInit: options.requestInit,
      maxConcurrentRequests: options.maxConcurrentRequests,
      timeoutMs: options.timeoutMs,
      decryptConcurrency: options.decryptConcurrency,
      cipher: load.cipher,
      // Both built-in ciphers have read a chunk's bytes when their call returns, so chunk buffers can be reused.
      reusesInput: options.cipher === undefined,
      readAhead: { bytes: READ_AHEAD_BYTES },
      gate: load.gate,
      onBytes: (n) => load.progress.download((received += n), total),
    };
  }

  /** The artifacts tfjs gets: weightData once every shard is checked, or a weight stream. */
  async #artifacts(load: Load, job: ShardJob, unlocked: Unlocked<OpenedHeader>, weights: Promise<ArrayBuffer[]> | undefined): Promise<io.ModelArtifacts> {
    const { opened, contentKey } = unlocked;
    const { offline, manifest, progress } = load;
    const assembling = traceStart();
    const artifacts = artifactsOf(opened.model, this.url);
    // tfjs-layers ignores getWeightStream and would keep the layers' initial weights without a
    // word, so only a graph model gets a stream; others get weightData.
    if (this.#options.streamWeights && isGraphModel(opened.model)) {
      const pieces = weightByteLengths(artifacts.weightSpecs!);
      artifacts.getWeightStream = () => streamAllShards(job, opened, this.#options.signal, pieces, () => {
        progress.report(1);
        void offline?.commit(manifest, contentKey);
      });
      return artifacts;
    }
    traceEnd('artifacts', assembling);
    artifacts.weightData = await traced('weights', () => weights ?? loadAllShards(job, this.#options.signal));
    await offline?.commit(manifest, contentKey);
    progress.report(1);
    return artifacts;
  }

  async #openHeader(manifest: SealedManifest, sealed: Uint8Array, contentKey: CryptoKey, cipher: ChunkCipherFactory | undefined): Promise<OpenedHeader> {
    const { signal, decryptConcurrency } = this.#options;
    try {
      return await openHeader(manifest, sealed, contentKey, { signal, concurrency: decryptConcurrency, ...(cipher ? { cipher } : {}) });
    } catch (err) {
      if (signal?.aborted) throw abortedError(signal, 'the header');
      throw err;
    }
  }
}

/**
 * Makes the IOHandler that loads the sealed model at `url`; pass it to tf.loadGraphModel or
 * tf.loadLayersModel.
 * @example
 * const model = await tf.loadGraphModel(sealedModel('https://cdn.example.com/face/model.json', {
 *   token: () => fetch('/api/model-session').then((r) => r.text()),
 *   keyServer: 'https://keys.example.com',
 *   modelId: 'face-detector',
 * }));
 */
export function sealedModel(url: string, options: SealedModelOptions): SealedModelHandler {
  return new SealedModelHandler(url, options);
}
