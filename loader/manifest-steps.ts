// The steps every sealed load takes before and around the key release, whatever it loads (a TF.js
// model or files): fetch and parse the manifest, check the app's pins, choose the key server, start
// the release (before the manifest when the app pins all it names), fetch the sealed header.
// Shared by sealed-model.ts and files-session.ts.

import { ModelsealError } from '../format/errors.js';
import { MAX_MANIFEST_BYTES, parseManifestBytes, type SealedManifest } from '../format/manifest.js';
import { inlineHeader } from '../format/open.js';
import { fetchSmallFile, resolveFileUrl } from './files.js';
import type { OfflineSession } from './offline.js';
import type { FetchFunction, ResolvedOptions } from './options.js';
import { ephemeralKeyPair, releaseContentKey, type EphemeralKeyPair, type ReleaseTarget } from './release.js';
import { ReadGate } from './shard-body.js';
import { traced } from './trace.js';

/** Fetches (at most MAX_MANIFEST_BYTES) and parses the manifest; errors name its URL. */
export async function fetchManifest(fetchFn: FetchFunction, url: string, options: ResolvedOptions): Promise<SealedManifest> {
  const { signal, requestInit, timeoutMs } = options;
  const bytes = await fetchSmallFile(fetchFn, url, requestInit, signal, timeoutMs, {
    max: MAX_MANIFEST_BYTES,
    tooLarge: () => new ModelsealError('manifest_invalid', `${url} is larger than ${MAX_MANIFEST_BYTES} bytes: it is not a sealed manifest (model.json); check the URL`, { file: url }),
  });
  try {
    return parseManifestBytes(bytes);
  } catch (err) {
    if (err instanceof ModelsealError) throw new ModelsealError(err.code, `${url}: ${err.message}`, { cause: err.cause, file: url });
    throw err;
  }
}

/** The app's pins: a manifest for another model, key version or sealing is refused before its key is used. */
export function checkPins(manifest: SealedManifest, url: string, options: ResolvedOptions): void {
  const { modelId, keyId, sealing } = options;
  if ((modelId !== undefined && manifest.modelId !== modelId) || (keyId !== undefined && manifest.keyId !== keyId)) {
    throw new ModelsealError('unexpected_model', `${url} is model ${manifest.modelId} key ${manifest.keyId}, but the app expects ${modelId ?? manifest.modelId}${keyId === undefined ? '' : ` key ${keyId}`}: the files at this URL are another model's; check the URL, or what was uploaded there`, { file: url });
  }
  if (sealing !== undefined && manifest.sealing !== sealing) {
    throw new ModelsealError('unexpected_model', `${url} is sealing ${manifest.sealing} of model ${manifest.modelId}, but the app expects sealing ${sealing}: the files at this URL are another sealing of the model (an older or newer \`modelseal seal\`); upload the sealed files the app pins, or update the app's options.sealing`, { file: url });
  }
}

/**
 * The release target and key server when the app pins them all (`modelId`, `keyId`, `sealing`,
 * `keyServer`): the release then needs nothing from the manifest, which is checked against the
 * same pins when it arrives. Undefined otherwise.
 */
function pinnedRelease(options: ResolvedOptions): { target: ReleaseTarget; keyServer: string } | undefined {
  const { modelId, keyId, sealing, keyServer } = options;
  if (modelId === undefined || keyId === undefined || sealing === undefined || keyServer === undefined) return undefined;
  return { target: { modelId, keyId, sealing }, keyServer };
}

/** What a load has once its manifest is in and checked. */
export interface LoadStart {
  manifest: SealedManifest;
  keyServer: string;
  options: ResolvedOptions;
  /** Fetch for the key server (never the offline copy's). */
  keyFetch: FetchFunction;
  /** The offline lease session with `options.offline`, else undefined. */
  offline: OfflineSession | undefined;
  /** The release's key pair, made while the manifest downloaded. */
  keyPair: Promise<EphemeralKeyPair>;
  /** Held by the release while it unwraps the key; the shard reads wait for it. */
  gate: ReadGate;
  /** The release started beside the manifest's download (every pin set), if any. */
  early: Promise<CryptoKey> | undefined;
}

