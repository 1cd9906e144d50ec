// The Wycheproof Cobblestone-256 vectors as one browser-safe procedure, shared by the Node test
// (wycheproof.test.ts) and the Chromium test (browser.test.ts), so both check the same thing.
import { C2SP_CHUNK_LENGTH, importInputKey, isModelsealError, joinChunks, type ChunkCipherFactory } from '../../format/index.js';
import { fromHex, toHex } from '../../format/bytes.js';
import { deriveFileKeys, encryptChunked } from '../../format/chunked.js';
import { openFile } from '../../format/open-file.js';

/** One Wycheproof ChunkedEncryption test (`ct` still zlib-compressed hex, as in the file). */
export interface WycheproofVector {
  tcId: number;
  comment: string;
  key: string;
  ctx: string;
  ct: string;
  aeadKey?: string;
  baseNonce?: string;
  msgLength?: number;
  msgSha512?: string;
  result: 'valid' | 'invalid';
  flags: string[];
}

/** What running one vector gave. */
export type WycheproofOutcome =
  | { ok: true; length: number; sha512: string; aeadKey?: string; baseNonce?: string; reencrypted: boolean }
  | { ok: false; code: string | undefined; message: string };

/** The error codes modelseal may give for an invalid vector, by its flags. */
export function expectedCodes(v: WycheproofVector): string[] {
  if (v.flags.includes('InvalidKeySize')) return ['invalid_key'];
  if (v.flags.includes('WrongKey') || v.flags.includes('WrongContext') || (v.flags.includes('HeaderFailure') && v.flags.includes('ModifiedCiphertext'))) return ['wrong_key'];
  if (v.flags.includes('Truncation')) return ['truncated', 'tampered'];
  return ['tampered', 'truncated'];
}

/**
 * Decrypts `ct` (already inflated) at the C2SP chunk length, and re-encrypts a valid result with the
 * vector's salt: through WebCrypto, or through `cipher` (its chunk cipher and key-schedule HMAC) when given.
 */
export async function runWycheproof(v: WycheproofVector, ct: Uint8Array, cipher?: ChunkCipherFactory): Promise<WycheproofOutcome> {
  try {
    const ctx = fromHex(v.ctx);
    const key = await importInputKey(fromHex(v.key));
    let aeadKey: string | undefined;
    let baseNonce: string | undefined;
    if (v.aeadKey && ct.length >= 24) {
      const keys = await deriveFileKeys(key, ct.subarray(0, 24), ctx, cipher?.hmacSha512);
      aeadKey = toHex(keys.keyBytes);
      baseNonce = toHex(keys.baseNonce);
    }
    const pt = joinChunks(await openFile(key, ct, ctx, { chunkLength: C2SP_CHUNK_LENGTH, cipher }));
    const sha512 = toHex(new Uint8Array(await crypto.subtle.digest('SHA-512', pt as BufferSource)));
    const again = await encryptChunked(key, pt, ctx, { chunkLength: C2SP_CHUNK_LENGTH, salt: ct.subarray(0, 24), cipher });
    return { ok: true, length: pt.length, sha512, aeadKey, baseNonce, reencrypted: toHex(again) === toHex(ct) };
  } catch (err) {
    return { ok: false, code: isModelsealError(err) ? err.code : undefined, message: String((err as Error)?.message ?? err) };
  }
}
