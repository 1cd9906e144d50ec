// The chunk cipher of one load: every shard's decrypt calls share one bound, hand their input
// buffers back to the pool (in browsers, through one staging buffer), and are timed when tracing
// is on.

import { webCryptoChunkCipher, type ChunkCipherFactory, type ChunkSha256 } from '../format/chunked.js';
import { Limiter } from '../format/limiter.js';
import type { BufferPool } from './buffer-pool.js';
import { trace, traceEnd, traceStart } from './trace.js';

/**
 * A cipher whose decrypt calls, across every shard of a load, share one bound. `recycle`: the
 * cipher has read a chunk's bytes when its call returns, so the chunk's buffer goes back to the
 * pool then. `stage` (with `recycle`; browsers): every chunk is copied into one staging buffer
 * and decrypted from there, because in Chromium a buffer handed to WebCrypto gets a second owner
 * (Blink's wrapper of it) until the next full collection, and the pool could no longer free it
 * (see LANDING_BYTES in shard-body.ts). One buffer serves every call: each has copied it when it
 * returns.
 */
export function sharedCipher(limit: number, factory: ChunkCipherFactory = webCryptoChunkCipher, pool: BufferPool, recycle: boolean, stage = false): ChunkCipherFactory {
  const limiter = new Limiter(limit);
  let staging: Uint8Array | undefined;
  const input = (s: Uint8Array): Uint8Array => {
    if (!stage || !recycle) return s;
    if (!staging || staging.byteLength < s.byteLength) staging = new Uint8Array(Math.max(pool.size, s.byteLength));
    staging.set(s);
    return staging.subarray(0, s.byteLength);
  };
  return {
    async forFile(keyBytes, baseNonce) {
      const inner = await factory.forFile(keyBytes, baseNonce);
      return {
        seal: (i, p) => inner.seal(i, p),
        open: (i, s) => limiter.run(() => {
          const started = traceStart();
          const result = inner.open(i, input(s));
          if (recycle) pool.give(s);
          if (trace.sink) void result.then(() => traceEnd('decrypt', started), () => undefined);
          return result;
        }),
      };
    },
    hmacSha512: factory.hmacSha512,
    sha256: trace.sink ? tracedSha256(factory.sha256) : factory.sha256,
  };
}

/** The chunk digest, timed: tracing only. */
function tracedSha256(inner: ChunkSha256): ChunkSha256 {
  return (data) => {
    const started = traceStart();
    const result = inner(data);
    if (result instanceof Uint8Array) traceEnd('digest', started);
    else void result.then(() => traceEnd('digest', started), () => undefined);
    return result;
  };
}
