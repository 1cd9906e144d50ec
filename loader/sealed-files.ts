// openSealedFiles: every file of a sealing, decrypted in memory, as a Map from relative path to
// bytes. For runtimes that take bytes (ONNX Runtime, transformers.js, MediaPipe, LiteRT).

import { ModelsealError } from '../format/errors.js';
import { Limiter } from '../format/limiter.js';
import { abortedError, linkedController, stoppedError } from './abort.js';
import {
  beginFilesLoad, filesShardReader, resolveFilesArguments, unlockFiles,
  type FilesLoad, type FilesUnlock, type OpenSealedFilesOptions, type SealedFileEntry,
} from './files-session.js';
import { freeBuffer } from './buffer-pool.js';
import { absoluteUrl, chooseFetch } from './files.js';
import { withOfflineSession } from './offline.js';
import { Progress } from './progress.js';

/**
 * Loads a sealing (`modelseal seal` of a file, a folder, or a TF.js model) and returns every file
 * it holds, decrypted in memory: relative path → bytes. Resolves only once every file of the
 * sealing has passed every check; nothing is written to disk or to any cache.
 * @example
 * const files = await openSealedFiles('https://cdn.example.com/vad/model.json', {
 *   token: () => fetch('/api/model-session').then((r) => r.text()),
 *   keyServer: 'https://keys.example.com',
 *   modelId: 'silero-vad',
 * });
 * const session = await ort.InferenceSession.create(files.get('silero_vad.onnx')!);
 */
export async function openSealedFiles(url: string, options: OpenSealedFilesOptions): Promise<Map<string, Uint8Array>> {
  const { url: checked, options: resolved } = resolveFilesArguments('openSealedFiles', url, options, ['paths']);
  const wanted = checkPaths(options.paths);
  const progress = new Progress(resolved.onProgress);
  progress.report(0);
  return withOfflineSession(resolved.offline, absoluteUrl(checked), chooseFetch(resolved.fetch), async (offline) => {
    const load = await beginFilesLoad('openSealedFiles', checked, resolved, offline);
    return openFiles(load, wanted, progress);
  });
}

/** The load once its manifest is read: the release, the header and the selected shards, into the output. */
async function openFiles(load: FilesLoad, wanted: readonly string[] | ((path: string) => boolean) | undefined, progress: Progress): Promise<Map<string, Uint8Array>> {
  const resolved = load.options;
  const { controller, unlink } = linkedController(resolved.signal);
  const unlock = unlockFiles(load);
  unlock.unlocked.catch((err: unknown) => controller.abort(err));
  let output: Output | undefined;
  const outputReady = unlock.unlocked.then((u) => (output = new Output(wanted === undefined ? u.entries : select(u.entries, wanted, load.manifestUrl))));
  outputReady.catch(() => undefined);
  try {
    // Which shards to fetch is known only from the header when some files are selected: then the
    // requests start after it; with every file, they start while the key is being released.
    const indexes = wanted === undefined ? load.manifest.shards.map((_, i) => i) : (await outputReady).shards(load.manifest.shardLength);
    const shards = readShards(load, unlock, indexes, outputReady, progress, controller);
    shards.catch(() => undefined); // reported below, after a key or header failure
    const { contentKey } = await unlock.unlocked;
    await shards;
    // The lease record goes in last, once every file of this load is in the cache (LOADER.md "Offline leases").
    await load.offline?.commit(load.manifest, contentKey);
    progress.report(1);
    return (await outputReady).files;
  } catch (err) {
    // No partial model reaches the caller, and the plaintext already decrypted does not linger.
    (output as Output | undefined)?.wipe();
    if (resolved.signal?.aborted) throw abortedError(resolved.signal, load.manifestUrl);
    throw err;
  } finally {
    unlink();
  }
}

/**
 * Reads the shards `indexes` (bounded) into the output; the first failure stops the others and is
 * the one reported. Each decrypted chunk is freed once copied into its file (freeBuffer): the
 * plaintext is then held once, in the output, not twice until the collector runs.
 */
