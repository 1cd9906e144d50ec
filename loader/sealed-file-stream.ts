// openSealedFileStream: one file of a sealing as a stream of decrypted bytes, for files too large
// to hold twice (a 2 GB external-data file) and for runtimes that read a stream (MediaPipe's
// modelAssetBuffer takes a stream reader).

import { ModelsealError } from '../format/errors.js';
import { abortedError, linkedController } from './abort.js';
import { beginFilesLoad, filesShardReader, resolveFilesArguments, unlockFiles, type FilesLoad, type SealedFilesOptions } from './files-session.js';
import { absoluteUrl, chooseFetch } from './files.js';
import { withOfflineSession } from './offline.js';
import { Progress } from './progress.js';

/**
 * Opens one file of a sealing as a stream of its decrypted bytes. Resolves once the manifest, the
 * key and the header are checked (so a wrong key or an unknown path rejects here); the stream then
 * downloads only the shards that hold the file, one ahead of the reader. A shard's bytes are
 * handed out only after all of its checks passed, so every byte the stream gives is authentic;
 * a later failure errors the stream instead of closing it.
 * @example
 * const stream = await openSealedFileStream(url, 'face_landmarker.task', { token, keyServer });
 * const landmarker = await FaceLandmarker.createFromOptions(vision, { baseOptions: { modelAssetBuffer: stream.getReader() } });
 */
export async function openSealedFileStream(url: string, path: string, options: SealedFilesOptions): Promise<ReadableStream<Uint8Array>> {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('openSealedFileStream: the second argument must be the path of a file in the sealing (a non-empty string)');
  const { url: checked, options: resolved } = resolveFilesArguments('openSealedFileStream', url, options);
  const progress = new Progress(resolved.onProgress);
  progress.report(0);
  return withOfflineSession(resolved.offline, absoluteUrl(checked), chooseFetch(resolved.fetch), async (offline) => {
    const load = await beginFilesLoad('openSealedFileStream', checked, resolved, offline);
    return fileStream(load, path, progress);
  });
}

/**
 * The stream of one file once the manifest is read. With an offline session, the lease is stored
 * when the stream has given the whole file; this load's copies are dropped when it fails or is
 * cancelled, and a damaged stored copy with them (OfflineSession.failedLate).
 */
async function fileStream(load: FilesLoad, path: string, progress: Progress): Promise<ReadableStream<Uint8Array>> {
  const resolved = load.options;
  const unlock = unlockFiles(load);
  const unlocked = await unlock.unlocked;
  const entry = unlocked.entries.find((e) => e.path === path);
  if (!entry) {
    throw new ModelsealError('file_unavailable', `${load.manifestUrl} holds no file ${JSON.stringify(path.slice(0, 200))} (it holds ${unlocked.entries.length} file${unlocked.entries.length === 1 ? '' : 's'}; paths are relative, "/"-separated and compared exactly)`, { file: path });
  }
  const offline = load.offline;
  const finished = () => void offline?.commit(load.manifest, unlocked.contentKey);
  const stopped = () => void offline?.discard().catch(() => undefined);
  if (entry.inline || entry.bytes === 0) {
    const bytes = entry.inline ?? new Uint8Array(0);
    finished();
    progress.report(1);
    return new ReadableStream<Uint8Array>({
      start(stream) {
        if (bytes.length > 0) stream.enqueue(bytes.slice());
        stream.close();
      },
    });
  }

  const { shardLength } = load.manifest;
  const start = entry.offset!;
  const end = start + entry.bytes;
  const first = Math.floor(start / shardLength);
  const last = Math.floor((end - 1) / shardLength);
  const { controller, unlink } = linkedController(resolved.signal);
  const reader = filesShardReader(load, unlock, () => undefined);
  let delivered = 0;
  let next = first;
  /**
   * Fetches and fully checks shard `index`; resolves with the file's bytes in it, as views. The
   * bytes of other files in the same chunks are zeroed first: a reader gets views, and a view's
   * buffer must not show a neighbouring file.
   */
  const fetchShard = (index: number): Promise<Uint8Array[]> => {
    const work = (async () => {
      const chunks = await reader.read(index, controller.signal, resolved.signal);
      const pieces: Uint8Array[] = [];
      let at = index * shardLength;
      for (const chunk of chunks) {
        // The file's range within this chunk, clamped to it (empty when the chunk holds none of it).
        const within = (offset: number) => Math.min(Math.max(offset - at, 0), chunk.byteLength);
        const [from, to] = [within(start), within(end)];
        const bytes = new Uint8Array(chunk);
        if (to > from) {
          bytes.fill(0, 0, from);
          bytes.fill(0, to);
          pieces.push(bytes.subarray(from, to));
        } else {
          bytes.fill(0);
        }
        at += chunk.byteLength;
      }
      return pieces;
    })();
    work.catch(() => undefined); // reported when its turn comes
    return work;
  };
  const queue: Array<Promise<Uint8Array[]>> = [];
  const fill = () => {
    // One shard ahead of the one being handed out: memory holds about two shards, not the file.
    while (queue.length < 2 && next <= last) queue.push(fetchShard(next++));
  };
  const fail = async (err: unknown): Promise<unknown> => (resolved.signal?.aborted ? abortedError(resolved.signal, path) : offline ? offline.failedLate(err) : err);
  /** Once the stream stops early: zeroes the shards read ahead, which no reader will get. */
  const dropQueued = () => {
    for (const shard of queue.splice(0)) void shard.then((pieces) => { for (const p of pieces) new Uint8Array(p.buffer).fill(0); }, () => undefined);
  };

  return new ReadableStream<Uint8Array>({
    start() {
      fill();
    },
    async pull(stream) {
      const shard = queue.shift();
      if (!shard) {
        unlink();
        finished();
        stream.close();
        return;
      }
      let pieces: Uint8Array[];
      try {
        pieces = await shard;
      } catch (err) {
        controller.abort(err);
        unlink();
        dropQueued();
        stream.error(await fail(err));
        return;
      }
      fill();
      for (const piece of pieces) {
        stream.enqueue(piece);
        delivered += piece.length;
      }
      progress.report(delivered / entry.bytes);
      if (queue.length === 0) {
        unlink();
        finished();
        stream.close();
      }
    },
    cancel(reason) {
      controller.abort(reason);
      unlink();
      dropQueued();
      stopped();
    },
  }, { highWaterMark: 0 });
}
