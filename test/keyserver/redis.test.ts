// Replicas and workers on one real Redis (issue 10): three `modelseal serve` processes behind a
// round-robin proxy share the release cap and the rate limits exactly, see a revocation within a
// second through the change notice, fail closed (503) while Redis is down and resume when it is back;
// `serve --workers 2` shares the cap on one port. Every wait is a bounded loop.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createClient } from 'redis';
import { FileKeyStore, SharedStateUnavailable, createKeyServer, loadConfig, mintDevToken, resolveConfig, type ReleaseCounter, type RequestLimiter } from '../../keyserver/index.js';
import { isModelsealError } from '../../format/index.js';
import { run, serveBin, type ServedBin } from '../helpers/bin.js';
import { RELAXED, clientKey, release, rotatePublished, TEST_SEALING } from './helpers.js';
import { roundRobin, startRedis, type RedisProcess } from './redis-server.js';

/** Polls `check` up to `tries` times, `everyMs` apart; false when it never held. */
async function eventually(check: () => Promise<boolean> | boolean, tries: number, everyMs: number): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

/** Starts `modelseal serve` with `args`; resolves once it printed its URL. */
function serve(args: string[], env: Record<string, string>) {
  return serveBin(args, { env });
}

async function statuses(results: Promise<{ status: number; json: { error?: { code: string } } }>[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const r of await Promise.all(results)) {
    const k = r.status === 200 ? '200' : `${r.status} ${r.json.error?.code}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

describe('replicas and workers on one Redis', () => {
  let redis: RedisProcess;
  let dir: string;
  let store: FileKeyStore;
  let configFile: string;
  let env: Record<string, string>;
  const replicas: ServedBin[] = [];
  let proxy: Awaited<ReturnType<typeof roundRobin>>;

  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'modelseal-redis-ks-'));
    store = (await FileKeyStore.open(join(dir, 'store'), { create: true })).store;
    for (const m of ['face', 'cap', 'rl', 'rev', 'hup']) await rotatePublished(store, m);
    configFile = join(dir, 'keyserver.json');
    // Polling every minute: within the tests, only the Redis change notice can deliver a revocation.
    await writeFile(configFile, JSON.stringify({
      logLevel: 'warn',
      reloadIntervalMs: 60_000,
      // Every refused request's line is kept (an outage refuses before the token is checked).
      auditUnverifiedPerAddress: 0,
      // On two busy cores an event loop can stall past a short deadline; the outage below is a closed connection.
      redisCommandTimeoutMs: 5000,
      redisKeyPrefix: `t${randomUUID().slice(0, 8)}:`,
      defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 1_000_000, ratePerAddress: 1_000_000 },
      models: { cap: { releasesPerToken: 5 }, rl: { ratePerAddress: 30 } },
    }));
    env = { MODELSEAL_CONFIG: configFile };
    for (let i = 0; i < 3; i++) replicas.push(await serve(['--store', store.dir, '--redis', redis.url], { ...env, MODELSEAL_AUDIT_LOG: join(dir, `replica-${i}.log`) }));
    proxy = await roundRobin(replicas.map((r) => r.url));
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    for (const r of replicas) r.child.kill('SIGKILL');
    await redis?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a token capped at 5: 50 concurrent releases spread over three replicas give exactly 5', async () => {
    const token = await mintDevToken({ store, models: ['cap'], jti: `cap-${randomUUID()}` });
    const counts = await statuses(Array.from({ length: 50 }, () => release(proxy.url, token, 'cap', 'k1')));
    expect(Object.fromEntries(counts)).toEqual({ '200': 5, '403 release_limit': 45 });
    // The replicas' own metrics agree: 5 releases in all, and every replica refused some.
    let total = 0;
    for (const r of replicas) {
      total += await metric(r.url, 'modelseal_releases_total{');
      expect(await metric(r.url, 'modelseal_denials_total{reason="release_limit"}')).toBeGreaterThan(0);
    }
    expect(total).toBe(5);
  });

  it('a rate limit of 30 per window admits exactly 30 across the replicas', async () => {
    const token = await mintDevToken({ store, models: ['rl'] });
    const results = await Promise.all(Array.from({ length: 50 }, () => release(proxy.url, token, 'rl', 'k1')));
    expect(results.filter((r) => r.status === 200)).toHaveLength(30);
    const limited = results.filter((r) => r.status === 429);
    expect(limited).toHaveLength(20);
    for (const r of limited) {
      expect(r.json.error.code).toBe('rate_limited');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('`keys revoke` with MODELSEAL_REDIS_URL: all three replicas refuse the key within 1 s, without SIGHUP or a poll', async () => {
    const token = await mintDevToken({ store, models: ['rev'] });
    for (const r of replicas) expect((await release(r.url, token, 'rev', 'k1')).status).toBe(200);
    const cli = run(['keys', 'revoke', 'rev', '--key-id', 'k1', '--store', store.dir], { env: { MODELSEAL_REDIS_URL: redis.url, MODELSEAL_REDIS_KEY_PREFIX: JSON.parse(await readFile(configFile, 'utf8')).redisKeyPrefix } });
    expect(cli.stderr).not.toContain('warning');
    expect(cli.code).toBe(0);
    const refusedEverywhere = async () => {
      for (const r of replicas) if ((await release(r.url, token, 'rev', 'k1')).json.error?.code !== 'key_revoked') return false;
      return true;
    };
    expect(await eventually(refusedEverywhere, 20, 50)).toBe(true);
    for (const r of replicas) expect(await metric(r.url, 'modelseal_keystore_notices_total')).toBeGreaterThan(0);
  });

  it('Redis frozen (connection open, no answers): a release fails fast with 503 after redisCommandTimeoutMs, then works when Redis thaws', async () => {
    const server = await createKeyServer({ store, config: { ...RELAXED, auditLog: null, redis: redis.url, redisKeyPrefix: `frozen${randomUUID().slice(0, 8)}:`, redisCommandTimeoutMs: 300 } });
    const { publicJwk } = await clientKey();
    const token = await mintDevToken({ store, models: ['face'] });
    const post = async () => (await server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk } })).statusCode;
    try {
      expect(await post()).toBe(200);
      redis.pause();
      // No wall-clock assertion: had the request hung, the test timeout would end it.
      expect(await post()).toBe(503);
      expect((await server.app.inject({ url: '/readyz' })).statusCode).toBe(503);
      expect((await server.app.inject({ url: '/metrics' })).body).toMatch(/modelseal_redis_errors_total\{kind="command"\} [1-9]/);
    } finally {
      redis.resume();
    }
    expect(await eventually(async () => (await post()) === 200, 50, 100)).toBe(true);
    await server.close();
  });

  it('Redis that answers but refuses (an ACL without PEXPIREAT): 503 saying so, readyz 503, one log line; a far-off token exp is clamped, not refused', async () => {
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '&*', '+@all', '-pexpireat']);
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const config = { ...RELAXED, logLevel: 'warn' as const, auditLog: null, redisKeyPrefix: `acl${randomUUID().slice(0, 8)}:`, defaults: { ...RELAXED.defaults, releasesPerToken: 3 } };
    const limited = await createKeyServer({ store, logger, config: { ...config, redis: `redis://limited:pw@127.0.0.1:${redis.port}` } });
    const full = await createKeyServer({ store, config: { ...config, logLevel: 'silent', tokens: { maxLifetimeSeconds: 0 }, redis: redis.url } });
    const { publicJwk } = await clientKey();
    const post = async (server: typeof limited, token: string) => server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk } });
    try {
      const token = await mintDevToken({ store, models: ['face'] });
      for (let i = 0; i < 3; i++) {
        const r = await post(limited, token);
        expect(r.statusCode).toBe(503);
        expect(r.json().error).toMatchObject({ code: 'unavailable', message: expect.stringContaining('refuses the key server\'s commands') });
      }
      const ready = await limited.app.inject({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.body).toMatch(/refuses the release cap's commands: Redis refused a command: .*NOPERM/);
      // Logged once for the three requests and the probe, not per request.
      const refusals = lines.filter((l) => String(l['msg']).startsWith('Redis refused a command'));
      expect(refusals).toHaveLength(1);
      expect(String(refusals[0]!['reply'])).toMatch(/NOPERM/);
      // exp 10^17 s (maxLifetimeSeconds 0 allows it): Redis would refuse that expiry; the cap keeps a century.
      const { SignJWT } = await import('jose');
      const farOff = await new SignJWT({ models: ['face'], jti: randomUUID() }).setProtectedHeader({ alg: 'HS256' }).setIssuer('modelseal-dev').setAudience('modelseal').setIssuedAt().setExpirationTime(1e17).sign(await store.tokenSecret());
      expect((await post(full, farOff)).statusCode).toBe(200);
    } finally {
      await limited.close();
      await full.close();
      await admin.sendCommand(['ACL', 'DELUSER', 'limited']);
      await admin.quit();
    }
  });

  it('Redis stopped: every replica answers 503 unavailable with Retry-After and stays up; Redis back: releases resume', async () => {
    const token = await mintDevToken({ store, models: ['cap', 'face'], jti: `outage-${randomUUID()}` });
    await redis.stop();
    // A capped model and a merely rate-limited one: both fail closed.
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => release(proxy.url, token, i % 2 ? 'cap' : 'face', 'k1')));
    expect(new Set(results.map((r) => `${r.status} ${r.json.error?.code}`))).toEqual(new Set(['503 unavailable']));
    for (const r of results) expect(r.headers.get('retry-after')).toBe('1');
    for (const r of replicas) {
      expect((await fetch(`${r.url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${r.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('unavailable');
      expect(await metric(r.url, 'modelseal_redis_errors_total')).toBeGreaterThan(0);
    }
    const audit = (await Promise.all(replicas.map((_, i) => readFile(join(dir, `replica-${i}.log`), 'utf8')))).join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.filter((l) => l['reason'] === 'unavailable' && l['status'] === 503).length).toBe(30);

    await redis.start();
    // Redis ran without persistence, so the counts started again from zero: a fresh token shows it.
    const fresh = await mintDevToken({ store, models: ['cap'], jti: `after-${randomUUID()}` });
    const servingAgain = async () => {
      for (const r of replicas) if ((await fetch(`${r.url}/readyz`)).status !== 200) return false;
      return true;
    };
    expect(await eventually(servingAgain, 100, 100)).toBe(true);
    const counts = await statuses(Array.from({ length: 12 }, () => release(proxy.url, fresh, 'cap', 'k1')));
    expect(Object.fromEntries(counts)).toEqual({ '200': 5, '403 release_limit': 7 });
    for (const r of replicas) expect(r.child.exitCode).toBeNull();
  });

  it('one replica killed with SIGKILL: the other two keep serving and still share the cap', async () => {
    const [dead, ...alive] = replicas as [ServedBin, ServedBin, ServedBin];
    dead.child.kill('SIGKILL');
    await dead.exited;
    const token = await mintDevToken({ store, models: ['cap'], jti: `kill-${randomUUID()}` });
    const counts = await statuses(Array.from({ length: 20 }, (_, i) => release(alive[i % 2]!.url, token, 'cap', 'k1')));
    expect(Object.fromEntries(counts)).toEqual({ '200': 5, '403 release_limit': 15 });
  });

  it('serve --workers 2: one port, exactly 5 of 50 releases, SIGHUP reaches every worker, SIGTERM drains both; refused without Redis', async () => {
    const refused = run(['serve', '--port', '0', '--workers', '2', '--store', store.dir], { env: { MODELSEAL_CONFIG: configFile } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--workers 2 needs shared state');

    const w = await serve(['--store', store.dir, '--redis', redis.url, '--workers', '2'], { ...env, MODELSEAL_AUDIT_LOG: join(dir, 'workers.log') });
    try {
      expect(w.stderr().match(/worker \d+ \(pid \d+\) listening/g)).toHaveLength(2);
      const token = await mintDevToken({ store, models: ['cap'], jti: `workers-${randomUUID()}` });
      const counts = await statuses(Array.from({ length: 50 }, () => release(w.url, token, 'cap', 'k1')));
      expect(Object.fromEntries(counts)).toEqual({ '200': 5, '403 release_limit': 45 });

      // A revocation written without a notice: only SIGHUP (forwarded to each worker) delivers it.
      const quiet = (await FileKeyStore.open(store.dir)).store;
      await quiet.revoke('hup', 'k1');
      w.child.kill('SIGHUP');
      const reloaded = new Set<string>();
      const bothReloaded = async () => {
        const text = await getFresh(`${w.url}/metrics`);
        const m = /^modelseal_keystore_reloads_total\{worker="(\d+)"\} (\d+)/m.exec(text);
        if (m && Number(m[2]) > 0) reloaded.add(m[1]!);
        return reloaded.size === 2;
      };
      expect(await eventually(bothReloaded, 40, 50)).toBe(true);
      const hupToken = await mintDevToken({ store, models: ['hup'] });
      expect((await release(w.url, hupToken, 'hup', 'k1')).json.error.code).toBe('key_revoked');

      w.child.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(w.stderr()).toContain('SIGTERM: stopping 2 workers');
    } finally {
      w.child.kill('SIGKILL');
    }
  });
});

/** GET over a new connection each time (so cluster workers take turns answering). */
function getFresh(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

describe('shared-state failures, in process (stores that cannot reach Redis)', () => {
  const down = () => Promise.reject(new SharedStateUnavailable('Redis is not connected'));
  const deadLimiter: RequestLimiter = { hit: down };
  const deadCounter: ReleaseCounter = { take: down };

  it('rate limits fail closed by default and open with rateLimitFailOpen; release caps never fail open', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelseal-failopen-'));
    const store = (await FileKeyStore.open(join(dir, 'store'), { create: true })).store;
    await rotatePublished(store, 'face');
    const { publicJwk } = await clientKey();
    const token = await mintDevToken({ store, models: ['face'], jti: 'fail-open' });
    const post = async (server: Awaited<ReturnType<typeof createKeyServer>>) => {
      const r = await server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk } });
      return { status: r.statusCode, code: (r.json() as { error?: { code: string } }).error?.code, retryAfter: r.headers['retry-after'] };
    };
    const make = (config: Record<string, unknown>, counter?: ReleaseCounter) => createKeyServer({ store, config: { ...RELAXED, auditLog: null, ...config }, limiter: deadLimiter, ...(counter ? { counter } : {}) });
    const closed = await make({});
    const open = await make({ rateLimitFailOpen: true });
    const capped = await make({ rateLimitFailOpen: true, defaults: { ...RELAXED.defaults, releasesPerToken: 3 } }, deadCounter);
    try {
      expect(await post(closed)).toEqual({ status: 503, code: 'unavailable', retryAfter: '1' });
      expect((await post(open)).status).toBe(200);
      expect((await open.app.inject({ url: '/metrics' })).body).toMatch(/modelseal_rate_limit_fail_open_total\{kind="address"\} 1/);
      expect(await post(capped)).toEqual({ status: 503, code: 'unavailable', retryAfter: '1' });
    } finally {
      for (const s of [closed, open, capped]) await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('config: redis must be a redis:// or rediss:// URL; MODELSEAL_REDIS_URL sets it', () => {
    for (const bad of ['http://cache:6379', 'redis:', 'localhost:6379', 42]) {
      let message = '';
      try {
        resolveConfig({ redis: bad });
      } catch (err) {
        expect(isModelsealError(err, 'config_invalid')).toBe(true);
        message = (err as Error).message;
      }
      expect(message).toContain('redis:// or rediss://');
    }
    expect(resolveConfig({ redis: 'rediss://user:pw@cache.internal:6380/2' }).redis).toBe('rediss://user:pw@cache.internal:6380/2');
    expect(loadConfig({ env: { MODELSEAL_REDIS_URL: 'redis://cache:6379', MODELSEAL_REDIS_KEY_PREFIX: 'app1:' } })).toMatchObject({ redis: 'redis://cache:6379', redisKeyPrefix: 'app1:' });
  });
});
