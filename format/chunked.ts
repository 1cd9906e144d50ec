// The chunk layer: C2SP chunked encryption (c2sp.org/chunked-encryption) with the Cobblestone-256
// primitives (HKDF-Expand-SHA-512 key schedule, AES-256-GCM chunks, 24-byte salt, 32-byte key
// commitment). The chunk length is a parameter; at 16 KiB this is exactly Cobblestone-256 (tested
// against Wycheproof). Its parts, as age splits `stream` from its primitives: chunk-lengths.ts
// (length arithmetic), chunk-keys.ts (key schedule), chunk-cipher.ts (cipher interface, WebCrypto),
// chunk-encrypt.ts and chunk-decrypt.ts. This file is what the rest of modelseal imports of it; it
// knows nothing of models: format/open-file.ts gives its failures their codes.

export {
  SALT_LENGTH, COMMITMENT_LENGTH, FILE_HEAD_LENGTH, TAG_LENGTH, C2SP_CHUNK_LENGTH, DEFAULT_CHUNK_LENGTH,
  MIN_CHUNK_LENGTH, MAX_CHUNK_LENGTH, assertChunkLength, chunkCount, sealedLength, plaintextLengthOf,
} from './chunk-lengths.js';
export { INPUT_KEY_LENGTH, importInputKey, deriveFileKeys, chunkNonce, type FileKeys, type HmacSha512 } from './chunk-keys.js';
export { webCryptoChunkCipher, type ChunkCipher, type ChunkCipherFactory, type ChunkSha256, type ChunkedOptions } from './chunk-cipher.js';
export { prepareFile, encryptChunked, encryptChunkedParts, type EncryptOptions, type PreparedFile } from './chunk-encrypt.js';
export { ChunkedDecryptor, decryptChunked, plaintextChunkDigest, joinChunks, type ChunkedReadOptions } from './chunk-decrypt.js';
