// Every Cobblestone-256 vector from Wycheproof, run through the same code modelseal uses with
// 256 KiB chunks, here at the C2SP chunk length of 16 KiB.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { C2SP_CHUNK_LENGTH, decryptChunked, deriveFileKeys, encryptChunked, importInputKey, joinChunks } from '../../format/chunked.js';
import { fromHex, toHex } from '../../format/bytes.js';
import { isModelsealError } from '../../format/errors.js';
import { createHash } from 'node:crypto';

interface Vector {
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

const file = JSON.parse(readFileSync(new URL('../data/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json', import.meta.url), 'utf8'));
const vectors: Vector[] = file.testGroups.flatMap((g: { tests: Vector[] }) => g.tests);

describe('Wycheproof Cobblestone-256 vectors', () => {
  it('has all 35 vectors', () => expect(vectors).toHaveLength(35));

  for (const v of vectors) {
    it(`tc${v.tcId} ${v.comment} → ${v.result}`, async () => {
      const ct = new Uint8Array(inflateSync(fromHex(v.ct)));
      const ctx = fromHex(v.ctx);
      const run = async () => {
        const key = await importInputKey(fromHex(v.key));
        if (v.aeadKey && ct.length >= 24) {
          const keys = await deriveFileKeys(key, ct.subarray(0, 24), ctx);
          expect(toHex(keys.keyBytes)).toBe(v.aeadKey);
          expect(toHex(keys.baseNonce)).toBe(v.baseNonce);
        }
        return joinChunks(await decryptChunked(key, ct, ctx, { chunkLength: C2SP_CHUNK_LENGTH }));
      };
      if (v.result === 'valid') {
        const pt = await run();
        expect(pt.length).toBe(v.msgLength);
        expect(createHash('sha512').update(pt).digest('hex')).toBe(v.msgSha512);
        // Re-encrypting with the vector's salt gives the vector's bytes exactly.
        const again = await encryptChunked(await importInputKey(fromHex(v.key)), pt, ctx, { chunkLength: C2SP_CHUNK_LENGTH, salt: ct.subarray(0, 24) });
        expect(toHex(again)).toBe(toHex(ct));
      } else {
        const err = await run().then(() => undefined, (e: unknown) => e);
        expect(isModelsealError(err), String(err)).toBe(true);
        const expected = v.flags.includes('InvalidKeySize') ? ['invalid_key']
          : v.flags.includes('WrongKey') || v.flags.includes('WrongContext') || (v.flags.includes('HeaderFailure') && v.flags.includes('ModifiedCiphertext')) ? ['wrong_key']
          : v.flags.includes('Truncation') ? ['truncated', 'tampered']
          : ['tampered', 'truncated'];
        expect(expected).toContain((err as { code: string }).code);
      }
    });
  }
});
