// A node:crypto ChunkCipher for the CLI and Node services: the same AES-256-GCM chunks as format's WebCrypto path
// (test/node/chunk-cipher.test.ts checks the bytes), without WebCrypto's per-call promise cost.

import { createCipheriv, createDecipheriv, createHash, createHmac, createSecretKey, KeyObject } from 'node:crypto';
import type { ChunkCipherFactory } from '../format/chunked.js';
import { gcmChunkCipher } from '../format/gcm-cipher.js';

/** ChunkCipherFactory backed by node:crypto's createCipheriv('aes-256-gcm'), one call per chunk. */
export const nodeChunkCipher: ChunkCipherFactory = gcmChunkCipher({
  KeyObject,
  createHmac: (algorithm, key) => createHmac(algorithm, key as KeyObject),
  createHash: (algorithm) => createHash(algorithm),
  createSecretKey: (key) => createSecretKey(key),
  createCipheriv: (algorithm, key, iv, options) => createCipheriv(algorithm, key as KeyObject, iv, options),
  createDecipheriv: (algorithm, key, iv, options) => createDecipheriv(algorithm, key as KeyObject, iv, options),
});
