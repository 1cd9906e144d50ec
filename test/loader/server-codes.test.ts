// The loader's hint table covers exactly the key server's wire codes, and every code maps to the
// documented loader code with serverCode, status and Retry-After as fields and its own hint.
// The answers are the key server's own WireError bodies, handed to the loader through its `fetch`
// option: several codes (malformed_request, payload_too_large, unsupported_media_type,
// internal_error…) cannot be provoked from a correct loader against a correct server. The codes a
// real server can produce for a loader are covered end to end in failures.test.ts.

import { describe, expect, it } from 'vitest';
import { WIRE_ERRORS, WireError, type WireCode } from '../../keyserver/errors.js';
import { releaseContentKey } from '../../loader/release.js';
import { SERVER_CODE_HINTS } from '../../loader/server-codes.js';
import type { ErrorCode, ModelsealError } from '../../loader/index.js';
import { caughtModelsealError } from '../helpers/expect-code.js';
import type { SealedManifest } from '../../format/manifest.js';

const manifest = { modelId: 'face', keyId: 'k1', sealing: 'q7aGJUSj8ivyZH4DLydOb1jdPYrEI-UUL0vwhDS0RHw' } as SealedManifest;

/** The loader code docs/ERRORS.md and docs/PROTOCOL.md promise for each wire code. */
function expectedCode(code: WireCode, status: number): ErrorCode {
  if (status === 429) return 'rate_limited';
  if (code === 'not_published') return 'not_published';
  if (status === 401 || status === 403 || (status === 404 && code !== 'not_found')) return 'key_denied';
  return 'key_server_error';
}

async function refusedWith(answer: () => Response): Promise<ModelsealError> {
  return caughtModelsealError(releaseContentKey({ manifest, keyServer: 'http://keys.invalid', token: 't.t.t', fetch: async () => answer(), signal: undefined, timeoutMs: 5000 }));
}

describe('key-server codes in the loader', () => {
  it('the hint table has exactly one hint per wire code', () => {
    expect(Object.keys(SERVER_CODE_HINTS).sort()).toEqual(Object.keys(WIRE_ERRORS).sort());
    const hints = Object.values(SERVER_CODE_HINTS);
    expect(new Set(hints).size).toBe(hints.length);
  });

  for (const code of Object.keys(WIRE_ERRORS) as WireCode[]) {
    it(`${code}: mapped by status, with serverCode, status and Retry-After as fields and its own hint`, async () => {
      const wire = new WireError(code, 'detail from the server', { retryAfter: 60 });
      const err = await refusedWith(() => new Response(JSON.stringify(wire.toBody()), { status: wire.statusCode, headers: { 'content-type': 'application/json', 'retry-after': '60' } }));
      expect(err.code).toBe(expectedCode(code, wire.statusCode));
      expect(err.serverCode).toBe(code);
      expect(err.status).toBe(wire.statusCode);
      expect(err.retryAfter).toBe(60);
      expect(err.file).toBe('http://keys.invalid/v2/release');
      expect(err.message).toContain('detail from the server');
      // not_published keeps its own, older message; every other code carries its hint.
      if (code !== 'not_published') expect(err.message).toContain(SERVER_CODE_HINTS[code]);
    });
  }

  it('an answer without a modelseal error body has no serverCode and says so', async () => {
    const err = await refusedWith(() => new Response('<html>bad gateway</html>', { status: 502 }));
    expect(err).toMatchObject({ code: 'key_server_error', serverCode: undefined, status: 502, retryAfter: undefined });
    expect(err.message).toMatch(/HTTP 502 \(no error code\).*no modelseal error body/);
  });

  it('a code this loader does not know is kept as serverCode, with a hint by status', async () => {
    const err = await refusedWith(() => new Response(JSON.stringify({ error: { code: 'new_rule', message: 'a newer server said no' } }), { status: 403 }));
    expect(err).toMatchObject({ code: 'key_denied', serverCode: 'new_rule', status: 403 });
    expect(err.message).toMatch(/HTTP 403 new_rule: a newer server said no; .*code this loader does not know/);
    const garbage = await refusedWith(() => new Response(JSON.stringify({ error: { code: '<script>', message: 'x' } }), { status: 403 }));
    expect(garbage.serverCode).toBeUndefined();
  });
});
