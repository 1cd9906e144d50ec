// Smaller parts of the key server: policy lookup, the release counter, server key reuse, and the
// audit log's reopen (what SIGHUP does after logrotate).

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { renameSync } from 'node:fs';
import { pino } from 'pino';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { AuditLog, createKeyServer, mintDevToken, resolveConfig } from '../../keyserver/index.js';
import { MemoryReleaseCounter } from '../../keyserver/counter.js';
import { policyFor } from '../../keyserver/policy.js';
import { ServerEphemeralKeys } from '../../keyserver/wrap.js';
import { startKeyServer } from '../helpers/key-server.js';
import { RELAXED, release, startFixture, startServer, until, type ReleaseJson } from './helpers.js';

describe('policyFor', () => {
  const config = resolveConfig({
    defaults: { origins: null, releasesPerToken: 9, ratePerSubject: 1, ratePerAddress: 1 },
    models: { 'face-*': { releasesPerToken: 2 }, 'face-pro-*': { releasesPerToken: 1 }, 'face-pro-x': { origins: ['https://a.example'] } },
  });
  it('exact id wins, then the most specific pattern, then defaults; entries merge over defaults', () => {
    expect(policyFor(config, 'face-pro-x').policy).toMatchObject({ origins: ['https://a.example'], releasesPerToken: 9 });
    expect(policyFor(config, 'face-pro-y')).toMatchObject({ name: 'face-pro-*', policy: { releasesPerToken: 1 } });
    expect(policyFor(config, 'face-lite')).toMatchObject({ name: 'face-*', policy: { releasesPerToken: 2 } });
    expect(policyFor(config, 'hand')).toMatchObject({ name: '', policy: { releasesPerToken: 9 } });
    // An id that names an Object.prototype member is no exact entry.
    for (const id of ['constructor', 'toString', 'valueOf']) expect(policyFor(config, id)).toMatchObject({ name: '', policy: { releasesPerToken: 9 } });
  });
});

describe('MemoryReleaseCounter', () => {
  it('counts up to the cap per id, and forgets an id once its token expired', () => {
    const c = new MemoryReleaseCounter();
    const later = Date.now() + 60_000;
    expect(c.take('a', 2, later)).toBe(true);
    expect(c.take('a', 2, later)).toBe(true);
    expect(c.take('a', 2, later)).toBe(false);
    expect(c.take('b', 2, later)).toBe(true);
    expect(c.take('old', 1, Date.now() - 1)).toBe(true);
    // The entry for "old" has expired, so a new count starts (the token itself is refused as expired anyway).
    expect(c.take('old', 1, Date.now() + 1000)).toBe(true);
    expect(c.take('old', 1, Date.now() + 1000)).toBe(false);
  });
});

describe('server ECDH key reuse', () => {
  it('a fresh server key per release by default; one reused key only when serverKeyReuseSeconds is set', async () => {
    const f = await startFixture();
    const reuse = await startServer(f.store.dir, { serverKeyReuseSeconds: 10 });
    try {
      const token = await mintDevToken({ store: f.store, models: ['face'] });
      const epkOf = async (server: typeof reuse) => JSON.stringify(decodeProtectedHeader((await release(server, token)).json.key)['epk']);
      expect(await epkOf(f.server)).not.toBe(await epkOf(f.server));
      expect(await epkOf(reuse)).toBe(await epkOf(reuse));
      // The reused key still yields a JWE the loader's side decrypts to the content key.
      const r = await release(reuse, token);
      expect(Buffer.from(r.key!).equals(Buffer.from(f.faceKey))).toBe(true);
    } finally {
      await reuse.close();
      await f.close();
    }
  });

  it("the start-up self-test passes with the pinned jose on both curves and both algorithms, and is skipped without reuse", async () => {
    for (const alg of ['ECDH-ES+A256KW', 'ECDH-ES'] as const) expect(await new ServerEphemeralKeys(10_000).selfTest(alg)).toBeUndefined();
    expect(new ServerEphemeralKeys(0).reusing).toBe(false);
    expect(await new ServerEphemeralKeys(0).selfTest('ECDH-ES')).toBeUndefined();
  });

  it('the self-test names the curve when the reused key is not the one jose can use', async () => {
    // A key on another curve stands in for a jose that drops or mishandles the epk parameter.
    class OtherCurve extends ServerEphemeralKeys {
      override get(): Promise<CryptoKey> {
        return (crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits']) as Promise<CryptoKeyPair>).then((p) => p.privateKey);
      }
    }
    expect(await new OtherCurve(10_000).selfTest('ECDH-ES+A256KW')).toMatch(/^jose P-256: /);
  });
});

describe('a damaged keystore while running', () => {
  it('keeps serving the last good state (damaged or removed keys.json), says so in the log, and readyz turns 503 until it is fixed', async () => {
    const f = await startFixture();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    // Listening: the keystore poll that finds the damage starts with listen(). No key cache: every
    // release unwraps, from the last good read of keys.json.
    const { server, url } = await startKeyServer(f.store.dir, { auditLog: null, reloadIntervalMs: 50, masterKeyCacheSeconds: 0 }, { base: RELAXED, logger });
    try {
      const token = await mintDevToken({ store: f.store, models: ['face'] });
      expect((await release(url, token)).status).toBe(200);
      const good = await readFile(f.store.keysPath);
      await writeFile(f.store.keysPath, '{"version": "modelseal-keystore/1", "keys": [tru');
      await until(() => lines.some((l) => l.includes('keystore reload failed')));
      const r = await release(url, token);
      expect(r.status).toBe(200);
      expect(Buffer.from(r.key!).equals(Buffer.from(f.faceKey))).toBe(true);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as ReleaseJson).error).toMatchObject({ code: 'unavailable', message: expect.stringContaining('keystore') });
      await writeFile(f.store.keysPath, good);
      await until(async () => (await fetch(`${url}/readyz`)).status === 200);
      // Removed (no modelseal command does that): a failed read too, not an empty store.
      const failures = () => lines.filter((l) => l.includes('keystore reload failed')).length;
      const before = failures();
      await rm(f.store.keysPath);
      await until(() => failures() > before);
      expect(lines.at(-1)).toContain('the keystore lists no key versions any more, after 1');
      const kept = await release(url, token);
      expect(kept.status).toBe(200);
      expect(Buffer.from(kept.key!).equals(Buffer.from(f.faceKey))).toBe(true);
      expect((await fetch(`${url}/readyz`)).status).toBe(503);
      await writeFile(f.store.keysPath, good);
      await until(async () => (await fetch(`${url}/readyz`)).status === 200);
      // The operational log never carries key material either.
      const log = lines.join('');
      const k = Buffer.from(f.faceKey);
      for (const form of [k.toString('hex'), k.toString('base64'), k.toString('base64url')]) expect(log.includes(form)).toBe(false);
    } finally {
      await server.close();
      await f.close();
    }
  });
});

