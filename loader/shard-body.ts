// Reading one shard's body into its decryptor, chunk by chunk into pooled buffers: the network's
// pieces are copied into them (in browsers, BYOB reads into one small landing buffer per body, see
// readBody), else as the network delivers it, else whole.

import { FILE_HEAD_LENGTH, TAG_LENGTH } from '../format/chunked.js';
import type { BufferPool } from './buffer-pool.js';
import { fileError, type Deadline } from './files.js';
import { isNode } from './runtime.js';

/** Where a body's bytes go, and what a read needs to report a stall or a network failure. */
export interface BodyTarget {
  url: string;
  signal: AbortSignal;
  deadline: Deadline;
  /** The shard's size in the public manifest, and the sealing's chunk length. */
  sealedSize: number;
  chunkLength: number;
  pool: BufferPool;
  /** Called with ciphertext bytes received (a delta). */
  onBytes: (bytes: number) => void;
  push: (bytes: Uint8Array) => Promise<void>;
  /** Held while the content key is being unwrapped: reads wait for it (see ReadGate). */
  gate?: ReadGate | undefined;
}

/**
 * Lets one load's key unwrap run ahead of its shard downloads. The unwrap is a handful of
 * WebCrypto steps, each resumed by the event loop; with shard bodies pouring in, every step waited
 * behind a turn of body reads and the unwrap took ~30 ms instead of ~3 ms, on the load's critical
 * path (measured: docs/LOADER.md). While held, body reads wait (the network's bytes queue in the
 * stream and the socket); the stall deadline is paused meanwhile.
 */
export class ReadGate {
  #held: Promise<void> | undefined;
  #open: (() => void) | undefined;

  /** Makes reads wait until open(). */
  hold(): void {
    this.#held ??= new Promise((resolve) => (this.#open = resolve));
  }

  /** Lets waiting and later reads go. */
  open(): void {
    this.#open?.();
    this.#held = undefined;
    this.#open = undefined;
  }

  /** What a read waits for, or undefined when it may go now. */
  get held(): Promise<void> | undefined {
    return this.#held;
  }
}

/**
 * How a byte-stream body is read into chunks: `copy` (default reader, each network piece copied
 * into the chunk buffers) or `byob` (BYOB reads into one landing buffer, copied into them).
 */
export type BodyStrategy = 'copy' | 'byob';

/**
 * Node's fetch (undici) hands BYOB reads its pieces by copy anyway, and each BYOB read adds a
 * buffer transfer and a promise: copying the pieces ourselves cost ~15% less CPU per body there
 * (measured: docs/LOADER.md). Browsers read BYOB: a default reader's pieces are new buffers each,
 * garbage the size of the body.
 */
function defaultStrategy(): BodyStrategy {
  return isNode() ? 'copy' : 'byob';
}

/** Reads the whole body into `target.push`, the best way the response allows. */
export async function readBody(response: Response, target: BodyTarget, strategy: BodyStrategy = defaultStrategy()): Promise<void> {
  if (!response.body) {
    // Fetch implementations without streaming bodies: one shard (~4 MiB) held at a time.
    const bytes = new Uint8Array(await networkRead(target, () => response.arrayBuffer()));
    target.onBytes(bytes.byteLength);
    await target.push(bytes);
    return;
  }
  if (strategy === 'copy') {
    const reader = response.body.getReader();
    return stoppable(reader, target, () => readCopied(() => reader.read(), reader, target));
  }
  const byob = byobReader(response.body);
  if (byob) await stoppable(byob, target, () => readCopied(landingReads(byob), byob, target));
  else {
    const reader = response.body.getReader();
    await stoppable(reader, target, () => readAsDelivered(reader, target));
  }
}

/** Runs `read` with `reader` cancelled should the deadline fire or the load stop (Deadline.cancelOnStop). */
async function stoppable(reader: ReadableStreamGenericReader, target: BodyTarget, read: () => Promise<void>): Promise<void> {
  const unlink = target.deadline.cancelOnStop(reader);
  try {
    await read();
  } finally {
    unlink();
  }
}

