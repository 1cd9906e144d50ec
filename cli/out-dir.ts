// Output folders written atomically: everything goes into a temp folder beside the target, is
// fsynced, and is renamed into place at the end, so a failed or interrupted command leaves
// either the old folder or the new one, never a half-written mix. The steps an interrupt could
// split (creating the folders, the renames of commit) run synchronously, with the cleanup for an
// interrupt registered in the same tick: signal handlers run between ticks, never inside one.

import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { lstat, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { syncDir } from '../keystore/atomic.js';
import { makeDirsSync } from '../keystore/make-dir.js';
import { onInterrupt } from './cleanup.js';
import { CliError, fsError, usageError } from './errors.js';

/** The target's name cut to 200 bytes for the temp names beside it: a 255-byte --out name must still leave room for the suffix. */
function shortName(path: string): string {
  const name = basename(path);
  const bytes = Buffer.from(name);
  return bytes.length <= 200 ? name : bytes.subarray(0, 200).toString('utf8').replace(/\uFFFD+$/, '');
}

/** Throws a usage error for an empty --out: resolve('') is the working folder, and an unset variable must not pick it. */
export function refuseEmptyOut(out: string): void {
  if (out.trim() === '') throw usageError('--out is empty', 'pass the output folder, e.g. --out sealed/face (is the variable that names it set?)');
}

/** A path `--force` must never delete by replacing a folder around it (the keystore, the working folder). */
export interface KeptPath {
  path: string;
  /** What it is, for the error: "the keystore", "the working folder". */
  what: string;
}

// Replacing `target` deletes everything under it: refuse when a kept path is there.
async function refuseReplacingKept(target: string, keep: KeptPath[]): Promise<void> {
  const real = await realpath(target).catch(() => target);
  for (const k of keep) {
    const kept = await realpath(resolve(k.path)).catch(() => resolve(k.path));
    const back = relative(real, kept);
    if (back === '' || (!back.startsWith('..') && !isAbsolute(back))) {
      throw new CliError('output_exists', `refusing to replace ${target}: it holds ${k.what} (${kept}), which --force would delete`, {
        file: target,
        hint: 'choose an --out folder that holds neither the keystore nor the folder you run in, e.g. --out sealed/<model>',
      });
    }
  }
}

/** A temp folder that becomes `target` on commit(), or disappears on discard(). */
export class OutputDir {
  readonly target: string;
  readonly temp: string;
  readonly #replace: boolean;
  readonly #createdParent: string | undefined;
  readonly #unregister: () => void;
  readonly #dirs = new Set<string>();
  readonly #dirMode: number;
  readonly #fileMode: number;
  // What an interrupt removes now: the temp folder and new parents, or after commit an old folder set aside.
  #onInterrupt: () => void;
  #done = false;

  private constructor(target: string, temp: string, replace: boolean, createdParent: string | undefined, privateFiles: boolean) {
    this.target = target;
    this.temp = temp;
    this.#replace = replace;
    this.#createdParent = createdParent;
    this.#dirMode = privateFiles ? 0o700 : 0o755;
    this.#fileMode = privateFiles ? 0o600 : 0o644;
    this.#onInterrupt = () => this.#removeTempSync();
    this.#unregister = onInterrupt(() => this.#onInterrupt());
    this.#dirs.add(temp);
  }

  /**
   * Checks `target` (absent, an empty folder, or replaceable with `force`) and makes the temp
   * folder beside it. Throws `output_exists` or `io_error` before anything is written. With
   * `private` (plaintext output), the temp folder and its subfolders are 0700 and files 0600.
   */
  static async prepare(target: string, options: { force?: boolean; private?: boolean; keep?: KeptPath[] } = {}): Promise<OutputDir> {
    refuseEmptyOut(target);
    const abs = resolve(target);
    let replace = false;
    let existing;
    // The commit renames the temp folder onto the path itself, which a link there would break late.
    const linked = await lstat(abs).then((st) => st.isSymbolicLink(), () => false);
    if (linked) {
      const to = await realpath(abs).catch(() => undefined);
      throw new CliError('output_exists', `output ${abs} is a symbolic link${to ? ` to ${to}` : ' that does not resolve'}`, { file: abs, hint: to ? `pass the folder itself (--out ${to}) or another path` : 'remove the dangling link or choose another --out path' });
    }
    try {
      existing = await stat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'use output folder', abs);
    }
    if (existing) {
      if (!existing.isDirectory()) {
        throw new CliError('output_exists', `output ${abs} exists and is not a folder`, { file: abs, hint: 'choose another --out path' });
      }
      const entries = await readdir(abs).catch((err: unknown) => { throw fsError(err, 'read output folder', abs); });
      if (entries.length > 0 && !options.force) {
        throw new CliError('output_exists', `output folder ${abs} is not empty`, { file: abs, hint: 'choose an empty or new --out folder, or pass --force to replace it' });
      }
      if (entries.length > 0) await refuseReplacingKept(abs, [{ path: process.cwd(), what: 'the working folder' }, ...(options.keep ?? [])]);
      replace = true;
    }
    const parent = dirname(abs);
    let createdParent: string | undefined;
    try {
      createdParent = makeDirsSync(parent, 0o777);
    } catch (err) {
      throw mkdirError(err, parent);
    }
    const temp = join(parent, `.${shortName(abs)}.modelseal-${randomBytes(6).toString('hex')}.tmp`);
    try {
      mkdirSync(temp, { mode: options.private ? 0o700 : 0o755 });
    } catch (err) {
      removeCreatedParents(parent, createdParent);
      throw mkdirError(err, parent);
    }
    // Still the same tick as the mkdir calls: the constructor registers the cleanup before any signal can run.
    return new OutputDir(abs, temp, replace, createdParent, options.private ?? false);
  }

  #removeTempSync(): void {
    try {
      // A file open still running on the thread pool may add a file while the folder is emptied
      // (rmSync then fails with ENOTEMPTY): list and remove again. Nothing starts a new one meanwhile.
      for (let attempt = 1; ; attempt++) {
        try {
          rmSync(this.temp, { recursive: true, force: true });
          break;
        } catch (err) {
          if (attempt === 5) throw err;
        }
      }
    } finally {
      removeCreatedParents(dirname(this.target), this.#createdParent);
    }
  }

  /** Resolves a relative file path inside the output; refuses paths that would leave it. */
  resolvePath(rel: string): string {
    const full = resolve(this.temp, rel);
    const back = relative(this.temp, full);
    // A `..` segment, not a name that starts with two dots (`..w.bin` is a valid file name).
    if (rel.length === 0 || isAbsolute(rel) || back === '..' || back.startsWith(`..${sep}`) || isAbsolute(back) || back === '') {
      throw new CliError('header_invalid', `refusing to write ${JSON.stringify(rel)}: it is not a path inside the output folder`);
    }
    return full;
  }

  /** Writes one file (subfolders created as needed) and fsyncs it. */
  async writeFile(rel: string, data: Uint8Array | string | Uint8Array[]): Promise<void> {
    const handle = await this.openFile(rel);
    try {
      // Pieces (a sealed shard as the cipher produced it) are written in order, never joined.
      for (const piece of Array.isArray(data) ? data : [data]) await handle.write(piece);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw fsError(err, 'write', join(this.target, rel));
    }
    await handle.close();
  }

  /** Opens a new file for writing; the caller writes, then close() fsyncs and closes it. */
  async openFile(rel: string): Promise<{ write(data: Uint8Array | string): Promise<void>; close(): Promise<void> }> {
    const full = this.resolvePath(rel);
    const dir = dirname(full);
    const shown = join(this.target, rel);
    try {
      if (!this.#dirs.has(dir)) {
        makeDirsSync(dir, this.#dirMode);
        this.#dirs.add(dir);
      }
      const handle = await open(full, 'wx', this.#fileMode);
      return {
        async write(data) {
          try {
            if (typeof data === 'string') await handle.writeFile(data);
            else {
              let offset = 0;
              while (offset < data.length) offset += (await handle.write(data, offset, data.length - offset)).bytesWritten;
            }
          } catch (err) {
            throw fsError(err, 'write', shown);
          }
        },
        async close() {
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
        },
      };
    } catch (err) {
      throw fsError(err, 'write', shown);
    }
  }

  /** Moves the finished folder into place (replacing the old one when allowed). */
  async commit(): Promise<void> {
    if (this.#done) throw new Error('internal: output committed twice');
    for (const dir of [...this.#dirs].sort((a, b) => b.length - a.length)) await syncDir(dir);
    let old: string | undefined;
    // Synchronous from the first rename to the last: an interrupt sees the old state or the new one.
    try {
      if (this.#replace) {
        try {
          // An empty folder is removed; a non-empty one (--force) is set aside, then deleted.
          rmdirSync(this.target);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
          old = join(dirname(this.target), `.${shortName(this.target)}.modelseal-${randomBytes(6).toString('hex')}.old`);
          renameSync(this.target, old);
        }
      }
      renameSync(this.temp, this.target);
    } catch (err) {
      if (old) {
        try {
          renameSync(old, this.target);
        } catch {
          // Left as .<name>.modelseal-….old beside the target; the error below names the target.
        }
      }
      await this.discard();
      throw fsError(err, 'move the output into place at', this.target);
    }
    this.#done = true;
    const setAside = old;
    this.#onInterrupt = () => {
      if (setAside) rmSync(setAside, { recursive: true, force: true });
    };
    await syncDir(dirname(this.target));
    if (old) await rm(old, { recursive: true, force: true });
    this.#unregister();
  }

  /** Removes the temp folder (and a parent folder prepare() created). Safe to call twice. */
  async discard(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await rm(this.temp, { recursive: true, force: true });
    removeCreatedParents(dirname(this.target), this.#createdParent);
    this.#unregister();
  }
}

/** Removes the empty folders from `dir` up to `top` (the first one prepare() created); keeps any another process filled. */
function removeCreatedParents(dir: string, top: string | undefined): void {
  if (top === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === top || dirname(d) === d) return;
  }
}

function mkdirError(err: unknown, path: string): Error {
  // ENOENT from mkdir means the file system will not make it (`/proc/…`), not a missing input file.
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') {
    return new CliError('io_error', `cannot create output folder ${path}: the file system does not allow it`, { cause: err, file: path, hint: 'choose an --out path on a writable file system' });
  }
  return fsError(err, 'create output folder', path);
}

/** Runs `work` against a prepared OutputDir, committing on success and discarding on any failure. */
export async function withOutputDir<T>(out: OutputDir, work: (out: OutputDir) => Promise<T>): Promise<T> {
  try {
    const result = await work(out);
    await out.commit();
    return result;
  } catch (err) {
    await out.discard();
    throw err;
  }
}

/** True when `rel` (a path from model.json) stays inside its folder: relative, no '..', no URL. */
export function isContainedPath(rel: string): boolean {
  if (rel.length === 0 || isAbsolute(rel) || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(rel) || rel.startsWith('\\') || rel.includes('\0')) return false;
  return !rel.split(/[\\/]/).some((s) => s === '..') && !relative('.', rel).startsWith(`..${sep}`);
}