describe('AuditLog', () => {
  it('an audit log that cannot be written (disk full) lets releases go on, counts the failed writes, and logs once a minute', async () => {
    const f = await startFixture();
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const { server, url } = await startKeyServer(f.store.dir, { auditLog: '/dev/full' }, { base: RELAXED, logger });
    try {
      const token = await mintDevToken({ store: f.store, models: ['face'] });
      for (let i = 0; i < 3; i++) expect((await release(url, token)).status).toBe(200);
      // sonic-boom reports a failed synchronous write more than once (measured: twice).
      const count = async () => Number(/^modelseal_audit_write_errors_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
      await until(async () => (await count()) >= 3);
      expect(lines.filter((l) => l.includes('audit log write failed'))).toHaveLength(1);
    } finally {
      await server.close();
      await f.close();
    }
  });

  it('an audit log that cannot be opened stops the start with config_invalid', async () => {
    const f = await startFixture();
    try {
      const path = join(f.store.dir, 'keys.json', 'audit.log'); // under a file: cannot exist
      await expect(createKeyServer({ store: f.store.dir, config: { ...RELAXED, auditLog: path } })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('cannot open the audit log') });
      // Paths that hung the start for good (SIGTERM could not stop it): a FIFO nothing reads, and a
      // folder Node's recursive mkdir tries to make forever.
      const fifo = join(f.store.dir, 'audit.fifo');
      execFileSync('mkfifo', [fifo]);
      await expect(createKeyServer({ store: f.store.dir, config: { ...RELAXED, auditLog: fifo } })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('is a FIFO that nothing reads') });
      await expect(createKeyServer({ store: f.store.dir, config: { ...RELAXED, auditLog: '/proc/self/nope/audit.log' } })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('cannot open the audit log /proc/self/nope/audit.log') });
    } finally {
      await f.close();
    }
  });

  it('writes one JSON line per entry, reopens after the file was moved, and flushes on close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelseal-audit-'));
    try {
      const path = join(dir, 'audit.log');
      const log = new AuditLog(path);
      const entry = { modelId: 'm', keyId: 'k1', sub: undefined, jti: 'j', client: '127.0.0.1', origin: undefined, outcome: 'denied' as const, reason: 'invalid_token', status: 401 };
      await log.ready();
      log.write(entry);
      // No flush between: a reopen and a close right after a write is the order that hung an
      // asynchronous destination (the close was dropped), so the test keeps it.
      renameSync(path, `${path}.1`); // synchronous, so no write callback can run in between
      log.reopen();
      log.write({ ...entry, outcome: 'release', reason: undefined, status: 200 });
      await log.close();
      const first = (await readFile(`${path}.1`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      const second = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(first).toHaveLength(1);
      expect(first[0]).toMatchObject({ modelId: 'm', sub: null, origin: null, outcome: 'denied', reason: 'invalid_token', status: 401 });
      expect(Object.keys(first[0])[0]).toBe('time');
      expect(second).toEqual([expect.objectContaining({ outcome: 'release', reason: null, status: 200 })]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a reopen that cannot open the file reports it and keeps writing to the open file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'modelseal-audit-'));
    try {
      const path = join(dir, 'logs', 'audit.log');
      const errors: string[] = [];
      const log = new AuditLog(path, { onError: (err) => errors.push(err.message) });
      await log.ready();
      const entry = { modelId: 'm', keyId: 'k1', sub: 's', jti: 'j', client: '127.0.0.1', origin: undefined, outcome: 'release' as const, reason: undefined, status: 200 };
      await rename(join(dir, 'logs'), join(dir, 'moved'));
      await writeFile(join(dir, 'logs'), 'a file where the folder was');
      log.reopen();
      await until(() => errors.length > 0);
      expect(errors[0]).toMatch(/EEXIST|ENOTDIR/);
      log.write(entry);
      await log.close();
      const lines = (await readFile(join(dir, 'moved', 'audit.log'), 'utf8')).trim().split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual([expect.objectContaining({ sub: 's', outcome: 'release' })]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
