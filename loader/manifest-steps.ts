// The steps every sealed load takes before and around the key release, whatever it loads (a TF.js
// model or files): fetch and parse the manifest, check the app's pins, choose the key server, fetch
// the sealed header. Shared by sealed-model.ts and files-session.ts.

import { ModelsealError } from '../format/errors.js';
import { MAX_MANIFEST_BYTES, parseManifestBytes, type SealedManifest } from '../format/manifest.js';
import { inlineHeader } from '../format/open.js';
import { fetchSmallFile, resolveFileUrl } from './files.js';
import type { FetchFunction, ResolvedOptions } from './options.js';

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

/** The app's pins: a manifest for another model (or key version) is refused before any key request. */
export function checkPins(manifest: SealedManifest, url: string, options: ResolvedOptions): void {
  const { modelId, keyId } = options;
  if ((modelId !== undefined && manifest.modelId !== modelId) || (keyId !== undefined && manifest.keyId !== keyId)) {
    throw new ModelsealError('unexpected_model', `${url} is model ${manifest.modelId} key ${manifest.keyId}, but the app expects ${modelId ?? manifest.modelId}${keyId === undefined ? '' : ` key ${keyId}`}: the files at this URL are another model's; check the URL, or what was uploaded there`, { file: url });
  }
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
