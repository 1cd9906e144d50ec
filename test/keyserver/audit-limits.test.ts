// The audit log under a flood (issue 9): every field is bounded and escaped, and one client without a
// valid token gets at most auditUnverifiedPerAddress lines per window plus one summary, while every
// release and every denial of a verified token is still written. Driven in process with app.inject.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { FileKeyStore, createKeyServer, mintDevToken, type KeyServer, type KeyServerConfigInput } from '../../keyserver/index.js';
import { AuditGate } from '../../keyserver/audit-limits.js';
import { boundField } from '../../keyserver/audit.js';
import { RELAXED, clientKey, rotatePublished, TEST_SEALING } from './helpers.js';

type Line = Record<string, unknown>;

describe('audit volume under hostile requests', () => {
  let dir: string;
  let store: FileKeyStore;
  let epk: JWK;
  let server: KeyServer | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelseal-auditlim-'));
    store = (await FileKeyStore.open(join(dir, 'store'), { create: true })).store;
    await rotatePublished(store, 'face');
    await rotatePublished(store, 'limited');
    epk = (await clientKey()).publicJwk;
    return () => rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const start = async (name: string, config: KeyServerConfigInput = {}) => {
    const auditLog = join(dir, `${name}.log`);
    server = await createKeyServer({
      store: store.dir,
      config: { ...RELAXED, auditLog, ...config, defaults: { ...RELAXED.defaults, releasesPerToken: 1000 }, models: { limited: { ratePerAddress: 5 } } },
    });
    return auditLog;
  };
  const lines = async (path: string): Promise<Line[]> => (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Line);
  const post = (o: { remoteAddress: string; headers?: Record<string, string>; payload?: unknown; raw?: string; token?: string }) =>
    server!.app.inject({
      method: 'POST',
      url: '/v2/release',
      remoteAddress: o.remoteAddress,
      headers: { 'content-type': 'application/json', ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers },
      payload: o.raw ?? JSON.stringify(o.payload ?? { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk }),
    });

  it('3,000 hostile requests with a 15 KB Origin: the file stays small, every release and verified denial is logged', async () => {
    const path = await start('flood');
    const bigOrigin = `https://${'a'.repeat(15_000)}.example`;
    const v4 = '203.0.113.66';
    const v6 = (i: number) => `2001:db8:66:1::${(i % 50).toString(16)}`;
    const hostile = [
      (a: string) => post({ remoteAddress: a, headers: { origin: bigOrigin } }),
      (a: string) => post({ remoteAddress: a, headers: { origin: bigOrigin }, token: 'x'.repeat(2000) }),
      (a: string) => post({ remoteAddress: a, headers: { origin: bigOrigin }, raw: '{"modelId":' }),
      (a: string) => post({ remoteAddress: a, headers: { origin: bigOrigin }, raw: 'x'.repeat(9000) }),
      (a: string) => post({ remoteAddress: a, headers: { origin: bigOrigin, 'content-type': 'text/plain' } }),
      (a: string) => post({ remoteAddress: a, headers: { origin: bigOrigin }, payload: { modelId: 'limited', keyId: 'k1', sealing: TEST_SEALING, epk } }),
    ];
    const statuses = new Set<number>();
    const releases: string[] = [];
    let verifiedDenials = 0;
    for (let i = 0; i < 3000; i++) {
      const r = await hostile[i % hostile.length]!(i % 2 === 0 ? v4 : v6(i));
      statuses.add(r.statusCode);
      if (i % 100 === 0) {
        // A real release and a denial of a valid token from the same flooded addresses.
        const jti = `real-${i}`;
        const ok = await post({ remoteAddress: v4, headers: { origin: bigOrigin }, token: await mintDevToken({ store, models: ['face'], jti, sub: 'alice' }) });
        expect(ok.statusCode).toBe(200);
        releases.push(jti);
        const no = await post({ remoteAddress: v6(i), token: await mintDevToken({ store, models: ['other'], jti: `denied-${i}` }) });
        expect(no.json().error.code).toBe('forbidden_model');
        verifiedDenials++;
      }
    }
    expect([...statuses].sort()).toEqual([400, 401, 413, 415, 429]);
    await server!.close();
    server = undefined;

    const size = (await stat(path)).size;
    const log = await lines(path);
    // Old code: one 15 KB line per request, ~45 MB. Now: 20 lines per client group, the verified ones, 2 summaries.
    expect(size).toBeLessThan(100_000);
    for (const raw of (await readFile(path, 'utf8')).trim().split('\n')) expect(raw.length).toBeLessThan(2_500);
    const rel = log.filter((l) => l['outcome'] === 'release');
    expect(rel.map((l) => l['jti']).sort()).toEqual([...releases].sort());
    expect(rel.every((l) => l['counted'] === true && String(l['origin']).endsWith(`…[truncated, ${bigOrigin.length} chars]`))).toBe(true);
    expect(log.filter((l) => l['reason'] === 'forbidden_model')).toHaveLength(verifiedDenials);
    const unverified = log.filter((l) => (l['outcome'] === 'denied' && l['reason'] !== 'forbidden_model'));
    expect(unverified).toHaveLength(40);
    const summaries = log.filter((l) => l['outcome'] === 'suppressed');
    expect(summaries.map((l) => [l['client'], l['suppressed']]).sort()).toEqual([
      ['2001:db8:66:1::/64', 1500 - 20],
      [v4, 1500 - 20],
    ]);
    expect(typeof summaries[0]!['since']).toBe('string');
  });

  it('a summary line follows when the window ends; metrics count what was left out', async () => {
    const path = await start('window', { auditUnverifiedPerAddress: 3, auditUnverifiedWindowMs: 200 });
    for (let i = 0; i < 10; i++) await post({ remoteAddress: '198.51.100.1' });
    await new Promise((r) => setTimeout(r, 250));
    await post({ remoteAddress: '198.51.100.1' });
    await server!.audit.flush();
    const log = await lines(path);
    expect(log.map((l) => l['outcome'])).toEqual(['denied', 'denied', 'denied', 'suppressed', 'denied']);
    expect(log[3]).toMatchObject({ client: '198.51.100.1', suppressed: 7 });
    const metrics = await server!.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/modelseal_audit_suppressed_total 7/);
  });

  it('a client that goes quiet gets its summary line from the periodic sweep, without another request', async () => {
    const path = await start('quiet', { auditUnverifiedPerAddress: 1, auditUnverifiedWindowMs: 200, reloadIntervalMs: 100 });
    // Listening: the periodic sweep runs in the keystore poll, which listen() starts.
    await server!.listen({ host: '127.0.0.1', port: 0 });
    for (let i = 0; i < 4; i++) await post({ remoteAddress: '198.51.100.3' });
    let summary: Line | undefined;
    for (let i = 0; i < 100 && !summary; i++) {
      await new Promise((r) => setTimeout(r, 50));
      summary = (await lines(path)).find((l) => l['outcome'] === 'suppressed');
    }
    expect(summary).toMatchObject({ client: '198.51.100.3', suppressed: 3 });
  });

  it('control characters from headers and token claims are escaped, long fields cut with a marker', async () => {
    const path = await start('escape', { auditFieldMaxLength: 64 });
    const sub = `eve\u001b[31m\u202e${'s'.repeat(100)}`;
    const token = await mintDevToken({ store, models: ['face'], sub, jti: 'esc' });
    expect((await post({ remoteAddress: '198.51.100.2', token, headers: { origin: 'https://a.example\u0085\u009b' } })).statusCode).toBe(200);
    await server!.audit.flush();
    const raw = await readFile(path, 'utf8');
    for (const c of ['\u001b', '\u0085', '\u009b', '\u202e']) expect(raw.includes(c)).toBe(false);
    const [line] = await lines(path);
    expect(line!['sub']).toBe(`eve\\u001b[31m\\u202e${'s'.repeat(64 - 9)}…[truncated, ${sub.length} chars]`);
    expect(line!['origin']).toBe('https://a.example\\u0085\\u009b');
  });
});

describe('AuditGate and boundField', () => {
  it('admits perClient lines per window, summarises the rest, and bounds the clients it tracks', () => {
    const gate = new AuditGate({ perClient: 2, windowMs: 1000, maxClients: 3 });
    const admitted = [0, 1, 2, 3].map(() => gate.admit('a', 0).write);
    expect(admitted).toEqual([true, true, false, false]);
    expect(gate.admit('a', 1000)).toEqual({ write: true, ended: { client: 'a', suppressed: 2, since: 0, until: 1000 } });
    for (const c of ['b', 'c', 'd', 'e', 'f']) gate.admit(c, 1000);
    expect(gate.size).toBe(4); // a, b, c and the shared bucket of the rest
    expect(gate.sweep(5000, true)).toEqual([{ client: '(other clients)', suppressed: 1, since: 1000, until: 5000 }]);
    expect(gate.size).toBe(0);
  });

  it('boundField escapes controls and cuts with a marker naming the original length', () => {
    expect(boundField('ok', 10)).toBe('ok');
    expect(boundField('a\nb\u007f', 10)).toBe('a\\u000ab\\u007f');
    expect(boundField('x'.repeat(20), 10)).toBe(`${'x'.repeat(10)}…[truncated, 20 chars]`);
  });
});
