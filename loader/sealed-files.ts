// openSealedFiles: every file of a sealing, decrypted in memory, as a Map from relative path to
// bytes. For runtimes that take bytes (ONNX Runtime, transformers.js, MediaPipe, LiteRT).

import { ModelsealError } from '../format/errors.js';
import { Limiter } from '../format/limiter.js';
import {
  beginFilesLoad, linkedController, Progress, readShard, requestShard, resolveFilesArguments, unlockFiles,
  type SealedFileEntry, type SealedFilesOptions, type ShardRequest, type UnlockedFiles,
} from './files-session.js';
import { abortedError } from './files.js';

/** Share of the progress bar spent before the first shard byte (manifest, key release, header). */
const SETUP_SHARE = 0.05;

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
export async function openSealedFiles(url: string, options: SealedFilesOptions): Promise<Map<string, Uint8Array>> {
  const { url: checked, options: resolved } = resolveFilesArguments('openSealedFiles', url, options);
  const progress = new Progress(resolved.onProgress);
  progress.report(0);
  const load = await beginFilesLoad('openSealedFiles', checked, resolved);
  const { manifest } = load;
  const { controller, unlink } = linkedController(resolved.signal);
  const unlocking = unlockFiles(load);
  unlocking.catch((err: unknown) => controller.abort(err));
  const total = manifest.shards.reduce((n, s) => n + s.size, 0);
  let received = 0;
  const onBytes = (n: number) => {
    received += n;
    progress.report(SETUP_SHARE + (1 - SETUP_SHARE) * 0.999 * (total === 0 ? 1 : received / total));
  };
  let output: Output | undefined;
  try {
    // The shards are public ciphertext: their requests start while the key is being released;
    // their bodies are read once it is here.
    const requests = new Limiter(resolved.maxConcurrentRequests);
    const shardLength = manifest.shardLength;
    const tasks = manifest.shards.map((_, index) => requests.run(async () => {
      if (controller.signal.aborted) throw controller.signal.reason;
      let request: ShardRequest | undefined;
      let failure: unknown;
      try {
        request = await requestShard(load, index, controller.signal);
      } catch (err) {
        failure = err;
      }
      // A key or header failure is reported before any shard failure.
      let unlocked: UnlockedFiles;
      try {
        unlocked = await unlocking;
      } catch (err) {
        request?.deadline.clear();
        await request?.response.body?.cancel().catch(() => undefined);
        throw err;
      }
      if (failure !== undefined) throw failure;
      output ??= new Output(unlocked.entries);
      const chunks = await readShard(load, unlocked, index, request!, controller.signal, onBytes);
      let at = index * shardLength;
      for (const chunk of chunks) {
        output.write(at, new Uint8Array(chunk));
        at += chunk.byteLength;
      }
    }).catch((err: unknown) => {
      controller.abort(err);
      throw err;
    }));
    // Every task waits for the key first and rethrows its failure, so this rejects with a key or
    // header failure before any shard failure; awaiting the tasks first leaves none unhandled.
    await Promise.all(tasks);
    const unlocked = await unlocking;
    output ??= new Output(unlocked.entries);
    progress.report(1);
    return output.files;
  } catch (err) {
    // No partial model reaches the caller, and the plaintext already decrypted does not linger.
    output?.wipe();
    if (resolved.signal?.aborted) throw abortedError(resolved.signal, load.manifestUrl);
    throw err;
  } finally {
    unlink();
  }
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

  /** Copies payload bytes starting at payload offset `at` into the files they belong to. */
  write(at: number, data: Uint8Array): void {
    const placed = this.#placed;
    // The last file starting at or before `at` (binary search: files are in payload order).
    let lo = 0;
    let hi = placed.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (placed[mid]!.offset <= at) lo = mid;
      else hi = mid - 1;
    }
    let done = 0;
    for (let i = lo; done < data.length && i < placed.length; i++) {
      const file = placed[i]!;
      const from = at + done - file.offset;
      const n = Math.min(data.length - done, file.bytes.length - from);
      if (n <= 0) continue;
      file.bytes.set(data.subarray(done, done + n), from);
      done += n;
    }
    if (done !== data.length) throw new Error('internal: payload bytes past the last file');
  }

  wipe(): void {
    for (const bytes of this.files.values()) bytes.fill(0);
  }
}
