// The node:crypto ChunkCipher must produce exactly the WebCrypto path's bytes and read them back.

import { describe, expect, it, vi } from 'vitest';
import { decryptChunked, deriveFileKeys, encryptChunked, encryptChunkedParts, importInputKey, webCryptoChunkCipher } from '../../format/chunked.js';
import { inlineHeader, openHeader, openShard } from '../../format/open.js';
import { openFile } from '../../format/open-file.js';
import { sealModel } from '../../format/seal.js';
import { headerContext } from '../../format/context.js';
import { nodeChunkCipher } from '../../node/index.js';

const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
const salt = new Uint8Array(24).map((_, i) => 200 - i);
const context = headerContext({ modelId: 'm', keyId: 'k1', chunkLength: 1024, shardLength: 4096 });

function payload(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + (i >> 8)) & 255;
  return out;
}

describe('nodeChunkCipher', () => {
  it("hashes chunks for their digests exactly like WebCrypto's SHA-256", async () => {
    for (const size of [0, 1, 1000, 256 * 1024]) {
      const data = payload(size);
      const expected = new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
      expect(Buffer.from(nodeChunkCipher.sha256!(data) as Uint8Array).equals(Buffer.from(expected))).toBe(true);
    }
  });

  for (const chunkLength of [1024, 16384]) {
    for (const size of [0, 1, chunkLength - 1, chunkLength, chunkLength + 1, 3 * chunkLength + 5]) {
      it(`gives WebCrypto's bytes and decrypts both ways (chunk ${chunkLength}, ${size} bytes)`, async () => {
        const inputKey = await importInputKey(key);
        const plain = payload(size);
        const web = await encryptChunked(inputKey, plain, context, { chunkLength, salt, cipher: webCryptoChunkCipher });
        const node = await encryptChunked(inputKey, plain, context, { chunkLength, salt, cipher: nodeChunkCipher });
        expect(Buffer.from(node).equals(Buffer.from(web))).toBe(true);
        // The piecewise path (the CLI's seal, one call at a time) joins to the same bytes, with
        // either cipher and either concurrency.
        for (const cipher of [nodeChunkCipher, webCryptoChunkCipher]) {
          for (const concurrency of [4, 1]) {
            const parts = await encryptChunkedParts(inputKey, plain, context, { chunkLength, salt, cipher, concurrency });
            expect(Buffer.concat(parts).equals(Buffer.from(web))).toBe(true);
          }
        }
        const viaNode = await decryptChunked(inputKey, web, context, { chunkLength, cipher: nodeChunkCipher });
        const viaWeb = await decryptChunked(inputKey, node, context, { chunkLength, cipher: webCryptoChunkCipher });
        const join = (parts: ArrayBuffer[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
        expect(join(viaNode).equals(Buffer.from(plain))).toBe(true);
        expect(join(viaWeb).equals(Buffer.from(plain))).toBe(true);
        for (const part of viaNode) expect(part).toBeInstanceOf(ArrayBuffer);
      });
    }
  }

  it('rejects a flipped ciphertext byte with `tampered`, naming the chunk', async () => {
    const inputKey = await importInputKey(key);
    const sealed = await encryptChunked(inputKey, payload(3000), context, { chunkLength: 1024, salt, cipher: nodeChunkCipher });
    sealed[56 + 1040 + 3]! ^= 1;
    await expect(openFile(inputKey, sealed, context, { chunkLength: 1024, cipher: nodeChunkCipher, label: 'shard 1' })).rejects.toMatchObject({
      code: 'tampered',
      message: expect.stringContaining('shard 1: chunk 1 failed authentication'),
    });
  });

  it('returns a fresh, whole ArrayBuffer per chunk (tfjs reads a buffer whole)', async () => {
    const inputKey = await importInputKey(key);
    const plain = payload(100);
    const sealed = await encryptChunked(inputKey, plain, context, { chunkLength: 1024, cipher: nodeChunkCipher });
    const [only] = await decryptChunked(inputKey, sealed, context, { chunkLength: 1024, cipher: nodeChunkCipher });
    expect(only!.byteLength).toBe(100);
  });

  it("derives each file's keys with node:crypto's HMAC: WebCrypto signs nothing, and the keys are WebCrypto's", async () => {
    const inputKey = await importInputKey(key);
    const web = await deriveFileKeys(inputKey, salt, context);
    const sign = vi.spyOn(globalThis.crypto.subtle, 'sign');
    try {
      const node = await deriveFileKeys(inputKey, salt, context, nodeChunkCipher.hmacSha512);
      expect(Buffer.from(node.keyBytes).equals(Buffer.from(web.keyBytes))).toBe(true);
      expect(Buffer.from(node.baseNonce).equals(Buffer.from(web.baseNonce))).toBe(true);
      expect(Buffer.from(node.commitment).equals(Buffer.from(web.commitment))).toBe(true);
      // A whole model sealed and opened through node:crypto: no WebCrypto HMAC call on the way.
      const weightFiles = [payload(5000), payload(9000)];
      const modelJson = { format: 'graph-model', modelTopology: {}, weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights: [{ name: 'w', shape: [3500], dtype: 'float32' }] }] };
      const sealed = await sealModel({ modelJson, weightFiles }, { modelId: 'm', keyId: 'k1', contentKey: key, chunkLength: 1024, shardLength: 4096, cipher: nodeChunkCipher });
      const files = new Map(sealed.files.map((f) => [f.path, f.bytes]));
      const opened = await openHeader(sealed.manifest, inlineHeader(sealed.manifest) ?? files.get('header.sealed')!, inputKey, { cipher: nodeChunkCipher });
      const shards = await Promise.all(opened.shards.map((plan) => openShard(sealed.manifest, opened, plan.index, files.get(plan.path)!, inputKey, { cipher: nodeChunkCipher })));
      expect(Buffer.concat(shards.flat().map((s) => Buffer.from(s))).equals(Buffer.concat(weightFiles))).toBe(true);
      expect(opened.shards).toHaveLength(4);
      expect(sign).not.toHaveBeenCalled();
      // The control: the same key schedule through WebCrypto is two HMAC calls.
      await deriveFileKeys(inputKey, salt, context);
      expect(sign).toHaveBeenCalledTimes(2);
    } finally {
      sign.mockRestore();
    }
  });
});
