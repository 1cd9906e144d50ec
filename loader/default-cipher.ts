// Which chunk cipher a load uses when the caller does not choose: in Node, node:crypto with the
// chunk work on a worker thread beside the main thread (loader/worker-cipher.ts), or on the main
// thread where no worker can start; WebCrypto everywhere else.

import type { ChunkCipherFactory } from '../format/chunked.js';
import { gcmChunkCipher, type NodeCryptoGcm } from '../format/gcm-cipher.js';
import { isNode } from './runtime.js';
import { workerChunkCipher, type WorkerThreads } from './worker-cipher.js';

// Variables, so that bundlers leave them alone and the browser build never sees node:*.
const CRYPTO_SPECIFIER = 'node:crypto';
const THREADS_SPECIFIER = 'node:worker_threads';
let inNode: Promise<ChunkCipherFactory | undefined> | undefined;

/** The default cipher: node:crypto's in Node; undefined (WebCrypto) elsewhere or when node:crypto cannot be loaded. */
export function defaultCipher(): Promise<ChunkCipherFactory | undefined> {
  if (!isNode()) return Promise.resolve(undefined);
  inNode ??= import(/* @vite-ignore */ /* webpackIgnore: true */ CRYPTO_SPECIFIER).then(
    async (crypto: NodeCryptoGcm) => {
      try {
        const threads = (await import(/* @vite-ignore */ /* webpackIgnore: true */ THREADS_SPECIFIER)) as WorkerThreads;
        return workerChunkCipher(crypto, threads);
      } catch {
        return gcmChunkCipher(crypto);
      }
    },
    () => undefined,
  );
  return inNode;
}
