// The weight stream (tfjs `getWeightStream`): decrypted weights in order, with the plaintext held
// bounded by a few shards rather than by the model.

import { ModelsealError } from '../format/errors.js';
import type { ShardLayout } from '../format/open.js';
import { abortedError, linkedController } from './abort.js';
import { ShardReader, type ShardJob } from './shard-reader.js';

/**
 * A stream of the decrypted weights in order (tfjs `getWeightStream`). At most
 * `maxConcurrentRequests` shards are downloaded ahead of the one being read, so the plaintext held
 * is bounded by that many shards, not by the model. When every weight's size is known, each piece
 * is exactly one weight: tfjs's stream decoder copies its buffer on every read, so pieces that
 * match its reads keep its work linear instead of quadratic in the weight size.
 */
export function streamAllShards(job: ShardJob, opened: ShardLayout, outer: AbortSignal | undefined, pieceSizes: number[] | undefined, onDone: () => void): ReadableStream<ArrayBuffer> {
  const { controller, unlink } = linkedController(outer);
  // The stream starts once the header is open: its shards decrypt on the opened header.
  const reader = new ShardReader(job, false);
  const chunks = new OrderedChunks(reader, opened, job.manifest.chunkLength, controller, outer);
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    reader.close();
    unlink();
    onDone();
  };
  const pieces = new WeightPieces(() => chunks.next(), pieceSizes, done);
  return new ReadableStream<ArrayBuffer>({
    start() {
      chunks.begin(job.maxConcurrentRequests);
    },
    async pull(stream) {
      try {
        const next = await pieces.next();
        if (next !== undefined) return stream.enqueue(next);
        done();
        stream.close();
      } catch (err) {
        controller.abort(err);
        reader.close();
        unlink();
        stream.error(err);
      }
    },
    cancel(reason) {
      controller.abort(reason);
      reader.close();
      unlink();
    },
  });
}

/** The decrypted chunks of every shard, in order; a shard starts downloading when one ahead of it is handed over. */
class OrderedChunks {
  readonly #reader: ShardReader;
  readonly #controller: AbortController;
  readonly #outer: AbortSignal | undefined;
  /** Chunks each shard has, by plaintext length. */
  readonly #expected: number[];
  /** Decrypted chunks not yet handed out, per shard, by chunk index. */
  readonly #ready: Array<Map<number, ArrayBuffer>>;
  readonly #readers: Promise<unknown>[] = [];
  #failure: unknown;
  #wake: (() => void) | undefined;
  #shard = 0;
  #chunk = 0;

  constructor(reader: ShardReader, opened: ShardLayout, chunkLength: number, controller: AbortController, outer: AbortSignal | undefined) {
    this.#reader = reader;
    this.#controller = controller;
    this.#outer = outer;
    this.#expected = opened.shards.map((s) => Math.ceil(s.plaintextLength / chunkLength));
    this.#ready = reader.urls.map(() => new Map());
  }

  /** Starts the first `ahead` shards. */
  begin(ahead: number): void {
    for (let i = 0; i < Math.min(ahead, this.#ready.length); i++) this.#start(i);
  }

  /** The next decrypted chunk in weight order, or undefined once every shard has passed its checks. */
  async next(): Promise<ArrayBuffer | undefined> {
    const count = this.#ready.length;
    for (;;) {
      this.#throwIfFailed();
      this.#skipDone();
      if (this.#shard >= count) {
        // Every chunk is out; wait for each shard's final checks (length, trailing bytes) too.
        await Promise.all(this.#readers);
        this.#throwIfFailed();
        return undefined;
      }
      const ready = this.#ready[this.#shard]!;
      const next = ready.get(this.#chunk);
      if (next) {
        ready.delete(this.#chunk);
        this.#chunk++;
        return next;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Moves past shards fully handed over, and lets the next shard start downloading for each. */
  #skipDone(): void {
    const count = this.#ready.length;
    while (this.#shard < count && this.#chunk >= this.#expected[this.#shard]!) {
      this.#ready[this.#shard] = new Map();
      this.#shard++;
      this.#chunk = 0;
      if (this.#readers.length < count) this.#start(this.#readers.length);
    }
  }

  #start(index: number): void {
    const onChunk = (chunk: number, plain: ArrayBuffer) => {
      if (plain.byteLength > 0) this.#ready[index]!.set(chunk, plain);
      this.#notify();
    };
    this.#readers.push(this.#reader.read(index, this.#controller.signal, this.#outer, onChunk).then(() => this.#notify(), (err: unknown) => {
      this.#failure ??= err;
      this.#controller.abort(err);
      this.#notify();
    }));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #throwIfFailed(): void {
    if (this.#failure === undefined) return;
    throw this.#outer?.aborted ? abortedError(this.#outer, 'the weights') : this.#failure;
  }
}

/** Cuts the chunk sequence into one piece per weight when the sizes are known, else passes chunks on. */
class WeightPieces {
  readonly #nextChunk: () => Promise<ArrayBuffer | undefined>;
  readonly #sizes: number[] | undefined;
  readonly #onLast: () => void;
  #current: Uint8Array | undefined;
  #offset = 0;
  #piece = 0;

  constructor(nextChunk: () => Promise<ArrayBuffer | undefined>, sizes: number[] | undefined, onLast: () => void) {
    this.#nextChunk = nextChunk;
    this.#sizes = sizes;
    this.#onLast = onLast;
  }

  /** The next piece, or undefined at the end. */
  async next(): Promise<ArrayBuffer | undefined> {
    const size = this.#sizes?.[this.#piece];
    if (size !== undefined) return this.#cut(size);
    if (this.#current && this.#offset < this.#current.length) {
      const rest = this.#current.slice(this.#offset).buffer;
      this.#current = undefined;
      return rest;
    }
    return this.#nextChunk();
  }

  /** One weight's bytes, gathered across chunks. */
  async #cut(size: number): Promise<ArrayBuffer> {
    this.#piece++;
    const out = new Uint8Array(size);
    let filled = 0;
    while (filled < size) {
      if (!this.#current || this.#offset === this.#current.length) await this.#load(true);
      const current = this.#current!;
      const n = Math.min(size - filled, current.length - this.#offset);
      out.set(current.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      this.#offset += n;
    }
    if (this.#piece === this.#sizes!.length && (!this.#current || this.#offset === this.#current.length)) {
      // The last weight: tfjs will not read past it, so finish the shard checks now, before
      // handing it over, and report completion.
      if (!(await this.#load(false))) this.#onLast();
    }
    return out.buffer;
  }

  /** Takes the next chunk as the current one; false at the end (an error when `needed`). */
  async #load(needed: boolean): Promise<boolean> {
    const next = await this.#nextChunk();
    if (!next) {
      if (needed) throw new ModelsealError('header_invalid', 'the weights are shorter than the weight specs in the header say');
      return false;
    }
    this.#current = new Uint8Array(next);
    this.#offset = 0;
    return true;
  }
}