/**
 * A load's first steps: the key pair and, when the app pins all a release names (and no offline
 * copy may hold the key), the release itself, both beside the manifest's download; then the
 * manifest (fetched with `files`), the app's pins and the key server. Nothing else is sent to a
 * key server yet.
 */
export async function startLoad(files: FetchFunction, keyFetch: FetchFunction, manifestUrl: string, options: ResolvedOptions, offline: OfflineSession | undefined): Promise<LoadStart> {
  const keyPair = ephemeralKeyPair();
  keyPair.catch(() => undefined); // awaited by the release; a manifest failure comes first
  const gate = new ReadGate();
  const pinned = offline ? undefined : pinnedRelease(options);
  const early = pinned && release(pinned.target, pinned.keyServer, { options, keyFetch, offline, keyPair, gate });
  // The app's own copy (options.manifest) saves the download: everything below starts at once.
  const manifest = options.manifest ?? await traced('manifest', () => fetchManifest(files, manifestUrl, options));
  checkPins(manifest, manifestUrl, options);
  const keyServer = chooseKeyServer(manifest, manifestUrl, options);
  return { manifest, keyServer, options, keyFetch, offline, keyPair, gate, early };
}

/**
 * The content key: the release already under way, else the stored key within an offline lease
 * (no request), else a release now (asking for a lease with `offline`). Rejections are handled
 * here; await the promise where the failure should surface.
 */
export function loadContentKey(load: LoadStart): Promise<CryptoKey> {
  if (load.early) return load.early;
  const stored = load.offline?.storedKey(load.manifest);
  return stored ? Promise.resolve(stored) : release(load.manifest, load.keyServer, load);
}

function release(target: ReleaseTarget, keyServer: string, load: Pick<LoadStart, 'options' | 'keyFetch' | 'offline' | 'keyPair' | 'gate'>): Promise<CryptoKey> {
  const { options, offline } = load;
  const key = traced('release', () => releaseContentKey({
    manifest: target, keyServer, token: options.token, fetch: load.keyFetch, signal: options.signal, timeoutMs: options.timeoutMs,
    keyPair: load.keyPair, origin: options.origin, gate: load.gate,
    ...(offline ? { offline: { onLease: (lease: number | undefined) => offline.released(lease) } } : {}),
  }));
  key.catch(() => undefined); // surfaced where the load awaits the key
  return key;
}

/** The key server: the app's, else the manifest's when the app allows it (its origin allow-listed). */
export function chooseKeyServer(manifest: SealedManifest, url: string, options: ResolvedOptions): string {
  const { keyServer, allowManifestKeyServer: allow } = options;
  if (keyServer !== undefined) return keyServer;
  const named = manifest.keyServer;
  if (named === undefined) {
    throw new ModelsealError('key_server_not_allowed', `${url} names no key server and the app passed none: pass options.keyServer`, { file: url });
  }
  if (allow !== true && !allow!.includes(new URL(named).origin)) {
    throw new ModelsealError('key_server_not_allowed', `${url} names the key server ${named.slice(0, 200)}, whose origin is not in options.allowManifestKeyServer; no token was sent to it. Pass options.keyServer, or add the origin if you trust it`, { file: url });
  }
  return named;
}

/** The sealed header: inline in the manifest, or fetched (public ciphertext, so before the key). */
export async function fetchSealedHeader(fetchFn: FetchFunction, manifest: SealedManifest, manifestUrl: string, options: ResolvedOptions): Promise<Uint8Array> {
  const { signal, requestInit, weightUrlConverter, timeoutMs } = options;
  const inline = inlineHeader(manifest);
  if (inline || !('path' in manifest.header)) return inline!;
  const url = await resolveFileUrl(manifest.header.path, manifestUrl, weightUrlConverter);
  const declared = manifest.header.size;
  return fetchSmallFile(fetchFn, url, requestInit, signal, timeoutMs, {
    max: declared,
    tooLarge: () => new ModelsealError('trailing_data', `header (${url}) is longer than the ${declared} bytes the manifest declares: the file was altered or belongs to another sealing; upload the sealed folder again`, { file: url }),
  });
}
