// The chunk cipher interface (AES-256-GCM per chunk, plus the hashes the key schedule and the chunk
// digests need) and its WebCrypto implementation. A platform may bring a faster one behind the
// same interface (format/gcm-cipher.ts over node:crypto), tested byte for byte against this one.

import { chunkNonce, webCryptoHmacSha512, type HmacSha512 } from './chunk-keys.js';
import { subtle } from './webcrypto.js';

/** Encrypts and decrypts the chunks of one file under its derived key. */
export interface ChunkCipher {
  /** Encrypts chunk `index`; resolves with ciphertext ‖ tag, as one or more pieces in order (no copy to join them). */
  seal(index: number, plaintext: Uint8Array): Promise<Uint8Array[]>;
  /** Decrypts chunk `index` (ciphertext ‖ tag); rejects when authentication fails. */
  open(index: number, sealed: Uint8Array): Promise<ArrayBuffer>;
}

/**
 * SHA-256 of a decrypted chunk for its chunk digest: synchronous (node:crypto reads the bytes
 * before it returns) or a promise (WebCrypto copies them on the call). Either way the caller may
 * hand the chunk on, or reuse its buffer, as soon as the call returns.
 */
export type ChunkSha256 = (data: Uint8Array) => Uint8Array | Promise<ArrayBuffer>;

/** An AES-256-GCM implementation for sealed files: per-file chunk ciphers and the hashes around them. */
export interface ChunkCipherFactory {
  /** Makes one file's ChunkCipher from its derived key bytes (the caller zeroes them after) and base nonce. */
  forFile(keyBytes: Uint8Array, baseNonce: Uint8Array): Promise<ChunkCipher>;
  /** HMAC-SHA-512 under the input key, for each file's key schedule. */
  hmacSha512: HmacSha512;
  /** SHA-256 of each decrypted chunk, for the chunk digests. */
  sha256: ChunkSha256;
}

/** Options shared by sealing and opening one file. */
export interface ChunkedOptions {
  /** Chunk length C in bytes (default 256 KiB; 16 KiB is Cobblestone-256). */
  chunkLength?: number;
  /** Chunk operations in flight at once (default 4). */
  concurrency?: number;
  /** Chunk cipher implementation (default WebCrypto). */
  cipher?: ChunkCipherFactory;
}

/** The WebCrypto chunk cipher: each file's AES key is imported non-extractable. */
export const webCryptoChunkCipher: ChunkCipherFactory = {
  async forFile(keyBytes, baseNonce) {
    const key = await subtle().importKey('raw', keyBytes as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
    const nonceBase = baseNonce.slice();
    return {
      async seal(index, plaintext) {
        const iv = chunkNonce(nonceBase, index) as BufferSource;
        return [new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv }, key, plaintext as BufferSource))];
      },
      open(index, sealed) {
        const iv = chunkNonce(nonceBase, index) as BufferSource;
        return subtle().decrypt({ name: 'AES-GCM', iv }, key, sealed as BufferSource);
      },
    };
  },
  hmacSha512: webCryptoHmacSha512,
  // A thread-pool job in Node, which copies its input on the call.
  sha256: (data) => subtle().digest('SHA-256', data as BufferSource),
};