/**
 * Bytes of the one landing buffer a BYOB body read goes through. Not the chunk buffers: in
 * Chromium a buffer handed to a BYOB read (or to WebCrypto) gets a second owner, Blink's wrapper
 * of it, and detaching it from JS no longer frees its memory; that waits for the next full
 * collection, which a small model's load and decode do not reach. Read straight into the chunk
 * buffers, every chunk buffer of a load stayed allocated into tfjs's decode (1–5 MB above the
 * plain load, measured: docs/LOADER.md "Memory"); through a landing buffer, only the landing
 * buffer does, and the chunk buffers are freed when the pool lets them go.
 */
export const LANDING_BYTES = 64 * 1024;

/** BYOB reads of a body into one landing buffer (each read returns it anew). */
function landingReads(reader: ReadableStreamBYOBReader): () => Promise<ReadableStreamReadResult<Uint8Array>> {
  let landing = new ArrayBuffer(LANDING_BYTES);
  return async () => {
    const result = await reader.read(new Uint8Array(landing));
    if (result.value) landing = result.value.buffer as ArrayBuffer;
    return result;
  };
}

/**
 * Copies the network's pieces (each `next` read; a piece is copied before the next read) into one
 * pooled buffer per chunk and pushes each chunk whole, so it is decrypted in place. A short body
 * pushes what came (the decryptor reports `truncated`); bytes past the last chunk are pushed as
 * they are (`trailing_data`). Releases `reader` at the end.
 */
async function readCopied(next: () => Promise<ReadableStreamReadResult<Uint8Array>>, reader: { releaseLock(): void }, target: BodyTarget): Promise<void> {
  const sizes = pieceSizes(target.sealedSize, target.chunkLength);
  const nextPiece = (): Uint8Array | undefined => {
    const size = sizes.next();
    return size.done ? undefined : new Uint8Array(target.pool.take(size.value), 0, size.value);
  };
  let piece = nextPiece();
  let filled = 0;
  try {
    for (;;) {
      const result = await networkRead(target, next);
      if (result.done) break;
      const value = result.value;
      target.onBytes(value.byteLength);
      let offset = 0;
      while (offset < value.byteLength) {
        if (!piece) {
          await target.push(value.subarray(offset));
          return;
        }
        const n = Math.min(piece.byteLength - filled, value.byteLength - offset);
        piece.set(value.subarray(offset, offset + n), filled);
        filled += n;
        offset += n;
        if (filled === piece.byteLength) {
          // Once pushed, the piece is the decryptor's (its buffer goes back to the pool): not touched again.
          const full = piece;
          piece = nextPiece();
          filled = 0;
          await target.push(full);
        }
      }
    }
    if (piece && filled > 0) await target.push(piece.subarray(0, filled));
  } finally {
    reader.releaseLock();
  }
}

/** One wait on the network: the stall deadline runs only during it, failures become coded errors. */
async function networkRead<T>(target: BodyTarget, read: () => Promise<T>): Promise<T> {
  const held = target.gate?.held;
  if (held) await held;
  try {
    target.deadline.kick();
    const result = await read();
    // A read the stop cancelled ends as `done`: report the stop, not a short body.
    if (target.deadline.signal.aborted) throw target.deadline.signal.reason;
    return result;
  } catch (err) {
    throw fileError(err, target.url, target.signal, target.deadline);
  } finally {
    target.deadline.pause();
  }
}

/** A BYOB reader when the body is a byte stream, else undefined. */
function byobReader(body: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return body.getReader({ mode: 'byob' });
  } catch {
    return undefined;
  }
}

async function readAsDelivered(reader: ReadableStreamDefaultReader<Uint8Array>, target: BodyTarget): Promise<void> {
  try {
    for (;;) {
      const result = await networkRead(target, () => reader.read());
      if (result.done) return;
      target.onBytes(result.value.byteLength);
      await target.push(result.value);
    }
  } finally {
    reader.releaseLock();
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
