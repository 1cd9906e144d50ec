// The keystore's write lock: proper-lockfile's `keys.lock` folder (kept fresh while held, stale
// after STALE_MS), plus `keys.lock.owner` naming the holder's process and host. A writer that
// finds the lock held by a process that no longer runs on this host reclaims it at once; any
// other stale lock is waited out; a lock still held after the wait is reported with what to do.

import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import { copyFile, link, lstat, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { ModelsealError } from '../format/errors.js';
import { writeFileAtomic } from './atomic.js';
import { readRegularText } from './regular-file.js';

/** A lock folder not refreshed for this long belongs to a dead or hung writer (proper-lockfile's `stale`). */
export const STALE_MS = 10_000;
/** How long a writer waits for a held lock by default: longer than STALE_MS, so a stale lock is outwaited. */
export const LOCK_WAIT_MS = 25_000;

interface Owner {
  pid: number;
  host: string;
  since: string;
  token: string;
  /**
   * Where `pid` means something: the kernel's boot id and the PID namespace (Linux). Two containers
   * with one hostname, or two hosts of one name on a shared disk, have other process tables: a
   * writer reclaims a lock at once only when both match its own, and otherwise outwaits it.
   */
  processTable?: string;
}

/** The lock as its holder sees it: release it, or check that it is still this process's. */
export interface StoreLock {
  (): Promise<void>;
  /** Throws io_error when the lock was taken over (this process was paused past STALE_MS) or lost. */
  assertHeld(): Promise<void>;
}

/** This process's boot id and PID namespace, or undefined where /proc does not tell (not Linux). */
function processTable(): string | undefined {
  try {
    return `${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return undefined;
  }
}

const OWN_PROCESS_TABLE = processTable();

// Owner files of the locks this process holds, removed on exit (proper-lockfile removes the folder).
const held = new Map<string, string>();
process.once('exit', () => {
  for (const [ownerPath, token] of held) {
    try {
      if ((JSON.parse(readFileSync(ownerPath, 'utf8')) as Owner).token === token) unlinkSync(ownerPath);
    } catch {
      // Gone already, or not ours any more.
    }
  }
});

let reclaimReporter: ((message: string) => void) | undefined;

/** Sets where a note about a reclaimed stale lock goes (the CLI prints it on stderr). */
export function onStaleLockReclaimed(report: (message: string) => void): void {
  reclaimReporter = report;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function readOwner(path: string): Promise<Owner | undefined> {
  try {
    const o = JSON.parse(await readRegularText(path, 4096)) as Partial<Owner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.token === 'string' ? (o as Owner) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the lock when its owner file names a process of this host that has ended. The owner
 * file is claimed by renaming it, so of several waiters exactly one removes the lock.
 */
async function reclaimIfDead(lockPath: string, ownerPath: string): Promise<Owner | undefined> {
  const owner = await readOwner(ownerPath);
  if (!owner || owner.host !== hostname() || owner.processTable !== OWN_PROCESS_TABLE) return undefined;
  if (owner.pid === process.pid || isAlive(owner.pid)) return undefined;
  const claimed = `${ownerPath}.${randomBytes(6).toString('hex')}.reclaim`;
  try {
    await rename(ownerPath, claimed);
  } catch {
    return undefined; // another waiter claimed it first
  }
  const check = await readOwner(claimed);
  if (check?.token !== owner.token) {
    // A new holder wrote its owner file in between: give it back and leave its lock alone.
    await rename(claimed, ownerPath).catch(() => undefined);
    return undefined;
  }
  await rmdir(lockPath).catch(() => undefined);
  await rm(claimed, { force: true });
  return owner;
}

/** Takes the write lock of the keystore folder `dir`; resolves to the function that releases it. */
export async function lockStore(dir: string, options: { waitMs?: number } = {}): Promise<StoreLock> {
  const lockPath = join(dir, 'keys.lock');
  const ownerPath = join(dir, 'keys.lock.owner');
  const waitMs = options.waitMs ?? LOCK_WAIT_MS;
  let waited = 0;
  for (let attempt = 0; ; attempt++) {
    let release: () => Promise<void>;
    const state = { compromised: undefined as Error | undefined };
    try {
      // A lock found compromised (this process paused past STALE_MS, another writer took over) is
      // noted, not thrown from proper-lockfile's timer: the writer checks before and after writing.
      release = await lockfile.lock(dir, { lockfilePath: lockPath, stale: STALE_MS, retries: 0, onCompromised: (err) => (state.compromised = err) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A file where the lock folder goes would be "held" until it went stale, then fail with ENOTDIR.
      const isFile = code === 'ENOTDIR' || (code === 'ELOCKED' && (await lstat(lockPath).then((s) => !s.isDirectory(), () => false)));
      if (isFile) throw new ModelsealError('io_error', `cannot lock the keystore ${dir}: ${lockPath} is a file, where modelseal keeps a lock folder while it writes; if no modelseal command is running, remove that file and retry`, { cause: err, file: lockPath });
      if (code !== 'ELOCKED') throw err;
      const dead = await reclaimIfDead(lockPath, ownerPath);
      if (dead) {
        reclaimReporter?.(`removed a stale keystore lock ${lockPath} left by process ${dead.pid} (no longer running) since ${dead.since}`);
        continue;
      }
      if (waited >= waitMs) throw lockedError(dir, lockPath, await readOwner(ownerPath), waited);
      const delay = Math.min(20 * 2 ** Math.min(attempt, 4), 250);
      await sleep(delay);
      waited += delay;
      continue;
    }
    const owner: Owner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(9).toString('base64url'), ...(OWN_PROCESS_TABLE ? { processTable: OWN_PROCESS_TABLE } : {}) };
    try {
      await writeFileAtomic(ownerPath, `${JSON.stringify(owner)}\n`, 0o600);
    } catch (err) {
      await release();
      throw writeError(err, ownerPath);
    }
    held.set(ownerPath, owner.token);
    await removeLeftoverTemps(dir);
    const unlock = async () => {
      held.delete(ownerPath);
      // Taken over: the folder and the owner file are another writer's now (proper-lockfile's
      // refresh finds the folder's mtime changed and stops by itself).
      if (state.compromised || (await readOwner(ownerPath))?.token !== owner.token) return;
      // The owner file goes first: a lock folder without one is never reclaimed early, only outwaited.
      await rm(ownerPath, { force: true });
      await release().catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code !== 'ERELEASED') throw err;
      });
    };
    return Object.assign(unlock, {
      async assertHeld() {
        const now = await readOwner(ownerPath);
        if (!state.compromised && now?.token === owner.token) return;
        throw new ModelsealError('io_error', `this command lost the keystore lock ${lockPath}${now && now.token !== owner.token ? ` to process ${now.pid} on ${now.host}` : ''}: it was paused for more than ${STALE_MS / 1000} s, so another writer took the lock over; run the command again`, { file: lockPath, cause: state.compromised });
      },
    });
  }
}

// Temp files only a lock holder writes: the owner file's and keys.json's (keystore/atomic.ts names them).
const LEFTOVER_TEMP = /^\.keys\.(json|lock\.owner)\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes the temp files a writer killed mid-write left (a kill between creating one and its
 * rename): with the lock held, no other process is writing one. `.replaced` copies stay: they may
 * hold another writer's change.
 */
async function removeLeftoverTemps(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => LEFTOVER_TEMP.test(n)).map((n) => rm(join(dir, n), { force: true }).catch(() => undefined)));
}

function lockedError(dir: string, lockPath: string, owner: Owner | undefined, waited: number): ModelsealError {
  const who = owner ? ` by process ${owner.pid} on ${owner.host} since ${owner.since}` : '';
  return new ModelsealError(
    'io_error',
    `the keystore ${dir} is locked${who} (lock ${lockPath}, still held after ${Math.round(waited / 1000)} s): another modelseal command is writing to it. Retry when it has finished; if no modelseal command is running${owner ? ` on ${owner.host}` : ''}, remove the folder ${lockPath} and retry`,
    { file: lockPath },
  );
}

/** Which file a path named when the writer read it: its device and inode (every write renames a new file in), or null for none. */
export type FileIdentity = { dev: number; ino: number } | null;

/**
 * Replaces `path` with `text` (atomically, mode 0600), only while `lock` is still this process's
 * and `path` is still the file the writer read (`base`; undefined: not checked). A writer paused
 * past STALE_MS (a VM pause, ^Z, a slow KMS call or fsync) may find the lock taken over: it then
 * writes nothing, as it does when another writer replaced the file meanwhile. Both are checked
 * once the new file is on disk, right before the rename. Should a takeover still fall between
 * that check and the rename, the file it replaced is kept as `.<name>.<random>.replaced` beside it
 * and named in the error, so the other writer's change is not lost.
 */
export async function writeWhileHeld(lock: Pick<StoreLock, 'assertHeld'>, path: string, text: string, base?: FileIdentity): Promise<void> {
  await lock.assertHeld();
  // A dot-file, as the temp files are: a writer killed before it removes it leaves no second
  // `keys.json.*` a reader could take for the keys document.
  const kept = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.replaced`);
  let hasPrevious = false;
  const lastChecks = async () => {
    await lock.assertHeld();
    const current = await lstat(path).then((st) => ({ dev: st.dev, ino: st.ino }), (err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err; });
    if (base !== undefined && (current?.dev !== base?.dev || current?.ino !== base?.ino)) {
      throw new ModelsealError('io_error', `another writer replaced ${path} while this command was working on it (this command was paused, and its lock taken over): nothing was written; run the command again`, { file: path });
    }
    if (current === null) return;
    await link(path, kept).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPERM' && err.code !== 'ENOTSUP' && err.code !== 'EOPNOTSUPP' && err.code !== 'ENOSYS') throw err;
      await copyFile(path, kept); // a file system without hard links
    });
    hasPrevious = true;
  };
  try {
    await writeFileAtomic(path, text, 0o600, lastChecks);
  } catch (err) {
    // Nothing was replaced (the rename is the last step): the kept link is not needed.
    if (hasPrevious) await rm(kept, { force: true }).catch(() => undefined);
    throw writeError(err, path);
  }
  try {
    await lock.assertHeld();
  } catch (err) {
    const note = hasPrevious ? `; the file it replaced, which may hold that writer's change, is ${kept}: compare both (\`modelseal keys list\`) and restore what is missing` : '';
    throw new ModelsealError('io_error', `${(err as Error).message.replace(/; run the command again$/, '')}, after this command had written ${path}${note}`, { cause: err, file: path });
  }
  if (hasPrevious) await rm(kept, { force: true });
}

/** A failed keystore write as io_error naming the file, the disk-full cases in words. */
function writeError(err: unknown, path: string): ModelsealError {
  if (err instanceof ModelsealError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' ? 'the disk is full' : code === 'EDQUOT' ? 'the disk quota is used up' : (err as Error).message;
  return new ModelsealError('io_error', `cannot write ${path}: ${why}; free space (or fix the cause), then run the command again`, { cause: err, file: path });
}
