// One sealed file at the model layer: the chunk layer reports every authentication failure as one
// opaque AuthenticationFailure; the file's role says what it means (docs/ERRORS.md). A failed
// commitment is `wrong_key` for the header and `misplaced_shard` for a shard; a failed chunk is
// `tampered`, naming the file and the chunk, never the byte.

import { AuthenticationFailure, ChunkedDecryptor, decryptChunked, type ChunkedReadOptions } from './chunk-decrypt.js';
import { ModelsealError, type ErrorCode } from './errors.js';

/** What a sealed file is to the model: its header, one of its shards, or a file of unknown place. */
export type FileRole = 'header' | 'shard' | 'file';

const COMMITMENT: Record<FileRole, { code: ErrorCode; hint: string }> = {
  header: {
    code: 'wrong_key',
    hint: 'the content key is not the one this model was sealed with (or the manifest\'s modelId, keyId, chunkLength or shardLength, or the header, were altered)',
  },
  shard: {
    code: 'misplaced_shard',
    hint: 'this file is not the shard sealed for this position of this model and sealing (shards swapped, or taken from another model or sealing), or its first 56 bytes were altered',
  },
  file: {
    code: 'wrong_key',
    hint: 'the key is wrong, or the file was sealed for another model, key or position, or its first 56 bytes were altered',
  },
};

// A decryptor rethrows its first failure on every later call: give each the same coded error.
const described = new WeakMap<AuthenticationFailure, ModelsealError>();

/** The coded error for a chunk-layer failure of a file in `role`; any other error unchanged. */
function describe(err: unknown, role: FileRole): unknown {
  if (!(err instanceof AuthenticationFailure)) return err;
  let coded = described.get(err);
  if (!coded) {
    const { code, hint } = COMMITMENT[role];
    coded = err.chunk === undefined
      ? new ModelsealError(code, `${err.label}: key commitment mismatch: ${hint}`, { file: err.label })
      : new ModelsealError('tampered', `${err.label}: chunk ${err.chunk} failed authentication: the file may be corrupted or tampered with`, { file: err.label, chunk: err.chunk, cause: err.cause });
    described.set(err, coded);
  }
  return coded;
}

/** Decrypts a whole sealed file held in memory; failures are coded for its role (default `file`). */
export async function openFile(inputKey: CryptoKey, sealed: Uint8Array, context: Uint8Array, options: ChunkedReadOptions & { role?: FileRole } = {}): Promise<ArrayBuffer[]> {
  try {
    return await decryptChunked(inputKey, sealed, context, options);
  } catch (err) {
    throw describe(err, options.role ?? 'file');
  }
}

/** Decrypts one sealed file as its bytes arrive (see ChunkedDecryptor); failures are coded for its role. */
export class FileDecryptor {
  readonly #inner: ChunkedDecryptor;
  readonly #role: FileRole;

  constructor(inputKey: CryptoKey, context: Uint8Array, options: ChunkedReadOptions & { plaintextLength: number; role: FileRole }) {
    this.#inner = new ChunkedDecryptor(inputKey, context, options);
    this.#role = options.role;
  }

  /** The ciphertext length this file must have. */
  get sealedLength(): number {
    return this.#inner.sealedLength;
  }

  /** Calls `listener` with each decrypted chunk as soon as it is ready (possibly out of order). */
  onChunk(listener: (index: number, plaintext: ArrayBuffer) => void): void {
    this.#inner.onChunk(listener);
  }

  /** Feeds the next ciphertext bytes. Resolves when the decryptor can take more (backpressure). */
  async push(bytes: Uint8Array): Promise<void> {
    try {
      await this.#inner.push(bytes);
    } catch (err) {
      throw describe(err, this.#role);
    }
  }

  /** Ends the input; resolves with the plaintext chunks, or rejects if anything failed. */
  async finish(): Promise<ArrayBuffer[]> {
    try {
      return await this.#inner.finish();
    } catch (err) {
      throw describe(err, this.#role);
    }
  }
}
