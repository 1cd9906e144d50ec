// Node's default chunk cipher with the per-chunk work (AES-256-GCM and the chunk's SHA-256) on one
// long-lived worker thread, so that it runs beside the main thread, which reads the HTTP bodies
// and runs tfjs. Browser-safe code: node:worker_threads and node:crypto are handed in by
// loader/default-cipher.ts at run time. The worker's code is a string (`eval: true`), so bundlers
// have no worker file to find or miss.

import type { ChunkCipher, ChunkCipherFactory } from '../format/chunk-cipher.js';
import { chunkNonce } from '../format/chunk-keys.js';
import { TAG_LENGTH } from '../format/chunk-lengths.js';
import { ModelsealError } from '../format/errors.js';
import { gcmChunkCipher, type NodeCryptoGcm } from '../format/gcm-cipher.js';

interface WorkerLike {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  on(event: 'message' | 'error' | 'exit' | 'online', listener: (value: never) => void): unknown;
  ref(): void;
  unref(): void;
}

/** The part of node:worker_threads the worker cipher uses. */
export interface WorkerThreads {
  Worker: new (code: string, options: { eval: true; name?: string; stdout?: boolean; stderr?: boolean }) => WorkerLike;
}

interface Reply {
  id: number;
  plain?: ArrayBuffer;
  digest?: ArrayBuffer;
  failed?: boolean;
  /** The input buffer, moved back. */
  sealed: ArrayBuffer;
}

// One job per chunk: decrypt under the key sent with it (the worker keeps no key between jobs),
// hash the plaintext, send both back by transfer with the input buffer, for the loader's buffer
// pool to reuse. A failed tag is a reply, never a crash.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createDecipheriv, createHash } = require('node:crypto');
const own = (b) => (b.byteOffset === 0 && b.buffer.byteLength === b.length ? b.buffer : b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
parentPort.on('message', ({ id, key, iv, sealed }) => {
  let body;
  try {
    const bytes = new Uint8Array(sealed);
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: ${TAG_LENGTH} });
    decipher.setAuthTag(bytes.subarray(bytes.length - ${TAG_LENGTH}));
    body = decipher.update(bytes.subarray(0, bytes.length - ${TAG_LENGTH}));
    decipher.final();
  } catch {
    parentPort.postMessage({ id, failed: true, sealed }, [sealed]);
    return;
  }
  const plain = own(body);
  const digest = own(createHash('sha256').update(body).digest());
  parentPort.postMessage({ id, plain, digest, sealed }, [plain, digest, sealed]);
});
`;

const WORKER_QUEUE = 2;

interface Job {
  resolve(reply: Reply): void;
  reject(err: unknown): void;
}

/** One worker thread and the jobs waiting on it; unref'd while idle, so it never keeps a process alive. */
class CryptoWorker {
  readonly #worker: WorkerLike;
  readonly #jobs = new Map<number, Job>();
  #next = 0;
  #online = false;
  #dead: ModelsealError | undefined;

  constructor(threads: WorkerThreads, onDead: () => void) {
    this.#worker = new threads.Worker(WORKER_SOURCE, { eval: true, name: 'modelseal-crypto' });
    this.#worker.unref();
    const die = (cause: unknown) => {
      if (this.#dead) return;
      this.#dead = new ModelsealError('crypto_worker_failed', `modelseal's decryption worker thread stopped (${cause instanceof Error ? cause.message : String(cause)}); load the model again, or pass \`cipher: webCryptoChunkCipher\` to decrypt without it`, { cause });
      onDead();
      for (const job of this.#jobs.values()) job.reject(this.#dead);
      this.#jobs.clear();
    };
    this.#worker.on('error', (err: never) => die(err));
    this.#worker.on('exit', (code: never) => die(new Error(`exit code ${String(code)}`)));
    this.#worker.on('message', (reply: never) => this.#settle(reply));
    this.#worker.on('online', () => { this.#online = true; });
  }

  /** True once the worker runs: until then (its boot takes tens of ms) chunks are better decrypted here. */
  get online(): boolean {
    return this.#online;
  }

  /** Jobs sent and not answered yet. */
  get queued(): number {
    return this.#jobs.size;
  }

  /** Decrypts and hashes one chunk; `sealed` is detached (transferred) by the call. */
  run(key: unknown, iv: Uint8Array, sealed: ArrayBuffer): Promise<Reply> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    const reply = new Promise<Reply>((resolve, reject) => this.#jobs.set(id, { resolve, reject }));
    // Referenced while a job waits, so that a process whose only work is this load does not exit.
    if (this.#jobs.size === 1) this.#worker.ref();
    this.#worker.postMessage({ id, key, iv, sealed }, [sealed]);
    return reply;
  }

  #settle(reply: Reply): void {
    const job = this.#jobs.get(reply.id);
    if (!job) return;
    this.#jobs.delete(reply.id);
    if (this.#jobs.size === 0) this.#worker.unref();
    job.resolve(reply);
  }
}

