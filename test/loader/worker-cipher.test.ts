// The worker-thread chunk cipher (loader/worker-cipher.ts), Node's default: the same results as the
// main-thread node:crypto cipher on every format vector, no key bytes in any message to the worker,
// its input buffers back to the load's pool, and a worker that dies fails its chunks with a coded
// error (never a hang). Real worker threads throughout; a failing worker is a real worker that dies.

import * as crypto from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as threads from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { decryptChunked, encryptChunked, importInputKey } from '../../format/chunked.js';
import { headerContext } from '../../format/context.js';
import { gcmChunkCipher, type NodeCryptoGcm } from '../../format/gcm-cipher.js';
import { BufferPool } from '../../loader/buffer-pool.js';
import { sharedCipher } from '../../loader/shared-cipher.js';
import { workerChunkCipher, type WorkerThreads } from '../../loader/worker-cipher.js';
import { runVector, type ModelsealVector } from '../format/vector-runner.js';

const nodeCrypto = crypto as unknown as NodeCryptoGcm;
const context = headerContext({ modelId: 'm', keyId: 'k1', chunkLength: 1024, shardLength: 4096 });
const keyBytes = new Uint8Array(32).map((_, i) => i * 5 + 3);

function payload(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + (i >> 7)) & 255;
  return out;
}

/**
 * Real worker_threads whose workers run `source` instead of the cipher's code (when given), record
 * what is posted to them, and tell when one is online: until then the cipher decrypts on the
 * calling thread, so a test of the worker waits for it.
 */
function threadsRunning(source?: (original: string) => string): { threads: WorkerThreads; posted: Array<Record<string, unknown>>; online: () => Promise<void> } {
  const posted: Array<Record<string, unknown>> = [];
  let online: Promise<void> = Promise.reject(new Error('no worker started'));
  online.catch(() => undefined);
  class Recorded extends threads.Worker {
    constructor(code: string, options: threads.WorkerOptions) {
      super(source ? source(code) : code, options);
      online = new Promise((resolve) => this.once('online', () => resolve()));
    }
    override postMessage(message: unknown, transfer?: readonly threads.TransferListItem[]): void {
      // Byte fields as hex, read before the transfer detaches them.
      const record: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(message as Record<string, unknown>)) {
        record[name] = value instanceof ArrayBuffer ? Buffer.from(value).toString('hex') : ArrayBuffer.isView(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') : value;
      }
      posted.push(record);
      super.postMessage(message, transfer);
    }
  }
  // The 'online' listener runs before the cipher's own; wait one more turn so both have.
  return { threads: { Worker: Recorded } as unknown as WorkerThreads, posted, online: async () => { await online; await new Promise((r) => setImmediate(r)); } };
}

