// What openSealedFiles and openSealedFileStream share: options, the manifest, the app's pins and
// key server, the key release, the header of either kind, and reading one shard. The same steps
// and errors as SealedModelHandler (sealed-model.ts), kept apart so that its internals can change.

import { utf8 } from '../format/bytes.js';
import type { ChunkCipherFactory } from '../format/chunked.js';
import { normalizeWeightPath } from '../format/header.js';
import type { SealedManifest } from '../format/manifest.js';
import { createShardDecryptor, openSealing, type OpenedSealing } from '../format/open.js';
import { defaultCipher } from './default-cipher.js';
import { absoluteUrl, abortedError, chooseFetch, Deadline, fileError, getFile, resolveFileUrl } from './files.js';
import { checkUrl, resolveOptions, type FetchFunction, type ResolvedOptions, type SealedModelOptions } from './options.js';
import { checkPins, chooseKeyServer, fetchManifest, fetchSealedHeader } from './manifest-steps.js';
import { releaseContentKey } from './release.js';

/** Options of openSealedFiles and openSealedFileStream: those of sealedModel, without streamWeights. */
export type SealedFilesOptions = Omit<SealedModelOptions, 'streamWeights'>;

/** Options of openSealedFiles: those of openSealedFileStream, and which files to return. */
export interface OpenSealedFilesOptions extends SealedFilesOptions {
  /**
   * Only these files (exact paths, or a test on each path): only the shards that hold them are
   * fetched. Default: every file. A listed path the sealing lacks fails with `file_unavailable`.
   */
  paths?: readonly string[] | ((path: string) => boolean);
}

/** One file a sealing gives back: its bytes are in the payload at `offset`, or in `inline` (a TF.js model.json). */
export interface SealedFileEntry {
  path: string;
  bytes: number;
  offset: number | undefined;
  inline?: Uint8Array;
}

/** Reports a monotonic fraction from 0 to 1. */
export class Progress {
  #last = -1;
  constructor(private readonly callback: ((fraction: number) => void) | undefined) {}

