// C2SP chunked encryption (c2sp.org/chunked-encryption) with the Cobblestone-256 primitives:
// HKDF-Expand-SHA-512 key schedule, AES-256-GCM chunks, 24-byte salt, 32-byte key commitment.
// The chunk length is a parameter; at 16 KiB this is exactly Cobblestone-256 (tested against
// Wycheproof). Everything here is WebCrypto; callers may plug a faster ChunkCipher (node:crypto).

import { concatBytes, equalBytes, utf8 } from './bytes.js';
import { ModelsealError, type ErrorCode } from './errors.js';
import { Limiter } from './limiter.js';

/** Salt length in bytes. */
export const SALT_LENGTH = 24;
/** Key commitment length in bytes. */
export const COMMITMENT_LENGTH = 32;
/** Fixed overhead before the first chunk: salt ‖ commitment. */
export const FILE_HEAD_LENGTH = SALT_LENGTH + COMMITMENT_LENGTH;
/** AES-GCM tag length, added to every chunk. */
export const TAG_LENGTH = 16;
/** The input (content) key length. */
export const INPUT_KEY_LENGTH = 32;
/** The C2SP default chunk length (Cobblestone-256). */
export const C2SP_CHUNK_LENGTH = 16 * 1024;
/** modelseal's default chunk length: fewer WebCrypto calls, see docs/FORMAT.md. */
export const DEFAULT_CHUNK_LENGTH = 256 * 1024;
/** Smallest and largest chunk lengths a reader accepts. */
export const MIN_CHUNK_LENGTH = 1024;
export const MAX_CHUNK_LENGTH = 16 * 1024 * 1024;
/** C2SP allows at most 2^38 chunks per message. */
const MAX_CHUNKS = 2 ** 38;
const NONCE_LENGTH = 12;
const KDF_LABEL = utf8('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM');

const subtle = (): SubtleCrypto => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available: modelseal needs a secure context or Node 20+');
  return s;
};

/** Checks a chunk length a caller passes in (programming errors throw TypeError). */
export function assertChunkLength(chunkLength: number): void {
  if (!Number.isInteger(chunkLength) || chunkLength < MIN_CHUNK_LENGTH || chunkLength > MAX_CHUNK_LENGTH) {
    throw new TypeError(`chunk length must be an integer from ${MIN_CHUNK_LENGTH} to ${MAX_CHUNK_LENGTH}, got ${chunkLength}`);
  }
}

/** Number of chunks (the short final one included) for a plaintext length. */
export function chunkCount(plaintextLength: number, chunkLength: number): number {
  return Math.floor(plaintextLength / chunkLength) + 1;
}

/** Ciphertext length of a plaintext of `plaintextLength` bytes. */
export function sealedLength(plaintextLength: number, chunkLength: number): number {
  return FILE_HEAD_LENGTH + plaintextLength + TAG_LENGTH * chunkCount(plaintextLength, chunkLength);
}

/** Plaintext length a ciphertext length implies, or undefined when no valid chunking has that length. */
export function plaintextLengthOf(sealed: number, chunkLength: number): number | undefined {
  if (!Number.isSafeInteger(sealed) || sealed < FILE_HEAD_LENGTH + TAG_LENGTH) return undefined;
  const body = sealed - FILE_HEAD_LENGTH;
  const full = Math.floor(body / (chunkLength + TAG_LENGTH));
  const last = body - full * (chunkLength + TAG_LENGTH);
  // The final chunk is always present and always short: at least a tag, less than a full chunk.
  if (last < TAG_LENGTH) return undefined;
  return full * chunkLength + (last - TAG_LENGTH);
}

/** Imports a 32-byte input key as a non-extractable HMAC-SHA-512 key (the HKDF-Expand PRK). */
export async function importInputKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== INPUT_KEY_LENGTH) {
    throw new ModelsealError('invalid_key', `a content key is ${INPUT_KEY_LENGTH} bytes, got ${raw.length}`);
  }
  return subtle().importKey('raw', raw as BufferSource, { name: 'HMAC', hash: 'SHA-512', length: 256 }, false, ['sign']);
}

