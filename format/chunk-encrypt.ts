// Sealing one file with C2SP chunked encryption: salt ‖ commitment ‖ chunk ciphertexts.

import { concatBytes } from './bytes.js';
import { webCryptoChunkCipher, type ChunkCipher, type ChunkedOptions } from './chunk-cipher.js';
import { deriveFileKeys } from './chunk-keys.js';
import { assertChunkLength, chunkCount, chunkRange, DEFAULT_CHUNK_LENGTH, MAX_CHUNKS, SALT_LENGTH } from './chunk-lengths.js';

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
  const factory = options.cipher ?? webCryptoChunkCipher;
  const salt = options.salt ?? globalThis.crypto.getRandomValues(new Uint8Array(SALT_LENGTH));
  const keys = await deriveFileKeys(inputKey, salt, context, factory.hmacSha512);
  try {
    return { head: concatBytes(salt, keys.commitment), cipher: await factory.forFile(keys.keyBytes, keys.baseNonce) };
  } finally {
    keys.keyBytes.fill(0);
  }
}

/** Options of the encrypt functions: `salt` is random unless given (test vectors only); `prepared` from prepareFile (then salt and cipher are its). */
export type EncryptOptions = ChunkedOptions & { salt?: Uint8Array; prepared?: PreparedFile };

/**
 * Encrypts one file into pieces whose concatenation is the sealed file (head, then each chunk's
 * ciphertext and tag as the cipher produced them): a writer can write them in order (writev)
 * without joining them. At most `concurrency` chunk calls are in flight; with 1 this is a plain loop.
 */
export async function encryptChunkedParts(inputKey: CryptoKey, plaintext: Uint8Array, context: Uint8Array, options: EncryptOptions = {}): Promise<Uint8Array[]> {
  const chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
  assertChunkLength(chunkLength);
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`concurrency must be a positive integer, got ${concurrency}`);
  const count = chunkCount(plaintext.length, chunkLength);
  if (count > MAX_CHUNKS) throw new RangeError('plaintext too long for chunked encryption');
  const { head, cipher } = options.prepared ?? await prepareFile(inputKey, context, options);
  const chunks: Promise<Uint8Array[]>[] = [];
  for (let i = 0; i < count; i++) {
    // A window of `concurrency` calls: wait for the oldest before starting the next.
    if (i >= concurrency) await chunks[i - concurrency];
    const chunk = cipher.seal(i, plaintext.subarray(...chunkRange(i, plaintext.length, chunkLength)));
    chunk.catch(() => undefined); // awaited in turn or by Promise.all below
    chunks.push(chunk);
  }
  return [head, ...(await Promise.all(chunks)).flat()];
}

/** Encrypts one file into one array: salt ‖ commitment ‖ chunks. */
export async function encryptChunked(inputKey: CryptoKey, plaintext: Uint8Array, context: Uint8Array, options: EncryptOptions = {}): Promise<Uint8Array> {
  const parts = await encryptChunkedParts(inputKey, plaintext, context, options);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
