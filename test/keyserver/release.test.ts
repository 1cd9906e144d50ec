// Key release against the real server app, driven in process with app.inject (no port): the JWE
// decrypts to the stored key, and every policy rule (scope, origin, rate limits, jti cap, cnf.jkt,
// key states) allows and denies as set. Real sockets only where they matter: trustProxy (the
// trusted hop is the connection's peer address) and the keystore poll (listen() starts it).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader } from 'jose';
import { pino } from 'pino';
import { FileKeyStore, mintDevToken } from '../../keyserver/index.js';
import { run } from '../helpers/bin.js';
import { startKeyServer } from '../helpers/key-server.js';
import { expectWireCode } from '../helpers/expect-code.js';
import { RELAXED, TEST_SEALING, clientKey, postRelease, release, request, rotatePublished, startFixture, startServer, until, type Fixture } from './helpers.js';

describe('release', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({
      models: {
        'cap-*': { releasesPerToken: 2 },
        'web-*': { origins: ['https://app.example', 'http://localhost:5173'] },
        'addr-limited': { ratePerAddress: 3 },
        'sub-limited': { ratePerSubject: 2 },
      },
    });
    for (const m of ['hand', 'cap-a', 'web-a', 'addr-limited', 'sub-limited', 'revoked']) await rotatePublished(f.store, m);
    await f.store.revoke('revoked', 'k1');
    await f.server.reload();
  });
  afterAll(async () => {
    await f?.close();
  });

  for (const crv of ['P-256', 'X25519'] as const) {
    it(`decrypts (${crv}, ECDH-ES+A256KW) to exactly the stored content key`, async () => {
      const token = await mintDevToken({ store: f.store, models: ['face'], ttl: '5m' });
      const r = await release(f.target, token, 'face', 'k1', { crv });
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(Buffer.from(r.key!).equals(Buffer.from(f.faceKey))).toBe(true);
      expect(r.header).toMatchObject({ alg: 'ECDH-ES+A256KW', enc: 'A256GCM', modelId: 'face', keyId: 'k1' });
      expect(new Date(r.json.expiresAt).getTime()).toBe((r.header!['exp'] as number) * 1000);
      expect(Object.keys(r.json).sort()).toEqual(['expiresAt', 'key']);
    });
  }

  it('with wrapAlgorithm ECDH-ES (direct) the JWE also decrypts to the stored key', async () => {
    const server = await startServer(f.store.dir, { wrapAlgorithm: 'ECDH-ES' });
    try {
      const r = await release(server, await mintDevToken({ store: f.store, models: ['face'] }));
      expect(r.status).toBe(200);
      expect(r.header).toMatchObject({ alg: 'ECDH-ES', enc: 'A256GCM', modelId: 'face', keyId: 'k1' });
      expect(Buffer.from(r.key!).equals(Buffer.from(f.faceKey))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('the release expires at releaseTtlSeconds, or with the token (plus the clock skew) when that is sooner', async () => {
    const short = await mintDevToken({ store: f.store, models: ['face'], ttl: 20 });
    const r = await release(f.target, short);
    expect(r.status).toBe(200);
    expect(decodeProtectedHeader(r.json.key)['exp']).toBe(decodeJwt(short).exp! + 30);
    const long = await mintDevToken({ store: f.store, models: ['face'], ttl: '1h' });
    const before = Math.floor(Date.now() / 1000);
    const exp = decodeProtectedHeader((await release(f.target, long)).json.key)['exp'] as number;
    expect(exp).toBeGreaterThanOrEqual(before + 300);
    expect(exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 300);
  });

  it('scope: the models claim (ids and patterns) decides which models a token unlocks', async () => {
    const faceOnly = await mintDevToken({ store: f.store, models: ['face'] });
    expectWireCode(await release(f.target, faceOnly, 'hand', 'k1'), 403, 'forbidden_model', 'hand');
    expect((await release(f.target, await mintDevToken({ store: f.store, models: ['ha*'] }), 'hand', 'k1')).status).toBe(200);
    expect((await release(f.target, await mintDevToken({ store: f.store, models: ['*'] }), 'hand', 'k1')).status).toBe(200);
    const wrongPattern = await release(f.target, await mintDevToken({ store: f.store, models: ['face-*'] }), 'face', 'k1');
    expect(wrongPattern.json.error.code).toBe('forbidden_model');
  });

  it('unknown model or key version → 404 unknown_key', async () => {
    const token = await mintDevToken({ store: f.store, models: ['*'] });
    for (const [m, k] of [['face', 'k9'], ['nope', 'k1']] as const) {
      expectWireCode(await release(f.target, token, m, k), 404, 'unknown_key', `${m} ${k}`);
    }
  });

  it('a refused token says what it has and what the server expects (iss, aud, nbf, exp), with no secret', async () => {
    const { publicJwk } = await clientKey();
    const post = async (token: string) => {
      const r = await f.server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk } });
      return { status: r.statusCode, error: (r.json() as { error: { code: string; message: string } }).error };
    };
    const iss = await post(await mintDevToken({ store: f.store, models: ['face'], issuer: 'https://login.example' }));
    expect(iss.status).toBe(401);
    expect(iss.error.code).toBe('invalid_token');
    expect(iss.error.message).toContain('issuer (iss) is "https://login.example"; this key server accepts "modelseal-dev"');
    const aud = await post(await mintDevToken({ store: f.store, models: ['face'], audience: 'other-app' }));
    expect(aud.error.message).toContain('audience (aud) is "other-app"; this key server accepts "modelseal"');
    const nbf = await post(await mintDevToken({ store: f.store, models: ['face'], notBefore: Math.floor(Date.now() / 1000) + 3600 }));
    expect(nbf.error.code).toBe('invalid_token');
    expect(nbf.error.message).toMatch(/not valid before \d{4}-\d\d-\d\dT.*\(nbf\), 3[56]\d\d s after the key server's clock \(clock skew allowed: 30 s\)/);
    const expired = await post(await mintDevToken({ store: f.store, models: ['face'], ttl: -600 }));
    expect(expired.status).toBe(401);
    expect(expired.error.code).toBe('token_expired');
    expect(expired.error.message).toMatch(/^the session token has expired: its exp \d{4}-\d\d-\d\dT\S+Z is 6\d\d s before the key server's clock \(clock skew allowed: 30 s\)$/);
    const secret = Buffer.from(await f.store.tokenSecret());
    for (const e of [iss, aud, nbf, expired]) {
      for (const form of [secret.toString('base64url'), secret.toString('hex'), secret.toString('base64')]) expect(e.error.message).not.toContain(form);
    }
  });

  it('origin allow-list: only listed origins release; CORS answers only allowed origins', async () => {
    const token = await mintDevToken({ store: f.store, models: ['web-a'] });
    const none = await release(f.target, token, 'web-a', 'k1');
    expect(none.status).toBe(403);
    expect(none.json.error).toMatchObject({ code: 'origin_not_allowed' });
    expect(none.json.error.message).toContain('no Origin');
    const evil = await release(f.target, token, 'web-a', 'k1', { headers: { origin: 'https://evil.example' } });
    expect(evil.json.error.code).toBe('origin_not_allowed');
    expect(evil.json.error.message).toContain('https://evil.example');
    const good = await release(f.target, token, 'web-a', 'k1', { headers: { origin: 'https://app.example' } });
    expect(good.status).toBe(200);
    expect(good.headers.get('access-control-allow-origin')).toBe('https://app.example');
  });

  it('CORS: the release endpoint answers every origin, so a refused page reads its 403; the policy still refuses, and other endpoints answer only allowed origins', async () => {
    // The preflight's headers do not depend on the socket (the browser's own preflight runs in test/loader/browser.test.ts).
    const server = await startServer(f.store.dir, { defaults: { ...RELAXED.defaults, origins: [] }, models: { 'web-*': { origins: ['https://app.example'] } } });
    try {
      const pre = (origin: string, path = '/v2/release') => request(server, path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
      for (const origin of ['https://app.example', 'https://evil.example']) {
        const p = await pre(origin);
        expect(p.status, origin).toBe(204);
        expect(p.headers.get('access-control-allow-origin')).toBe(origin);
        expect(p.headers.get('access-control-allow-headers')).toContain('authorization');
        // Browsers may cache the preflight: a page's later releases skip the OPTIONS round trip.
        expect(p.headers.get('access-control-max-age')).toBe('600');
        // The bearer token is the only credential: the browser may never send cookies along.
        expect(p.headers.get('access-control-allow-credentials')).toBeNull();
        // Like every answer (the CORS plugin answers preflights before the app's later hooks ran).
        expect([p.headers.get('cache-control'), p.headers.get('x-content-type-options')]).toEqual(['no-store', 'nosniff']);
      }
      // Only a well-formed origin is echoed, so a hostile header is not copied into the answer.
      for (const junk of [`https://${'a'.repeat(2000)}.example`, 'https://app.example/path', 'null']) {
        const p = await pre(junk);
        expect(p.headers.get('access-control-allow-origin'), junk.slice(0, 30)).toBeNull();
        // Not "no such endpoint": the endpoint exists, the origin is what it does not answer.
        expect(p.status).toBe(403);
        expect((JSON.parse(p.text) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'origin_not_allowed', message: expect.stringContaining('a CORS preflight from an origin this endpoint does not answer') });
      }
      // The stranger's POST is answered with CORS headers (readable) but refused by the policy.
      const token = await mintDevToken({ store: f.store, models: ['web-a', 'face'] });
      const evil = await release(server, token, 'web-a', 'k1', { headers: { origin: 'https://evil.example' } });
      expect(evil.status).toBe(403);
      expect(evil.json.error.code).toBe('origin_not_allowed');
      expect(evil.key).toBeUndefined();
      expect(evil.headers.get('access-control-allow-origin')).toBe('https://evil.example');
      const good = await release(server, token, 'web-a', 'k1', { headers: { origin: 'https://app.example' } });
      expect(good.status).toBe(200);
      // Endpoints other than the release keep answering only origins some policy allows.
      expect((await request(server, '/healthz', { headers: { origin: 'https://evil.example' } })).headers.get('access-control-allow-origin')).toBeNull();
      expect((await request(server, '/healthz', { headers: { origin: 'https://app.example' } })).headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect((await pre('https://evil.example', '/metrics')).headers.get('access-control-allow-origin')).toBeNull();
      // The default policy (origins: []) refuses every origin for other models.
      const r = await release(server, token, 'face', 'k1', { headers: { origin: 'https://app.example' } });
      expect(r.json.error.code).toBe('origin_not_allowed');
    } finally {
      await server.close();
    }
  });

  it('rate limit per client address → 429 rate_limited with Retry-After', async () => {
    const token = await mintDevToken({ store: f.store, models: ['addr-limited'] });
    for (let i = 0; i < 3; i++) expect((await release(f.target, token, 'addr-limited', 'k1')).status).toBe(200);
    const r = await release(f.target, token, 'addr-limited', 'k1');
    expectWireCode(r, 429, 'rate_limited', 'address');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    // Other models keep their own budget.
    expect((await release(f.target, await mintDevToken({ store: f.store, models: ['face'] }))).status).toBe(200);
  });

  it('rate limit per token subject: alice is limited, bob is not', async () => {
    const alice = await mintDevToken({ store: f.store, models: ['sub-limited'], sub: 'alice' });
    const alice2 = await mintDevToken({ store: f.store, models: ['sub-limited'], sub: 'alice' });
    expect((await release(f.target, alice, 'sub-limited', 'k1')).status).toBe(200);
    expect((await release(f.target, alice2, 'sub-limited', 'k1')).status).toBe(200);
    const r = await release(f.target, alice, 'sub-limited', 'k1');
    expect(r.status).toBe(429);
    expect(r.json.error).toMatchObject({ code: 'rate_limited' });
    expect(r.json.error.message).toContain('session');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await release(f.target, await mintDevToken({ store: f.store, models: ['sub-limited'], sub: 'bob' }), 'sub-limited', 'k1')).status).toBe(200);
  });

  it('trustProxy: X-Forwarded-For picks the client address only when the proxy is trusted', async () => {
    // Over a real socket: the hop trustProxy trusts is the connection's peer address, which inject only simulates.
    for (const trusted of [true, false]) {
      const { server, url } = await startKeyServer(f.store.dir, { auditLog: null, trustProxy: trusted, defaults: { ratePerAddress: 1 } }, { base: RELAXED });
      try {
        const token = await mintDevToken({ store: f.store, models: ['face'] });
        const a = await release(url, token, 'face', 'k1', { headers: { 'x-forwarded-for': '203.0.113.1' } });
        const b = await release(url, token, 'face', 'k1', { headers: { 'x-forwarded-for': '203.0.113.2' } });
        expect(a.status).toBe(200);
        // Trusted: two addresses, two budgets. Untrusted: both are 127.0.0.1, the second is limited.
        expect(b.status).toBe(trusted ? 200 : 429);
      } finally {
        await server.close();
      }
    }
  });

  it('releases per token (jti) are capped; a token without jti is refused where a cap applies', async () => {
    const token = await mintDevToken({ store: f.store, models: ['cap-a'] });
    expect((await release(f.target, token, 'cap-a', 'k1')).status).toBe(200);
    expect((await release(f.target, token, 'cap-a', 'k1')).status).toBe(200);
    expectWireCode(await release(f.target, token, 'cap-a', 'k1'), 403, 'release_limit', '2 per token');
    expect((await release(f.target, await mintDevToken({ store: f.store, models: ['cap-a'] }), 'cap-a', 'k1')).status).toBe(200);
    const { SignJWT } = await import('jose');
    const noJti = await new SignJWT({ models: ['cap-a'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer('modelseal-dev').setAudience('modelseal').setExpirationTime('5m').sign(await f.store.tokenSecret());
    expectWireCode(await release(f.target, noJti, 'cap-a', 'k1'), 401, 'invalid_token', 'jti');
  });

  it('cnf.jkt: a sender-bound token releases only to the key it names', async () => {
    const mine = await clientKey();
    const other = await clientKey();
    const jkt = await calculateJwkThumbprint(mine.publicJwk);
    const token = await mintDevToken({ store: f.store, models: ['face'], cnfJkt: jkt });
    expectWireCode(await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', epk: other.publicJwk } }), 401, 'invalid_token', 'cnf.jkt');
    const good = await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', epk: mine.publicJwk } });
    expect(good.status).toBe(200);
  });

  it('an expired retired version → 403 key_expired', async () => {
    const writer = (await FileKeyStore.open(f.store.dir)).store;
    await rotatePublished(writer, 'exp-model');
    await rotatePublished(writer, 'exp-model', { retireExpiresAt: new Date(Date.now() - 1000) });
    const token = await mintDevToken({ store: f.store, models: ['exp-model'] });
    // k2 first: a version the server has not seen makes it re-read the store, so its snapshot
    // cannot still be the one a poll took between the two rotations (k1 active, no expiry).
    expect((await release(f.target, token, 'exp-model', 'k2')).status).toBe(200);
    expectWireCode(await release(f.target, token, 'exp-model', 'k1'), 403, 'key_expired');
  });

  it('healthz, readyz and metrics answer', async () => {
    // This test makes the release and the denials it looks for, so it holds in any order.
    const token = await mintDevToken({ store: f.store, models: ['face', 'revoked'] });
    expect((await release(f.target, token)).status).toBe(200);
    expect((await release(f.target, token, 'hand', 'k1')).json.error.code).toBe('forbidden_model');
    expect((await release(f.target, token, 'revoked', 'k1')).json.error.code).toBe('key_revoked');
    const h = await request(f.target, '/healthz');
    expect(h.status).toBe(200);
    expect(h.headers.get('cache-control')).toBe('no-store');
    const r = await request(f.target, '/readyz');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ status: 'ready' });
    const m = (await request(f.target, '/metrics')).text;
    expect(m).toMatch(/modelseal_releases_total\{model="face"\} [1-9]/);
    expect(m).toMatch(/modelseal_denials_total\{reason="forbidden_model"\} [1-9]/);
    expect(m).toMatch(/modelseal_denials_total\{reason="key_revoked"\} [1-9]/);
    expect(m).toContain('modelseal_release_duration_seconds_bucket');
  });

  it('logs "keystore reloaded" when the store changes (poll or reload())', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const { server } = await startKeyServer(f.store.dir, { auditLog: null, reloadIntervalMs: 0 }, { base: RELAXED, listen: false, logger });
    try {
      expect(await server.reload()).toBe(false);
      await rotatePublished((await FileKeyStore.open(f.store.dir)).store, 'reload-check');
      expect(await server.reload()).toBe(true);
      expect(lines.some((l) => l.includes('keystore reloaded'))).toBe(true);
    } finally {
      await server.close();
    }
  });
});

describe('model ids that name members of Object.prototype', () => {
  it('"constructor", "toString" and "hasOwnProperty" get the "*" entry\'s origin list and cap, not the defaults', async () => {
    const f = await startFixture({ models: { '*': { origins: ['https://app.example'], releasesPerToken: 1 } } });
    try {
      for (const m of ['constructor', 'toString', 'hasOwnProperty']) {
        await rotatePublished(f.store, m);
        await f.server.reload();
        const token = await mintDevToken({ store: f.store, models: [m] });
        expectWireCode(await release(f.target, token, m, 'k1'), 403, 'origin_not_allowed', 'no Origin');
        const origin = { headers: { origin: 'https://app.example' } };
        expect((await release(f.target, token, m, 'k1', origin)).status).toBe(200);
        expectWireCode(await release(f.target, token, m, 'k1', origin), 403, 'release_limit', '1 per token');
      }
      // And as a curve name: refused as an unknown curve, not read off the prototype.
      const token = await mintDevToken({ store: f.store, models: ['toString'] });
      const r = await f.server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}`, origin: 'https://app.example' }, payload: { modelId: 'toString', keyId: 'k1', sealing: TEST_SEALING, epk: { kty: 'EC', crv: 'constructor', x: 'AA' } } });
      expect(r.statusCode).toBe(400);
      expect(r.json().error.message).toContain('epk.crv must be P-256 or X25519');
    } finally {
      await f.close();
    }
  });
});

describe('the audit log', () => {
  it('has one line per release and per denial, in order, with the fields, and no key bytes in any form', async () => {
    // A server of its own, so the log holds exactly the requests made here.
    const a = await startFixture({ models: { 'cap-a': { releasesPerToken: 1 }, 'web-a': { origins: ['https://app.example'] }, 'sub-limited': { ratePerSubject: 1 } } });
    try {
      for (const m of ['cap-a', 'web-a', 'sub-limited', 'gone']) await rotatePublished(a.store, m);
      await a.store.revoke('gone', 'k1');
      await a.server.reload();
      const alice = await mintDevToken({ store: a.store, models: ['sub-limited'], sub: 'alice' });
      const all = await mintDevToken({ store: a.store, models: ['*'] });
      const statuses = [
        (await release(a.target, alice, 'sub-limited', 'k1')).status,
        (await release(a.target, alice, 'sub-limited', 'k1')).status,
        (await release(a.target, await mintDevToken({ store: a.store, models: ['face'] }), 'cap-a', 'k1')).status,
        (await release(a.target, all, 'cap-a', 'k1')).status,
        (await release(a.target, all, 'cap-a', 'k1')).status,
        (await release(a.target, all, 'gone', 'k1')).status,
        (await release(a.target, all, 'face', 'k9')).status,
        (await release(a.target, 'not.a.jwt')).status,
        (await release(a.target, all, 'web-a', 'k1', { headers: { origin: 'https://evil.example' } })).status,
      ];
      expect(statuses).toEqual([200, 429, 403, 200, 403, 403, 404, 401, 403]);
      await a.server.audit.flush();
      const raw = await readFile(join(a.store.dir, 'audit.log'));
      const lines = raw.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => [l['outcome'], l['reason'], l['status']])).toEqual([
        ['release', null, 200],
        ['denied', 'rate_limited', 429],
        ['denied', 'forbidden_model', 403],
        ['release', null, 200],
        ['denied', 'release_limit', 403],
        ['denied', 'key_revoked', 403],
        ['denied', 'unknown_key', 404],
        ['denied', 'invalid_token', 401],
        ['denied', 'origin_not_allowed', 403],
      ]);
      expect(lines[0]).toMatchObject({ modelId: 'sub-limited', keyId: 'k1', sub: 'alice', client: '127.0.0.1' });
      expect(typeof lines[0]!['jti']).toBe('string');
      expect(typeof lines[0]!['time']).toBe('string');
      expect(lines[8]).toMatchObject({ modelId: 'web-a', keyId: 'k1', origin: 'https://evil.example' });
      const keys: Uint8Array[] = [a.faceKey];
      const reader = (await FileKeyStore.open(a.store.dir)).store;
      const records = await reader.list();
      expect(records).toHaveLength(5);
      for (const rec of records) keys.push((await reader.get(rec.modelId, rec.keyId))!.key);
      const text = raw.toString('latin1');
      for (const k of keys) {
        const b = Buffer.from(k);
        expect(raw.indexOf(b)).toBe(-1);
        for (const form of [b.toString('hex'), b.toString('hex').toUpperCase(), b.toString('base64'), b.toString('base64url'), b.toString('base64').replace(/=+$/, '')]) {
          expect(text.includes(form)).toBe(false);
        }
      }
    } finally {
      await a.close();
    }
  });
});

describe('keystore changes while running (a listening server: listen() starts the keystore poll)', () => {
  let f: Fixture & { target: string };
  beforeAll(async () => {
    f = await startFixture({ reloadIntervalMs: 100 }, { listen: true });
    for (const m of ['rot', 'cli-revoke']) await rotatePublished(f.store, m);
  });
  afterAll(async () => {
    await f?.close();
  });

  it('rotation while running: the new version releases at once, the retired one still releases, a revoked one never', async () => {
    const token = await mintDevToken({ store: f.store, models: ['rot'] });
    const writer = (await FileKeyStore.open(f.store.dir)).store; // a second instance, as another process would be
    const k2 = await rotatePublished(writer, 'rot');
    expect(k2.record.keyId).toBe('k2');
    const r2 = await release(f.target, token, 'rot', 'k2');
    expect(r2.status).toBe(200);
    expect(Buffer.from(r2.key!).equals(Buffer.from(k2.key))).toBe(true);
    expect((await release(f.target, token, 'rot', 'k1')).status).toBe(200);
    await writer.revoke('rot', 'k1');
    await until(async () => (await release(f.target, token, 'rot', 'k1')).status === 403);
    const r1 = await release(f.target, token, 'rot', 'k1');
    expect(r1.json.error.code).toBe('key_revoked');
    expect((await release(f.target, token, 'rot', 'k2')).status).toBe(200);
  });

  it('`modelseal keys revoke` in another process is picked up without a restart', async () => {
    const token = await mintDevToken({ store: f.store, models: ['cli-revoke'] });
    expect((await release(f.target, token, 'cli-revoke', 'k1')).status).toBe(200);
    const r = run(['keys', 'revoke', 'cli-revoke', '--key-id', 'k1', '--store', f.store.dir]);
    expect(r.stderr).toContain('revoked k1');
    expect(r.code).toBe(0);
    await until(async () => (await release(f.target, token, 'cli-revoke', 'k1')).status === 403);
    expect((await release(f.target, token, 'cli-revoke', 'k1')).json.error.code).toBe('key_revoked');
  });
});