/** The per-file values the key schedule derives. `keyBytes` is secret: zero it after use. */
export interface FileKeys {
  keyBytes: Uint8Array;
  baseNonce: Uint8Array;
  commitment: Uint8Array;
}

/** HMAC-SHA-512 under an input key, computed synchronously (node:crypto has one; WebCrypto's is a promise). */
export type SyncHmacSha512 = (inputKey: CryptoKey, data: Uint8Array) => Uint8Array;

/**
 * HKDF-Expand(prk = input key, info = label ‖ 0x00 ‖ salt ‖ context, L = 76) via HMAC-SHA-512:
 * WebCrypto's, or `hmac` when given (the same function, without a thread-pool round trip per call).
 */
export async function deriveFileKeys(inputKey: CryptoKey, salt: Uint8Array, context: Uint8Array, hmac?: SyncHmacSha512): Promise<FileKeys> {
  if (salt.length !== SALT_LENGTH) throw new TypeError(`salt must be ${SALT_LENGTH} bytes`);
  const info = concatBytes(KDF_LABEL, new Uint8Array([0]), salt, context);
  const sign = async (data: Uint8Array) => hmac ? hmac(inputKey, data) : new Uint8Array(await subtle().sign('HMAC', inputKey, data as BufferSource));
  const t1 = await sign(concatBytes(info, new Uint8Array([1])));
  const t2 = await sign(concatBytes(t1, info, new Uint8Array([2])));
  const okm = concatBytes(t1, t2.subarray(0, 12));
  t1.fill(0);
  t2.fill(0);
  const keys = { keyBytes: okm.slice(0, 32), baseNonce: okm.slice(32, 44), commitment: okm.slice(44, 76) };
  okm.fill(0);
  return keys;
}

/** Nonce of chunk `index`: base nonce XOR index, big-endian over the nonce's 12 bytes. */
export function chunkNonce(baseNonce: Uint8Array, index: number): Uint8Array {
  const nonce = baseNonce.slice();
  let rest = index;
  for (let i = NONCE_LENGTH - 1; i >= 0 && rest > 0; i--) {
    nonce[i]! ^= rest % 256;
    rest = Math.floor(rest / 256);
  }
  return nonce;
}

/** Encrypts and decrypts single chunks under one derived file key; swap in node:crypto for speed. */
export interface ChunkCipher {
  /** Encrypts chunk `index`; returns ciphertext ‖ tag. */
  seal(index: number, plaintext: Uint8Array): Promise<Uint8Array>;
  /** Optional: encrypts chunk `index` straight into `target` (plaintext length + 16 bytes), saving a copy. */
  sealInto?(index: number, plaintext: Uint8Array, target: Uint8Array): Promise<void>;
  /** Optional: encrypts chunk `index` into pieces (ciphertext…, tag) as the cipher produced them, copying nothing. */
  sealParts?(index: number, plaintext: Uint8Array): Promise<Uint8Array[]>;
  /** Decrypts chunk `index` (ciphertext ‖ tag); rejects when authentication fails. */
  open(index: number, sealed: Uint8Array): Promise<ArrayBuffer>;
}

/**
 * SHA-256 of a decrypted chunk for its chunk digest: synchronous (node:crypto reads the bytes
 * before it returns) or a promise (WebCrypto copies them on the call). Either way the caller may
 * hand the chunk on, or reuse its buffer, as soon as the call returns.
 */
export type ChunkSha256 = (data: Uint8Array) => Uint8Array | Promise<ArrayBuffer>;

/**
 * Makes a ChunkCipher from the derived key bytes and base nonce; may bring its platform's
 * synchronous HMAC for the key schedule and its SHA-256 for the chunk digests.
 */
export type ChunkCipherFactory = ((keyBytes: Uint8Array, baseNonce: Uint8Array) => Promise<ChunkCipher>) & {
  readonly hmacSha512?: SyncHmacSha512 | undefined;
  readonly sha256?: ChunkSha256 | undefined;
};

