// The chunk layer knows nothing of models: it reports every authentication failure as one opaque
// AuthenticationFailure, and the model layer (open-file.ts) codes it by the file's role.

import { describe, expect, it } from 'vitest';
import { decryptChunked, encryptChunked, importInputKey, ChunkedDecryptor } from '../../format/chunked.js';
import { AuthenticationFailure } from '../../format/chunk-decrypt.js';
import { isModelsealError } from '../../format/errors.js';
import { FileDecryptor, openFile } from '../../format/open-file.js';

const context = new TextEncoder().encode('chunk layer test');
const plain = new Uint8Array(3000).map((_, i) => i & 255);
const options = { chunkLength: 1024, label: 'shard 1 of 1 (s.sealed)' };

async function sealed(): Promise<{ key: CryptoKey; other: CryptoKey; bytes: Uint8Array }> {
  const key = await importInputKey(new Uint8Array(32).fill(7));
  const other = await importInputKey(new Uint8Array(32).fill(8));
  return { key, other, bytes: await encryptChunked(key, plain, context, { chunkLength: 1024 }) };
}

describe('the chunk layer', () => {
  it('throws the same opaque AuthenticationFailure for a wrong key and for a damaged chunk, never a model code', async () => {
    const { key, other, bytes } = await sealed();
    const commitment = await decryptChunked(other, bytes, context, options).catch((e: unknown) => e);
    expect(commitment).toBeInstanceOf(AuthenticationFailure);
    expect(isModelsealError(commitment)).toBe(false);
    expect(commitment).toMatchObject({ chunk: undefined, label: options.label });
    const damaged = bytes.slice();
    damaged[56 + 1040 + 5]! ^= 1;
    const chunk = await decryptChunked(key, damaged, context, options).catch((e: unknown) => e);
    expect(chunk).toBeInstanceOf(AuthenticationFailure);
    expect(isModelsealError(chunk)).toBe(false);
    expect(chunk).toMatchObject({ chunk: 1 });
    // The streaming decryptor reports the same failure.
    const stream = new ChunkedDecryptor(other, context, { ...options, plaintextLength: plain.length });
    const streamed = await stream.push(bytes).then(() => stream.finish()).catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(AuthenticationFailure);
  });
});

describe('the model layer codes it by role', () => {
  it('a commitment failure: wrong_key for the header and a file of unknown place, misplaced_shard for a shard', async () => {
    const { other, bytes } = await sealed();
    await expect(openFile(other, bytes, context, { ...options, role: 'header' })).rejects.toMatchObject({
      code: 'wrong_key', file: options.label, message: expect.stringMatching(/^shard 1 of 1 \(s\.sealed\): key commitment mismatch: the content key is not the one this model was sealed with/),
    });
    await expect(openFile(other, bytes, context, options)).rejects.toMatchObject({ code: 'wrong_key', message: expect.stringContaining('key commitment mismatch: the key is wrong') });
    const shard = new FileDecryptor(other, context, { ...options, plaintextLength: plain.length, role: 'shard' });
    const err = await shard.push(bytes).then(() => shard.finish()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'misplaced_shard', message: expect.stringContaining('key commitment mismatch: this file is not the shard sealed for this position') });
    // Every later call reports the same coded error.
    expect(await shard.finish().catch((e: unknown) => e)).toBe(err);
  });

  it('a chunk failure: tampered, naming the file and the chunk, whatever the role', async () => {
    const { key, bytes } = await sealed();
    const damaged = bytes.slice();
    damaged[56 + 2 * 1040 + 3]! ^= 1;
    for (const role of ['header', 'shard', 'file'] as const) {
      await expect(openFile(key, damaged, context, { ...options, role })).rejects.toMatchObject({
        code: 'tampered', file: options.label, chunk: 2, message: 'shard 1 of 1 (s.sealed): chunk 2 failed authentication: the file may be corrupted or tampered with',
      });
    }
  });
});
