// The local keystore: secrets in 0600 files, keys bound to their model and key id, damage reported
// with a code, never a crash and never a silently new master key.

import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caughtModelsealError } from '../helpers/expect-code.js';
import { ModelsealError } from '../../format/errors.js';
import { FileKeyStore } from '../../keyserver/index.js';
import { lockStore, onStaleLockReclaimed, writeWhileHeld } from '../../keystore/lock.js';
import type { MasterKeyProvider } from '../../keystore/master/types.js';

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
    expect(err.message).toMatch(/keys\.json is damaged: not valid JSON \(.*\); restore it from a backup/);
  });

  it('refuses duplicate members and entries with bad fields (keystore_invalid), never reading them as fewer or other keys', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    await store.rotate('face');
    const good = await readFile(join(dir, 'keys.json'), 'utf8');
    const doc = JSON.parse(good) as { keys: Array<Record<string, unknown>> };
    const entry = (edit: (k: Record<string, unknown>) => void) => {
      const copy = structuredClone(doc);
      edit(copy.keys[0]!);
      return JSON.stringify(copy);
    };
    const cases: Array<[string, RegExp]> = [
      // A bad hand merge: JSON.parse keeps the last "keys", an empty store the next write would make final.
      [good.replace(/\n}\n$/, ',\n  "keys": []\n}\n'), /member "keys" appears twice/],
      [good.replace('"state": "active"', '"state": "revoked", "state": "active"'), /member "state" appears twice/],
      [entry((k) => { delete k['createdAt']; }), /key entry 0 \(face k1\): createdAt is not a date/],
      [entry((k) => { k['createdAt'] = 5; }), /createdAt is not a date/],
      [entry((k) => { k['expiresAt'] = 'not a date'; }), /expiresAt is not a date/],
      [entry((k) => { k['revokedAt'] = { a: 1 }; }), /revokedAt is not a date/],
      [entry((k) => { k['keyId'] = 'k1e+25'; }), /the model id or key id is not valid/],
      [entry((k) => { k['wrapped'] = '!!!'; }), /wrapped is not base64url/],
      [JSON.stringify({ ...doc, keys: [doc.keys[0], doc.keys[0]] }), /key entry 1 \(face k1\) appears twice/],
    ];
    for (const [text, message] of cases) {
      await writeFile(join(dir, 'keys.json'), text);
      const err = await caughtModelsealError(FileKeyStore.open(dir));
      expect(err.code, text).toBe('keystore_invalid');
      expect(err.message).toMatch(message);
    }
    await writeFile(join(dir, 'keys.json'), good);
    expect((await (await FileKeyStore.open(dir)).store.list()).map((k) => k.keyId)).toEqual(['k1']);
    // A version numbered by hand past 2^53: the next is counted exactly (not k1e+22, which is no id).
    await writeFile(join(dir, 'keys.json'), entry((k) => { k['keyId'] = 'k9999999999999999999999'; }));
    const { store: big } = await FileKeyStore.open(dir);
    expect((await big.rotate('face')).record.keyId).toBe('k10000000000000000000000');
  });

  it('a writer removes the temp files a killed writer left (owner file and keys.json), never a .replaced copy', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    const left = ['.keys.lock.owner.0123456789ab.tmp', '.keys.json.0123456789ab.tmp', '.keys.json.0123456789ab.replaced'];
    for (const name of left) await writeFile(join(dir, name), 'left by a killed writer');
    await store.rotate('face');
    const names = await readdir(dir);
    expect(left.filter((n) => names.includes(n))).toEqual(['.keys.json.0123456789ab.replaced']);
  });

  it('a keys.json link to nothing (an unmounted volume) is io_error, never an empty store; a write through a link is refused', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    await store.rotate('face');
    const real = join(dir, '..', 'real-keys.json');
    await rename(join(dir, 'keys.json'), real);
    await symlink(join(dir, '..', 'not-mounted', 'keys.json'), join(dir, 'keys.json'));
    const dangling = await caughtModelsealError(FileKeyStore.open(dir));
    expect(dangling.code).toBe('io_error');
    expect(dangling.message).toMatch(/keys\.json is a symbolic link to .*not-mounted\/keys\.json, which does not exist: mount or restore it/);
    await rm(join(dir, 'keys.json'));
    await symlink(real, join(dir, 'keys.json'));
    const { store: linked } = await FileKeyStore.open(dir);
    expect((await linked.list()).map((k) => k.keyId)).toEqual(['k1']);
    const write = await caughtModelsealError(linked.rotate('face'));
    expect(write.message).toMatch(/keys\.json is a symbolic link to .*real-keys\.json: a write replaces keys\.json whole/);
    expect((await lstat(join(dir, 'keys.json'))).isSymbolicLink()).toBe(true);
    expect(JSON.parse(await readFile(real, 'utf8')).keys).toHaveLength(1);
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

  it('keys.lock that is a file, not a folder: io_error naming it and what to do', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    await writeFile(join(dir, 'keys.lock'), '');
    const err = await caughtModelsealError(store.rotate('face'));
    expect(err.code).toBe('io_error');
    expect(err.message).toContain(`${join(dir, 'keys.lock')} is a file, where modelseal keeps a lock folder`);
  });

  it('a lock whose owner process has ended is reclaimed at once, and the reclaim is reported', async () => {
    const { store } = await FileKeyStore.open(dir, { create: true });
    // A real, finished process: its pid names no running process (unless reused, then the lock is outwaited).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const pid = Number(dead.stdout);
    await mkdir(join(dir, 'keys.lock'));
    const owner = { pid, host: hostname(), since: '2026-01-01T00:00:00.000Z', token: 'x' };
    // Another process table under the same hostname (another container, another host's boot), or an
    // owner file that does not say: the pid means nothing here, so the lock is outwaited, not reclaimed.
    for (const processTable of ['another-boot-id/pid:[4026531836]', undefined]) {
      await writeFile(join(dir, 'keys.lock.owner'), JSON.stringify({ ...owner, processTable }));
      const err = await caughtModelsealError(lockStore(dir, { waitMs: 300 }));
      expect(err.message).toContain(`is locked by process ${pid}`);
    }
    const ours = `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
    await writeFile(join(dir, 'keys.lock.owner'), JSON.stringify({ ...owner, processTable: ours }));
    const notes: string[] = [];
    onStaleLockReclaimed((m) => notes.push(m));
    await store.rotate('face');
    expect(notes).toEqual([`removed a stale keystore lock ${join(dir, 'keys.lock')} left by process ${pid} (no longer running) since 2026-01-01T00:00:00.000Z`]);
    expect((await readdir(dir)).filter((n) => n.startsWith('keys.lock'))).toEqual([]);
  });

  it('a writer whose lock was taken over while it was paused writes nothing; one that loses it during its write keeps the replaced document and names it', async () => {
    const { store: first } = await FileKeyStore.open(dir, { create: true });
    await first.rotate('face');
    const before = await readFile(join(dir, 'keys.json'), 'utf8');
    // A master key whose wrap stalls past the stale time (a slow KMS call) while another writer takes the lock over.
    const takeOver = () => writeFile(join(dir, 'keys.lock.owner'), JSON.stringify({ pid: 1, host: 'other', since: '2026-01-01T00:00:00.000Z', token: 'theirs' }));
    const master = first.master;
    const stalling: MasterKeyProvider = { id: master.id, uri: master.uri, unwrap: (w, a) => master.unwrap(w, a), wrap: async (k, a) => (await takeOver(), master.wrap(k, a)) };
    const { store } = await FileKeyStore.open(dir, { master: stalling });
    const paused = await caughtModelsealError(store.rotate('face'));
    expect(paused.code).toBe('io_error');
    expect(paused.message).toMatch(/lost the keystore lock .*keys\.lock to process 1 on other: it was paused for more than 10 s.*run the command again/);
    expect(await readFile(join(dir, 'keys.json'), 'utf8')).toBe(before);
    // And it left the other writer's lock alone.
    expect(JSON.parse(await readFile(join(dir, 'keys.lock.owner'), 'utf8'))).toMatchObject({ token: 'theirs' });
    expect((await stat(join(dir, 'keys.lock'))).isDirectory()).toBe(true);
    // Lost while the new file was being written (paused in its fsync): checked again right before the rename, so nothing is written.
    const lost = () => new ModelsealError('io_error', 'lost the keystore lock; run the command again');
    let checks = 0;
    const pausedInWrite = { assertHeld: async () => { if (checks++ > 0) throw lost(); } };
    expect((await caughtModelsealError(writeWhileHeld(pausedInWrite, join(dir, 'keys.json'), '{}\n'))).message).toBe('lost the keystore lock; run the command again');
    expect(await readFile(join(dir, 'keys.json'), 'utf8')).toBe(before);
    // Another writer replaced the file meanwhile while the lock still looked held: nothing is written either.
    const base = await stat(join(dir, 'keys.json'));
    await writeFile(join(dir, 'keys.json.new'), before);
    await rename(join(dir, 'keys.json.new'), join(dir, 'keys.json'));
    const replaced = await caughtModelsealError(writeWhileHeld({ assertHeld: async () => undefined }, join(dir, 'keys.json'), '{}\n', base));
    expect(replaced.message).toMatch(/^another writer replaced .*keys\.json while this command was working on it .*nothing was written; run the command again$/);
    expect(await readFile(join(dir, 'keys.json'), 'utf8')).toBe(before);
    // Lost between those checks and the rename: the replaced file is kept and named.
    checks = 0;
    const losing = { assertHeld: async () => { if (checks++ > 1) throw lost(); } };
    const during = await caughtModelsealError(writeWhileHeld(losing, join(dir, 'keys.json'), '{}\n'));
    const kept = /is (\S+\.replaced)/.exec(during.message)?.[1];
    expect(kept, during.message).toBeDefined();
    expect(await readFile(kept!, 'utf8')).toBe(before);
    // Held throughout: written, and no copy left.
    await writeWhileHeld({ assertHeld: async () => undefined }, join(dir, 'keys.json'), before);
    expect((await readdir(dir)).filter((n) => n.endsWith('.replaced'))).toEqual([kept!.split('/').pop()]);
  });
});
