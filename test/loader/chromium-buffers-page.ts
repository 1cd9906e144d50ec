// Page for chromium-buffers.test.ts: the loader's shard body read and its decrypt calls, run on
// real fetch bodies and WebCrypto, then every chunk buffer given back and the pool drained.
import { webCryptoChunkCipher } from '../../format/chunked.js';
import { BufferPool } from '../../loader/buffer-pool.js';
import { Deadline } from '../../loader/files.js';
import { readBody } from '../../loader/shard-body.js';
import { sharedCipher } from '../../loader/shared-cipher.js';

const api = {
  /** Holds a buffer of `bytes` (to find this page's renderer in a dump), or drops it (0). */
  mark(bytes: number): void {
    (globalThis as { marker?: ArrayBuffer }).marker = bytes > 0 ? new Uint8Array(bytes).fill(1).buffer : undefined;
  },

  /** Reads a sealed-sized body as shards are read (the browser default: BYOB), keeps every chunk, then gives them all back and drains the pool. */
  async readAll(url: string, sealedSize: number, chunkLength: number): Promise<number> {
    const signal = new AbortController().signal;
    const pool = new BufferPool(chunkLength + 16, 4);
    const held: Uint8Array[] = [];
    await readBody(await fetch(url), {
      url, signal, deadline: new Deadline(30_000, url, signal), sealedSize, chunkLength, pool, onBytes: () => undefined,
      push: async (bytes) => void held.push(bytes),
    });
    for (const bytes of held) pool.give(bytes);
    pool.drain();
    return held.length;
  },

  /** Decrypts `count` chunk buffers through the load's shared cipher (they fail authentication: random bytes), then drains the pool. */
  async decryptAll(count: number, chunkLength: number, stage: boolean): Promise<number> {
    const pool = new BufferPool(chunkLength + 16, 2);
    const cipher = await sharedCipher(4, webCryptoChunkCipher, pool, true, stage).forFile(crypto.getRandomValues(new Uint8Array(32)), new Uint8Array(12));
    // Filled by JS: a buffer handed to crypto.getRandomValues would be Blink's too.
    const chunks = Array.from({ length: count }, (_, i) => new Uint8Array(pool.take(chunkLength + 16)).fill(i + 1));
    const results = await Promise.allSettled(chunks.map((chunk, i) => cipher.open(i, chunk)));
    pool.drain();
    return results.filter((r) => r.status === 'rejected').length;
  },
};

(globalThis as unknown as { chromiumBuffers: typeof api }).chromiumBuffers = api;
