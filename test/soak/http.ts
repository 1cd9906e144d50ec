// The HTTP soak: seeded hostile requests against a real key server on 127.0.0.1 (real sockets:
// fetch for HTTP, node:net for raw bytes), while a valid client keeps releasing keys throughout.
// Required: no 5xx but deliberate 503s, every valid release succeeds, the server alive at the end.

import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT } from 'jose';
import { WIRE_ERRORS, mintDevToken } from '../../keyserver/index.js';
import { Rng } from './corpus.js';
import { TEST_SEALING, clientKey, release, rotatePublished, startFixture } from '../keyserver/helpers.js';

/** Options of runHttpSoak. */
export interface HttpSoakOptions {
  seed: string;
  /** Hostile requests in all (split over the categories in fixed proportions). */
  requests: number;
  log?: (line: string) => void;
}

/** Counts of an HTTP soak. */
export interface HttpSoakReport {
  seed: string;
  /** category → requests sent. */
  sent: Record<string, number>;
  /** category → answer (HTTP status, or `closed` when the server closed without one) → count. */
  answers: Record<string, Record<string, number>>;
  /** 5xx answers other than 503. */
  serverErrors: number;
  /** 503 answers (deliberate: keystore or JWKS unavailable; none is provoked here). */
  unavailable: number;
  valid: { attempts: number; released: number; failures: number };
  aliveAtEnd: boolean;
  /** Answers whose JSON body is not the wire format (Node's HTTP layer), by status. */
  httpLayerBodies: Record<string, number>;
  failures: string[];
  ms: number;
}

const WYCHEPROOF = join(import.meta.dirname, '../data/wycheproof');
const WIRE = new Set(Object.keys(WIRE_ERRORS));

/** Category shares of the total, per 10,000. */
const PLAN: Array<[string, number]> = [
  ['malformed-json', 1400], ['wrong-types', 1400], ['bad-token', 1400], ['bad-epk', 1200], ['content-type', 300],
  ['huge', 200], ['method-path', 500], ['rate-limited', 500], ['raw-garbage', 2000], ['slowloris', 100], ['burst', 1000],
];

