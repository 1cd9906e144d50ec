// Output folders written atomically: everything goes into a temp folder beside the target, is
// fsynced, and is renamed into place at the end, so a failed or interrupted command leaves
// either the old folder or the new one, never a half-written mix.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { syncDir } from '../keyserver/atomic.js';
import { removeOnInterrupt } from './cleanup.js';
import { CliError, fsError } from './errors.js';

/** A temp folder that becomes `target` on commit(), or disappears on discard(). */
export class OutputDir {
  readonly target: string;
  readonly temp: string;
  readonly #replace: boolean;
  readonly #createdParent: string | undefined;
  readonly #unregister: () => void;
  readonly #dirs = new Set<string>();
  #done = false;

  private constructor(target: string, temp: string, replace: boolean, createdParent: string | undefined) {
    this.target = target;
    this.temp = temp;
    this.#replace = replace;
    this.#createdParent = createdParent;
    this.#unregister = removeOnInterrupt(temp);
    this.#dirs.add(temp);
  }

  /**
   * Checks `target` (absent, an empty folder, or replaceable with `force`) and makes the temp
   * folder beside it. Throws `output_exists` or `io_error` before anything is written.
   */
  static async prepare(target: string, options: { force?: boolean } = {}): Promise<OutputDir> {
    const abs = resolve(target);
    let replace = false;
    let existing;
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
      replace = true;
    }
    const parent = dirname(abs);
    let createdParent: string | undefined;
    try {
      createdParent = await mkdir(parent, { recursive: true });
    } catch (err) {
      throw fsError(err, 'create output folder', parent);
    }
    const temp = join(parent, `.${basename(abs)}.modelseal-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await mkdir(temp, { mode: 0o755 });
    } catch (err) {
      if (createdParent) await rm(createdParent, { recursive: true, force: true });
      throw fsError(err, 'write to output folder', parent);
    }
    return new OutputDir(abs, temp, replace, createdParent);
  }

  /** Resolves a relative file path inside the output; refuses paths that would leave it. */
  resolvePath(rel: string): string {
    const full = resolve(this.temp, rel);
    const back = relative(this.temp, full);
    if (rel.length === 0 || isAbsolute(rel) || back.startsWith('..') || isAbsolute(back) || back === '') {
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
        await mkdir(dir, { recursive: true });
        this.#dirs.add(dir);
      }
      const handle = await open(full, 'wx', 0o644);
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
    try {
      if (this.#replace) {
        try {
          // An empty folder is removed; a non-empty one (--force) is set aside, then deleted.
          await rmdir(this.target);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
          old = join(dirname(this.target), `.${basename(this.target)}.modelseal-${randomBytes(6).toString('hex')}.old`);
          await rename(this.target, old);
        }
      }
      await rename(this.temp, this.target);
    } catch (err) {
      if (old) await rename(old, this.target).catch(() => undefined);
      await this.discard();
      throw fsError(err, 'move the output into place at', this.target);
    }
    this.#done = true;
    this.#unregister();
    await syncDir(dirname(this.target));
    if (old) await rm(old, { recursive: true, force: true });
  }

  /** Removes the temp folder (and a parent folder prepare() created). Safe to call twice. */
  async discard(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await rm(this.temp, { recursive: true, force: true });
    if (this.#createdParent) await rm(this.#createdParent, { recursive: true, force: true });
    this.#unregister();
  }
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
