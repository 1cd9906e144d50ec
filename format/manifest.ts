// The public sealed manifest (the `model.json` a CDN serves) and its validation. Validation is
// hand-written on purpose: the loader ships to browsers and should not pull a schema library.

import { fromBase64url } from './bytes.js';
import { MAX_CHUNK_LENGTH, MIN_CHUNK_LENGTH } from './chunked.js';
import { ModelsealError } from './errors.js';

/** The format version string; the first field a reader checks. */
export const FORMAT_VERSION = 'modelseal/1';
/** Default plaintext bytes per shard (4 MiB, a multiple of the default chunk length). */
export const DEFAULT_SHARD_LENGTH = 4 * 1024 * 1024;
/** Upper bound on manifest and header JSON a reader parses. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** Upper bound on shard count, so a hostile manifest cannot ask for millions of requests. */
export const MAX_SHARDS = 100_000;
/** Pattern for model ids and key ids: URL- and file-name-safe. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Where the encrypted header is: inline (base64url) or in its own file. */
export type HeaderRef = { data: string } | { path: string; size: number };

/** One sealed shard file: its path relative to the manifest, and its exact size in bytes. */
export interface ShardRef {
  path: string;
  size: number;
}

/** The public manifest: everything a loader needs before it has the key, and nothing more. */
export interface SealedManifest {
  modelseal: typeof FORMAT_VERSION;
  modelId: string;
  keyId: string;
  keyServer?: string;
  chunkLength: number;
  shardLength: number;
  header: HeaderRef;
  shards: ShardRef[];
}

function invalid(field: string, problem: string): ModelsealError {
  return new ModelsealError('manifest_invalid', `sealed manifest: ${field} ${problem}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkSize(value: unknown, field: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalid(field, 'must be a non-negative integer');
  return value as number;
}

function checkPath(value: unknown, field: string): string {
  // Relative file names only: no scheme, no absolute path, no parent segments, no query tricks.
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw invalid(field, 'must be a relative file path of 1 to 256 characters');
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(value) || value.split('/').some((s) => s === '.' || s === '..')) {
    throw invalid(field, `must be a relative path of letters, digits, '.', '_', '-' and '/', without '.' or '..' segments, got ${JSON.stringify(value.slice(0, 80))}`);
  }
  return value;
}

/** True when `json` looks like a sealed manifest (any version), as opposed to a plain TF.js model.json. */
export function isSealedManifest(json: unknown): boolean {
  return isRecord(json) && 'modelseal' in json;
}

/** Validates a parsed manifest and returns it typed; throws `manifest_invalid` or `unsupported_version`. */
export function parseManifest(json: unknown): SealedManifest {
  if (!isRecord(json)) throw invalid('document', 'must be a JSON object');
  const version = json['modelseal'];
  if (version === undefined) {
    throw new ModelsealError('manifest_invalid', 'this model.json is not sealed (it has no "modelseal" field): load it with the stock tf.io handlers, or seal it with `modelseal seal`');
  }
  if (version !== FORMAT_VERSION) {
    throw new ModelsealError('unsupported_version', `sealed manifest has format ${JSON.stringify(String(version).slice(0, 40))}; this modelseal reads only ${FORMAT_VERSION}: upgrade modelseal or reseal the model`);
  }
  const known = new Set(['modelseal', 'modelId', 'keyId', 'keyServer', 'chunkLength', 'shardLength', 'header', 'shards']);
  for (const key of Object.keys(json)) if (!known.has(key)) throw invalid(JSON.stringify(key.slice(0, 40)), `is not a ${FORMAT_VERSION} field`);
  const { modelId, keyId, keyServer, chunkLength, shardLength, header, shards } = json;
  if (typeof modelId !== 'string' || !ID_PATTERN.test(modelId)) throw invalid('modelId', 'must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit');
  if (typeof keyId !== 'string' || !ID_PATTERN.test(keyId)) throw invalid('keyId', 'must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit');
  if (keyServer !== undefined) {
    if (typeof keyServer !== 'string' || keyServer.length > 2048 || !/^https?:\/\//.test(keyServer)) throw invalid('keyServer', 'must be an http(s) URL');
  }
  if (!Number.isInteger(chunkLength) || (chunkLength as number) < MIN_CHUNK_LENGTH || (chunkLength as number) > MAX_CHUNK_LENGTH) {
    throw invalid('chunkLength', `must be an integer from ${MIN_CHUNK_LENGTH} to ${MAX_CHUNK_LENGTH}`);
  }
  const shardLen = checkSize(shardLength, 'shardLength');
  if (shardLen === 0 || shardLen % (chunkLength as number) !== 0) throw invalid('shardLength', 'must be a positive multiple of chunkLength');
  let headerRef: HeaderRef;
  if (!isRecord(header)) throw invalid('header', 'must be an object with "data" or with "path" and "size"');
  if ('data' in header) {
    if (typeof header['data'] !== 'string' || Object.keys(header).length !== 1) throw invalid('header', 'must be {"data": base64url} alone');
    try {
      fromBase64url(header['data']);
    } catch {
      throw invalid('header.data', 'must be unpadded base64url');
    }
    headerRef = { data: header['data'] };
  } else {
    if (Object.keys(header).length !== 2) throw invalid('header', 'must be {"path", "size"}');
    headerRef = { path: checkPath(header['path'], 'header.path'), size: checkSize(header['size'], 'header.size') };
  }
  if (!Array.isArray(shards)) throw invalid('shards', 'must be an array');
  if (shards.length > MAX_SHARDS) throw invalid('shards', `has ${shards.length} entries, more than ${MAX_SHARDS}`);
  const shardRefs = shards.map((s: unknown, i): ShardRef => {
    if (!isRecord(s) || Object.keys(s).length !== 2) throw invalid(`shards[${i}]`, 'must be {"path", "size"}');
    return { path: checkPath(s['path'], `shards[${i}].path`), size: checkSize(s['size'], `shards[${i}].size`) };
  });
  const paths = new Set<string>(shardRefs.map((s) => s.path));
  if ('path' in headerRef) paths.add(headerRef.path);
  if (paths.size !== shardRefs.length + ('path' in headerRef ? 1 : 0)) throw invalid('shards', 'name the same file twice');
  const manifest: SealedManifest = { modelseal: FORMAT_VERSION, modelId, keyId, chunkLength: chunkLength as number, shardLength: shardLen, header: headerRef, shards: shardRefs };
  if (keyServer !== undefined) manifest.keyServer = keyServer as string;
  return manifest;
}

/** Parses manifest text (size-limited) and validates it. */
export function parseManifestText(text: string): SealedManifest {
  if (text.length > MAX_MANIFEST_BYTES) throw invalid('document', `is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelsealError('manifest_invalid', `sealed manifest is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseManifest(json);
}