export async function runHttpSoak(options: HttpSoakOptions): Promise<HttpSoakReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const rng = new Rng(`http/${options.seed}`);
  const f = await startFixture({
    auditLog: null,
    headersTimeoutMs: 2000,
    requestTimeoutMs: 3000,
    // One model with tight limits: the hostile client hammers it and must get 429s; `face` stays relaxed.
    models: { limited: { ratePerSubject: 20, ratePerAddress: 1_000_000 } },
  }, { listen: true }); // raw bytes, slowloris and deadlines need a real socket
  await rotatePublished(f.store, 'limited');
  await f.server.reload();
  const { port } = new URL(f.target);
  const secret = await f.store.tokenSecret();
  const token = await mintDevToken({ store: f.store, models: ['*'], ttl: '1h', sub: 'hostile' });
  const hammer = await mintDevToken({ store: f.store, models: ['limited'], ttl: '1h', sub: 'hammer' });
  const validToken = await mintDevToken({ store: f.store, models: ['face'], ttl: '1h', sub: 'valid-client' });
  const { publicJwk } = await clientKey();
  const body = { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk };

  const report: HttpSoakReport = { seed: options.seed, sent: {}, answers: {}, serverErrors: 0, unavailable: 0, valid: { attempts: 0, released: 0, failures: 0 }, aliveAtEnd: false, httpLayerBodies: {}, failures: [], ms: 0 };
  const count = (category: string, answer: string) => {
    report.sent[category] = (report.sent[category] ?? 0) + 1;
    const a = (report.answers[category] ??= {});
    a[answer] = (a[answer] ?? 0) + 1;
    const status = Number(answer);
    if (status >= 500 && status !== 503) {
      report.serverErrors++;
      report.failures.push(`${category}: HTTP ${status}`);
    }
    if (status === 503) report.unavailable++;
  };

  // The valid client: releases face/k1 with a fresh key pair every few ms until the hostile load is over.
  let stop = false;
  const validClient = (async () => {
    while (!stop) {
      report.valid.attempts++;
      try {
        const r = await release(f.target, validToken);
        if (r.status === 200 && r.key && Buffer.from(r.key).equals(Buffer.from(f.faceKey))) report.valid.released++;
        else {
          report.valid.failures++;
          report.failures.push(`valid client: HTTP ${r.status} ${JSON.stringify(r.json).slice(0, 200)}`);
        }
      } catch (err) {
        report.valid.failures++;
        report.failures.push(`valid client: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  /** One request over fetch; checks a JSON error body when the app answered with one. */
  const send = async (category: string, init: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Uint8Array<ArrayBuffer> }) => {
    const headers = { 'content-type': 'application/json', ...init.headers };
    try {
      const res = await fetch(`${f.target}${init.path ?? '/v2/release'}`, { method: init.method ?? 'POST', headers, ...(init.body === undefined ? {} : { body: init.body }), signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      count(category, String(res.status));
      if (res.status >= 400 && (res.headers.get('content-type') ?? '').includes('json')) {
        let code: unknown;
        try {
          code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
        } catch {
          code = undefined;
        }
        // Node's HTTP layer (via Fastify's default client-error answer) writes its own body for 400/431:
        // counted apart, not a failure (docs/PROTOCOL.md lists the HTTP-layer answers).
        if (typeof code !== 'string' || !WIRE.has(code)) {
          if (res.status === 400 || res.status === 431) report.httpLayerBodies[res.status] = (report.httpLayerBodies[res.status] ?? 0) + 1;
          else report.failures.push(`${category}: HTTP ${res.status} with an undocumented body ${text.slice(0, 200)}`);
        }
        if (/\bat .*\.(ts|js):\d+/.test(text)) report.failures.push(`${category}: a stack trace in the answer`);
      }
    } catch (err) {
      // The server closed the connection without an answer (after an oversized body, say).
      count(category, 'closed');
      if (category !== 'huge') report.failures.push(`${category}: no answer (${(err as Error).message}; ${String((err as Error).cause ?? '')})`);
    }
  };

  /** Raw bytes over a socket; the answer's status line, or `closed`/`no answer` within `waitMs`. */
  const raw = (category: string, chunks: Array<Uint8Array | string>, options: { gapMs?: number; waitMs?: number } = {}) =>
    new Promise<void>((resolve) => {
      const s = connect(Number(port), '127.0.0.1');
      let got = '';
      let settled = false;
      const done = (answer: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        count(category, answer);
        resolve();
      };
      const timer = setTimeout(() => done('no answer'), options.waitMs ?? 6000);
      s.on('data', (d) => {
        got += d.toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
        if (m) done(m[1]!);
        else if (got.length > 12 && !got.startsWith('HTTP/')) done('not http');
      });
      s.on('error', () => done('closed'));
      s.on('close', () => done('closed'));
      s.on('connect', async () => {
        for (const c of chunks) {
          if (settled || s.destroyed) return;
          s.write(c);
          if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        }
      });
    });

  const wyche = JSON.parse(readFileSync(join(WYCHEPROOF, 'ecdh_secp256r1_webcrypto_test.json'), 'utf8')) as { testGroups: Array<{ tests: Array<{ result: string; public: unknown }> }> };
  const invalidPoints = wyche.testGroups.flatMap((g) => g.tests.filter((t) => t.result === 'invalid').map((t) => t.public));
  const x25519 = JSON.parse(readFileSync(join(WYCHEPROOF, 'x25519_jwk_test.json'), 'utf8')) as { testGroups: Array<{ tests: Array<{ flags: string[]; public: { kty: string; crv: string; x: string } }> }> };
  const lowOrder = x25519.testGroups.flatMap((g) => g.tests.filter((t) => t.flags.includes('ZeroSharedSecret')).map((t) => ({ kty: t.public.kty, crv: t.public.crv, x: t.public.x })));

  const b64 = (n: number) => Buffer.from(rng.bytes(n)).toString('base64url');
  const junk = (): unknown => rng.pick<() => unknown>([
    () => null, () => true, () => 0, () => -1, () => 1.5, () => 1e308, () => '', () => 'x'.repeat(rng.range(1, 7000)), () => [], () => ({}), () => [1, 'a', null],
    () => JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`), () => ({ __proto__: null, constructor: 1 }), () => '\u0000\ud800', () => b64(rng.range(1, 64)),
  ])();
  const claims = (): Record<string, unknown> => rng.pick<() => Record<string, unknown>>([
    () => ({ sub: junk() }), () => ({ jti: junk() }), () => ({ models: junk() }), () => ({ cnf: junk() }), () => ({ cnf: { jkt: junk() } }), () => ({ iss: junk() }),
    () => ({ aud: junk() }), () => ({ exp: junk() }), () => ({ nbf: junk() }), () => ({ iat: junk() }), () => ({ models: ['other'] }),
  ])();
  const now = () => Math.floor(Date.now() / 1000);
  const badToken = async (): Promise<string | undefined> => rng.pick<() => Promise<string | undefined> | string | undefined>([
    () => new UnsecuredJWT({ models: ['face'] }).setIssuer('modelseal-dev').setAudience('modelseal').setExpirationTime('5m').encode(),
    () => mintDevToken({ secret: rng.bytes(32), models: ['face'] }),
    () => mintDevToken({ store: f.store, models: ['face'], ttl: -rng.range(60, 100_000) }),
    () => mintDevToken({ store: f.store, models: ['face'], notBefore: now() + 3600, ttl: 7200 }),
    () => mintDevToken({ store: f.store, models: ['face'], issuer: 'evil' }),
    () => mintDevToken({ store: f.store, models: ['face'], audience: 'other' }),
    () => new SignJWT({ models: ['face'], ...claims() }).setProtectedHeader({ alg: 'HS256' }).setIssuer('modelseal-dev').setAudience('modelseal').setExpirationTime(now() + 300).sign(secret),
    () => new SignJWT({ models: ['face'] }).setProtectedHeader({ alg: 'HS512' }).setIssuer('modelseal-dev').setAudience('modelseal').setExpirationTime(now() + 300).sign(secret),
    () => `${token.slice(0, rng.int(token.length))}`,
    () => { const i = rng.int(token.length); return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1); },
    () => b64(rng.range(1, 300)), () => `${b64(20)}.${b64(200)}.${b64(32)}`, () => 'x'.repeat(rng.pick([5000, 15_000])), () => undefined,
  ])();

  const requests: Array<() => Promise<void>> = [];
  const scaled = (share: number) => Math.max(1, Math.round((share * options.requests) / 10_000));
  for (const [category, share] of PLAN) {
    // The rate-limited model allows 20 releases per subject: send enough to see 429s in any run.
    const n = category === 'rate-limited' ? Math.max(30, scaled(share)) : scaled(share);
    for (let i = 0; i < n; i++) {
      const r = new Rng(`http/${options.seed}/${category}/${i}`);
      if (category === 'malformed-json') {
        const valid = JSON.stringify(body);
        const text = r.pick<() => string>([
          () => valid.slice(0, r.int(valid.length)), () => Buffer.from(r.bytes(r.range(1, 200))).toString('latin1'), () => `${valid}${r.pick(['x', ',', '}', '{}'])}`,
          () => valid.replace('"keyId"', '"modelId"'), () => `{"modelId":"face","modelId":"face",${valid.slice(1)}`, () => r.pick(['', 'null', '[]', '"x"', '1', 'true', '{', '{"a":'.repeat(2000)]),
          () => `\uFEFF${valid}`, () => valid.replace(/"/g, "'"),
        ])();
        requests.push(() => send(category, { headers: { authorization: `Bearer ${token}` }, body: text }));
      } else if (category === 'wrong-types') {
        const field = r.pick(['modelId', 'keyId', 'sealing', 'epk', 'extra', 'epk.x', 'epk.y', 'epk.crv', 'epk.kty']);
        const b: Record<string, unknown> = JSON.parse(JSON.stringify(body));
        const value = junk();
        if (field.startsWith('epk.')) (b['epk'] as Record<string, unknown>)[field.slice(4)] = value;
        else b[field] = value;
        requests.push(() => send(category, { headers: { authorization: `Bearer ${token}` }, body: JSON.stringify(b) }));
      } else if (category === 'bad-token') {
        requests.push(async () => {
          const t = await badToken();
          const auth: Record<string, string> = t === undefined ? {} : { authorization: r.pick([`Bearer ${t}`, `bearer ${t}`, `Basic ${t}`, t, `Bearer  ${t}`]) };
          await send(category, { headers: auth, body: JSON.stringify(body) });
        });
      } else if (category === 'bad-epk') {
        const epk = r.pick<() => unknown>([
          () => r.pick(invalidPoints), () => r.pick(lowOrder), () => ({ ...publicJwk, x: b64(32) }), () => ({ ...publicJwk, y: b64(32) }), () => ({ ...publicJwk, d: b64(32) }),
          () => ({ ...publicJwk, x: b64(r.range(0, 80)) }), () => ({ kty: 'OKP', crv: 'X25519', x: b64(32) }), () => ({ kty: 'OKP', crv: 'X25519', x: b64(31) }),
          () => ({ ...publicJwk, crv: r.pick(['P-384', 'P-521', 'secp256k1', 'X448', '']) }), () => ({ ...publicJwk, kty: r.pick(['RSA', 'oct', 'OKP', '']) }),
          () => ({ kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) }), () => ({ ...publicJwk, x: `${publicJwk.x!.slice(0, 42)}=` }),
        ])();
        requests.push(() => send(category, { headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ ...body, epk }) }));
      } else if (category === 'content-type') {
        const type = r.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/jsonx', '', 'application/json, text/plain', 'APPLICATION/JSON', '*/*']);
        requests.push(() => send(category, { headers: { authorization: `Bearer ${token}`, 'content-type': type }, body: JSON.stringify(body) }));
      } else if (category === 'huge') {
        const kind = r.int(4);
        if (kind === 0) requests.push(() => send(category, { headers: { authorization: `Bearer ${token}` }, body: 'x'.repeat(r.pick([8193, 65_536, 1 << 20])) }));
        else if (kind === 1) requests.push(() => send(category, { headers: { authorization: `Bearer ${token}` }, body: new Uint8Array(9 << 20) }));
        else if (kind === 2) requests.push(() => send(category, { headers: { authorization: `Bearer ${token}`, 'x-big': 'a'.repeat(r.pick([8000, 20_000, 70_000])) }, body: JSON.stringify(body) }));
        else requests.push(() => send(category, { headers: Object.fromEntries(Array.from({ length: r.pick([100, 500, 2000]) }, (_, k) => [`x-h${k}`, 'v'])), body: JSON.stringify(body) }));
      } else if (category === 'method-path') {
        const [method, path] = r.pick<[string, string]>([
          ['GET', '/v2/release'], ['PUT', '/v2/release'], ['DELETE', '/v2/release'], ['PATCH', '/v2/release'], ['POST', '/v1/release'], ['POST', '/v2/release/'],
          ['POST', '/v2/release?x=1&x=2'], ['GET', '/../../etc/passwd'], ['GET', '/%2e%2e/%2e%2e/etc/passwd'], ['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/metrics'],
          ['OPTIONS', '/v2/release'], ['HEAD', '/healthz'], ['POST', `/${'a'.repeat(5000)}`], ['GET', '/v2/release/../release'],
        ]);
        const headers: Record<string, string> = { authorization: `Bearer ${token}` };
        if (method === 'OPTIONS') Object.assign(headers, { origin: r.pick(['https://evil.example', 'null', 'http://127.0.0.1']), 'access-control-request-method': 'POST' });
        requests.push(() => send(category, { method, path, headers, ...(method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? {} : { body: JSON.stringify(body) }) }));
      } else if (category === 'rate-limited') {
        requests.push(async () => {
          const { publicJwk: epk } = await clientKey();
          await send(category, { headers: { authorization: `Bearer ${hammer}` }, body: JSON.stringify({ modelId: 'limited', keyId: 'k1', sealing: TEST_SEALING, epk }) });
        });
      } else if (category === 'raw-garbage') {
        const valid = JSON.stringify(body);
        const req = (head: string, b = valid) => `${head}\r\n\r\n${b}`;
        const chunks = r.pick<() => Array<string | Uint8Array>>([
          () => [r.bytes(r.range(1, 2000))],
          () => [`${Buffer.from(r.bytes(r.range(1, 100))).toString('latin1')}\r\n\r\n`],
          () => [req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${r.pick(['-1', 'abc', '99999999999999999999', '1, 2', ' 5', '0x10'])}`)],
          () => [req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nContent-Length: ${valid.length}\r\nContent-Length: ${valid.length + 1}\r\nContent-Type: application/json`)],
          () => [req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nContent-Type: application/json`, `${r.pick(['zz', '-1', 'ffffffffffffffff', '5'])}\r\nhello\r\n0\r\n\r\n`)],
          () => [req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${r.pick(['gzip', 'chunked, identity', 'xchunked', 'chunked\r\nTransfer-Encoding: chunked'])}\r\nContent-Type: application/json`, '0\r\n\r\n')],
          () => [req(`${r.pick(['GET', 'POST', 'BREW', 'get', 'PRI', ''])} ${r.pick(['/', '*', 'http://evil/', '/v2/release', ''])} ${r.pick(['HTTP/1.1', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 x', ''])}\r\nHost: x`)],
          () => ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', r.bytes(64)],
          () => [req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nX-Bad${r.pick(['\u0000', ' ', '\u0007', ':'])}Header: 1\r\nContent-Length: ${valid.length}`)],
          () => [req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${valid.length}`), req(`POST /v2/release HTTP/1.1\r\nHost: x\r\nContent-Length: 3`, 'abc')],
          () => [`GET /${'a'.repeat(r.pick([10_000, 100_000]))} HTTP/1.1\r\nHost: x\r\n\r\n`],
          () => [`POST /v2/release HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}`],
        ])();
        requests.push(() => raw(category, chunks, { waitMs: 6000 }));
      } else if (category === 'slowloris') {
        const head = `POST /v2/release HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: 200\r\n`;
        // Bounded: at most ~25 pieces 200 ms apart; the server's deadlines must end it first.
        const pieces = r.chance(0.5) ? head.match(/[\s\S]{1,8}/g)!.slice(0, 25) : [`${head}\r\n`, ...Array.from({ length: 25 }, () => 'x')];
        requests.push(() => raw(category, pieces, { gapMs: 200, waitMs: 8000 }));
      } else if (category === 'burst') {
        requests.push(() => send(category, { headers: { authorization: `Bearer ${r.chance(0.5) ? token : 'garbage'}` }, body: r.chance(0.5) ? JSON.stringify(body) : JSON.stringify({ ...body, epk: junk() }) }));
      }
    }
  }

  // Shuffle (seeded) so categories interleave; run them 16 at a time, bursts 100 at a time.
  for (let i = requests.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [requests[i], requests[j]] = [requests[j]!, requests[i]!];
  }
  let next = 0;
  let done = 0;
  const deadline = Date.now() + 15 * 60_000;
  const worker = async () => {
    while (next < requests.length && Date.now() < deadline) {
      await requests[next++]!();
      if (++done % 2000 === 0) log(`  http soak: ${done} requests, ${report.serverErrors} 5xx, valid client ${report.valid.released}/${report.valid.attempts}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
    // A burst at the end as well: 200 requests at once on top of the valid client.
    const burst = Array.from({ length: Math.min(200, scaled(200)) }, () => send('burst', { headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ ...body, epk: junk() }) }));
    await Promise.all(burst);
    if (next < requests.length) report.failures.push(`time bound reached with ${requests.length - next} requests unsent`);
    stop = true;
    await validClient;
    const health = await fetch(`${f.target}/healthz`).then((r) => r.status, () => 0);
    const ready = await fetch(`${f.target}/readyz`).then((r) => r.status, () => 0);
    const last = await release(f.target, validToken);
    report.aliveAtEnd = health === 200 && ready === 200 && last.status === 200 && Buffer.from(last.key!).equals(Buffer.from(f.faceKey));
    if (!report.aliveAtEnd) report.failures.push(`server not healthy at the end: healthz ${health}, readyz ${ready}, release ${last.status}`);
    if (report.valid.released === 0) report.failures.push('the valid client released nothing');
    if (!(report.answers['rate-limited']?.['429'])) report.failures.push('the rate-limited model never answered 429');
  } finally {
    stop = true;
    await validClient.catch(() => undefined);
    await f.close();
  }
  report.ms = Date.now() - started;
  return report;
}

/** The counts as a table: requests and answers per category. */
export function formatHttpReport(r: HttpSoakReport): string {
  const total = Object.values(r.sent).reduce((a, b) => a + b, 0);
  const lines = [`http soak: seed ${r.seed}, ${total} hostile requests in ${(r.ms / 1000).toFixed(1)} s; 5xx (not 503): ${r.serverErrors}; 503: ${r.unavailable}; valid client: ${r.valid.released} of ${r.valid.attempts} released, ${r.valid.failures} failed; alive at the end: ${r.aliveAtEnd}`];
  for (const [category, n] of Object.entries(r.sent).sort()) {
    const answers = Object.entries(r.answers[category] ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}×${v}`).join(' ');
    lines.push(`  ${category.padEnd(16)}${String(n).padStart(6)}  ${answers}`);
  }
  lines.push(`  answers with a body from the HTTP layer, not the wire format: ${JSON.stringify(r.httpLayerBodies)}`);
  lines.push(`failures: ${r.failures.length}`);
  for (const f of r.failures.slice(0, 30)) lines.push(`  ${f}`);
  return lines.join('\n');
}
