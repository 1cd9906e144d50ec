// The tf.io.IOHandler for sealed models, shaped like tfjs's own http handler (tfjs-core/src/io/http.ts).
// Only types come from @tensorflow/tfjs-core: it is an optional peer and never loaded at runtime here.

import type { io } from '@tensorflow/tfjs-core';
import type { ChunkCipherFactory } from '../format/chunked.js';
import type { SealedManifest } from '../format/manifest.js';
import { openHeader, type OpenedHeader } from '../format/open.js';
import { absoluteUrl, abortedError, chooseFetch, resolveFileUrl } from './files.js';
import { checkPins, chooseKeyServer, fetchManifest, fetchSealedHeader } from './manifest-steps.js';
import { checkUrl, resolveOptions, type FetchFunction, type ResolvedOptions, type SealedModelOptions } from './options.js';
import { defaultCipher } from './default-cipher.js';
import { ephemeralKeyPair, releaseContentKey } from './release.js';
import { OfflineSession } from './offline.js';
import { traced, traceEnd, traceStart } from './trace.js';
import { READ_AHEAD_BYTES, loadAllShards, streamAllShards, weightByteLengths, type ShardJob, type Unlocked } from './weights.js';

/** Share of the progress bar spent before the first shard byte (manifest, key release, header). */
const SETUP_SHARE = 0.05;

/** The fields of model.json that ModelArtifacts carries, copied from the decrypted header when present. */
const ARTIFACT_FIELDS = [
  'modelTopology', 'format', 'generatedBy', 'convertedBy', 'trainingConfig', 'signature',
  'userDefinedMetadata', 'modelInitializer', 'initializerSignature',
] as const;

/** Reports a monotonic fraction from 0 to 1. */
class Progress {
  #last = -1;
  constructor(private readonly callback: ((fraction: number) => void) | undefined) {}

  report(fraction: number): void {
    const f = Math.min(1, Math.max(0, fraction));
    if (!this.callback || f <= this.#last) return;
    this.#last = f;
    this.callback(f);
  }
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
    if (!this.#options.offline) return traced('load', () => this.#load(undefined));
    const offline = await OfflineSession.start(absoluteUrl(this.url), this.#fetch);
    try {
      return await traced('load', () => this.#load(offline));
    } catch (err) {
      await offline.discard().catch(() => undefined);
      throw offline.explain(err);
    }
  }

  async #load(offline: OfflineSession | undefined): Promise<io.ModelArtifacts> {
    const options = this.#options;
    // Model files come from the offline copy (or are copied into it); the key server never is.
    const files = offline?.fetch ?? this.#fetch;
    const signal = options.signal;
    const progress = new Progress(options.onProgress);
    progress.report(0);
    if (signal?.aborted) throw abortedError(signal, this.url);
    const manifestUrl = absoluteUrl(this.url);

    // The key pair needs nothing from the manifest: make it while the manifest downloads.
    const keyPair = ephemeralKeyPair();
    keyPair.catch(() => undefined); // awaited by the release; a manifest failure comes first
    const manifest = await traced('manifest', () => fetchManifest(files, manifestUrl, options));
    checkPins(manifest, manifestUrl, options);
    const storedKey = offline?.storedKey(manifest);
    const keyServer = chooseKeyServer(manifest, manifestUrl, options);
    const urls = await Promise.all(manifest.shards.map((s) => resolveFileUrl(s.path, manifestUrl, options.weightUrlConverter)));
    // The caller's cipher, else node:crypto's in Node, else WebCrypto (undefined). With
    // streamWeights, WebCrypto in Node too: that path is for memory, and node:crypto's faster
    // loads left more garbage behind at the peak there (measured: docs/LOADER.md). Both built-in
    // ciphers have read a chunk's bytes when their call returns, so chunk buffers can be reused.
    const chosen = options.cipher ?? (options.streamWeights ? undefined : await defaultCipher());
    const reusesInput = options.cipher === undefined;
    // The release, the header download and (below) the shard downloads all start now; the
    // shards decrypt as soon as the key is in, while the header is still opening.
    // Within an offline lease the stored key serves and nothing is asked of the key server.
    const key = storedKey ? Promise.resolve(storedKey) : traced('release', () => releaseContentKey({
      manifest, keyServer, token: options.token, fetch: this.#fetch, signal, timeoutMs: options.timeoutMs, keyPair, origin: options.origin,
      ...(offline ? { offline: { onLease: (lease: number | undefined) => offline.released(lease) } } : {}),
    }));
    key.catch(() => undefined); // thrown below through `unlocked`
    const sealedHeader = traced('header.fetch', () => fetchSealedHeader(files, manifest, manifestUrl, options));
    sealedHeader.catch(() => undefined); // thrown through `unlocked`, after a key failure
    const unlocked = (async (): Promise<Unlocked> => {
      const contentKey = await key;
      progress.report(SETUP_SHARE / 2);
      const opened = await traced('header.open', async () => this.#openHeader(manifest, await sealedHeader, contentKey, chosen));
      progress.report(SETUP_SHARE);
      return { opened, contentKey };
    })();
    unlocked.catch(() => undefined); // thrown below, before any shard error
    const total = manifest.shards.reduce((n, s) => n + s.size, 0);
    let received = 0;
    const job: ShardJob = {
      manifest, unlocked, key, urls,
      fetch: files,
      requestInit: options.requestInit,
      maxConcurrentRequests: options.maxConcurrentRequests,
      timeoutMs: options.timeoutMs,
      decryptConcurrency: options.decryptConcurrency,
      cipher: chosen,
      reusesInput,
      readAhead: { bytes: READ_AHEAD_BYTES },
      onBytes: (n) => {
        received += n;
        // Stop short of 1 until decryption has finished too.
        progress.report(SETUP_SHARE + (1 - SETUP_SHARE) * 0.999 * (total === 0 ? 1 : received / total));
      },
    };
    // The shards are public ciphertext: download them while the key is being released (up to
    // READ_AHEAD_BYTES wait for it), so the key round trip overlaps the download. The streaming
    // path keeps its memory bound instead and starts once the header is open.
    const weights = options.streamWeights ? undefined : loadAllShards(job, signal);
    weights?.catch(() => undefined); // a key failure is reported first; shard failures after it
    const { opened, contentKey } = await unlocked;

    const assembling = traceStart();
    const model = opened.model;
    const artifacts: io.ModelArtifacts = { modelTopology: model.modelTopology as io.ModelArtifacts['modelTopology'] };
    for (const field of ARTIFACT_FIELDS) {
      if (model[field] != null) (artifacts as Record<string, unknown>)[field] = model[field];
    }
    artifacts.weightSpecs = model.weightsManifest.flatMap((group) => group.weights) as unknown as io.WeightsManifestEntry[];
    // tfjs-layers ignores getWeightStream and would keep the layers' initial weights without a
    // word, so only a graph model (a topology with `node`s) gets a stream; others get weightData.
    const isGraph = Array.isArray((model.modelTopology as { node?: unknown } | null)?.node) && model['format'] !== 'layers-model';
    if (options.streamWeights && isGraph) {
      const pieces = weightByteLengths(artifacts.weightSpecs);
      artifacts.getWeightStream = () => streamAllShards(job, opened, signal, pieces, () => {
        progress.report(1);
        void offline?.commit(manifest, contentKey);
      });
      return artifacts;
    }
    traceEnd('artifacts', assembling);
    artifacts.weightData = await traced('weights', () => weights ?? loadAllShards(job, signal));
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