  report(fraction: number): void {
    const f = Math.min(1, Math.max(0, fraction));
    if (!this.callback || f <= this.#last) return;
    this.#last = f;
    this.callback(f);
  }
}

/** A load once the manifest is read and checked, before the key is released. */
export interface FilesLoad {
  name: string;
  manifestUrl: string;
  manifest: SealedManifest;
  options: ResolvedOptions;
  fetch: FetchFunction;
  keyServer: string;
  /** URL of each shard, in order. */
  urls: string[];
  cipher: ChunkCipherFactory | undefined;
}

/** A load once the key is released and the header is open. */
export interface UnlockedFiles {
  opened: OpenedSealing;
  contentKey: CryptoKey;
  /** The files the sealing gives back, in payload order (a TF.js model.json first, inline). */
  entries: SealedFileEntry[];
}

/** Validates the arguments; TypeErrors name the calling function. */
export function resolveFilesArguments(name: string, url: unknown, options: unknown, own: readonly string[] = []): { url: string; options: ResolvedOptions } {
  try {
    if (typeof options === 'object' && options !== null && 'streamWeights' in options) {
      throw new TypeError(`${name}: options.streamWeights is for sealedModel (TF.js); use openSealedFileStream for a stream of one file`);
    }
    // The caller's own options are checked by the caller; the rest are sealedModel's.
    const shared = typeof options === 'object' && options !== null ? Object.fromEntries(Object.entries(options).filter(([k]) => !own.includes(k))) : options;
    return { url: checkUrl(url), options: resolveOptions(shared) };
  } catch (err) {
    if (err instanceof TypeError) throw new TypeError(err.message.replace(/^sealedModel:/, `${name}:`).replace('the URL of the sealed model.json', 'the URL of the sealed manifest (model.json)'), { cause: err });
    throw err;
  }
}

/** Fetches and checks the manifest, the app's pins and the key server; nothing is sent to a key server yet. */
export async function beginFilesLoad(name: string, url: string, options: ResolvedOptions): Promise<FilesLoad> {
  const fetch = chooseFetch(options.fetch);
  if (options.signal?.aborted) throw abortedError(options.signal, url);
  const manifestUrl = absoluteUrl(url);
  const manifest = await fetchManifest(fetch, manifestUrl, options);
  checkPins(manifest, manifestUrl, options);
  const keyServer = chooseKeyServer(manifest, manifestUrl, options);
  const urls = await Promise.all(manifest.shards.map((s) => resolveFileUrl(s.path, manifestUrl, options.weightUrlConverter)));
  const cipher = options.cipher ?? (await defaultCipher());
  return { name, manifestUrl, manifest, options, fetch, keyServer, urls, cipher };
}

/** Releases the key, fetches and opens the header, and lists the files the sealing gives back. */
export async function unlockFiles(load: FilesLoad): Promise<UnlockedFiles> {
  const { manifest, options } = load;
  const { signal, timeoutMs } = options;
  const contentKey = await releaseContentKey({ manifest, keyServer: load.keyServer, token: options.token, fetch: load.fetch, signal, timeoutMs, origin: options.origin });
  const sealed = await fetchSealedHeader(load.fetch, manifest, load.manifestUrl, options);
  let opened: OpenedSealing;
  try {
    opened = await openSealing(manifest, sealed, contentKey, { signal, concurrency: options.decryptConcurrency, ...(load.cipher ? { cipher: load.cipher } : {}) });
  } catch (err) {
    if (signal?.aborted) throw abortedError(signal, 'the header');
    throw err;
  }
  return { opened, contentKey, entries: entriesOf(opened) };
}

/**
 * The files of a sealing. Files kind: as the header lists them. TF.js kind: the original
 * model.json (from the header, byte for byte) and each weight file under its normalised path,
 * the same files `modelseal open` writes.
 */
function entriesOf(opened: OpenedSealing): SealedFileEntry[] {
  if (opened.kind === 'files') return opened.files.map((f) => ({ path: f.path, bytes: f.bytes, offset: f.offset }));
  const modelJson = utf8(opened.header.modelJson);
  const entries: SealedFileEntry[] = [{ path: 'model.json', bytes: modelJson.length, offset: undefined, inline: modelJson }];
  let offset = 0;
  opened.model.weightsManifest.forEach((group, g) => group.paths.forEach((path, i) => {
    const bytes = opened.header.weightFiles[g]![i]!;
    entries.push({ path: normalizeWeightPath(path)!, bytes, offset });
    offset += bytes;
  }));
  return entries;
}

/** A shard request under way: the response once headers are in, and its stall deadline. */
export interface ShardRequest {
  response: Response;
  deadline: Deadline;
}

/** Starts the GET of shard `index`; its body is read by readShard. */
export async function requestShard(load: FilesLoad, index: number, signal: AbortSignal): Promise<ShardRequest> {
  const url = load.urls[index]!;
  const deadline = new Deadline(load.options.timeoutMs, url, signal);
  try {
    return { response: await getFile(load.fetch, url, load.options.requestInit, signal, deadline), deadline };
  } catch (err) {
    deadline.clear();
    throw err;
  }
}

/**
 * Reads shard `index` as it downloads into its decryptor, and resolves with its plaintext chunks
 * once every check of the shard has passed (S1–S4). `onBytes` gets ciphertext bytes received.
 */
export async function readShard(
  load: FilesLoad,
  unlocked: UnlockedFiles,
  index: number,
  request: ShardRequest,
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<ArrayBuffer[]> {
  const { response, deadline } = request;
  const url = load.urls[index]!;
  const decryptor = createShardDecryptor(load.manifest, unlocked.opened, index, unlocked.contentKey, {
    concurrency: load.options.decryptConcurrency,
    signal,
    ...(load.cipher ? { cipher: load.cipher } : {}),
  });
  try {
    if (response.body) {
      const reader = response.body.getReader();
      try {
        for (;;) {
          let result: ReadableStreamReadResult<Uint8Array>;
          try {
            deadline.kick();
            result = await reader.read();
          } catch (err) {
            throw fileError(err, url, signal, deadline);
          } finally {
            deadline.pause();
          }
          if (result.done) break;
          onBytes(result.value.byteLength);
          await decryptor.push(result.value);
        }
      } finally {
        reader.releaseLock();
      }
    } else {
      let bytes: Uint8Array;
      try {
        deadline.kick();
        bytes = new Uint8Array(await response.arrayBuffer());
      } catch (err) {
        throw fileError(err, url, signal, deadline);
      } finally {
        deadline.pause();
      }
      onBytes(bytes.byteLength);
      await decryptor.push(bytes);
    }
    return await decryptor.finish();
  } catch (err) {
    await response.body?.cancel().catch(() => undefined);
    if (load.options.signal?.aborted) throw abortedError(load.options.signal, url);
    throw err;
  } finally {
    deadline.clear();
  }
}

/** Links the caller's signal to a controller that also stops the load on its own first failure. */
export function linkedController(outer: AbortSignal | undefined): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  if (!outer) return { controller, unlink: () => undefined };
  const onAbort = () => controller.abort(outer.reason);
  if (outer.aborted) onAbort();
  else outer.addEventListener('abort', onAbort, { once: true });
  return { controller, unlink: () => outer.removeEventListener('abort', onAbort) };
}