/** The WebCrypto ChunkCipher: the AES key is imported non-extractable. */
export const webCryptoChunkCipher: ChunkCipherFactory = async (keyBytes, baseNonce) => {
  const key = await subtle().importKey('raw', keyBytes as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return {
    async seal(index, plaintext) {
      const iv = chunkNonce(baseNonce, index) as BufferSource;
      return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv }, key, plaintext as BufferSource));
    },
    open(index, sealed) {
      const iv = chunkNonce(baseNonce, index) as BufferSource;
      return subtle().decrypt({ name: 'AES-GCM', iv }, key, sealed as BufferSource);
    },
  };
};

/** Options shared by sealing and opening one file. */
export interface ChunkedOptions {
  /** Chunk length C in bytes (default 256 KiB; 16 KiB is Cobblestone-256). */
  chunkLength?: number;
  /** Chunk operations in flight at once (default 4). */
  concurrency?: number;
  /** Chunk cipher implementation (default WebCrypto). */
  cipher?: ChunkCipherFactory;
}

/** A file's key schedule done ahead of its plaintext: its head (salt ‖ commitment) and chunk cipher. */
export interface PreparedFile {
  head: Uint8Array;
  cipher: ChunkCipher;
}

/**
 * Derives one file's keys and chunk cipher. Separate from the chunks so a sealer can derive the
 * next file's keys (WebCrypto HMAC calls, off the main thread) while this file's chunks encrypt.
 */
export async function prepareFile(inputKey: CryptoKey, context: Uint8Array, options: Pick<ChunkedOptions, 'cipher'> & { salt?: Uint8Array } = {}): Promise<PreparedFile> {
  const salt = options.salt ?? globalThis.crypto.getRandomValues(new Uint8Array(SALT_LENGTH));
  const keys = await deriveFileKeys(inputKey, salt, context, options.cipher?.hmacSha512);
  const cipher = await (options.cipher ?? webCryptoChunkCipher)(keys.keyBytes, keys.baseNonce);
  keys.keyBytes.fill(0);
  return { head: concatBytes(salt, keys.commitment), cipher };
}

/** Options of the encrypt functions: `salt` is random unless given (test vectors only); `prepared` from prepareFile (then salt and cipher are its). */
export type EncryptOptions = ChunkedOptions & { salt?: Uint8Array; prepared?: PreparedFile };

/** The key schedule and chunking of one file being sealed, shared by both encrypt functions. */
async function startSealing(inputKey: CryptoKey, plaintext: Uint8Array, context: Uint8Array, options: EncryptOptions) {
  const chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
  assertChunkLength(chunkLength);
  const count = chunkCount(plaintext.length, chunkLength);
  if (count > MAX_CHUNKS) throw new RangeError('plaintext too long for chunked encryption');
  const { head, cipher } = options.prepared ?? await prepareFile(inputKey, context, options);
  const limiter = new Limiter(options.concurrency ?? 4);
  const pieceOf = (i: number) => plaintext.subarray(i * chunkLength, Math.min((i + 1) * chunkLength, plaintext.length));
  return { chunkLength, count, cipher, head, limiter, pieceOf };
}

/** Encrypts one file: salt ‖ commitment ‖ chunks. `salt` is random unless given (test vectors only). */
export async function encryptChunked(
  inputKey: CryptoKey,
  plaintext: Uint8Array,
  context: Uint8Array,
  options: EncryptOptions = {},
): Promise<Uint8Array> {
  const { chunkLength, count, cipher, head, limiter, pieceOf } = await startSealing(inputKey, plaintext, context, options);
  const out = new Uint8Array(sealedLength(plaintext.length, chunkLength));
  out.set(head, 0);
  const tasks: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const piece = pieceOf(i);
    const offset = FILE_HEAD_LENGTH + i * (chunkLength + TAG_LENGTH);
    const target = out.subarray(offset, offset + piece.length + TAG_LENGTH);
    tasks.push(limiter.run(async () => {
      if (cipher.sealInto) await cipher.sealInto(i, piece, target);
      else target.set(await cipher.seal(i, piece));
    }));
  }
  await Promise.all(tasks);
  return out;
}

/**
 * Encrypts one file into pieces whose concatenation is exactly encryptChunked's output, without
 * assembling them: a writer can write them in order (writev) and skip one copy of every byte.
 */
