// Which chunk cipher a load uses when the caller does not choose: node:crypto in Node (measured
// faster there than Node's WebCrypto, whose every call is a thread-pool job and a promise:
// docs/LOADER.md), WebCrypto everywhere else.

import type { ChunkCipherFactory } from '../format/chunked.js';
import { gcmChunkCipher, type NodeCryptoGcm } from '../format/gcm-cipher.js';
import { isNode } from './runtime.js';

// A variable, so that bundlers leave it alone and the browser build never sees node:crypto.
const CRYPTO_SPECIFIER = 'node:crypto';
let inNode: Promise<ChunkCipherFactory | undefined> | undefined;

/** The default cipher: node:crypto's in Node; undefined (WebCrypto) elsewhere or when node:crypto cannot be loaded. */
export function defaultCipher(): Promise<ChunkCipherFactory | undefined> {
  if (!isNode()) return Promise.resolve(undefined);
  inNode ??= import(/* @vite-ignore */ /* webpackIgnore: true */ CRYPTO_SPECIFIER).then(
    (crypto: NodeCryptoGcm) => gcmChunkCipher(crypto),
    () => undefined,
  );
  return inNode;
}
