// Which chunk cipher a load uses when the caller does not choose: node:crypto in Node (measured
// faster there than Node's WebCrypto, whose every call is a thread-pool job and a promise:
// docs/LOADER.md); in a browser page, WebCrypto in the page's crypto worker (loader/crypto-worker.ts),
// since a page's WebCrypto runs on its main thread; WebCrypto on the calling thread everywhere else.

import type { ChunkCipherFactory } from '../format/chunked.js';
import { gcmChunkCipher, type NodeCryptoGcm } from '../format/gcm-cipher.js';
import { canUseCryptoWorker, workerChunkCipher } from './crypto-worker.js';
import { isNode } from './runtime.js';

// A variable, so that bundlers leave it alone and the browser build never sees node:crypto.
const CRYPTO_SPECIFIER = 'node:crypto';
let inNode: Promise<ChunkCipherFactory | undefined> | undefined;
let inPage: ChunkCipherFactory | undefined;

/**
 * The default cipher: node:crypto's in Node; the crypto worker's in a browser page (unless
 * `decryptWorker` is false); undefined (WebCrypto here) elsewhere or when node:crypto cannot be loaded.
 */
export function defaultCipher(options: { decryptWorker?: boolean } = {}): Promise<ChunkCipherFactory | undefined> {
  if (!isNode()) {
    if (options.decryptWorker === false || !canUseCryptoWorker()) return Promise.resolve(undefined);
    inPage ??= workerChunkCipher();
    return Promise.resolve(inPage);
  }
  inNode ??= import(/* @vite-ignore */ /* webpackIgnore: true */ CRYPTO_SPECIFIER).then(
    (crypto: NodeCryptoGcm) => gcmChunkCipher(crypto),
    () => undefined,
  );
  return inNode;
}
