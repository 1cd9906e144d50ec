// The local keystore: secrets in 0600 files, keys bound to their model and key id, damage reported
// with a code, never a crash and never a silently new master key.

import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caughtModelsealError } from '../helpers/expect-code.js';
import { FileKeyStore } from '../../keyserver/index.js';
import { lockStore, onStaleLockReclaimed } from '../../keystore/lock.js';

let dir: string;

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'modelseal-keystore-')), 'store');
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

describe('FileKeyStore', () => {
  it('creates the folder 0700 and every secret file 0600', async () => {
    const { store, created } = await FileKeyStore.open(dir, { create: true });
    expect(created).toBe(true);
    await store.rotate('face');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of ['master.key', 'keys.json', 'token.secret']) {
      expect((await stat(join(dir, name))).mode & 0o777, name).toBe(0o600);
    }
  });

  it('keeps no content key in clear in keys.json', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    const { key } = await store.rotate('face');
    const text = await readFile(join(dir, 'keys.json'), 'utf8');
    for (const form of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(Buffer.from(key).toString(form));
  });

  it('binds each wrapped key to its model and key id: a wrapped key moved to another entry does not unwrap', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    await store.rotate('face');
    await store.rotate('pose');
    const doc = JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8'));
    doc.keys[1].wrapped = doc.keys[0].wrapped;
    await writeFile(join(dir, 'keys.json'), JSON.stringify(doc));
    const reopened = (await FileKeyStore.open(dir)).store;
    expect((await reopened.get('face', 'k1'))?.key).toHaveLength(32);
    const err = await caughtModelsealError(reopened.get('pose', 'k1'));
    expect(err.code).toBe('master_key_wrong');
    expect(err.message).toMatch(/cannot unwrap key k1 of model pose/);
  });

  it('refuses a damaged keys.json with keystore_invalid', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    await store.rotate('face');
    await writeFile(join(dir, 'keys.json'), '{"version": "modelseal-keystore/1", "keys": [');
    const err = await caughtModelsealError(FileKeyStore.open(dir));
    expect(err.code).toBe('keystore_invalid');
    expect(err.message).toMatch(/keys\.json is damaged: not JSON; restore it from a backup/);
  });

  it('refuses a damaged master key file and never replaces it', async () => {
    await (await FileKeyStore.open(dir, { create: true })).store.rotate('face');
    await writeFile(join(dir, 'master.key'), 'modelseal-master-key/1:short\n');
    const err = await caughtModelsealError(FileKeyStore.open(dir, { create: true }));
    expect(err.code).toBe('master_key_wrong');
    expect(await readFile(join(dir, 'master.key'), 'utf8')).toBe('modelseal-master-key/1:short\n');
  });

  it('refuses an id that is not URL- and file-name-safe', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    const err = await caughtModelsealError(store.rotate('../etc'));
    expect(err.code).toBe('usage');
  });

  it('twenty concurrent creators of a new store end with one master key, and every key they made unwraps', async () => {
    const opened = await Promise.all(Array.from({ length: 20 }, () => FileKeyStore.open(dir, { create: true })));
    expect(opened.filter((o) => o.created)).toHaveLength(1);
    await Promise.all(opened.map(({ store }, i) => store.rotate(`m${i}`)));
    const { store } = await FileKeyStore.open(dir);
    const keys = await store.list();
    expect(keys).toHaveLength(20);
    for (const k of keys) expect((await store.get(k.modelId, k.keyId))?.key).toHaveLength(32);
    expect((await readdir(dir)).sort()).toEqual(['keys.json', 'master.key', 'token.secret']);
  });

  it('a store left with only token.secret (a crash before master.key) is completed by the next creator, keeping the secret', async () => {
    await mkdir(dir, { mode: 0o700 });
    await writeFile(join(dir, 'token.secret'), `${Buffer.alloc(32, 3).toString('base64url')}\n`, { mode: 0o600 });
    await expect(FileKeyStore.open(dir)).rejects.toMatchObject({ code: 'master_key_missing' });
    const { store, created } = await FileKeyStore.open(dir, { create: true });
    expect(created).toBe(true);
    expect(Buffer.from(await store.tokenSecret())).toEqual(Buffer.alloc(32, 3));
    expect((await store.rotate('face')).key).toHaveLength(32);
  });

  it('a lock held by a live process: the writer waits, then fails naming the holder, the lock folder and what to do', async () => {
    await FileKeyStore.open(dir, { create: true });
    const release = await lockStore(dir);
    try {
      const err = await caughtModelsealError(lockStore(dir, { waitMs: 300 }));
      expect(err.code).toBe('io_error');
      expect(err.message).toContain(`the keystore ${dir} is locked by process ${process.pid} on ${hostname()}`);
      expect(err.message).toContain(`remove the folder ${join(dir, 'keys.lock')} and retry`);
    } finally {
      await release();
    }
    await (await lockStore(dir))();
  });

  it('a lock whose owner process has ended is reclaimed at once, and the reclaim is reported', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    // A real, finished process: its pid names no running process (unless reused, then the lock is outwaited).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(dead.stdout);
    await mkdir(join(dir, 'keys.lock'));
    await writeFile(join(dir, 'keys.lock.owner'), JSON.stringify({ pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', token: 'x' }));
    const notes: string[] = [];
    onStaleLockReclaimed((m) => notes.push(m));
    await store.rotate('face');
    expect(notes).toEqual([`removed a stale keystore lock ${join(dir, 'keys.lock')} left by process ${pid} (no longer running) since 2026-01-01T00:00:00.000Z`]);
    expect((await readdir(dir)).filter((n) => n.startsWith('keys.lock'))).toEqual([]);
  });
});
