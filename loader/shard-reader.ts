// One shard of a load: request it, read its body into its decryptor as it arrives, resolve with its
// plaintext chunks once every check passed. Used by sealedModel and by the files loaders alike.

import { TAG_LENGTH, type ChunkCipherFactory } from '../format/chunked.js';
import type { SealedManifest } from '../format/manifest.js';
import type { FileDecryptor } from '../format/open-file.js';
import { createShardDecryptor, manifestShardLayout, type ManifestShardLayout, type ShardLayout } from '../format/open.js';
import { ModelsealError, withNote } from '../format/errors.js';
import { abortedError } from './abort.js';
import { BufferPool } from './buffer-pool.js';
import { Deadline, getFile } from './files.js';
import type { FetchFunction } from './options.js';
import { isNode } from './runtime.js';
import { readBody, type ReadGate } from './shard-body.js';
import { sharedCipher } from './shared-cipher.js';
import { traceEnd, traceStart } from './trace.js';

/** What unlocks the shards: the opened header (its shard layout) and the content key. */
export interface Unlocked<Opened extends ShardLayout = ShardLayout> {
  opened: Opened;
  contentKey: CryptoKey;
}

/**
 * Ciphertext the shard readers may hold, across all shards of one load, while the key is still
 * being released: downloads start with the key request instead of after it.
 */
export const READ_AHEAD_BYTES = 16 * 1024 * 1024;

/** Everything the shard readers share for one load. */
export interface ShardJob {
  manifest: SealedManifest;
  /** Settles once the key is released and the header is open; shards read ahead until then. */
  unlocked: Promise<Unlocked>;
  /**
   * The content key alone, when it comes before the header: shards then decrypt as soon as it is
   * in, on the layout the manifest implies, and check their digests (S4) once the header is open.
   */
  key?: Promise<CryptoKey> | undefined;
  urls: string[];
  fetch: FetchFunction;
  requestInit: RequestInit;
  maxConcurrentRequests: number;
  decryptConcurrency: number;
  /** Stall timeout of each shard request, in milliseconds. */
  timeoutMs: number;
  /** Called with ciphertext bytes received (a delta). */
  onBytes: (bytes: number) => void;
  /** Chunk cipher (default WebCrypto). */
  cipher?: ChunkCipherFactory | undefined;
  /** The cipher has read a chunk's bytes once its call returns (the built-in ones), so chunk buffers are reused. */
  reusesInput: boolean;
  /** Ciphertext bytes still allowed to wait for the key (shared by the shards; see READ_AHEAD_BYTES). */
  readAhead: { bytes: number };
  /** Held while the key is unwrapped, so that body reads do not delay it (see ReadGate). */
  gate?: ReadGate | undefined;
}

/** The decryptor's inputs: the opened layout, or the manifest's with the header still opening. */
type DecryptLayout = ShardLayout | (ManifestShardLayout & { header: Promise<ShardLayout> });

/** How a load's shards get their decryptor's inputs: after the header, or on the key alone. */
interface Unlock {
  /** Settles when the shards can decrypt. */
  ready: Promise<unknown>;
  get(): Promise<{ contentKey: CryptoKey; opened: DecryptLayout }>;
}

/** Reads the shards of one load; they share a buffer pool, a decrypt bound and the read-ahead budget. */
export class ShardReader {
  readonly #job: ShardJob;
  readonly #pool: BufferPool;
  readonly #cipher: ChunkCipherFactory;
  readonly #unlock: Unlock;

  /** `early`: decrypt on the key alone when the job has it (else once the header is open). */
  constructor(job: ShardJob, early: boolean) {
    this.#job = job;
    this.#pool = new BufferPool(job.manifest.chunkLength + TAG_LENGTH, job.decryptConcurrency * job.maxConcurrentRequests + 4);
    // Browsers decrypt through a staging buffer, so that the pool can free its buffers (sharedCipher).
    this.#cipher = sharedCipher(job.decryptConcurrency, job.cipher, this.#pool, job.reusesInput, !isNode());
    this.#unlock = unlockFor(job, early);
  }

  /** The load is over (done or failed): the pooled ciphertext buffers are freed now (BufferPool.drain). */
  close(): void {
    this.#pool.drain();
  }

  /** The URLs of the load's shards, in order. */
  get urls(): readonly string[] {
    return this.#job.urls;
  }