export async function encryptChunkedParts(
  inputKey: CryptoKey,
  plaintext: Uint8Array,
  context: Uint8Array,
  options: EncryptOptions = {},
): Promise<Uint8Array[]> {
  const { count, cipher, head, limiter, pieceOf } = await startSealing(inputKey, plaintext, context, options);
  if (options.concurrency === 1) {
    // One call at a time (a synchronous cipher such as node:crypto's gains nothing from more):
    // a plain loop, without a limiter task and promise array per chunk (measured ~5 % faster).
    const out = [head];
    for (let i = 0; i < count; i++) {
      const piece = pieceOf(i);
      if (cipher.sealParts) out.push(...(await cipher.sealParts(i, piece)));
      else out.push(await cipher.seal(i, piece));
    }
    return out;
  }
  const chunks = await Promise.all(Array.from({ length: count }, (_, i) => limiter.run(async () => {
    const piece = pieceOf(i);
    return cipher.sealParts ? cipher.sealParts(i, piece) : [await cipher.seal(i, piece)];
  })));
  return [head, ...chunks.flat()];
}

/** What the reader of one sealed file knows before it starts. */
export interface ChunkedReadOptions extends ChunkedOptions {
  /** Plaintext length the file must have; when absent it is inferred from the ciphertext length. */
  plaintextLength?: number;
  /** Names the file in error messages, e.g. "shard 2 (shard-2-of-3.sealed)". */
  label?: string;
  /** Error code for a commitment mismatch (default `wrong_key`). */
  commitmentCode?: ErrorCode;
  /** Why a commitment mismatch happened, for the message. */
  commitmentHint?: string;
  /** Stops the work when aborted. */
  signal?: AbortSignal;
  /**
   * Called in finish(), after every chunk authenticated, with SHA-256 over the SHA-256 of each
   * plaintext chunk (the file's chunk digest); a throw or a rejection fails the file (a promise
   * lets a reader decrypt before it knows the expected digest). Absent: no digests computed.
   */
  checkDigest?: (digest: Uint8Array) => void | Promise<void>;
}

/**
 * Decrypts one sealed file as its bytes arrive. Checks the key commitment before any chunk is
 * decrypted, cuts chunks on their fixed boundaries, keeps a bounded number of decrypt calls in
 * flight, and refuses a short or long file. Output is one ArrayBuffer per non-empty chunk, in order.
 */
export class ChunkedDecryptor {
  readonly #inputKey: CryptoKey;
  readonly #context: Uint8Array;
  readonly #chunkLength: number;
  readonly #plaintextLength: number;
  readonly #sealedLength: number;
  readonly #chunkCount: number;
  readonly #label: string;
  readonly #options: ChunkedReadOptions;
  readonly #limiter: Limiter;
  readonly #outputs: ArrayBuffer[] = [];
  readonly #digests: Array<Uint8Array | Promise<ArrayBuffer>> = [];
  readonly #tasks: Promise<void>[] = [];
  #head = new Uint8Array(FILE_HEAD_LENGTH);
  #received = 0;
  #cipher: Promise<ChunkCipher> | undefined;
  #pending: Uint8Array | undefined;
  #pendingFill = 0;
  #nextChunk = 0;
  #failure: unknown;
  #onChunk: ((index: number, plaintext: ArrayBuffer) => void) | undefined;

