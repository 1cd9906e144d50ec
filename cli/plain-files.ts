// Reading the input of `modelseal seal PATH` in the generic form: a folder (every file under its
// relative path) or a single file (with the ONNX external-data files it references). Files are
// listed here and read later in pieces, so a 2 GB file is never held whole (docs/CLI.md).

import { constants } from 'node:fs';
import { lstat, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { filePathListProblem, filePathProblem, WRITER_FOLD } from '../format/files-header.js';
import type { FilesSource } from '../format/seal-files.js';
import { readFolderEntries } from '../guard/folder-entries.js';
import { CliError, fsError } from './errors.js';
import { onnxExternalLocations, OnnxParseError } from './onnx-external.js';
import { MAX_WEIGHT_FILE_BYTES, readWholeFile } from './safe-read.js';

/** One input file: its path in the sealing, where it is on disk (links resolved), its size. */
export interface PlainFile {
  path: string;
  full: string;
  bytes: number;
}

/** The files `seal` will seal in the generic form, in payload order (sorted by path). */
export interface PlainFileSet {
  form: 'folder' | 'file';
  /** The folder the relative paths start from (the folder itself, or the single file's folder). */
  root: string;
  files: PlainFile[];
  totalBytes: number;
  /** Hidden entries (names starting with ".") left out of a folder. */
  skippedHidden: string[];
}

const inside = (child: string, parent: string): boolean => {
  const back = relative(parent, child);
  return back === '' || (back !== '..' && !back.startsWith(`..${sep}`) && !isAbsolute(back));
};

function checkPath(path: string, full: string): void {
  const problem = filePathProblem(path);
  if (problem) {
    throw new CliError('model_invalid', `cannot seal ${full} as ${JSON.stringify(path)}: ${problem}`, { file: full, hint: 'rename the file: sealed paths are relative, "/"-separated, NFC Unicode, without "\\", ":" or control characters' });
  }
}

/** A link must resolve to a regular file inside the root; anything else is refused. */
async function resolveLink(full: string, realRoot: string, rel: string): Promise<{ real: string; size: number }> {
  let real: string;
  try {
    real = await realpath(full);
  } catch (err) {
    throw new CliError('model_invalid', `${full} is a symbolic link that does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err, file: full, hint: 'remove the dangling link or replace it with the file it should point to' });
  }
  if (!inside(real, realRoot)) {
    throw new CliError('model_invalid', `${JSON.stringify(rel)} is a symbolic link to ${real} (or lies in a linked folder), outside the folder being sealed`, { file: full, hint: 'copy the file into the folder instead of linking to a file elsewhere' });
  }
  const st = await stat(real).catch((err: unknown) => { throw fsError(err, 'read', real); });
  if (!st.isFile()) {
    throw new CliError('model_invalid', `${JSON.stringify(rel)} is a symbolic link to ${st.isDirectory() ? 'a folder' : 'something other than a regular file'}; seal follows links to files only`, { file: full, hint: 'replace the link with the folder or file it points to' });
  }
  return { real, size: st.size };
}

async function scanFolder(root: string, options: { includeHidden: boolean; storeDir: string | undefined }): Promise<PlainFileSet> {
  const realRoot = await realpath(root).catch((err: unknown) => { throw fsError(err, 'read folder', root); });
  const realStore = await realStoreDir(options.storeDir);
  if (realStore !== undefined && inside(realRoot, realStore)) {
    throw new CliError('plaintext_exposed', `the folder ${root} is inside the keystore ${realStore}: sealing it would hand keystore files to every session`, { file: root, hint: 'seal the model folder, not the keystore' });
  }
  const files: PlainFile[] = [];
  const skippedHidden: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readFolderEntries(dir).catch((err: unknown) => { throw fsError(err, 'read folder', dir); });
    for (const entry of entries) {
      const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      const full = join(dir, entry.name);
      if (!entry.utf8) {
        throw new CliError('model_invalid', `cannot seal ${full}: its name is not valid UTF-8 (bytes shown as \\xNN), and a sealed path is UTF-8`, { file: full, hint: 'rename the file or folder to a UTF-8 name (for example with convmv), or move it out of the folder' });
      }
      if (entry.name.startsWith('.') && !options.includeHidden) {
        skippedHidden.push(rel);
        continue;
      }
      if (entry.isDirectory()) {
        if (realStore !== undefined && inside(await realpath(full), realStore)) {
          throw new CliError('plaintext_exposed', `the keystore ${realStore} is inside the folder being sealed (${rel}): sealing it would hand its master key to every session`, { file: full, hint: 'keep the keystore (--store, MODELSEAL_HOME) outside the model folder' });
        }
        await walk(full, rel);
        continue;
      }
      checkPath(rel, full);
      refuseKeystoreName(entry.name, rel, full);
      if (entry.isSymbolicLink()) {
        const { real, size } = await resolveLink(full, realRoot, rel);
        if (realStore !== undefined && inside(real, realStore)) {
          throw new CliError('plaintext_exposed', `${JSON.stringify(rel)} links into the keystore ${realStore}`, { file: full, hint: 'remove the link: a keystore file must never be sealed' });
        }
        files.push({ path: rel, full: real, bytes: size });
      } else if (entry.isFile()) {
        const st = await lstat(full).catch((err: unknown) => { throw fsError(err, 'read', full); });
        files.push({ path: rel, full, bytes: st.size });
      } else {
        throw new CliError('io_error', `cannot seal ${full}: it is a FIFO, socket or device, not a regular file`, { file: full, hint: 'remove it from the folder, or seal a folder that holds only the model files' });
      }
    }
  };
  await walk(root, '');
  if (files.length === 0) {
    throw new CliError('model_invalid', `the folder ${root} has no files to seal${skippedHidden.length > 0 ? ` (hidden entries are left out: ${skippedHidden.slice(0, 3).join(', ')})` : ''}`, { file: root, hint: 'pass the model folder (or --include-hidden to seal hidden files too)' });
  }
  return finish('folder', root, files, skippedHidden);
}

/** Normalises an ONNX external-data location (POSIX, relative to the model's folder), or undefined when it may not be followed. */
function externalPath(location: string): string | undefined {
  if (location.startsWith('/') || location.includes('\\') || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(location)) return undefined;
  const segments = location.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..')) return undefined;
  return segments.join('/');
}

// The secrets of a modelseal keystore by their file names: one in the folder is some keystore's
// (another than --store too), and sealing it would hand that keystore's key to every session.
const KEYSTORE_SECRETS = new Set(['master.key', 'token.secret']);

function refuseKeystoreName(name: string, rel: string, full: string): void {
  if (!KEYSTORE_SECRETS.has(name)) return;
  throw new CliError('plaintext_exposed', `${JSON.stringify(rel)} is named like a modelseal keystore secret (${name}): sealing it would hand it to every session`, { file: full, hint: 'move the keystore out of the model folder; if the file really belongs to the model, rename it' });
}

/** The keystore folder with links resolved (as given when it does not exist yet), once per seal. */
export async function realStoreDir(storeDir: string | undefined): Promise<string | undefined> {
  return storeDir === undefined ? undefined : realpath(storeDir).catch(() => resolve(storeDir));
}

/** Throws plaintext_exposed when `real` (a resolved path) is inside the keystore: a key must never be sealed. */
export function refuseKeystoreFile(real: string, realStore: string | undefined, what: string): void {
  if (realStore !== undefined && inside(real, realStore)) {
    throw new CliError('plaintext_exposed', `${what} is ${real}, inside the keystore ${realStore}: sealing it would hand a keystore file to every session`, { file: real, hint: 'a keystore file is never sealed: fix the path, and keep the keystore (--store, MODELSEAL_HOME) outside the model folder' });
  }
}

async function singleFile(file: string, storeDir: string | undefined): Promise<PlainFileSet> {
  const root = dirname(file);
  const st = await stat(file).catch((err: unknown) => { throw fsError(err, 'read', file); });
  if (!st.isFile()) {
    const kind = st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a file';
    throw new CliError('io_error', `cannot read model ${file}: it is ${kind}, not a regular file`, { file, hint: 'pass regular files; FIFOs, devices and sockets are refused' });
  }
  const name = basename(file);
  checkPath(name, file);
  const realFile = await realpath(file);
  const realStore = await realStoreDir(storeDir);
  refuseKeystoreFile(realFile, realStore, `the file to seal ${file}`);
  const files: PlainFile[] = [{ path: name, full: realFile, bytes: st.size }];
  const seen = new Set<string>([name]);
  if (/\.onnx$/i.test(name)) {
    // The graph of a model with external data is small; a model without it is read once here
    // (at most 2 GiB, protobuf's own limit) and its raw tensor bytes skipped, not decoded.
    const tooLarge = (size: number) => new CliError('model_invalid', `${file} is ${size} bytes, more than the 2 GiB an ONNX protobuf can be`, { file });
    const bytes = await readWholeFile(file, 'read ONNX model', MAX_WEIGHT_FILE_BYTES, tooLarge);
    let locations: string[];
    try {
      locations = onnxExternalLocations(bytes);
    } catch (err) {
      if (!(err instanceof OnnxParseError)) throw err;
      throw new CliError('model_invalid', `${file} is not an ONNX model this tool can read: ${err.message}`, { cause: err, file, hint: 'pass the .onnx file as exported (onnx.save / torch.onnx.export); to seal any file as it is, seal its folder instead' });
    }
    const realRoot = await realpath(root);
    for (const location of locations) {
      const rel = externalPath(location);
      if (rel === undefined) {
        throw new CliError('model_invalid', `${file} stores tensors in ${JSON.stringify(location.slice(0, 200))}, which is not a relative path inside its folder`, { file, hint: 'save the model with its external data beside it (onnx.save_model(..., location="model.onnx_data"))' });
      }
      // `d.bin` and `./d.bin` (or two tensors in one file) name one file: seal it once.
      if (seen.has(rel)) continue;
      seen.add(rel);
      const full = resolve(root, rel);
      checkPath(rel, full);
      const linked = await lstat(full).catch((err: unknown) => {
        throw new CliError('file_unavailable', `${file} stores tensors in ${JSON.stringify(location)}, but ${full} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err, file: full, hint: 'copy the external-data files next to the .onnx file, under the names the model stores' });
      });
      if (!linked.isSymbolicLink() && !linked.isFile()) throw new CliError('io_error', `cannot seal ${full}: it is not a regular file`, { file: full });
      // Resolved whole, not only its last part: a linked folder on the way (`etc -> /etc`) must not lead out.
      const { real, size } = await resolveLink(full, realRoot, rel);
      refuseKeystoreFile(real, realStore, `the external data ${JSON.stringify(rel)} of ${file}`);
      files.push({ path: rel, full: real, bytes: size });
    }
  }
  return finish('file', root, files, []);
}

