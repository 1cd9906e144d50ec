// Opening one file sealed with C2SP chunked encryption, as its bytes arrive or whole: the key
// commitment is checked before any chunk is decrypted, chunks are cut on their fixed boundaries,
// and a short or long file is refused. An authentication failure, of the commitment or of a
// chunk, is one opaque AuthenticationFailure: what it means (wrong key, misplaced shard, damage)
// depends on the file's role, which only the model layer (format/open-file.ts) knows.

import { concatBytes, equalBytes } from './bytes.js';
import { webCryptoChunkCipher, type ChunkCipher, type ChunkedOptions, type ChunkSha256 } from './chunk-cipher.js';
import { deriveFileKeys } from './chunk-keys.js';
import { assertChunkLength, chunkCount, chunkRange, DEFAULT_CHUNK_LENGTH, FILE_HEAD_LENGTH, plaintextLengthOf, SALT_LENGTH, sealedLength, TAG_LENGTH } from './chunk-lengths.js';
import { abortedError, ModelsealError } from './errors.js';
import { Limiter } from './limiter.js';
import { subtle } from './webcrypto.js';

/** A file failed authentication: its key commitment (`chunk` undefined) or chunk `chunk`. Internal to format/. */
export class AuthenticationFailure extends Error {
  override readonly name = 'AuthenticationFailure';
  constructor(readonly label: string, readonly chunk: number | undefined, options?: { cause?: unknown }) {
    super(`${label}: ${chunk === undefined ? 'key commitment' : `chunk ${chunk}`} failed authentication`, options);
  }
}

/** What the reader of one sealed file knows before it starts. */
export interface ChunkedReadOptions extends ChunkedOptions {
  /** Plaintext length the file must have; when absent it is inferred from the ciphertext length. */
  plaintextLength?: number;
  /** Names the file in error messages, e.g. "shard 2 (shard-2-of-3.sealed)". */
  label?: string;
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
 * Decrypts one sealed file as its bytes arrive, with a bounded number of decrypt calls in flight.
 * Output is one ArrayBuffer per non-empty chunk, in order.
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
      // The file's digest with the same hash as its chunks': node:crypto's in Node, which runs on the
      // calling thread; WebCrypto's costs a thread-pool job per file (measured: docs/LOADER.md).
      const digest = await chunkDigest((await Promise.all(this.#digests)).map((d) => new Uint8Array(d)), (this.#options.cipher ?? webCryptoChunkCipher).sha256);
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
    const factory = this.#options.cipher ?? webCryptoChunkCipher;
    const keys = await deriveFileKeys(this.#inputKey, this.#head.subarray(0, SALT_LENGTH), this.#context, factory.hmacSha512);
    try {
      if (!equalBytes(keys.commitment, this.#head.subarray(SALT_LENGTH))) throw this.#fail(new AuthenticationFailure(this.#label, undefined));
      return await factory.forFile(keys.keyBytes, keys.baseNonce);
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
        if (this.#options.signal?.aborted) throw abortedError(this.#options.signal, this.#label, this.#label);
        const cipher = await cipherPromise;
        let plain: ArrayBuffer;
        try {
          plain = await cipher.open(index, sealed);
        } catch (cause) {
          throw new AuthenticationFailure(this.#label, index, { cause });
        }
        this.#outputs[index] = plain;
        // Both digests have read the chunk when their call returns, so it may be handed on at once.
        if (this.#options.checkDigest) this.#digests[index] = (this.#options.cipher ?? webCryptoChunkCipher).sha256(new Uint8Array(plain));
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

/** Decrypts a whole sealed file held in memory. */
export async function decryptChunked(inputKey: CryptoKey, sealed: Uint8Array, context: Uint8Array, options: ChunkedReadOptions = {}): Promise<ArrayBuffer[]> {
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
        const keys = await deriveFileKeys(inputKey, sealed.subarray(0, SALT_LENGTH), context, (options.cipher ?? webCryptoChunkCipher).hmacSha512);
        keys.keyBytes.fill(0);
        if (!equalBytes(keys.commitment, sealed.subarray(SALT_LENGTH, FILE_HEAD_LENGTH))) throw new AuthenticationFailure(label, undefined);
      }
      throw new ModelsealError('truncated', `${label} has an invalid length (${sealed.length} bytes): it is truncated or cut in the middle of a chunk`, { file: label });
    }
  }
  const decryptor = new ChunkedDecryptor(inputKey, context, { ...options, chunkLength, plaintextLength });
  await decryptor.push(sealed);
  return decryptor.finish();
}

/** SHA-256 (by `sha256`, default WebCrypto's) over the concatenated 32-byte SHA-256 digests of a file's plaintext chunks, in order. */
async function chunkDigest(digests: Uint8Array[], sha256: ChunkSha256 = webCryptoChunkCipher.sha256): Promise<Uint8Array> {
  return new Uint8Array(await sha256(concatBytes(...digests)));
}

/**
 * The chunk digest of a plaintext as chunked with `chunkLength` (every chunk, the short or empty
 * final one included): what a reader's checkDigest receives. Used when sealing.
 */
export async function plaintextChunkDigest(plaintext: Uint8Array, chunkLength: number): Promise<Uint8Array> {
  assertChunkLength(chunkLength);
  const count = chunkCount(plaintext.length, chunkLength);
  const digests: Promise<ArrayBuffer>[] = [];
  for (let i = 0; i < count; i++) digests.push(subtle().digest('SHA-256', plaintext.subarray(...chunkRange(i, plaintext.length, chunkLength)) as BufferSource));
  return chunkDigest((await Promise.all(digests)).map((d) => new Uint8Array(d)));
}

/** Joins decrypted chunks into one contiguous array (a single chunk is viewed as it is, not copied). */
export function joinChunks(chunks: ArrayBuffer[]): Uint8Array {
  if (chunks.length === 1) return new Uint8Array(chunks[0]!);
  return concatBytes(...chunks.map((c) => new Uint8Array(c)));
}
