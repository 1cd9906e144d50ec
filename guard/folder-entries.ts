// A folder's entries with their names decoded from the bytes the file system holds, so a name
// that is not valid UTF-8 is told apart from one that holds U+FFFD: Node's string readdir turns
// such bytes into U+FFFD, and the next open of that name fails with ENOENT.

import { isUtf8 } from 'node:buffer';
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';

/** One entry of a folder: its name, and whether that name is valid UTF-8 (else `name` shows each byte of 0x80 and above, and each control byte, as \xNN). */
export interface FolderEntry {
  name: string;
  utf8: boolean;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** Reads a folder's entries (readdir with file types, names as bytes then decoded). */
export async function readFolderEntries(dir: string): Promise<FolderEntry[]> {
  const entries: Array<Dirent<Buffer>> = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  return entries.map((entry) => {
    const utf8 = isUtf8(entry.name);
    return {
      name: utf8 ? entry.name.toString('utf8') : escapedName(entry.name),
      utf8,
      isFile: () => entry.isFile(),
      isDirectory: () => entry.isDirectory(),
      isSymbolicLink: () => entry.isSymbolicLink(),
    };
  });
}

/** A name's bytes for a message: printable ASCII as it is, every other byte as \xNN. */
function escapedName(bytes: Buffer): string {
  return [...bytes].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}
