// Downloading and decrypting shards: bodies stream into the chunk decryptor as they arrive, so a
// shard's ciphertext is never held whole, and each decrypted 256 KiB chunk is its own ArrayBuffer.

import { FILE_HEAD_LENGTH, TAG_LENGTH, webCryptoChunkCipher, type ChunkCipherFactory, type ChunkSha256 } from '../format/chunked.js';
import { ModelsealError } from '../format/errors.js';
import { Limiter } from '../format/limiter.js';
import type { SealedManifest } from '../format/manifest.js';
import type { FileDecryptor } from '../format/open-file.js';
import { createShardDecryptor, manifestShardLayout, type ManifestShardLayout, type OpenedHeader } from '../format/open.js';
import { abortedError, Deadline, fileError, getFile } from './files.js';
import type { FetchFunction } from './options.js';
import { trace, traceEnd, traceStart } from './trace.js';

/** What unlocks the shards: the opened header and the content key. */
export interface Unlocked {
  opened: OpenedHeader;
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
}

/**
 * Chunk-sized ciphertext buffers, reused. WebCrypto copies its input when decrypt() is called (the
 * spec's "get a copy of the bytes held by the data parameter") and node:crypto's update() reads it
 * before returning, so a buffer can take the next chunk as soon as its decrypt call has started:
 * the ciphertext of a whole model never piles up waiting for the garbage collector. Were an engine
 * to read the input later, the reused bytes would fail GCM authentication (`tampered`), never
 * decrypt to wrong weights.
 */
class BufferPool {
  readonly #free: ArrayBuffer[] = [];
  constructor(readonly size: number, readonly cap: number) {}

  take(size: number): ArrayBuffer {
    return (size === this.size ? this.#free.pop() : undefined) ?? new ArrayBuffer(size);
  }

  give(view: Uint8Array): void {
    const buffer = view.buffer;
    if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && buffer.byteLength === this.size && this.#free.length < this.cap) this.#free.push(buffer);
  }
}

/** A cipher whose decrypt calls, across every shard of a load, share one bound. */
function sharedCipher(limit: number, factory: ChunkCipherFactory = webCryptoChunkCipher, pool: BufferPool, recycle: boolean): ChunkCipherFactory {
  const limiter = new Limiter(limit);
  return {
    async forFile(keyBytes, baseNonce) {
      const inner = await factory.forFile(keyBytes, baseNonce);
      return {
        seal: (i, p) => inner.seal(i, p),
        open: (i, s) => limiter.run(() => {
          const started = traceStart();
          const result = inner.open(i, s);
          if (recycle) pool.give(s);
          if (trace.sink) void result.then(() => traceEnd('decrypt', started), () => undefined);
          return result;
        }),
      };
    },
    hmacSha512: factory.hmacSha512,
    sha256: trace.sink ? tracedSha256(factory.sha256) : factory.sha256,
  };
}

/** The chunk digest, timed: tracing only. */
function tracedSha256(inner: ChunkSha256): ChunkSha256 {
  return (data) => {
    const started = traceStart();
    const result = inner(data);
    if (result instanceof Uint8Array) traceEnd('digest', started);
    else void result.then(() => traceEnd('digest', started), () => undefined);
    return result;
  };
}

function poolFor(job: ShardJob): BufferPool {
  return new BufferPool(job.manifest.chunkLength + TAG_LENGTH, job.decryptConcurrency * job.maxConcurrentRequests + 4);
}

/** Links an outer signal (the caller's) to a controller that also stops the load on its own failures. */
function linkedController(outer: AbortSignal | undefined): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  if (!outer) return { controller, unlink: () => undefined };
  const onAbort = () => controller.abort(outer.reason);
  if (outer.aborted) onAbort();
  else outer.addEventListener('abort', onAbort, { once: true });
  return { controller, unlink: () => outer.removeEventListener('abort', onAbort) };
}

/** How a load's shard readers get their decryptor's inputs: after the header, or on the key alone. */
interface Unlock {
  /** Settles when the shards can decrypt. */
  ready: Promise<unknown>;
  /** The key and what the decryptor needs of the header. */
  get(): Promise<{ contentKey: CryptoKey; opened: OpenedHeader | (ManifestShardLayout & { header: Promise<OpenedHeader> }) }>;
}

