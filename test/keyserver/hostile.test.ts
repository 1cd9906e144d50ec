// Hostile input against the real server app (app.inject, no port; the remote JWKS it fetches is a
// real server on 127.0.0.1): forged and broken tokens, broken bodies, invalid keys (Wycheproof), and
// a seeded stream of 1,000+ malformed requests. Every one gets a 4xx JSON error.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHmac, createPublicKey } from 'node:crypto';
import * as fc from 'fast-check';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { WIRE_ERRORS, mintDevToken, type KeyServer } from '../../keyserver/index.js';
import { expectWireCode as expectWireError } from '../helpers/expect-code.js';
import { clientKey, TEST_SEALING, postRelease, release, request, startFixture, startServer, type Fixture } from './helpers.js';

const DATA = join(import.meta.dirname, '../data/wycheproof');

describe('hostile tokens (store secret, HS256)', () => {
  let f: Fixture;
  let secret: Uint8Array;
  beforeAll(async () => {
    f = await startFixture();
    secret = await f.store.tokenSecret();
  });
  afterAll(async () => {
    await f?.close();
  });
  const jwt = (claims: Record<string, unknown> = {}) => new SignJWT({ models: ['face'], ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuer('modelseal-dev').setAudience('modelseal').setJti('t').setIssuedAt();

  it('alg none is refused', async () => {
    const token = new UnsecuredJWT({ models: ['face'] }).setIssuer('modelseal-dev').setAudience('modelseal').setExpirationTime('5m').encode();
    expectWireError(await release(f.target, token), 401, 'invalid_token', 'algorithm');
  });

  it('no Authorization, a non-Bearer scheme, or garbage is refused', async () => {
    const { publicJwk } = await clientKey();
    const body = { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk };
    expectWireError(await postRelease(f.target, { body }), 401, 'invalid_token', 'Bearer');
    expectWireError(await postRelease(f.target, { body, headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), 401, 'invalid_token');
    expectWireError(await postRelease(f.target, { body, token: 'not.a.jwt' }), 401, 'invalid_token');
  });

  it('wrong aud, wrong iss → invalid_token naming the claim', async () => {
    const aud = await new SignJWT({ models: ['face'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer('modelseal-dev').setAudience('someone-else').setExpirationTime('5m').sign(secret);
    expectWireError(await release(f.target, aud), 401, 'invalid_token', 'aud');
    const iss = await new SignJWT({ models: ['face'] }).setProtectedHeader({ alg: 'HS256' }).setIssuer('evil').setAudience('modelseal').setExpirationTime('5m').sign(secret);
    expectWireError(await release(f.target, iss), 401, 'invalid_token', 'iss');
  });

  it('expired beyond the clock skew → token_expired; within the skew → accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectWireError(await release(f.target, await jwt().setExpirationTime(now - 120).sign(secret)), 401, 'token_expired');
    expect((await release(f.target, await jwt().setExpirationTime(now - 5).sign(secret))).status).toBe(200);
  });

  it('not yet valid beyond the skew → invalid_token; within the skew → accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectWireError(await release(f.target, await jwt().setNotBefore(now + 600).setExpirationTime(now + 900).sign(secret)), 401, 'invalid_token', 'nbf');
    expect((await release(f.target, await jwt().setNotBefore(now + 5).setExpirationTime(now + 300).sign(secret))).status).toBe(200);
  });

  it('a token without exp, or with a lifetime beyond maxLifetimeSeconds, is refused', async () => {
    expectWireError(await release(f.target, await jwt().sign(secret)), 401, 'invalid_token', 'exp');
    expectWireError(await release(f.target, await jwt().setExpirationTime('30d').sign(secret)), 401, 'invalid_token', 'lifetime');
  });

  it('a tampered payload (models widened) fails the signature', async () => {
    const token = await mintDevToken({ store: f.store, models: ['other'] });
    const [h, , s] = token.split('.');
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    payload.models = ['face'];
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    expectWireError(await release(f.target, forged), 401, 'invalid_token', 'signature');
  });

  it('a token signed with another secret is refused', async () => {
    expectWireError(await release(f.target, await mintDevToken({ secret: new Uint8Array(32).fill(7), models: ['face'] })), 401, 'invalid_token', 'signature');
  });

  it('bad claims: models missing or not a list, bad cnf.jkt', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    expectWireError(await release(f.target, await jwt({ models: undefined }).setExpirationTime(exp).sign(secret)), 401, 'invalid_token', 'models');
    expectWireError(await release(f.target, await jwt({ models: 'face' }).setExpirationTime(exp).sign(secret)), 401, 'invalid_token', 'models');
    expectWireError(await release(f.target, await jwt({ cnf: { jkt: 'short' } }).setExpirationTime(exp).sign(secret)), 401, 'invalid_token', 'cnf.jkt');
  });
});

describe('claims of the wrong type (signed, so only the claim checks can refuse them)', () => {
  let f: Fixture;
  let secret: Uint8Array;
  let epk: JWK;
  beforeAll(async () => {
    f = await startFixture();
    secret = await f.store.tokenSecret();
    epk = (await clientKey()).publicJwk;
  });
  afterAll(async () => {
    await f?.close();
  });
  // SignJWT takes the payload as given, so null and non-string registered claims reach the server.
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ models: ['face'], jti: 't', ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuer('modelseal-dev').setAudience('modelseal').setIssuedAt().setExpirationTime('5m').sign(secret);

  const cases: [string, Record<string, unknown>, string][] = [
    ['sub: null', { sub: null }, 'sub claim'],
    ['sub: 5', { sub: 5 }, 'sub claim'],
    ['sub: {}', { sub: {} }, 'sub claim'],
    ['sub: ""', { sub: '' }, 'sub claim'],
    ['jti: null', { jti: null }, 'jti claim'],
    ['jti: 5', { jti: 5 }, 'jti claim'],
    ['jti: ["a"]', { jti: ['a'] }, 'jti claim'],
    ['models: [1]', { models: [1] }, 'models claim'],
    ['models: ["face", null]', { models: ['face', null] }, 'models claim'],
    ['models: null', { models: null }, 'models claim'],
    ['cnf: null', { cnf: null }, 'cnf claim'],
    ['cnf: "x"', { cnf: 'x' }, 'cnf claim'],
    ['cnf: []', { cnf: [] }, 'cnf claim'],
    ['cnf: {}', { cnf: {} }, 'cnf.jkt'],
    ['cnf.jkt: 5', { cnf: { jkt: 5 } }, 'cnf.jkt'],
    ['cnf.jkt: null', { cnf: { jkt: null } }, 'cnf.jkt'],
  ];
  for (const [name, claims, part] of cases) {
    it(`${name} → 401 invalid_token naming the claim`, async () => {
      const r = await f.server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${await sign(claims)}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk } });
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('invalid_token');
      expect(r.json().error.message).toContain(part);
    });
  }

  it('the same token with well-formed claims releases (the cases above differ only in the claim)', async () => {
    const r = await f.server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${await sign({ sub: 'alice' })}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk } });
    expect(r.statusCode).toBe(200);
  });
});

