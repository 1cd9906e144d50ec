// The browser default chunk cipher: AES-256-GCM decrypts and chunk SHA-256s run in one dedicated
// Web Worker per page, so the page's main thread only reads the network. Chromium's WebCrypto
// runs on the calling thread (measured: docs/LOADER.md), so on the main thread it blocks the page.
// The worker only composes WebCrypto; keys reach it as non-extractable CryptoKeys, never as bytes.

import type { ChunkCipherFactory } from '../format/chunk-cipher.js';
import { chunkNonce, webCryptoHmacSha512 } from '../format/chunk-keys.js';
import { ModelsealError } from '../format/errors.js';
import { subtle } from '../format/webcrypto.js';

/**
 * The worker's whole program: self-contained (it runs from a Blob URL built from its source, so
 * it may use nothing outside its own body). Messages: `key` (file id, CryptoKey), `drop` (file
 * id), `open` (id, file id, iv, ciphertext) answered with the plaintext and its SHA-256, both
 * transferred, or with an error name.
 */
function workerMain(): void {
  interface Scope {
    onmessage: ((event: { data: WorkerRequest }) => void) | null;
    postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  }
  const scope = globalThis as unknown as Scope;
  const keys = new Map<number, CryptoKey>();
  const open = async (m: Extract<WorkerRequest, { t: 'open' }>) => {
    try {
      const key = keys.get(m.f);
      if (!key) throw new Error(`no key for file ${m.f}`);
      const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: m.iv as BufferSource }, key, m.data as BufferSource);
      const digest = await crypto.subtle.digest('SHA-256', plain);
      scope.postMessage({ id: m.id, plain, digest }, [plain, digest]);
    } catch (err) {
      const name = (err as Error)?.name ?? 'Error';
      // Not an authentication failure: the chunk goes back, for the page to decrypt itself.
      if (name === 'OperationError') scope.postMessage({ id: m.id, error: name, message: String(err) });
      else scope.postMessage({ id: m.id, error: name, message: String(err), data: m.data }, [m.data.buffer as ArrayBuffer]);
    }
  };
  scope.onmessage = (event) => {
    const m = event.data;
    if (m.t === 'key') keys.set(m.f, m.key);
    else if (m.t === 'drop') keys.delete(m.f);
    else void open(m);
  };
  // Ready only once the whole path works here (a bundler may have wrapped this code in helpers
  // the worker lacks): one tiny decrypt and digest through `open`'s own calls.
  void (async () => {
    const key = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['encrypt', 'decrypt']);
    const iv = new Uint8Array(12);
    const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new Uint8Array(16));
    await crypto.subtle.digest('SHA-256', await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, sealed));
    scope.postMessage({ ready: true });
  })();
}

/** What the page posts to the worker. */
type WorkerRequest =
  | { t: 'key'; f: number; key: CryptoKey }
  | { t: 'drop'; f: number }
  | { t: 'open'; id: number; f: number; iv: Uint8Array; data: Uint8Array };

/** What the worker answers: readiness, a chunk's plaintext and digest, or why it failed. */
type WorkerReply =
  | { ready: true }
  | { id: number; plain: ArrayBuffer; digest: ArrayBuffer }
  | { id: number; error: string; message: string; data?: Uint8Array };

interface Pending {
  resolve(plain: ArrayBuffer): void;
  reject(err: unknown): void;
  /** The same decrypt on the main thread, of the ciphertext the worker handed back. */
  retry(data: Uint8Array): Promise<ArrayBuffer>;
  label: string;
}

/** The page's worker and the chunks it is working on. Once it fails, every call runs on the main thread. */
class CryptoWorker {
  #worker: Worker | undefined;
  #ready = false;
  #nextId = 0;
  /** The worker script's Blob URL, revoked once the worker runs (revoking at once races its fetch). */
  #revokeWhenReady: string | undefined;
  readonly #pending = new Map<number, Pending>();
  /** The worker's SHA-256 of each plaintext it returned, until the decryptor asks for it. */
  readonly digests = new WeakMap<ArrayBuffer, ArrayBuffer>();