/** The early unlock (key alone, manifest layout) when the job has it, else the header's. */
function unlockFor(job: ShardJob): Unlock {
  const layout = job.key ? manifestShardLayout(job.manifest) : undefined;
  if (job.key && layout) {
    const key = job.key;
    const header = job.unlocked.then((u) => u.opened);
    header.catch(() => undefined); // each shard's finish() reports it
    return { ready: key, get: async () => ({ contentKey: await key, opened: { ...layout, header } }) };
  }
  return { ready: job.unlocked, get: () => job.unlocked };
}

async function readShard(
  job: ShardJob,
  unlock: Unlock,
  index: number,
  cipher: ChunkCipherFactory,
  pool: BufferPool,
  signal: AbortSignal,
  outer: AbortSignal | undefined,
  onChunk?: (index: number, plaintext: ArrayBuffer) => void,
): Promise<ArrayBuffer[]> {
  const url = job.urls[index]!;
  let unlocked = false;
  void unlock.ready.then(() => (unlocked = true), () => undefined);
  let decryptor: FileDecryptor | undefined;
  // Chunks that arrived before the key: held (within the shared budget) and decrypted in order
  // once it is here.
  const waiting: Uint8Array[] = [];
  const decryptorReady = async (): Promise<FileDecryptor> => {
    if (!decryptor) {
      const { opened, contentKey } = await unlock.get();
      decryptor = createShardDecryptor(job.manifest, opened, index, contentKey, { cipher, concurrency: job.decryptConcurrency, signal });
      if (onChunk) decryptor.onChunk(onChunk);
      for (const bytes of waiting.splice(0)) {
        job.readAhead.bytes += bytes.byteLength;
        await decryptor.push(bytes);
      }
    }
    return decryptor;
  };
  const push = async (bytes: Uint8Array): Promise<void> => {
    if (!decryptor && !unlocked && job.readAhead.bytes >= bytes.byteLength) {
      job.readAhead.bytes -= bytes.byteLength;
      waiting.push(bytes);
      return;
    }
    await (await decryptorReady()).push(bytes);
  };
  const deadline = new Deadline(job.timeoutMs, url, signal);
  const requested = traceStart();
  const response = await getFile(job.fetch, url, job.requestInit, signal, deadline).catch((err: unknown) => {
    deadline.clear();
    throw err;
  });
  traceEnd('shard.response', requested);
  const reading = traceStart();
  try {
    const byob = response.body ? byobReader(response.body) : undefined;
    if (byob) {
      await readChunkwise(byob, pieceSizes(job.manifest.shards[index]!.size, job.manifest.chunkLength), pool, url, signal, deadline, job.onBytes, push);
    } else if (response.body) {
      const reader = response.body.getReader();
      try {
        for (;;) {
          let result: ReadableStreamReadResult<Uint8Array>;
          try {
            deadline.kick();
            result = await reader.read();
          } catch (err) {
            throw fileError(err, url, signal, deadline);
          } finally {
            deadline.pause();
          }
          if (result.done) break;
          job.onBytes(result.value.byteLength);
          await push(result.value);
        }
      } finally {
        reader.releaseLock();
      }
    } else {
      // Fetch implementations without streaming bodies: one shard (~4 MiB) held at a time.
      let bytes: Uint8Array;
      try {
        deadline.kick();
        bytes = new Uint8Array(await response.arrayBuffer());
      } catch (err) {
        throw fileError(err, url, signal, deadline);
      } finally {
        deadline.pause();
      }
      job.onBytes(bytes.byteLength);
      await push(bytes);
    }
    traceEnd('shard.body', reading);
    const finishing = traceStart();
    const chunks = await (await decryptorReady()).finish();
    traceEnd('shard.finish', finishing);
    return chunks;
  } catch (err) {
    await response.body?.cancel().catch(() => undefined);
    if (outer?.aborted) throw abortedError(outer, url);
    throw err;
  } finally {
    for (const bytes of waiting.splice(0)) job.readAhead.bytes += bytes.byteLength;
    deadline.clear();
  }
}

/** A BYOB reader when the body is a byte stream (fetch in Chromium and Node 20), else undefined. */
function byobReader(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return body.getReader({ mode: 'byob' });
  } catch {
    return undefined;
  }
}

