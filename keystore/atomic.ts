// Atomic file writes: temp file in the same folder, fsync, rename, fsync the folder. The keystore
// writes keys.json and its secrets this way; the CLI writes sealed output with the same helpers.
import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// Temp files being written right now, so an interrupted CLI can remove them on its way out.
const inFlight = new Set<string>();

/** Temp files this process is writing at this moment (the CLI's interrupt handler removes them). */
export function tempFilesInFlight(): string[] {
  return [...inFlight];
}

async function writeTemp(path: string, data: Uint8Array | string, mode: number): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  inFlight.add(tmp);
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    inFlight.delete(tmp);
    throw err;
  }
  return tmp;
}

/**
 * Writes `data` to `path` so readers see the old file or the new one, never a mix. `beforeRename`
 * runs once the new file is on disk, right before it replaces `path`; when it throws, nothing is replaced.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600, beforeRename?: () => Promise<void>): Promise<void> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await beforeRename?.();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    inFlight.delete(tmp);
  }
  await syncDir(dirname(path));
}

/**
 * Creates `path` with `data` only if it does not exist, whole or not at all: the data goes to a
 * temp file that is hard-linked into place (link never replaces a file). Returns false when
 * `path` already existed, leaving it untouched.
 */
export async function createFileExclusive(path: string, data: Uint8Array | string, mode = 0o600): Promise<boolean> {
  const tmp = await writeTemp(path, data, mode);
  try {
    await link(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // File systems without hard links: O_EXCL still never replaces, though a crash may leave a short file.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    return createWithExcl(path, data, mode);
  } finally {
    await rm(tmp, { force: true });
    inFlight.delete(tmp);
  }
  await syncDir(dirname(path));
  return true;
}

async function createWithExcl(path: string, data: Uint8Array | string, mode: number): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDir(dirname(path));
  return true;
}

/** fsyncs a directory so a rename in it survives a crash (best effort where unsupported). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}
