// Creating a folder and its missing parents one level at a time. Node 20's recursive mkdir loops
// forever on paths it cannot create (`/proc/x/y`); this walks a bounded list and fails fast.

import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Creates `dir` and its missing parents with `mode`; returns the topmost folder it created, if any. */
export function makeDirsSync(dir: string, mode: number): string | undefined {
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw err;
      missing.push(p);
      continue;
    }
    if (!isDir) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
    break;
  }
  let first: string | undefined;
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p, { mode });
    } catch (err) {
      // Another process made it meanwhile: use it, but it is not ours to remove.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(p).isDirectory()) continue;
      throw err;
    }
    first ??= p;
  }
  return first;
}