/**
 * Sizes of a sealed file's pieces, from its size in the public manifest: the 56-byte head, then
 * each chunk with its tag, the last one short. The opened header confirms the size before any
 * chunk is decrypted (manifest_invalid otherwise), so these are the pieces the decryptor expects.
 */
function* pieceSizes(sealedSize: number, chunkLength: number): Generator<number> {
  yield FILE_HEAD_LENGTH;
  let rest = sealedSize - FILE_HEAD_LENGTH;
  while (rest > chunkLength + TAG_LENGTH) {
    yield chunkLength + TAG_LENGTH;
    rest -= chunkLength + TAG_LENGTH;
  }
  if (rest > 0) yield rest;
}

/**
 * Reads the body straight into one buffer per chunk (BYOB), so each chunk reaches the decryptor
 * whole and is decrypted in place: no network pieces to collect and no copy to assemble a chunk.
 * A short body is passed on as is (the decryptor reports `truncated`), extra bytes likewise (`trailing_data`).
 */
async function readChunkwise(
  reader: ReadableStreamBYOBReader,
  sizes: Iterable<number>,
  pool: BufferPool,
  url: string,
  signal: AbortSignal,
  deadline: Deadline,
  onBytes: (n: number) => void,
  push: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const read = async (view: Uint8Array): Promise<ReadableStreamReadResult<Uint8Array>> => {
    try {
      deadline.kick();
      const result = await reader.read(view);
      if (result.value) onBytes(result.value.byteLength);
      return result;
    } catch (err) {
      throw fileError(err, url, signal, deadline);
    } finally {
      deadline.pause();
    }
  };
  try {
    for (const size of sizes) {
      let buffer = pool.take(size) as ArrayBufferLike;
      let filled = 0;
      while (filled < size) {
        const { done, value } = await read(new Uint8Array(buffer, filled, size - filled));
        if (value) {
          buffer = value.buffer;
          filled += value.byteLength;
        }
        if (done) {
          // The body ended early: hand over what came, and the decryptor names the truncation.
          if (filled > 0) await push(new Uint8Array(buffer, 0, filled));
          return;
        }
      }
      await push(new Uint8Array(buffer, 0, size));
    }
    // Anything after the last chunk is trailing data; push it so the decryptor refuses the file.
    const { value } = await read(new Uint8Array(1024));
    if (value && value.byteLength > 0) await push(value);
  } finally {
    reader.releaseLock();
  }
}

/** Fetches and decrypts every shard (bounded); resolves with all chunks in order (tfjs `weightData`). */
export async function loadAllShards(job: ShardJob, outer: AbortSignal | undefined): Promise<ArrayBuffer[]> {
  const { controller, unlink } = linkedController(outer);
  const pool = poolFor(job);
  const cipher = sharedCipher(job.decryptConcurrency, job.cipher, pool, job.reusesInput);
  const requests = new Limiter(job.maxConcurrentRequests);
  const unlock = unlockFor(job);
  // No key, no use for the downloads: stop them (the caller reports the key failure itself).
  job.unlocked.catch((err: unknown) => controller.abort(err));
  try {
    const perShard = await Promise.all(
      job.urls.map((_, index) => requests.run(() => {
        if (controller.signal.aborted) throw outer?.aborted ? abortedError(outer, job.urls[index]!) : new ModelsealError('aborted', 'stopped after another file failed');
        return readShard(job, unlock, index, cipher, pool, controller.signal, outer);
      })).map((p) => p.catch((err: unknown) => {
        // The first failure stops the other downloads; Promise.all reports that first failure.
        controller.abort(err);
        throw err;
      })),
    );
    return perShard.flat();
  } finally {
    unlink();
  }
}

/** Byte length of each weight, in order, or undefined when one cannot be known up front (strings). */
export function weightByteLengths(specs: Array<{ shape: number[]; dtype: string; quantization?: { dtype: string } }>): number[] | undefined {
  const sizes: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };
  const out: number[] = [];
  for (const spec of specs) {
    const size = sizes[spec.quantization?.dtype ?? spec.dtype];
    if (size === undefined) return undefined;
    out.push(size * spec.shape.reduce((a, b) => a * b, 1));
  }
  return out;
}