  constructor() {
    let url: string | undefined;
    try {
      // `__name`: esbuild's keepNames wraps named functions in it, and the worker has no copy.
      url = URL.createObjectURL(new Blob([`var __name = (f) => f;\n(${workerMain.toString()})()`], { type: 'text/javascript' }));
      const worker = new Worker(url);
      worker.onmessage = (event: MessageEvent<WorkerReply>) => this.#answer(event.data);
      // A blocked (CSP worker-src) or failed start, an uncaught error or an unreadable answer.
      worker.onerror = (event) => {
        event.preventDefault();
        this.#die();
      };
      worker.onmessageerror = () => this.#die();
      this.#worker = worker;
    } catch {
      // CSP or a missing Worker may throw here instead: the main thread does the work.
      this.#worker = undefined;
    }
    if (url && !this.#worker) URL.revokeObjectURL(url);
    else this.#revokeWhenReady = url;
  }

  /** True while chunks go to the worker. Before it said it runs, they stay on the main thread. */
  get usable(): boolean {
    return this.#worker !== undefined && this.#ready;
  }

  post(message: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    this.#worker?.postMessage(message, transfer);
  }

  /**
   * Sends one chunk; resolves with its plaintext (its digest then in `digests`). The chunk's buffer
   * moves to the worker when the view covers all of it (the loader's chunk buffers do), so the
   * caller must not reuse it (the loader's buffer pool skips a moved buffer); a view into a larger
   * buffer is copied first. No copy is kept: if the worker dies holding the chunk, it is lost and
   * the chunk fails `worker_failed`.
   */
  open(f: number, iv: Uint8Array, sealed: Uint8Array, label: string, retry: (data: Uint8Array) => Promise<ArrayBuffer>): Promise<ArrayBuffer> {
    const whole = sealed.buffer instanceof ArrayBuffer && sealed.byteOffset === 0 && sealed.byteLength === sealed.buffer.byteLength;
    const data = whole ? sealed : sealed.slice();
    const id = this.#nextId++;
    return new Promise<ArrayBuffer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, retry, label });
      this.#worker!.postMessage({ t: 'open', id, f, iv, data } satisfies WorkerRequest, [data.buffer as ArrayBuffer]);
    });
  }

  #answer(reply: WorkerReply): void {
    if ('ready' in reply) {
      this.#ready = true;
      if (this.#revokeWhenReady) URL.revokeObjectURL(this.#revokeWhenReady);
      this.#revokeWhenReady = undefined;
      return;
    }
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if ('plain' in reply) {
      this.digests.set(reply.plain, reply.digest);
      pending.resolve(reply.plain);
    } else if (reply.error === 'OperationError') {
      // AES-GCM authentication failed: the same answer the main thread would give.
      pending.reject(new Error(reply.message));
    } else if (reply.data) {
      // Anything else is the worker's problem, not the chunk's: decrypt it here.
      pending.retry(reply.data).then(pending.resolve, pending.reject);
    } else {
      pending.reject(workerFailed(pending.label, reply.message));
    }
  }

  /** The worker failed: stop using it (later chunks decrypt on the main thread); the chunks it held fail. */
  #die(): void {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#ready = false;
    worker?.terminate();
    if (this.#revokeWhenReady) URL.revokeObjectURL(this.#revokeWhenReady);
    this.#revokeWhenReady = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(workerFailed(p.label, 'the worker stopped (an error event)'));
  }
}

/** A chunk the worker held when it failed: coded apart from `tampered`, since the file is not at fault. */
function workerFailed(label: string, why: string): ModelsealError {
  return new ModelsealError('worker_failed', `${label}: the page's crypto worker failed while decrypting (${why}); load again (later loads decrypt on the page's thread), or pass decryptWorker: false`, { file: label });
}

let shared: CryptoWorker | undefined;
let nextFile = 0;

/** The page's worker, started on first use and kept for later loads. */
function pageWorker(): CryptoWorker {
  shared ??= new CryptoWorker();
  return shared;
}

/** True where a dedicated worker is possible and worth it: a page with `Worker`, not already inside a worker. */
export function canUseCryptoWorker(): boolean {
  return typeof Worker === 'function' && typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'undefined' && typeof URL.createObjectURL === 'function';
}

/**
 * The worker-backed chunk cipher (browsers): decrypts and hashes chunks in the page's crypto
 * worker, started by this call if needed; falls back to WebCrypto on the main thread per chunk
 * while the worker is not running, and for every chunk it held when it fails.
 */
export function workerChunkCipher(): ChunkCipherFactory {
  const worker = pageWorker();
  // Drops a file's key in the worker once the page no longer holds its cipher.
  const dropped = new FinalizationRegistry<number>((f) => worker.post({ t: 'drop', f }));
  return {
    async forFile(keyBytes, baseNonce) {
      const key = await subtle().importKey('raw', keyBytes as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
      const nonceBase = baseNonce.slice();
      const f = nextFile++;
      // Structured clone keeps `extractable: false`: the worker can use the key, not read it.
      let sent = false;
      const onMain = (iv: Uint8Array, sealed: Uint8Array) => subtle().decrypt({ name: 'AES-GCM', iv: iv as BufferSource }, key, sealed as BufferSource);
      const cipher = {
        async seal(index: number, plaintext: Uint8Array) {
          const iv = chunkNonce(nonceBase, index) as BufferSource;
          return [new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv }, key, plaintext as BufferSource))];
        },
        open(index: number, sealed: Uint8Array) {
          const iv = chunkNonce(nonceBase, index);
          if (!worker.usable) return onMain(iv, sealed);
          if (!sent) {
            worker.post({ t: 'key', f, key });
            sent = true;
          }
          return worker.open(f, iv, sealed, `chunk ${index}`, (data) => onMain(iv, data));
        },
      };
      dropped.register(cipher, f);
      return cipher;
    },
    hmacSha512: webCryptoHmacSha512,
    sha256(data) {
      // The worker hashed each chunk it decrypted; anything else is hashed here.
      const buffer = data.buffer;
      if (buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength) {
        const digest = worker.digests.get(buffer);
        if (digest) {
          worker.digests.delete(buffer);
          return new Uint8Array(digest);
        }
      }
      return subtle().digest('SHA-256', data as BufferSource);
    },
  };
}
