// The build guard's scanner: walks build output folders and reports plaintext model material.
// Reads only each file's first HEAD_BYTES (a TF.js model.json candidate, and a small ONNX file
// that may name external data, are read whole), with a bounded number of files open at once,
// and follows no symbolic link. The rules are in signatures.ts; docs/CLI.md §`modelseal scan`.

import { constants } from 'node:fs';
import { lstat, open, readFile, realpath } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { ModelsealError } from '../format/errors.js';
import { readRegularText } from '../keystore/regular-file.js';
import { readFolderEntries } from './folder-entries.js';
import {
  classifyModelJson,
  detectBinary,
  detectByName,
  HEAD_BYTES,
  isSealedName,
  looksLikeTfjsJson,
  onnxExternalLocations,
  parseOnnx,
  type Detection,
  type FindingKind,
} from './signatures.js';

export type { FindingKind } from './signatures.js';

/** The ignore file read from the top of each scanned folder (gitignore syntax). */
export const IGNORE_FILE = '.modelsealignore';

/** A plaintext model file the scan found. */
export interface ScanFinding {
  /** The file, as the scanned folder argument joined with its path inside it. */
  path: string;
  kind: FindingKind;
  reason: string;
  size: number;
}

/** A file or folder the scan did not look into, and why (symbolic links, special files). */
export interface ScanSkipped {
  path: string;
  reason: string;
}

/** A file the scan could not read: the scan cannot vouch for it, so it fails. */
export interface ScanError {
  path: string;
  message: string;
}

/** What `scanBuild` found: the document `modelseal scan --json` prints. */
export interface ScanReport {
  roots: string[];
  /** True when there are neither findings nor errors. */
  clean: boolean;
  findings: ScanFinding[];
  skipped: ScanSkipped[];
  errors: ScanError[];
  /** Regular files examined (ignored ones not counted). */
  files: number;
  /** Paths left out by the ignore rules (a folder counts once). */
  ignored: number;
  /** Total size of the files examined. */
  bytes: number;
  /** Bytes actually read from them. */
  bytesRead: number;
}

/** Options of `scanBuild`. */
export interface ScanOptions {
  /** Extra gitignore-style patterns, applied in every scanned folder after its .modelsealignore. */
  ignore?: string[];
  /** Files read at once (default 32). */
  concurrency?: number;
  /** Read each scanned folder's own `.modelsealignore` (default true; the bundler plugins pass false). */
  ignoreFiles?: boolean;
}

// An ignore file is a short list of patterns; a larger one is a wrong path, not rules.
const MAX_IGNORE_FILE_BYTES = 1024 * 1024;

/**
 * Reads an ignore file: '' when there is none; io_error when it is not a regular file of at most
 * 1 MiB (a FIFO must not hang the build), or, with `noFollow`, when it is a symbolic link.
 */
export async function readIgnoreFile(path: string, options: { noFollow?: boolean } = {}): Promise<string> {
  try {
    return await readRegularText(path, MAX_IGNORE_FILE_BYTES, options);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return '';
    if (err instanceof ModelsealError) throw err;
    const why = code === 'ELOOP'
      ? 'it is a symbolic link, and the scan follows no link (its rules would come from outside what is scanned)'
      : `${code ?? (err as Error).message}`;
    throw new ModelsealError('io_error', `cannot read the ignore file ${path}: ${why}; put the file itself there, or remove it`, { file: path });
  }
}

// A model.json is read whole only up to this size (bigger ones are still findings, by their head).
const MAX_JSON_BYTES = 64 * 1024 * 1024;
// An ONNX file is searched for external-data locations only when it is this small (it is small
// exactly when its weights are external).
const MAX_ONNX_SEARCH_BYTES = 16 * 1024 * 1024;
// Reads past the head an ONNX file may take before its graph (each a head's length, at a field boundary).
const MAX_ONNX_READS = 16;

interface FileEntry {
  root: number;
  rel: string;
  full: string;
  size: number;
}

async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(runners);
}

const toPosix = (p: string): string => (sep === '/' ? p : p.split(sep).join('/'));

