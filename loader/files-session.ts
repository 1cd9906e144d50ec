// What openSealedFiles and openSealedFileStream share: options, the manifest, the app's pins and
// key server, the key release, the header of either kind, and the shard job. The same steps, shard
// reader and errors as SealedModelHandler (sealed-model.ts).

import { utf8 } from '../format/bytes.js';
import type { ChunkCipherFactory } from '../format/chunked.js';
import { normalizeWeightPath } from '../format/header.js';
import { openSealing, type OpenedSealing } from '../format/open.js';
import { abortedError } from './abort.js';
import { defaultCipher } from './default-cipher.js';
import { absoluteUrl, chooseFetch, resolveFileUrl } from './files.js';
import { checkUrl, resolveOptions, type FetchFunction, type ResolvedOptions, type SealedModelOptions } from './options.js';
import { fetchSealedHeader, loadContentKey, startLoad, type LoadStart } from './manifest-steps.js';
import type { OfflineSession } from './offline.js';
import { READ_AHEAD_BYTES, ShardReader } from './shard-reader.js';
import { traced } from './trace.js';

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

/** A load once the manifest is read and checked, before the key is released. */
export interface FilesLoad extends LoadStart {
  name: string;
  manifestUrl: string;
  /** Fetch for the sealed files: through the offline copy when there is one. */
  fetch: FetchFunction;
  /** URL of each shard, in order. */
  urls: string[];
  cipher: ChunkCipherFactory | undefined;
}

/** The key release and the header under way: see unlockFiles. */
export interface FilesUnlock {
  key: Promise<CryptoKey>;
  unlocked: Promise<UnlockedFiles>;
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

/**
 * Fetches and checks the manifest, the app's pins and the key server (startLoad: the release is
 * already under way only when the app pins all it names). With `offline`, the sealed files come
 * from (or are copied into) its copy.
 */
export async function beginFilesLoad(name: string, url: string, options: ResolvedOptions, offline?: OfflineSession): Promise<FilesLoad> {
  const keyFetch = chooseFetch(options.fetch);
  const fetch = offline?.fetch ?? keyFetch;
  if (options.signal?.aborted) throw abortedError(options.signal, url);
  const manifestUrl = absoluteUrl(url);
  const start = await startLoad(fetch, keyFetch, manifestUrl, options, offline);
  const urls = await Promise.all(start.manifest.shards.map((s) => resolveFileUrl(s.path, manifestUrl, options.weightUrlConverter)));
  const cipher = options.cipher ?? (await defaultCipher());
  return { ...start, name, manifestUrl, fetch, urls, cipher };
}

/**
 * Starts the key release (unless under way) and the header download together. `key` settles with
 * the content key alone (shards may decrypt on it); `unlocked` once the header is open too, with
 * the files the sealing gives back. Neither rejects unhandled: callers await what they need.
 */
export function unlockFiles(load: FilesLoad): FilesUnlock {
  const { manifest, options } = load;
  const { signal } = options;
  const key = loadContentKey(load);
  const sealed = traced('header.fetch', () => fetchSealedHeader(load.fetch, manifest, load.manifestUrl, options));
  sealed.catch(() => undefined); // reported after a key failure
  const unlocked = (async (): Promise<UnlockedFiles> => {
    const contentKey = await key;
    let opened: OpenedSealing;
    try {
      const bytes = await sealed;
      opened = await traced('header.open', () => openSealing(manifest, bytes, contentKey, { signal, concurrency: options.decryptConcurrency, ...(load.cipher ? { cipher: load.cipher } : {}) }));
    } catch (err) {
      if (signal?.aborted) throw abortedError(signal, 'the header');
      throw err;
    }
    return { opened, contentKey, entries: entriesOf(opened) };
  })();
  unlocked.catch(() => undefined);
  return { key, unlocked };
}

/**
 * The shard reader of a files load (the one sealedModel uses): shards read ahead while the key is
 * released and decrypt on the key alone. `onBytes` gets ciphertext bytes received.
 */
export function filesShardReader(load: FilesLoad, unlock: FilesUnlock, onBytes: (n: number) => void): ShardReader {
  const { options } = load;
  return new ShardReader({
    manifest: load.manifest, unlocked: unlock.unlocked, key: unlock.key, urls: load.urls,
    fetch: load.fetch,
    requestInit: options.requestInit,
    maxConcurrentRequests: options.maxConcurrentRequests,
    decryptConcurrency: options.decryptConcurrency,
    timeoutMs: options.timeoutMs,
    onBytes,
    cipher: load.cipher,
    reusesInput: options.cipher === undefined,
    readAhead: { bytes: READ_AHEAD_BYTES },
    gate: load.gate,
  }, true);
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
