// Reading the small files the keystore and the key server trust (keys.json, master.key,
// token.secret, a config, a JWKS, a PIN or token file): regular files only, within a size bound.
// A FIFO in one of those paths blocked the process for good (a blocking read ignores SIGTERM),
// and /dev/zero was read to 512 MiB before failing; both are refused at once with io_error.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { ModelsealError } from '../format/errors.js';

// O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after fstat).
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Largest config, JWKS, secret, PIN or token file read (keys.json passes its own, larger bound). */
export const SMALL_FILE_BYTES = 4 * 1024 * 1024;

/** The io_error for a path that is not a regular file of at most `maxBytes`, or undefined when it is one. */
function refusal(path: string, st: Stats, maxBytes: number): ModelsealError | undefined {
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a file';
    return new ModelsealError('io_error', `cannot read ${path}: it is ${kind}, not a regular file; put the file itself there (FIFOs, devices and sockets are refused)`, { file: path });
  }
  if (st.size > maxBytes) return new ModelsealError('io_error', `cannot read ${path}: it is ${st.size} bytes, more than the ${maxBytes} bytes such a file may have; check the path`, { file: path });
  return undefined;
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8. Open errors (ENOENT, EACCES) are thrown as
 * they are; with `noFollow`, a symbolic link is refused (ELOOP) instead of followed.
 */
export async function readRegularText(path: string, maxBytes = SMALL_FILE_BYTES, options: { noFollow?: boolean } = {}): Promise<string> {
  const handle = await open(path, READ_FLAGS | (options.noFollow ? constants.O_NOFOLLOW : 0));
  try {
    const refused = refusal(path, await handle.stat(), maxBytes);
    if (refused) throw refused;
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** readRegularText, synchronously (the config file at start-up, a PIN file inside a PKCS#11 call). */
export function readRegularTextSync(path: string, maxBytes = SMALL_FILE_BYTES): string {
  const fd = openSync(path, READ_FLAGS);
  try {
    const st = fstatSync(fd);
    const refused = refusal(path, st, maxBytes);
    if (refused) throw refused;
    // One byte more than fstat said, to see a file that grew meanwhile (then read at most the bound).
    const buf = Buffer.allocUnsafe(Math.min(st.size + 1, maxBytes + 1));
    let filled = 0;
    for (let n; filled < buf.length && (n = readSync(fd, buf, filled, buf.length - filled, filled)) > 0;) filled += n;
    if (filled > maxBytes) throw new ModelsealError('io_error', `cannot read ${path}: it grew past the ${maxBytes} bytes such a file may have while being read`, { file: path });
    return buf.subarray(0, filled).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
