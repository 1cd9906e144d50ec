// The node:crypto AES-256-GCM chunk cipher, written against the few node:crypto functions it needs
// (passed in, typed structurally) so that it has no Node import and runs wherever it is handed
// them: `modelseal/node` (node/chunk-cipher.ts) binds it to node:crypto statically, and the
// browser-safe loader (loader/default-cipher.ts) binds it at run time when it runs in Node.

import type { ChunkCipher, ChunkCipherFactory } from './chunk-cipher.js';
import { chunkNonce } from './chunk-keys.js';
import { TAG_LENGTH } from './chunk-lengths.js';

interface GcmCipher {
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
}

interface GcmDecipher {
  setAuthTag(tag: Uint8Array): unknown;
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
}

interface Hmac {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

/** The part of node:crypto the chunk cipher uses. */
export interface NodeCryptoGcm {
  KeyObject: { from(key: CryptoKey): unknown };
  createHmac(algorithm: 'sha512', key: unknown): Hmac;
  createHash(algorithm: 'sha256'): Hmac;
  createSecretKey(key: Uint8Array): unknown;
  createCipheriv(algorithm: 'aes-256-gcm', key: unknown, iv: Uint8Array, options: { authTagLength: number }): GcmCipher;
  createDecipheriv(algorithm: 'aes-256-gcm', key: unknown, iv: Uint8Array, options: { authTagLength: number }): GcmDecipher;
}

/**
 * A ChunkCipherFactory over node:crypto's AES-256-GCM (one cipher object per chunk, no promise hop),
 * with node:crypto's HMAC-SHA-512 for the key schedule: WebCrypto's costs a thread-pool round trip
 * per call, and a synchronous sealer waits for each one (~9 % of a seal, measured: docs/CLI.md).
 * Its SHA-256 hashes each decrypted chunk for the chunk digests where it decrypts, on the calling
 * thread, without the input copy and thread-pool job of WebCrypto's (measured: docs/LOADER.md).
 */
export function gcmChunkCipher(crypto: NodeCryptoGcm): ChunkCipherFactory {
  // The input key stays a non-extractable CryptoKey; node:crypto reads it through its KeyObject.
  const keyObjects = new WeakMap<CryptoKey, unknown>();
  return {
    async forFile(keyBytes, baseNonce): Promise<ChunkCipher> {
      // createSecretKey copies the bytes, so the caller may zero `keyBytes` once we return.
      const key = crypto.createSecretKey(keyBytes.slice());
      const nonceBase = baseNonce.slice();
      return {
        async seal(index, plaintext) {
          // The pieces exactly as node:crypto returns them: no buffer to fill, no copy.
          const cipher = crypto.createCipheriv('aes-256-gcm', key, chunkNonce(nonceBase, index), { authTagLength: TAG_LENGTH });
          const body = cipher.update(plaintext);
          const tail = cipher.final();
          return tail.length === 0 ? [body, cipher.getAuthTag()] : [body, tail, cipher.getAuthTag()];
        },
        async open(index, sealed) {
          if (sealed.length < TAG_LENGTH) throw new Error('chunk shorter than its tag');
          const decipher = crypto.createDecipheriv('aes-256-gcm', key, chunkNonce(nonceBase, index), { authTagLength: TAG_LENGTH });
          decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
          // update() reads `sealed` before it returns: the caller may reuse the buffer right after.
          const body = decipher.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
          // final() throws when the tag does not match; `body` is then dropped unseen.
          const tail = decipher.final();
          // Large outputs own their ArrayBuffer: hand it over without a copy. Small ones may sit in
          // Node's shared pool, and tfjs reads a buffer whole, so those are copied out.
          if (tail.length === 0 && body.byteOffset === 0 && body.buffer.byteLength === body.length) return body.buffer as ArrayBuffer;
          const out = new Uint8Array(body.length + tail.length);
          out.set(body, 0);
          out.set(tail, body.length);
          return out.buffer;
        },
      };
    },
    hmacSha512(inputKey, data) {
      let keyObject = keyObjects.get(inputKey);
      if (keyObject === undefined) keyObjects.set(inputKey, keyObject = crypto.KeyObject.from(inputKey));
      const hmac = crypto.createHmac('sha512', keyObject);
      hmac.update(data);
      return hmac.digest(); // the only copy: deriveFileKeys zeroes it after use
    },
    sha256(data) {
      const hash = crypto.createHash('sha256');
      hash.update(data);
      return hash.digest();
    },
  };
}
