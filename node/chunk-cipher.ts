// A node:crypto ChunkCipher for the CLI and Node services: the same AES-256-GCM chunks as format's WebCrypto path
// (test/node/chunk-cipher.test.ts checks the bytes), without WebCrypto's per-call promise cost.

import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { chunkNonce, TAG_LENGTH, type ChunkCipherFactory } from '../format/chunked.js';

/** ChunkCipherFactory backed by node:crypto's createCipheriv('aes-256-gcm'), one call per chunk. */
export const nodeChunkCipher: ChunkCipherFactory = async (keyBytes, baseNonce) => {
  // createSecretKey copies the bytes, so the caller may zero `keyBytes` once we return.
  const key = createSecretKey(Buffer.from(keyBytes));
  const nonceBase = baseNonce.slice();
  return {
    async seal(index, plaintext) {
      const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(nonceBase, index), { authTagLength: TAG_LENGTH });
      const out = new Uint8Array(plaintext.length + TAG_LENGTH);
      const body = cipher.update(plaintext);
      out.set(body, 0);
      const tail = cipher.final();
      out.set(tail, body.length);
      out.set(cipher.getAuthTag(), body.length + tail.length);
      return out;
    },
    async sealInto(index, plaintext, target) {
      const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(nonceBase, index), { authTagLength: TAG_LENGTH });
      const body = cipher.update(plaintext);
      target.set(body, 0);
      const tail = cipher.final();
      target.set(tail, body.length);
      target.set(cipher.getAuthTag(), body.length + tail.length);
    },
    async sealParts(index, plaintext) {
      // The pieces exactly as node:crypto returns them: no buffer to fill, no copy.
      const cipher = createCipheriv('aes-256-gcm', key, chunkNonce(nonceBase, index), { authTagLength: TAG_LENGTH });
      const body = cipher.update(plaintext);
      const tail = cipher.final();
      return tail.length === 0 ? [body, cipher.getAuthTag()] : [body, tail, cipher.getAuthTag()];
    },
    async open(index, sealed) {
      if (sealed.length < TAG_LENGTH) throw new Error('chunk shorter than its tag');
      const decipher = createDecipheriv('aes-256-gcm', key, chunkNonce(nonceBase, index), { authTagLength: TAG_LENGTH });
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
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
};