/**
 * A ChunkCipherFactory like gcmChunkCipher (node:crypto), whose chunk decryption and chunk
 * digests run on a worker thread; sealing, the key schedule and the file digest stay on the
 * calling thread. The worker starts with the factory; if it dies, waiting chunks fail with
 * `crypto_worker_failed` and the next file gets a new worker.
 */
/**
 * The input buffer a worker cipher's open() moved to its worker and back, by the plaintext that
 * call resolved with (taken once): the caller's buffer pool may reuse it. Undefined otherwise.
 */
export function returnedInput(plaintext: ArrayBuffer): ArrayBuffer | undefined {
  const buffer = returned.get(plaintext);
  returned.delete(plaintext);
  return buffer;
}

const returned = new WeakMap<ArrayBuffer, ArrayBuffer>();

export function workerChunkCipher(crypto: NodeCryptoGcm, threads: WorkerThreads): ChunkCipherFactory {
  const local = gcmChunkCipher(crypto);
  let worker: CryptoWorker | undefined;
  const current = (): CryptoWorker => (worker ??= new CryptoWorker(threads, () => { worker = undefined; }));
  current();
  // The digest of each plaintext the worker returned, taken once by sha256() on that plaintext.
  const digests = new WeakMap<ArrayBufferLike, Uint8Array>();
  return {
    async forFile(keyBytes, baseNonce): Promise<ChunkCipher> {
      const inner = await local.forFile(keyBytes, baseNonce);
      // A KeyObject: posting it shares node:crypto's key handle with the worker, no key bytes in the message.
      const key = crypto.createSecretKey(keyBytes.slice());
      const nonceBase = baseNonce.slice();
      const thread = current();
      return {
        seal: (index, plaintext) => inner.seal(index, plaintext),
        async open(index, sealed) {
          if (sealed.length < TAG_LENGTH) throw new Error('chunk shorter than its tag');
          // Two jobs queued keep the worker busy; beyond that (or while it boots) this thread
          // decrypts the chunk itself, so both cores work and a worker short of CPU holds nothing up.
          if (!thread.online || thread.queued >= WORKER_QUEUE) return inner.open(index, sealed);
          // A whole buffer is moved to the worker; a view into a larger one is copied first, so
          // that the rest of its buffer stays with its owner.
          const whole = sealed.buffer instanceof ArrayBuffer && sealed.byteOffset === 0 && sealed.byteLength === sealed.buffer.byteLength;
          const input = whole ? (sealed.buffer as ArrayBuffer) : sealed.slice().buffer;
          const reply = await thread.run(key, chunkNonce(nonceBase, index), input);
          if (reply.failed || !reply.plain || !reply.digest) throw new Error(`chunk ${index} failed authentication`);
          digests.set(reply.plain, new Uint8Array(reply.digest));
          returned.set(reply.plain, reply.sealed);
          return reply.plain;
        },
      };
    },
    hmacSha512: local.hmacSha512,
    sha256(data) {
      const known = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? digests.get(data.buffer) : undefined;
      if (known) {
        digests.delete(data.buffer);
        return known;
      }
      return local.sha256(data);
    },
  };
}