describe('production token keys (JWKS file and remote JWKS, EdDSA/ES256)', () => {
  let f: Fixture;
  let server: KeyServer;
  let jwksServer: Server;
  let remoteServer: KeyServer;
  const ed = generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const es = generateKeyPair('ES256');
  let edJwk: JWK;
  let esJwk: JWK;
  const sign = async (alg: 'EdDSA' | 'ES256', claims: Record<string, unknown> = {}, aud = 'modelseal') =>
    new SignJWT({ models: ['face'], ...claims }).setProtectedHeader({ alg, kid: alg }).setIssuer('https://app.example').setAudience(aud).setJti(crypto.randomUUID()).setExpirationTime('5m').sign((await (alg === 'EdDSA' ? ed : es)).privateKey);

  beforeAll(async () => {
    f = await startFixture();
    edJwk = { ...(await exportJWK((await ed).publicKey)), kid: 'EdDSA', alg: 'EdDSA' };
    esJwk = { ...(await exportJWK((await es).publicKey)), kid: 'ES256', alg: 'ES256' };
    const jwksPath = join(f.dir, 'jwks.json');
    await writeFile(jwksPath, JSON.stringify({ keys: [edJwk, esJwk] }));
    const tokens = { issuer: ['https://app.example'], audience: ['modelseal'], keys: [{ type: 'jwks-file' as const, path: jwksPath, algorithms: ['EdDSA', 'ES256'] }] };
    server = await startServer(f.store.dir, { tokens });
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [edJwk, esJwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
    const port = (jwksServer.address() as { port: number }).port;
    remoteServer = await startServer(f.store.dir, { tokens: { ...tokens, keys: [{ type: 'jwks-url', url: `http://127.0.0.1:${port}/jwks.json` }] } });
  });
  afterAll(async () => {
    await server?.close();
    await remoteServer?.close();
    await new Promise((r) => jwksServer?.close(r));
    await f?.close();
  });

  it('EdDSA and ES256 tokens verify against the JWKS file and the remote JWKS', async () => {
    for (const u of [server, remoteServer]) {
      for (const alg of ['EdDSA', 'ES256'] as const) {
        const r = await release(u, await sign(alg));
        expect(r.status).toBe(200);
        expect(Buffer.from(r.key!).equals(Buffer.from(f.faceKey))).toBe(true);
      }
    }
  });

  it('algorithm confusion: HS256 signed with the public key bytes is refused', async () => {
    const pub = (await ed).publicKey;
    const spki = await exportSPKI(pub);
    const candidates: Uint8Array[] = [
      new TextEncoder().encode(spki),
      Buffer.from(edJwk.x!, 'base64url'),
      new TextEncoder().encode(JSON.stringify(edJwk)),
      createPublicKey(spki).export({ format: 'der', type: 'spki' }),
    ];
    for (const bytes of candidates) {
      for (const kid of ['EdDSA', undefined]) {
        const header = Buffer.from(JSON.stringify({ alg: 'HS256', ...(kid ? { kid } : {}) })).toString('base64url');
        const payload = Buffer.from(JSON.stringify({ models: ['face'], iss: 'https://app.example', aud: 'modelseal', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
        const sig = createHmac('sha256', bytes).update(`${header}.${payload}`).digest('base64url');
        expectWireError(await release(server, `${header}.${payload}.${sig}`), 401, 'invalid_token', 'HS256');
        expectWireError(await release(remoteServer, `${header}.${payload}.${sig}`), 401, 'invalid_token', 'HS256');
      }
    }
    // The store's dev tokens (HS256) are not accepted either when only a JWKS is configured.
    expectWireError(await release(server, await mintDevToken({ store: f.store, models: ['face'] })), 401, 'invalid_token');
  });

  it('a remote JWKS that cannot be fetched → 503 unavailable, not a 401 blaming the token', async () => {
    const down = createServer();
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', () => r()));
    const port = (down.address() as { port: number }).port;
    await new Promise((r) => down.close(r));
    const s = await startServer(f.store.dir, { tokens: { issuer: ['https://app.example'], keys: [{ type: 'jwks-url', url: `http://127.0.0.1:${port}/jwks.json` }] } });
    try {
      expectWireError(await release(s, await sign('EdDSA')), 503, 'unavailable', 'JWKS');
    } finally {
      await s.close();
    }
  });

  it('wrong audience, and a key the JWKS does not hold, are refused', async () => {
    expectWireError(await release(server, await sign('EdDSA', {}, 'other')), 401, 'invalid_token', 'aud');
    const stranger = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const t = await new SignJWT({ models: ['face'] }).setProtectedHeader({ alg: 'EdDSA' }).setIssuer('https://app.example').setAudience('modelseal').setExpirationTime('5m').sign(stranger.privateKey);
    expectWireError(await release(server, t), 401, 'invalid_token');
    expectWireError(await release(remoteServer, t), 401, 'invalid_token');
  });
});

describe('hostile bodies and keys', () => {
  let f: Fixture;
  let token: string;
  beforeAll(async () => {
    f = await startFixture();
    token = await mintDevToken({ store: f.store, models: ['*'], ttl: '10m' });
  });
  afterAll(async () => {
    await f?.close();
  });

  it('malformed JSON, empty body, wrong content type, huge body, deep JSON', async () => {
    expectWireError(await postRelease(f.target, { token, raw: '{"modelId":' }), 400, 'malformed_request', 'JSON');
    expectWireError(await postRelease(f.target, { token, raw: '' }), 400, 'malformed_request');
    expectWireError(await postRelease(f.target, { token, raw: '[]' }), 400, 'malformed_request', 'body');
    expectWireError(await postRelease(f.target, { token, raw: 'modelId=face', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    expectWireError(await postRelease(f.target, { token, raw: '{}', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    expectWireError(await postRelease(f.target, { token, raw: 'x'.repeat(1 << 20) }), 413, 'payload_too_large');
    expectWireError(await postRelease(f.target, { token, raw: `{"modelId":"face","keyId":"k1","sealing":"${TEST_SEALING}","epk":${'['.repeat(4000)}${']'.repeat(4000)}}` }), 400, 'malformed_request', 'epk');
    expectWireError(await postRelease(f.target, { token, raw: `{"a":${'{"a":'.repeat(1200)}1${'}'.repeat(1200)}}` }), 400, 'malformed_request');
    expectWireError(await postRelease(f.target, { token, raw: '{"modelId":"face","keyId":"k1","epk":{},"__proto__":{"x":1}}' }), 400, 'malformed_request');
  });

  it('a URL with a bad percent escape gets the JSON error body and headers of every answer, never its raw path echoed', async () => {
    for (const url of ['/v2/release%', '/%ff', `/%<script>${'x'.repeat(12_000)}`]) {
      const r = await f.server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: '{}' });
      expect(r.statusCode, url.slice(0, 20)).toBe(400);
      expect(r.json()).toEqual({ error: { code: 'malformed_request', message: expect.any(String) } });
      expect(r.body.length).toBeLessThan(300);
      expect(r.headers['cache-control']).toBe('no-store');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('body fields: missing, wrong types, bad ids, extra members', async () => {
    const { publicJwk } = await clientKey();
    expectWireError(await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1' } }), 400, 'malformed_request', 'epk');
    expectWireError(await postRelease(f.target, { token, body: { modelId: 1, keyId: 'k1', epk: publicJwk } }), 400, 'malformed_request', 'modelId');
    expectWireError(await postRelease(f.target, { token, body: { modelId: '../etc', keyId: 'k1', epk: publicJwk } }), 400, 'malformed_request', 'modelId');
    expectWireError(await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', epk: publicJwk, extra: 1 } }), 400, 'malformed_request');
    expectWireError(await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', epk: { ...publicJwk, n: 'AQAB' } } }), 400, 'malformed_request', 'epk');
  });

  it('invalid JWKs: private members, wrong kty, wrong or unknown curve, bad coordinates', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256', extractable: true });
    const pub = await exportJWK(publicKey);
    const priv = await exportJWK(privateKey);
    const send = (epk: unknown) => postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk } });
    expectWireError(await send(priv), 400, 'malformed_request', 'private member "d"');
    expectWireError(await send({ ...pub, kty: 'OKP' }), 400, 'malformed_request', 'kty');
    expectWireError(await send({ ...pub, kty: 'RSA' }), 400, 'malformed_request', 'kty');
    expectWireError(await send({ kty: 'oct', crv: 'P-256', x: pub.x, k: 'AAAA' }), 400, 'malformed_request', 'private member "k"');
    expectWireError(await send({ ...pub, crv: 'P-384' }), 400, 'malformed_request', 'crv');
    expectWireError(await send({ ...pub, crv: 'secp256k1' }), 400, 'malformed_request', 'crv');
    expectWireError(await send({ ...pub, y: undefined }), 400, 'malformed_request', 'epk.y');
    expectWireError(await send({ ...pub, x: pub.x!.slice(1) }), 400, 'malformed_request', 'epk.x');
    expectWireError(await send({ ...pub, x: `${pub.x!.slice(0, 42)}!` }), 400, 'malformed_request', 'epk.x');
    const ed = await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey);
    expectWireError(await send(ed), 400, 'malformed_request', 'crv');
  });

  it('Wycheproof P-256 public keys: every invalid one is refused with 400, valid ones release', async () => {
    const doc = JSON.parse(readFileSync(join(DATA, 'ecdh_secp256r1_webcrypto_test.json'), 'utf8'));
    let invalid = 0;
    let valid = 0;
    for (const g of doc.testGroups) {
      for (const t of g.tests) {
        if (t.result === 'valid' && valid >= 20) continue;
        const r = await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', epk: t.public } });
        if (t.result === 'invalid') {
          invalid++;
          expect(r.status, `tcId ${t.tcId} ${t.comment}`).toBe(400);
          expect(r.json.error.code).toBe('malformed_request');
          expect(r.json.error.message).toMatch(/epk/);
        } else {
          valid++;
          expect(r.status, `tcId ${t.tcId} ${t.comment}`).toBe(200);
        }
      }
    }
    expect(invalid).toBe(23);
  });

  it('Wycheproof X25519 public keys: low-order points (zero shared secret) and bad encodings are refused', async () => {
    const doc = JSON.parse(readFileSync(join(DATA, 'x25519_jwk_test.json'), 'utf8'));
    let lowOrder = 0;
    for (const g of doc.testGroups) {
      for (const t of g.tests) {
        const zero = t.flags.includes('ZeroSharedSecret');
        if (!zero && t.result !== 'invalid' && t.tcId % 10 !== 0) continue;
        const r = await postRelease(f.target, { token, body: { modelId: 'face', keyId: 'k1', epk: { kty: t.public.kty, crv: t.public.crv, x: t.public.x } } });
        if (zero || t.result === 'invalid') {
          if (zero) lowOrder++;
          expect(r.status, `tcId ${t.tcId} ${t.comment}`).toBe(400);
          expect(r.json.error.code).toBe('malformed_request');
        } else {
          expect(r.status, `tcId ${t.tcId} ${t.comment}`).toBe(200);
        }
      }
    }
    expect(lowOrder).toBeGreaterThan(20);
  });

  it('1,000+ generated malformed requests: each a 4xx JSON error, the server stays up, a valid release works after', async () => {
    const { publicJwk } = await clientKey();
    const seed = 20261125;
    const junk = fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed, numRuns: 300 });
    const strings = fc.sample(fc.string({ unit: 'binary', maxLength: 64 }), { seed: seed + 1, numRuns: 300 });
    const requests: { raw: string; headers?: Record<string, string>; token?: string }[] = [];
    const valid = { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk };
    for (let i = 0; i < 300; i++) {
      const j = junk[i];
      const s = strings[i]!;
      // Replace one field of a valid request with junk, the whole body with junk, or the epk member.
      const field = (['modelId', 'keyId', 'epk'] as const)[i % 3]!;
      requests.push({ raw: JSON.stringify({ ...valid, [field]: j === undefined ? null : j }), token });
      requests.push({ raw: JSON.stringify(j ?? null), token });
      requests.push({ raw: JSON.stringify({ ...valid, epk: { ...publicJwk, [['x', 'y', 'crv', 'kty', 'd'][i % 5]!]: j ?? s } }), token });
      requests.push({ raw: s, token, ...(i % 4 === 0 ? { headers: { 'content-type': ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16'][i % 4 === 0 ? (i / 4) % 4 : 0]! } } : {}) });
    }
    for (let i = 0; i < 120; i++) {
      // Broken tokens: random strings, truncated and bit-flipped real ones.
      const t = i % 3 === 0 ? strings[i]!.replace(/[^\x21-\x7e]/g, 'a') || 'a' : i % 3 === 1 ? token.slice(0, i) || 'x' : token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
      requests.push({ raw: JSON.stringify(valid), token: t });
    }
    const codes = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const q = requests[next++]!;
        const headers: Record<string, string> = { 'content-type': 'application/json', ...q.headers };
        if (q.token !== undefined) headers['authorization'] = `Bearer ${q.token}`;
        const res = await request(f.target, '/v2/release', { method: 'POST', headers, body: q.raw });
        expect(res.status, `${q.raw.slice(0, 80)} → ${res.text}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${q.raw.slice(0, 80)} → ${res.text}`).toBeLessThan(500);
        const body = JSON.parse(res.text);
        expect(Object.keys(WIRE_ERRORS)).toContain(body.error.code);
        expect(res.headers.get('cache-control')).toBe('no-store');
        expect(res.text).not.toMatch(/\bat .*\.(ts|js):\d+/);
        codes.set(body.error.code, (codes.get(body.error.code) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    // The kinds of junk reached the checks they aim at (body, media type, token), not one catch-all refusal.
    for (const code of ['malformed_request', 'unsupported_media_type', 'invalid_token']) expect(codes.get(code) ?? 0, code).toBeGreaterThan(0);
    expect((await request(f.target, '/healthz')).status).toBe(200);
    const r = await release(f.target, token);
    expect(r.status).toBe(200);
    expect(Buffer.from(r.key!).equals(Buffer.from(f.faceKey))).toBe(true);
  });
});
