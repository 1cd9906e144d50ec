// Reading input files without trusting them: regular files only (a FIFO would block, /dev/zero
// never ends), never more than a known bound, and exactly the size fstat reported, so a file that
// grows or shrinks while it is read is an error instead of an unbounded or torn read.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { CliError, fsError } from './errors.js';

// O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after fstat).
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Largest model.json `seal` reads: the sealed header that carries it holds at most 64 MiB. */
export const MAX_MODEL_JSON_BYTES = 64 * 1024 * 1024;
/** Largest single weight file `seal` reads (TF.js writes 4 MiB shards by default). */
export const MAX_WEIGHT_FILE_BYTES = 2 * 1024 * 1024 * 1024;

async function openRegular(path: string, action: string, options: { noFollow?: boolean }): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, READ_FLAGS | (options.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    throw fsError(err, action, path);
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw fsError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), action, path);
    if (!st.isFile()) {
      const kind = st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a file';
      throw new CliError('io_error', `cannot ${action} ${path}: it is ${kind}, not a regular file`, { file: path, hint: 'pass regular files; FIFOs, devices and sockets are refused' });
    }
    return { handle, size: st.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

async function readInto(handle: FileHandle, buf: Buffer, at: number, action: string, path: string): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    let n: number;
    try {
      ({ bytesRead: n } = await handle.read(buf, filled, buf.length - filled, at + filled));
    } catch (err) {
      throw fsError(err, action, path);
    }
    if (n === 0) break;
    filled += n;
  }
  return filled;
}

/**
 * Reads a whole regular file of at most `maxBytes` (else throws `tooLarge(size)`), exactly the
 * size it had when opened; a file that changes size meanwhile is an `io_error`.
 */
export async function readWholeFile(path: string, action: string, maxBytes: number, tooLarge: (size: number) => Error, options: { noFollow?: boolean } = {}): Promise<Buffer> {
  const { handle, size } = await openRegular(path, action, options);
  try {
    if (size > maxBytes) throw tooLarge(size);
    // One byte more than fstat said: reading it means the file grew.
    const buf = Buffer.allocUnsafe(size + 1);
    const got = await readInto(handle, buf, 0, action, path);
    if (got !== size) {
      throw new CliError('io_error', `cannot ${action} ${path}: it ${got > size ? 'grew' : 'shrank'} while being read (${size} bytes when opened)`, { file: path, hint: 'run the command again once nothing is writing the file' });
    }
    return buf.subarray(0, size);
  } finally {
    await handle.close();
  }
}

/** Reads at most `limit` bytes of a regular file: callers pass the size they expect plus one, to see trailing data. */
export async function readAtMost(path: string, action: string, limit: number): Promise<Buffer> {
  const { handle, size } = await openRegular(path, action, {});
  try {
    const buf = Buffer.allocUnsafe(Math.min(size, limit));
    const got = await readInto(handle, buf, 0, action, path);
    // The file may have grown since fstat: one more probe up to the limit keeps trailing data visible.
    if (got === buf.length && got < limit) {
      const extra = Buffer.allocUnsafe(1);
      if ((await readInto(handle, extra, got, action, path)) === 1) return Buffer.concat([buf, extra]);
    }
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}
