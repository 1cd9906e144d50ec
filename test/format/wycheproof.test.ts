// Every Cobblestone-256 vector from Wycheproof, run through the same code modelseal uses with
// 256 KiB chunks, here at the C2SP chunk length of 16 KiB, with WebCrypto and with node:crypto.
// browser.test.ts runs them in Chromium.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../format/bytes.js';
import { nodeChunkCipher } from '../../node/index.js';
import { expectedCodes, runWycheproof, type WycheproofVector } from './wycheproof-cases.js';

const file = JSON.parse(readFileSync(new URL('../data/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json', import.meta.url), 'utf8'));
const vectors: WycheproofVector[] = file.testGroups.flatMap((g: { tests: WycheproofVector[] }) => g.tests);

describe('Wycheproof Cobblestone-256 vectors', () => {
  // WebCrypto throughout (the browser's path), and node:crypto's chunk cipher and key-schedule HMAC
  // (the CLI's and the Node loader's path).
  for (const [via, cipher] of [['WebCrypto', undefined], ['node:crypto', nodeChunkCipher]] as const) {
    for (const v of vectors) {
      it(`tc${v.tcId} ${v.comment} → ${v.result} (${via})`, async () => {
        const ct = new Uint8Array(inflateSync(fromHex(v.ct)));
        const outcome = await runWycheproof(v, ct, cipher);
        if (v.result === 'valid') {
          expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
          if (!outcome.ok) return;
          expect(outcome.length).toBe(v.msgLength);
          expect(outcome.sha512).toBe(v.msgSha512);
          if (v.aeadKey) {
            expect(outcome.aeadKey).toBe(v.aeadKey);
            expect(outcome.baseNonce).toBe(v.baseNonce);
          }
          // Re-encrypting with the vector's salt gives the vector's bytes exactly.
          expect(outcome.reencrypted).toBe(true);
        } else {
          expect(outcome.ok).toBe(false);
          if (outcome.ok) return;
          expect(expectedCodes(v), outcome.message).toContain(outcome.code);
        }
      });
    }
  }
});
