// The keystore's write lock: proper-lockfile's `keys.lock` folder (kept fresh while held, stale
// after STALE_MS), plus `keys.lock.owner` naming the holder's process and host. A writer that
// finds the lock held by a process that no longer runs on this host reclaims it at once; any
// other stale lock is waited out; a lock still held after the wait is reported with what to do.

import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { readFile, rename, rm, rmdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { ModelsealError } from '../format/errors.js';
import { writeFileAtomic } from './atomic.js';

/** A lock folder not refreshed for this long belongs to a dead or hung writer (proper-lockfile's `stale`). */
export const STALE_MS = 10_000;
/** How long a writer waits for a held lock by default: longer than STALE_MS, so a stale lock is outwaited. */
export const LOCK_WAIT_MS = 25_000;

interface Owner {
  pid: number;
  host: string;
  since: string;
  token: string;
}

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
    const o = JSON.parse(await readFile(path, 'utf8')) as Partial<Owner>;
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
  if (!owner || owner.host !== hostname() || owner.pid === process.pid || isAlive(owner.pid)) return undefined;
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
export async function lockStore(dir: string, options: { waitMs?: number } = {}): Promise<() => Promise<void>> {
  const lockPath = join(dir, 'keys.lock');
  const ownerPath = join(dir, 'keys.lock.owner');
  const waitMs = options.waitMs ?? LOCK_WAIT_MS;
  let waited = 0;
  for (let attempt = 0; ; attempt++) {
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(dir, { lockfilePath: lockPath, stale: STALE_MS, retries: 0 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
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
    const owner: Owner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), token: randomBytes(9).toString('base64url') };
    try {
      await writeFileAtomic(ownerPath, `${JSON.stringify(owner)}\n`, 0o600);
    } catch (err) {
      await release();
      throw err;
    }
    held.set(ownerPath, owner.token);
    return async () => {
      held.delete(ownerPath);
      // The owner file goes first: a lock folder without one is never reclaimed early, only outwaited.
      await rm(ownerPath, { force: true });
      await release();
    };
  }
}

function lockedError(dir: string, lockPath: string, owner: Owner | undefined, waited: number): ModelsealError {
  const who = owner ? ` by process ${owner.pid} on ${owner.host} since ${owner.since}` : '';
  return new ModelsealError(
    'io_error',
    `the keystore ${dir} is locked${who} (lock ${lockPath}, still held after ${Math.round(waited / 1000)} s): another modelseal command is writing to it. Retry when it has finished; if no modelseal command is running${owner ? ` on ${owner.host}` : ''}, remove the folder ${lockPath} and retry`,
    { file: lockPath },
  );
}
