// The chunk cipher of one load: every shard's decrypt calls share one bound, hand their input
// buffers back to the pool, and are timed when tracing is on.

import { webCryptoChunkCipher, type ChunkCipherFactory, type ChunkSha256 } from '../format/chunked.js';
import { Limiter } from '../format/limiter.js';
import type { BufferPool } from './buffer-pool.js';
import { trace, traceEnd, traceStart } from './trace.js';

/** A cipher whose decrypt calls, across every shard of a load, share one bound. */
export function sharedCipher(limit: number, factory: ChunkCipherFactory = webCryptoChunkCipher, pool: BufferPool, recycle: boolean): ChunkCipherFactory {
  const limiter = new Limiter(limit);
  return {
    async forFile(keyBytes, baseNonce) {
      const inner = await factory.forFile(keyBytes, baseNonce);
      return {
        seal: (i, p) => inner.seal(i, p),
        open: (i, s) => limiter.run(() => {
          const started = traceStart();
          const result = inner.open(i, s);
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