async function readShards(load: FilesLoad, unlock: FilesUnlock, indexes: number[], outputReady: Promise<Output>, progress: Progress, controller: AbortController): Promise<void> {
  const { manifest, options } = load;
  const total = indexes.reduce((n, i) => n + manifest.shards[i]!.size, 0);
  let received = 0;
  const reader = filesShardReader(load, unlock, (n) => progress.download((received += n), total));
  const requests = new Limiter(options.maxConcurrentRequests);
  const reads = indexes.map((index) => requests.run(async () => {
    if (controller.signal.aborted) throw stoppedError(options.signal, load.urls[index]!);
    const chunks = await reader.read(index, controller.signal, options.signal);
    const output = await outputReady;
    let at = index * manifest.shardLength;
    for (const chunk of chunks) {
      const length = chunk.byteLength;
      output.write(at, new Uint8Array(chunk));
      freeBuffer(chunk);
      at += length;
    }
  }).catch((err: unknown) => {
    controller.abort(err);
    throw err;
  }));
  try {
    // Promise.all, so that it reports the shard failure that came first, not the first in order.
    await Promise.all(reads);
  } finally {
    // The pooled buffers go once every read is over, failed ones included.
    void Promise.allSettled(reads).then(() => reader.close());
  }
}

/** Checks the `paths` option: a list of non-empty strings or a function. */
function checkPaths(paths: unknown): readonly string[] | ((path: string) => boolean) | undefined {
  if (paths === undefined || typeof paths === 'function') return paths as ((path: string) => boolean) | undefined;
  if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw new TypeError('openSealedFiles: options.paths must be a list of file paths (non-empty strings) or a function (path) => boolean');
  }
  return paths as string[];
}

/** The entries `wanted` selects; a listed path the sealing lacks is `file_unavailable`. */
function select(entries: SealedFileEntry[], wanted: readonly string[] | ((path: string) => boolean), url: string): SealedFileEntry[] {
  if (typeof wanted === 'function') return entries.filter((e) => wanted(e.path));
  const known = new Set(entries.map((e) => e.path));
  const missing = wanted.find((p) => !known.has(p));
  if (missing !== undefined) {
    throw new ModelsealError('file_unavailable', `${url} holds no file ${JSON.stringify(missing.slice(0, 200))} (it holds ${entries.length} file${entries.length === 1 ? '' : 's'}; paths are relative, "/"-separated and compared exactly)`, { file: missing });
  }
  const set = new Set(wanted);
  return entries.filter((e) => set.has(e.path));
}

/** The output buffers, one per file, and where the payload bytes go. */
class Output {
  readonly files = new Map<string, Uint8Array>();
  readonly #placed: Array<{ offset: number; bytes: Uint8Array }> = [];

  constructor(entries: SealedFileEntry[]) {
    for (const entry of entries) {
      let bytes: Uint8Array;
      try {
        bytes = entry.inline ?? new Uint8Array(entry.bytes);
      } catch (cause) {
        // A typed array has a size limit (about 4 GiB in V8): stream such a file instead.
        throw new ModelsealError('file_unavailable', `${entry.path} is ${entry.bytes} bytes, more than this JavaScript engine holds in one array: load it with openSealedFileStream`, { cause, file: entry.path });
      }
      this.files.set(entry.path, bytes);
      if (entry.offset !== undefined && entry.bytes > 0) this.#placed.push({ offset: entry.offset, bytes });
    }
  }

  /** Copies the payload bytes starting at payload offset `at` that belong to the files kept here. */
  write(at: number, data: Uint8Array): void {
    const placed = this.#placed;
    const end = at + data.length;
    // The last file starting at or before `at` (binary search: files are in payload order).
    let lo = 0;
    let hi = placed.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (placed[mid]!.offset <= at) lo = mid;
      else hi = mid - 1;
    }
    for (let i = lo; i < placed.length && placed[i]!.offset < end; i++) {
      const file = placed[i]!;
      const from = Math.max(at, file.offset);
      const to = Math.min(end, file.offset + file.bytes.length);
      if (to > from) file.bytes.set(data.subarray(from - at, to - at), from - file.offset);
    }
  }

  /** Indexes of the shards that hold bytes of the files kept here, in order. */
  shards(shardLength: number): number[] {
    const out = new Set<number>();
    for (const file of this.#placed) {
      const first = Math.floor(file.offset / shardLength);
      const last = Math.floor((file.offset + file.bytes.length - 1) / shardLength);
      for (let i = first; i <= last; i++) out.add(i);
    }
    return [...out].sort((a, b) => a - b);
  }

  wipe(): void {
    for (const bytes of this.files.values()) bytes.fill(0);
  }
}