describe('workerChunkCipher', () => {
  const vectors: ModelsealVector[] = readdirSync(new URL('../vectors/', import.meta.url)).filter((n) => n.endsWith('.json')).sort()
    .map((n) => JSON.parse(readFileSync(new URL(`../vectors/${n}`, import.meta.url), 'utf8')) as ModelsealVector);

  it("reaches the main-thread cipher's conclusion on every format vector", async () => {
    const { threads: t, posted, online } = threadsRunning();
    const worker = workerChunkCipher(nodeCrypto, t);
    const main = gcmChunkCipher(nodeCrypto);
    await online();
    expect(vectors.length).toBeGreaterThan(10);
    for (const v of vectors) {
      const viaWorker = await runVector(v, { cipher: worker });
      expect(viaWorker, v.vector).toEqual(await runVector(v, { cipher: main }));
      if (v.expect === 'success') expect(viaWorker, v.vector).toMatchObject({ ok: true, weights: v.weights });
      else expect(viaWorker, v.vector).toMatchObject({ ok: false, code: v.expect });
    }
    expect(posted.length).toBeGreaterThan(10);
  });

  it('decrypts chunked files of every shape to the plaintext, on the worker and beside it', async () => {
    const inputKey = await importInputKey(keyBytes);
    const { threads: t, posted, online } = threadsRunning();
    const worker = workerChunkCipher(nodeCrypto, t);
    await online();
    for (const size of [0, 1, 1023, 1024, 1025, 40 * 1024 + 7]) {
      const plain = payload(size);
      const sealed = await encryptChunked(inputKey, plain, context, { chunkLength: 1024 });
      for (const concurrency of [1, 8]) {
        const parts = await decryptChunked(inputKey, sealed, context, { chunkLength: 1024, cipher: worker, concurrency, checkDigest: () => undefined });
        expect(Buffer.concat(parts.map((p) => Buffer.from(p))).equals(Buffer.from(plain)), `${size} bytes`).toBe(true);
        for (const part of parts) expect(part).toBeInstanceOf(ArrayBuffer);
      }
    }
    // Some chunks went to the worker (the rest were decrypted on this thread while it was busy).
    expect(posted.length).toBeGreaterThan(0);
  });

  it('posts no key bytes to the worker: a KeyObject per chunk (as the main-thread cipher uses), the input key stays non-extractable', async () => {
    const inputKey = await importInputKey(keyBytes);
    expect(inputKey.extractable).toBe(false);
    const { threads: t, posted, online } = threadsRunning();
    const worker = workerChunkCipher(nodeCrypto, t);
    await online();
    const sealed = await encryptChunked(inputKey, payload(20 * 1024), context, { chunkLength: 1024 });
    // The file key the worker decrypts with, to look for in the messages.
    const { deriveFileKeys } = await import('../../format/chunked.js');
    const fileKey = (await deriveFileKeys(inputKey, sealed.subarray(0, 24), context)).keyBytes;
    await decryptChunked(inputKey, sealed, context, { chunkLength: 1024, cipher: worker, concurrency: 1 });
    expect(posted.length).toBeGreaterThan(0);
    const hex = Buffer.from(fileKey).toString('hex');
    for (const message of posted) {
      expect(message.key).toBeInstanceOf(crypto.KeyObject);
      for (const value of Object.values(message)) if (typeof value === 'string') expect(value).not.toContain(hex);
      expect(typeof message.sealed).toBe('string'); // the ciphertext was looked at
    }
    expect(inputKey.extractable).toBe(false);
  });

  it("gives the chunk buffers it moved to the worker back to the load's pool", async () => {
    const inputKey = await importInputKey(keyBytes);
    const sealed = await encryptChunked(inputKey, payload(3 * 1024), context, { chunkLength: 1024 });
    const pool = new BufferPool(1024 + 16, 8);
    const { threads: t, online } = threadsRunning();
    const factory = sharedCipher(4, workerChunkCipher(nodeCrypto, t), pool, true);
    await online();
    const { deriveFileKeys } = await import('../../format/chunked.js');
    const keys = await deriveFileKeys(inputKey, sealed.subarray(0, 24), context);
    const cipher = await factory.forFile(keys.keyBytes, keys.baseNonce);
    const chunk = pool.take(1024 + 16);
    new Uint8Array(chunk).set(sealed.subarray(56, 56 + 1040));
    const plain = await cipher.open(0, new Uint8Array(chunk));
    expect(Buffer.from(plain).equals(Buffer.from(payload(1024)))).toBe(true);
    // Moved to the worker (detached here) and back into the pool, where the next take finds it.
    expect(chunk.byteLength).toBe(0);
    await new Promise((r) => setImmediate(r));
    const again = pool.take(1024 + 16);
    expect(again.byteLength).toBe(1040);
    expect(Buffer.from(new Uint8Array(again)).equals(Buffer.from(sealed.subarray(56, 56 + 1040)))).toBe(true);
  });

  it('fails waiting chunks with crypto_worker_failed when the worker exits, and starts a new one after', async () => {
    const inputKey = await importInputKey(keyBytes);
    const sealed = await encryptChunked(inputKey, payload(8 * 1024), context, { chunkLength: 1024 });
    let started = 0;
    // The first worker exits on its first job; the ones after it are the real cipher's.
    const dying = threadsRunning((code) => (started++ === 0 ? `require('node:worker_threads').parentPort.on('message', () => process.exit(7));` : code));
    const worker = workerChunkCipher(nodeCrypto, dying.threads);
    await dying.online();
    const failed = decryptChunked(inputKey, sealed, context, { chunkLength: 1024, cipher: worker, concurrency: 1 });
    await expect(failed).rejects.toMatchObject({ code: 'crypto_worker_failed', message: expect.stringContaining('exit code 7') });
    // The next file starts a new worker, which decrypts once it is online.
    const next = await worker.forFile(new Uint8Array(32), new Uint8Array(12));
    expect(started).toBe(2);
    await dying.online();
    void next;
    const parts = await decryptChunked(inputKey, sealed, context, { chunkLength: 1024, cipher: worker, concurrency: 1 });
    expect(Buffer.concat(parts.map((p) => Buffer.from(p))).equals(Buffer.from(payload(8 * 1024)))).toBe(true);
    expect(dying.posted.length).toBeGreaterThan(8);
  });

  it('fails waiting chunks with crypto_worker_failed when the worker throws', async () => {
    const inputKey = await importInputKey(keyBytes);
    const sealed = await encryptChunked(inputKey, payload(4 * 1024), context, { chunkLength: 1024 });
    const throwing = threadsRunning(() => `require('node:worker_threads').parentPort.on('message', () => { throw new Error('worker broke'); });`);
    const worker = workerChunkCipher(nodeCrypto, throwing.threads);
    await throwing.online();
    await expect(decryptChunked(inputKey, sealed, context, { chunkLength: 1024, cipher: worker, concurrency: 1 })).rejects.toMatchObject({
      code: 'crypto_worker_failed',
      message: expect.stringContaining('worker broke'),
    });
  });

  it('does not keep the process alive once idle (the worker is unref\'d)', async () => {
    const { execFileSync } = await import('node:child_process');
    // A child process that loads a chunk through a worker cipher and then simply ends its script:
    // it must exit by itself (with a ref'd worker it would hang until the test's timeout).
    const script = `
      import * as crypto from 'node:crypto';
      import * as threads from 'node:worker_threads';
      import { workerChunkCipher } from './loader/worker-cipher.ts';
      import { decryptChunked, encryptChunked, importInputKey } from './format/chunked.ts';
      const key = await importInputKey(new Uint8Array(32));
      const ctx = new Uint8Array(8);
      const sealed = await encryptChunked(key, new Uint8Array(5000), ctx, { chunkLength: 1024 });
      const parts = await decryptChunked(key, sealed, ctx, { chunkLength: 1024, cipher: workerChunkCipher(crypto, threads), concurrency: 1 });
      console.log(parts.reduce((n, p) => n + p.byteLength, 0));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: new URL('../../', import.meta.url), timeout: 20_000, encoding: 'utf8' });
    expect(out.trim()).toBe('5000');
  });
});
