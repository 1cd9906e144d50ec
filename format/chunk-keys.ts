// The key schedule of C2SP chunked encryption: HKDF-Expand-SHA-512 from the input key, the salt
// and the context to one file's AES key, base nonce and key commitment; and the chunk nonces.

import { concatBytes, utf8 } from './bytes.js';
import { ModelsealError } from './errors.js';
import { SALT_LENGTH } from './chunk-lengths.js';
import { subtle } from './webcrypto.js';

/** The input (content) key length. */
export const INPUT_KEY_LENGTH = 32;
const NONCE_LENGTH = 12;
const KDF_LABEL = utf8('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM');

/** Imports a 32-byte input key as a non-extractable HMAC-SHA-512 key (the HKDF-Expand PRK). */
export async function importInputKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== INPUT_KEY_LENGTH) {
    throw new ModelsealError('invalid_key', `a content key is ${INPUT_KEY_LENGTH} bytes, got ${raw.length}`);
  }
  return subtle().importKey('raw', raw as BufferSource, { name: 'HMAC', hash: 'SHA-512', length: 256 }, false, ['sign']);
}

/** The per-file values the key schedule derives. `keyBytes` is secret: zero it after use. */
export interface FileKeys {
  keyBytes: Uint8Array;
  baseNonce: Uint8Array;
  commitment: Uint8Array;
}

/** HMAC-SHA-512 under an input key: WebCrypto's promise, or a platform's synchronous one (node:crypto). */
export type HmacSha512 = (inputKey: CryptoKey, data: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** WebCrypto's HMAC-SHA-512 (a thread-pool job per call in Node). */
export const webCryptoHmacSha512: HmacSha512 = async (inputKey, data) => new Uint8Array(await subtle().sign('HMAC', inputKey, data as BufferSource));

/** HKDF-Expand(prk = input key, info = label ‖ 0x00 ‖ salt ‖ context, L = 76), computed with `hmac`. */
export async function deriveFileKeys(inputKey: CryptoKey, salt: Uint8Array, context: Uint8Array, hmac: HmacSha512 = webCryptoHmacSha512): Promise<FileKeys> {
  if (salt.length !== SALT_LENGTH) throw new TypeError(`salt must be ${SALT_LENGTH} bytes`);
  const info = concatBytes(KDF_LABEL, new Uint8Array([0]), salt, context);
  const t1 = await hmac(inputKey, concatBytes(info, new Uint8Array([1])));
  const t2 = await hmac(inputKey, concatBytes(t1, info, new Uint8Array([2])));
  const okm = concatBytes(t1, t2.subarray(0, 12));
  t1.fill(0);
  t2.fill(0);
  const keys = { keyBytes: okm.slice(0, 32), baseNonce: okm.slice(32, 44), commitment: okm.slice(44, 76) };
  okm.fill(0);
  return keys;
}

/** Nonce of chunk `index`: base nonce XOR index, big-endian over the nonce's 12 bytes. */
export function chunkNonce(baseNonce: Uint8Array, index: number): Uint8Array {
  const nonce = baseNonce.slice();
  let rest = index;
  for (let i = NONCE_LENGTH - 1; i >= 0 && rest > 0; i--) {
    nonce[i]! ^= rest % 256;
    rest = Math.floor(rest / 256);
  }
  return nonce;
}