/**
 * Scans build output folders (or single files) for plaintext model material.
 * @example
 * const report = await scanBuild(['dist']);
 * if (!report.clean) throw new Error(report.findings.map((f) => f.path).join(', '));
 */
export async function scanBuild(roots: string[], options: ScanOptions = {}): Promise<ScanReport> {
  const concurrency = options.concurrency ?? 32;
  const report: ScanReport = { roots, clean: true, findings: [], skipped: [], errors: [], files: 0, ignored: 0, bytes: 0, bytesRead: 0 };
  const files: FileEntry[] = [];
  const shown = (root: number, rel: string): string => (rel === '' ? roots[root]! : join(roots[root]!, rel));

  for (let r = 0; r < roots.length; r++) {
    const rootArg = roots[r]!;
    const top = await realpath(resolve(rootArg));
    const info = await lstat(top);
    if (info.isFile()) {
      files.push({ root: r, rel: '', full: top, size: info.size });
      continue;
    }
    const rules = ignore();
    if (options.ignoreFiles !== false) rules.add(await readIgnoreFile(join(top, IGNORE_FILE), { noFollow: true }));
    if (options.ignore) rules.add(options.ignore);
    await walk(r, top, rules, files, report, shown, concurrency);
  }

  const found = new Map<string, ScanFinding>();
  const add = (entry: FileEntry, detection: Detection): void => {
    if (!found.has(entry.full)) found.set(entry.full, { path: shown(entry.root, entry.rel), size: entry.size, ...detection });
  };
  // Files a found model names (model.json weight paths, ONNX external data), resolved to full paths.
  const references: Array<{ full: string; detection: Detection }> = [];
  const buffers: Uint8Array[] = [];

  await pool(files, concurrency, async (entry) => {
    if (entry.size < 0) return;
    report.files++;
    report.bytes += entry.size;
    const name = entry.full.slice(entry.full.lastIndexOf(sep) + 1);
    if (isSealedName(name)) return;
    const byName = detectByName(name);
    if (byName) {
      add(entry, byName);
      return;
    }
    if (entry.size === 0) return;
    const buffer = buffers.pop() ?? new Uint8Array(HEAD_BYTES);
    try {
      const head = await readHead(entry.full, buffer);
      report.bytesRead += head.length;
      const binary = detectBinary(head, entry.size) ?? await onnxPastHead(entry.full, head, entry.size, buffer, report);
      if (binary) {
        add(entry, binary);
        if (binary.kind === 'onnx' && entry.size <= MAX_ONNX_SEARCH_BYTES) {
          const whole = await readFile(entry.full);
          report.bytesRead += whole.length;
          for (const location of onnxExternalLocations(whole)) {
            references.push({ full: resolve(dirname(entry.full), location), detection: { kind: 'onnx-external-data', reason: `external data of the ONNX model ${shown(entry.root, entry.rel)}` } });
          }
        }
        return;
      }
      if (!looksLikeTfjsJson(head)) return;
      if (entry.size > MAX_JSON_BYTES) {
        add(entry, { kind: 'tfjs-model', reason: `JSON that names modelTopology or weightsManifest (over ${MAX_JSON_BYTES / 1024 / 1024} MiB, not parsed)` });
        return;
      }
      const text = await readFile(entry.full, 'utf8');
      report.bytesRead += Buffer.byteLength(text);
      let json: unknown;
      try {
        json = JSON.parse(text.replace(/^\uFEFF/, ''));
      } catch {
        return; // not JSON after all (documented: an unparseable file is not a finding)
      }
      const model = classifyModelJson(json);
      if (!model) return;
      add(entry, model.detection);
      for (const p of model.weightPaths) {
        references.push({ full: resolve(dirname(entry.full), p), detection: { kind: 'tfjs-weights', reason: `listed in the weightsManifest of ${shown(entry.root, entry.rel)}` } });
      }
    } catch (err) {
      report.errors.push({ path: shown(entry.root, entry.rel), message: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    } finally {
      buffers.push(buffer);
    }
  });

  const byFull = new Map(files.map((f) => [f.full, f]));
  for (const ref of references) {
    const entry = byFull.get(ref.full);
    if (entry && !isSealedName(ref.full)) add(entry, ref.detection);
  }
  report.findings = [...found.values()].sort((a, b) => a.path.localeCompare(b.path));
  report.skipped.sort((a, b) => a.path.localeCompare(b.path));
  report.errors.sort((a, b) => a.path.localeCompare(b.path));
  report.clean = report.findings.length === 0 && report.errors.length === 0;
  return report;
}

// An ONNX file whose fields before the graph run past the head (a long doc_string): read on,
// one head's length at a time, at most MAX_ONNX_READS times. `buffer` may be reused: the head is done with.
async function onnxPastHead(path: string, head: Uint8Array, size: number, buffer: Uint8Array, report: ScanReport): Promise<Detection | undefined> {
  let parsed = parseOnnx(head, size);
  for (let reads = 0; parsed && 'resume' in parsed && reads < MAX_ONNX_READS; reads++) {
    const window = await readHead(path, buffer, parsed.resume.at);
    report.bytesRead += window.length;
    parsed = parseOnnx(window, size, parsed.resume);
  }
  return parsed && 'detection' in parsed ? parsed.detection : undefined;
}

async function readHead(path: string, buffer: Uint8Array, position = 0): Promise<Uint8Array> {
  // O_NOFOLLOW: a file swapped for a link after the walk is refused, not followed.
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function walk(
  root: number,
  top: string,
  rules: Ignore,
  files: FileEntry[],
  report: ScanReport,
  shown: (root: number, rel: string) => string,
  concurrency: number,
): Promise<void> {
  // A few folders read at once: each folder's subfolders are visited in parallel, under one limit.
  let active = 0;
  const waiting: Array<() => void> = [];
  const limited = async <T>(work: () => Promise<T>): Promise<T> => {
    if (active >= Math.min(8, concurrency)) await new Promise<void>((go) => waiting.push(go));
    active++;
    try {
      return await work();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
  const visit = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await limited(() => readFolderEntries(join(top, rel)));
    } catch (err) {
      report.errors.push({ path: shown(root, rel), message: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
      return;
    }
    const folders: string[] = [];
    for (const e of entries) {
      const childRel = rel === '' ? e.name : join(rel, e.name);
      const posix = toPosix(childRel);
      if (rules.ignores(e.isDirectory() ? `${posix}/` : posix)) {
        report.ignored++;
      } else if (!e.utf8) {
        // Unreadable by this name, so not vouched for: the scan fails rather than skip it.
        report.errors.push({ path: shown(root, childRel), message: 'its name is not valid UTF-8 (bytes shown as \\xNN): rename it, or list it in the ignore file' });
      } else if (e.isDirectory()) {
        folders.push(childRel);
      } else if (e.isFile()) {
        files.push({ root, rel: childRel, full: join(top, childRel), size: 0 });
      } else if (e.isSymbolicLink()) {
        report.skipped.push({ path: shown(root, childRel), reason: await describeLink(join(top, childRel), top) });
      } else {
        report.skipped.push({ path: shown(root, childRel), reason: 'not a regular file or folder' });
      }
    }
    await Promise.all(folders.map(visit));
  };
  await visit('');
  // Sizes come from lstat, which neither follows links nor opens the file.
  await pool(files.filter((f) => f.root === root), concurrency, async (f) => {
    try {
      f.size = (await lstat(f.full)).size;
    } catch (err) {
      f.size = -1; // reported here; not opened again
      report.errors.push({ path: shown(root, f.rel), message: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
    }
  });
}

async function describeLink(path: string, top: string): Promise<string> {
  try {
    const target = await realpath(path);
    const back = relative(top, target);
    const inside = back === '' || (!back.startsWith('..') && !back.startsWith(sep) && !/^[A-Za-z]:/.test(back));
    return inside
      ? 'symbolic link inside the scanned folder (not followed; its target is scanned where it lives)'
      : `symbolic link to ${target}, outside the scanned folder (not followed: check what it points at before you publish)`;
  } catch {
    return 'broken symbolic link (not followed)';
  }
}