/**
 * A stream of the decrypted weights in order (tfjs `getWeightStream`). At most
 * `maxConcurrentRequests` shards are downloaded ahead of the one being read, so the plaintext held
 * is bounded by that many shards, not by the model. When every weight's size is known, each piece
 * is exactly one weight: tfjs's stream decoder copies its buffer on every read, so pieces that
 * match its reads keep its work linear instead of quadratic in the weight size.
 */
export function streamAllShards(job: ShardJob, opened: OpenedHeader, outer: AbortSignal | undefined, pieceSizes: number[] | undefined, onDone: () => void): ReadableStream<ArrayBuffer> {
  const { controller, unlink } = linkedController(outer);
  const pool = poolFor(job);
  const cipher = sharedCipher(job.decryptConcurrency, job.cipher, pool, job.reusesInput);
  const count = job.urls.length;
  // The stream starts once the header is open: its shards decrypt on the opened header.
  const streamUnlock: Unlock = { ready: job.unlocked, get: () => job.unlocked };
  const chunkLength = job.manifest.chunkLength;
  const expected = opened.shards.map((s) => Math.ceil(s.plaintextLength / chunkLength));
  const ready: Array<Map<number, ArrayBuffer>> = job.urls.map(() => new Map());
  const readers: Promise<unknown>[] = [];
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const start = (index: number) => {
    readers.push(readShard(job, streamUnlock, index, cipher, pool, controller.signal, outer, (chunk, plain) => {
      if (plain.byteLength > 0) ready[index]!.set(chunk, plain);
      notify();
    }).then(notify, (err: unknown) => {
      failure ??= err;
      controller.abort(err);
      notify();
    }));
  };
  const fail = () => (outer?.aborted ? abortedError(outer, 'the weights') : failure);
  let shard = 0;
  let chunk = 0;

  /** The next decrypted chunk in weight order, or undefined at the end. */
  const nextChunk = async (): Promise<ArrayBuffer | undefined> => {
    for (;;) {
      if (failure !== undefined) throw fail();
      while (shard < count && chunk >= expected[shard]!) {
        // This shard is fully handed over: let the next one start downloading.
        ready[shard] = new Map();
        shard++;
        chunk = 0;
        if (readers.length < count) start(readers.length);
      }
      if (shard >= count) {
        // Every chunk is out; wait for each shard's final checks (length, trailing bytes) too.
        await Promise.all(readers);
        if (failure !== undefined) throw fail();
        return undefined;
      }
      const next = ready[shard]!.get(chunk);
      if (next) {
        ready[shard]!.delete(chunk);
        chunk++;
        return next;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };

  let current: Uint8Array | undefined;
  let offset = 0;
  let finished = false;
  const done = () => {
    if (!finished) {
      finished = true;
      unlink();
      onDone();
    }
  };
  let piece = 0;
  /** The next piece: one weight's bytes when sizes are known, else the next chunk. */
  const nextPiece = async (): Promise<ArrayBuffer | undefined> => {
    const size = pieceSizes?.[piece];
    if (size === undefined) {
      if (current && offset < current.length) {
        const rest = current.slice(offset).buffer;
        current = undefined;
        return rest;
      }
      return nextChunk();
    }
    piece++;
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      if (!current || offset === current.length) {
        const next = await nextChunk();
        if (!next) throw new ModelsealError('header_invalid', 'the weights are shorter than the weight specs in the header say');
        current = new Uint8Array(next);
        offset = 0;
      }
      const n = Math.min(size - filled, current.length - offset);
      out.set(current.subarray(offset, offset + n), filled);
      filled += n;
      offset += n;
    }
    if (piece === pieceSizes!.length && (!current || offset === current.length)) {
      // The last weight: tfjs will not read past it, so finish the shard checks now, before
      // handing it over, and report completion.
      const more = await nextChunk();
      if (more) {
        current = new Uint8Array(more);
        offset = 0;
      } else {
        done();
      }
    }
    return out.buffer;
  };

  return new ReadableStream<ArrayBuffer>({
    start() {
      for (let i = 0; i < Math.min(job.maxConcurrentRequests, count); i++) start(i);
    },
    async pull(stream) {
      try {
        const next = await nextPiece();
        if (next === undefined) {
          done();
          stream.close();
        } else {
          stream.enqueue(next);
        }
      } catch (err) {
        controller.abort(err);
        unlink();
        stream.error(err);
      }
    },
    cancel(reason) {
      controller.abort(reason);
      unlink();
    },
  });
}