  /**
   * Downloads shard `index` into its decryptor and resolves with its plaintext chunks once every
   * check of the shard passed (S1–S4). `signal` stops it; `outer` (the caller's) names an abort.
   */
  async read(index: number, signal: AbortSignal, outer: AbortSignal | undefined, onChunk?: (chunk: number, plaintext: ArrayBuffer) => void): Promise<ArrayBuffer[]> {
    const job = this.#job;
    const url = job.urls[index]!;
    const deadline = new Deadline(job.timeoutMs, url, signal);
    const sink = new KeyedSink(async () => {
      const { opened, contentKey } = await this.#unlock.get();
      const decryptor = createShardDecryptor(job.manifest, opened, index, contentKey, { cipher: this.#cipher, concurrency: job.decryptConcurrency, signal });
      if (onChunk) decryptor.onChunk(onChunk);
      return decryptor;
    }, this.#unlock.ready, job.readAhead);
    try {
      const requested = traceStart();
      const response = await getFile(job.fetch, url, job.requestInit, signal, deadline);
      traceEnd('shard.response', requested);
      return await this.#readResponse(response, index, sink, signal, deadline);
    } catch (err) {
      if (outer?.aborted) throw abortedError(outer, url);
      throw err;
    } finally {
      sink.release();
      deadline.clear();
    }
  }

  async #readResponse(response: Response, index: number, sink: KeyedSink, signal: AbortSignal, deadline: Deadline): Promise<ArrayBuffer[]> {
    const { manifest, onBytes } = this.#job;
    try {
      const reading = traceStart();
      await readBody(response, {
        url: this.#job.urls[index]!, signal, deadline, pool: this.#pool, onBytes,
        sealedSize: manifest.shards[index]!.size, chunkLength: manifest.chunkLength,
        push: (bytes) => sink.push(bytes), gate: this.#job.gate,
      });
      traceEnd('shard.body', reading);
      const finishing = traceStart();
      const chunks = await sink.finish();
      traceEnd('shard.finish', finishing);
      return chunks;
    } catch (err) {
      await response.body?.cancel().catch(() => undefined);
      throw explainHtml(err, response);
    }
  }
}

/** The early unlock (key alone, manifest layout) when asked and possible, else the header's. */
function unlockFor(job: ShardJob, early: boolean): Unlock {
  const layout = early && job.key ? manifestShardLayout(job.manifest) : undefined;
  if (job.key && layout) {
    const key = job.key;
    const header = job.unlocked.then((u) => u.opened);
    header.catch(() => undefined); // each shard's finish() reports it
    return { ready: key, get: async () => ({ contentKey: await key, opened: { ...layout, header } }) };
  }
  return { ready: job.unlocked, get: () => job.unlocked };
}

/**
 * A shard's decryptor, made once the key is in. Chunks that arrive before it wait, within the
 * load's shared read-ahead budget, and are decrypted in order once it is made.
 */
class KeyedSink {
  readonly #make: () => Promise<FileDecryptor>;
  readonly #budget: { bytes: number };
  readonly #waiting: Uint8Array[] = [];
  #decryptor: FileDecryptor | undefined;
  #ready = false;

  constructor(make: () => Promise<FileDecryptor>, ready: Promise<unknown>, budget: { bytes: number }) {
    this.#make = make;
    this.#budget = budget;
    void ready.then(() => (this.#ready = true), () => undefined);
  }

  async push(bytes: Uint8Array): Promise<void> {
    if (!this.#decryptor && !this.#ready && this.#budget.bytes >= bytes.byteLength) {
      this.#budget.bytes -= bytes.byteLength;
      this.#waiting.push(bytes);
      return;
    }
    await (await this.#open()).push(bytes);
  }

  async finish(): Promise<ArrayBuffer[]> {
    return (await this.#open()).finish();
  }

  /** Gives the budget of chunks still waiting back to the load (the read failed or is over). */
  release(): void {
    for (const bytes of this.#waiting.splice(0)) this.#budget.bytes += bytes.byteLength;
  }

  async #open(): Promise<FileDecryptor> {
    if (!this.#decryptor) {
      const decryptor = await this.#make();
      this.#decryptor = decryptor;
      for (const bytes of this.#waiting.splice(0)) {
        this.#budget.bytes += bytes.byteLength;
        await decryptor.push(bytes);
      }
    }
    return this.#decryptor;
  }
}

/**
 * A shard that fails its first checks while the host labelled its answer HTML: most likely an
 * error or login page served with status 200 in place of the file. The code stays; the message says so.
 */
function explainHtml(err: unknown, response: Response): unknown {
  const type = response.headers.get('content-type') ?? '';
  if (!(err instanceof ModelsealError) || !/^\s*text\/html/i.test(type) || !['misplaced_shard', 'tampered', 'truncated'].includes(err.code)) return err;
  return withNote(err, `the host answered with ${type.split(';')[0]!.trim()}: an error or login page served in place of the sealed file? check what the URL serves`);
}