function finish(form: 'folder' | 'file', root: string, files: PlainFile[], skippedHidden: string[]): PlainFileSet {
  // One order for every run (UTF-16 code units, as JavaScript sorts), so two sealings of the
  // same folder list the same files the same way.
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const problem = filePathListProblem(files.map((f) => f.path), WRITER_FOLD);
  if (problem) throw new CliError('model_invalid', `cannot seal ${root}: ${problem}`, { file: root, hint: 'rename the files so that no two paths differ only in case, and no file shares a name with a folder' });
  return { form, root, files, totalBytes: files.reduce((n, f) => n + f.bytes, 0), skippedHidden };
}

/** Lists the files to seal for PATH: a folder, or a single file (with its ONNX external data). */
export async function readPlainFiles(input: string, options: { includeHidden?: boolean; storeDir?: string } = {}): Promise<PlainFileSet> {
  const path = resolve(input);
  const st = await stat(path).catch((err: unknown) => { throw fsError(err, 'read', path); });
  if (st.isDirectory()) return scanFolder(path, { includeHidden: options.includeHidden ?? false, storeDir: options.storeDir });
  return singleFile(path, options.storeDir);
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW;

/**
 * A FilesSource over files on disk: each read opens (or keeps open) the file it needs and reads
 * at a position. A file whose size changed since it was listed is refused.
 */
export function diskFilesSource(set: PlainFileSet): FilesSource & { close(): Promise<void> } {
  const starts: number[] = [];
  let total = 0;
  for (const f of set.files) {
    starts.push(total);
    total += f.bytes;
  }
  let current: { index: number; handle: FileHandle } | undefined;
  const handleFor = async (index: number): Promise<FileHandle> => {
    if (current?.index === index) return current.handle;
    await current?.handle.close();
    current = undefined;
    const file = set.files[index]!;
    let handle: FileHandle;
    try {
      handle = await open(file.full, READ_FLAGS);
    } catch (err) {
      throw fsError(err, 'read', file.full);
    }
    const st = await handle.stat();
    if (!st.isFile() || st.size !== file.bytes) {
      await handle.close();
      throw new CliError('model_invalid', `${file.full} changed while it was being sealed (${file.bytes} bytes when listed, ${st.size} now)`, { file: file.full, hint: 'seal again once nothing writes the model files' });
    }
    current = { index, handle };
    return handle;
  };
  return {
    files: set.files.map((f) => ({ path: f.path, bytes: f.bytes })),
    async read(offset, length) {
      const out = Buffer.allocUnsafe(length);
      let filled = 0;
      let i = 0;
      while (i + 1 < starts.length && starts[i + 1]! <= offset) i++;
      for (; filled < length && i < set.files.length; i++) {
        const file = set.files[i]!;
        let from = offset + filled - starts[i]!;
        if (from >= file.bytes) continue;
        const handle = await handleFor(i);
        while (from < file.bytes && filled < length) {
          const want = Math.min(length - filled, file.bytes - from);
          const { bytesRead } = await handle.read(out, filled, want, from).catch((err: unknown) => { throw fsError(err, 'read', file.full); });
          if (bytesRead === 0) throw new CliError('model_invalid', `${file.full} shrank while it was being sealed`, { file: file.full, hint: 'seal again once nothing writes the model files' });
          filled += bytesRead;
          from += bytesRead;
        }
        // At a file's end, its size again: a lone file stays open across both passes, so growth is seen here.
        if (from === file.bytes) {
          const now = (await handle.stat()).size;
          if (now !== file.bytes) throw new CliError('model_invalid', `${file.full} changed while it was being sealed (${file.bytes} bytes when listed, ${now} now)`, { file: file.full, hint: 'seal again once nothing writes the model files' });
        }
      }
      if (filled !== length) throw new Error('internal: read past the end of the files');
      return out;
    },
    async close() {
      await current?.handle.close();
      current = undefined;
    },
  };
}