  constructor(inputKey: CryptoKey, context: Uint8Array, options: ChunkedReadOptions & { plaintextLength: number }) {
    this.#inputKey = inputKey;
    this.#context = context;
    this.#options = options;
    this.#chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
    assertChunkLength(this.#chunkLength);
    this.#plaintextLength = options.plaintextLength;
    this.#sealedLength = sealedLength(options.plaintextLength, this.#chunkLength);
    this.#chunkCount = chunkCount(options.plaintextLength, this.#chunkLength);
    this.#label = options.label ?? 'file';
    this.#limiter = new Limiter(options.concurrency ?? 4);
  }

  /** The ciphertext length this file must have. */
  get sealedLength(): number {
    return this.#sealedLength;
  }

  /** Calls `listener` with each decrypted chunk as soon as it is ready (possibly out of order). */
  onChunk(listener: (index: number, plaintext: ArrayBuffer) => void): void {
    this.#onChunk = listener;
  }

  /** Feeds the next ciphertext bytes. Resolves when the decryptor can take more (backpressure). */
  async push(bytes: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    if (this.#received + bytes.length > this.#sealedLength) {
      throw this.#fail(new ModelsealError('trailing_data', `${this.#label} is longer than its sealed length of ${this.#sealedLength} bytes: bytes were appended; the file is not the one that was sealed`, { file: this.#label }));
    }
    let offset = 0;
    // The 56-byte head (salt ‖ commitment) comes first; derive the key as soon as it is complete.
    if (this.#received < FILE_HEAD_LENGTH) {
      const take = Math.min(FILE_HEAD_LENGTH - this.#received, bytes.length);
      this.#head.set(bytes.subarray(0, take), this.#received);
      this.#received += take;
      offset = take;
      if (this.#received === FILE_HEAD_LENGTH) {
        this.#cipher = this.#checkCommitment();
        // Marked handled here; the failure is reported by push() or finish().
        this.#cipher.catch(() => undefined);
      }
    }
    while (offset < bytes.length) {
      const index = this.#nextChunk;
      const size = this.#chunkSealedSize(index);
      if (this.#pendingFill === 0 && bytes.length - offset >= size) {
        // A whole chunk is already in this piece: decrypt it in place, no copy.
        await this.#submit(index, bytes.subarray(offset, offset + size));
        offset += size;
        this.#received += size;
        continue;
      }
      this.#pending ??= new Uint8Array(size);
      const take = Math.min(size - this.#pendingFill, bytes.length - offset);
      this.#pending.set(bytes.subarray(offset, offset + take), this.#pendingFill);
      this.#pendingFill += take;
      offset += take;
      this.#received += take;
      if (this.#pendingFill === size) {
        const chunk = this.#pending;
        this.#pending = undefined;
        this.#pendingFill = 0;
        await this.#submit(index, chunk);
      }
    }
  }

  /** Ends the input; resolves with the plaintext chunks, or rejects if anything failed. */
  async finish(): Promise<ArrayBuffer[]> {
    this.#throwIfFailed();
    if (this.#received < this.#sealedLength) {
      throw this.#fail(new ModelsealError('truncated', `${this.#label} is truncated: got ${this.#received} of ${this.#sealedLength} bytes; upload or fetch the whole file again`, { file: this.#label }));
    }
    if (this.#cipher) await this.#cipher;
    await Promise.all(this.#tasks);
    this.#throwIfFailed();
    const check = this.#options.checkDigest;
    if (check) {
      const digest = await chunkDigest((await Promise.all(this.#digests)).map((d) => new Uint8Array(d)));
      try {
        await check(digest);
      } catch (err) {
        throw this.#fail(err);
      }
    }
    return this.#outputs.filter((b) => b.byteLength > 0);
  }

  #chunkSealedSize(index: number): number {
    return index < this.#chunkCount - 1 ? this.#chunkLength + TAG_LENGTH : (this.#plaintextLength % this.#chunkLength) + TAG_LENGTH;
  }

  async #checkCommitment(): Promise<ChunkCipher> {
    const keys = await deriveFileKeys(this.#inputKey, this.#head.subarray(0, SALT_LENGTH), this.#context, this.#options.cipher?.hmacSha512);
    try {
      if (!equalBytes(keys.commitment, this.#head.subarray(SALT_LENGTH))) throw this.#fail(commitmentError(this.#options, this.#label));
      return await (this.#options.cipher ?? webCryptoChunkCipher)(keys.keyBytes, keys.baseNonce);
    } finally {
      keys.keyBytes.fill(0);
    }
  }

  async #submit(index: number, sealed: Uint8Array): Promise<void> {
    this.#nextChunk++;
    const cipherPromise = this.#cipher;
    if (!cipherPromise) throw new Error('internal: chunk before head');
    await this.#limiter.acquire();
    this.#throwIfFailed();
    const task = (async () => {
      try {
        if (this.#options.signal?.aborted) throw abortError(this.#options.signal, this.#label);
        const cipher = await cipherPromise;
        let plain: ArrayBuffer;
        try {
          plain = await cipher.open(index, sealed);
        } catch (cause) {
          throw new ModelsealError('tampered', `${this.#label}: chunk ${index} failed authentication: the file may be corrupted or tampered with`, { file: this.#label, chunk: index, cause });
        }
        this.#outputs[index] = plain;
        // Both digests have read the chunk when their call returns, so it may be handed on at once.
        if (this.#options.checkDigest) this.#digests[index] = (this.#options.cipher?.sha256 ?? webCryptoSha256)(new Uint8Array(plain));
        this.#onChunk?.(index, plain);
      } catch (err) {
        this.#fail(err);
      } finally {
        this.#limiter.release();
      }
    })();
    this.#tasks.push(task);
  }

  #fail(err: unknown): unknown {
    this.#failure ??= err;
    return this.#failure;
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

function commitmentError(options: ChunkedReadOptions, label: string): ModelsealError {
  const hint = options.commitmentHint ?? 'the key is wrong, or the file was sealed for another model, key or position, or its first 56 bytes were altered';
  return new ModelsealError(options.commitmentCode ?? 'wrong_key', `${label}: key commitment mismatch: ${hint}`, { file: label });
}

function abortError(signal: AbortSignal, label: string): ModelsealError {
  return new ModelsealError('aborted', `loading ${label} was aborted`, { cause: signal.reason, file: label });
}

/** Decrypts a whole sealed file held in memory. */
export async function decryptChunked(
  inputKey: CryptoKey,
  sealed: Uint8Array,
  context: Uint8Array,
  options: ChunkedReadOptions = {},
): Promise<ArrayBuffer[]> {
  const chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
  assertChunkLength(chunkLength);
  const label = options.label ?? 'file';
  let plaintextLength = options.plaintextLength;
  if (plaintextLength === undefined) {
    plaintextLength = plaintextLengthOf(sealed.length, chunkLength);
    if (plaintextLength === undefined) {
      // Check the commitment first when the head is there: a wrong key or an altered chunk length
      // (which also makes the length invalid) is then reported as such, not as damage.
      if (sealed.length >= FILE_HEAD_LENGTH) {
        const keys = await deriveFileKeys(inputKey, sealed.subarray(0, SALT_LENGTH), context, options.cipher?.hmacSha512);
        keys.keyBytes.fill(0);
        if (!equalBytes(keys.commitment, sealed.subarray(SALT_LENGTH, FILE_HEAD_LENGTH))) throw commitmentError(options, label);
      }
      throw new ModelsealError('truncated', `${label} has an invalid length (${sealed.length} bytes): it is truncated or cut in the middle of a chunk`, { file: label });
    }
  }
  const decryptor = new ChunkedDecryptor(inputKey, context, { ...options, chunkLength, plaintextLength });
  await decryptor.push(sealed);
  return decryptor.finish();
}

/** WebCrypto's SHA-256 (a thread-pool job in Node, which copies its input on the call). */
const webCryptoSha256: ChunkSha256 = (data) => subtle().digest('SHA-256', data as BufferSource);

/** SHA-256 over the concatenated 32-byte SHA-256 digests of a file's plaintext chunks, in order. */
async function chunkDigest(digests: Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', concatBytes(...digests) as BufferSource));
}

/**
 * The chunk digest of a plaintext as chunked with `chunkLength` (every chunk, the short or empty
 * final one included): what a reader's checkDigest receives. Used when sealing.
 */
export async function plaintextChunkDigest(plaintext: Uint8Array, chunkLength: number): Promise<Uint8Array> {
  assertChunkLength(chunkLength);
  const count = chunkCount(plaintext.length, chunkLength);
  const digests: Promise<ArrayBuffer>[] = [];
  for (let i = 0; i < count; i++) digests.push(subtle().digest('SHA-256', plaintext.subarray(i * chunkLength, Math.min(plaintext.length, (i + 1) * chunkLength)) as BufferSource));
  return chunkDigest((await Promise.all(digests)).map((d) => new Uint8Array(d)));
}

/** Joins decrypted chunks into one contiguous array. */
export function joinChunks(chunks: ArrayBuffer[]): Uint8Array {
  return concatBytes(...chunks.map((c) => new Uint8Array(c)));
}
