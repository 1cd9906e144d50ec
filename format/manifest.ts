// The public sealed manifest (the `model.json` a CDN serves) and its validation. Validation is
// hand-written on purpose: the loader ships to browsers and should not pull a schema library.

import { fromBase64url, fromUtf8 } from './bytes.js';
import { MAX_CHUNK_LENGTH, MAX_CHUNKS, MIN_CHUNK_LENGTH } from './chunk-lengths.js';
import { ModelsealError } from './errors.js';
import { DIGEST_PATTERN, ID_RULE } from './ids.js';
import { isRecord, parseStrictJson, type StrictJsonError } from './json.js';

/** The format version string; the first field a reader checks. */
export const FORMAT_VERSION = 'modelseal/2';
/** Default plaintext bytes per shard (4 MiB, a multiple of the default chunk length). */
export const DEFAULT_SHARD_LENGTH = 4 * 1024 * 1024;
/** Upper bound on the manifest a reader parses, in bytes of UTF-8. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Upper bound on the sealed header, in bytes. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;
/** Inline headers as parsing decoded them, so a reader does not decode hundreds of KB twice. */
const decodedHeaders = new WeakMap<HeaderRef, Uint8Array>();

/** The bytes parseManifestBytes decoded for this inline header ref, handed out once (later calls: undefined). */
export function takeDecodedHeader(ref: HeaderRef): Uint8Array | undefined {
  const bytes = decodedHeaders.get(ref);
  decodedHeaders.delete(ref);
  return bytes;
}

/** A digest as the format writes it: 32 bytes in canonical unpadded base64url (43 characters). */
export { DIGEST_PATTERN };
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
  /** The sealing: SHA-256 of the header plaintext (base64url); the key server vouches for it. */
  sealing: string;
  header: HeaderRef;
  shards: ShardRef[];
}

const FIELDS = ['modelseal', 'modelId', 'keyId', 'keyServer', 'chunkLength', 'shardLength', 'sealing', 'header', 'shards'];

function invalid(field: string, problem: string): ModelsealError {
  return new ModelsealError('manifest_invalid', `sealed manifest: ${field} ${problem}`);
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

/** Validates a parsed manifest and returns it typed; throws `manifest_invalid` or `unsupported_version`. */
export function parseManifest(json: unknown): SealedManifest {
  if (!isRecord(json)) throw invalid('document', 'must be a JSON object');
  const version = json['modelseal'];
  if (version === undefined) {
    throw new ModelsealError('manifest_invalid', 'this model.json is not sealed (it has no "modelseal" field): load it with the stock tf.io handlers, or seal it with `modelseal seal`');
  }
  if (version !== FORMAT_VERSION) {
    // Never String() an array or object: a deeply nested array overflows the stack in join (RangeError).
    const shown = typeof version === 'object' && version !== null ? (Array.isArray(version) ? '[array]' : '[object]') : String(version);
    throw new ModelsealError('unsupported_version', `sealed manifest has format ${JSON.stringify(shown.slice(0, 40))}; this modelseal reads only ${FORMAT_VERSION}: upgrade modelseal or reseal the model`);
  }
  for (const key of Object.keys(json)) if (!FIELDS.includes(key)) throw invalid(JSON.stringify(key.slice(0, 40)), `is not a ${FORMAT_VERSION} field`);
  const { modelId, keyId, keyServer, chunkLength, shardLength, sealing, header, shards } = json;
  if (typeof modelId !== 'string' || !ID_PATTERN.test(modelId)) throw invalid('modelId', `must be ${ID_RULE}`);
  if (typeof keyId !== 'string' || !ID_PATTERN.test(keyId)) throw invalid('keyId', `must be ${ID_RULE}`);
  if (keyServer !== undefined) checkKeyServerUrl(keyServer, 'keyServer', invalid);
  if (!Number.isInteger(chunkLength) || (chunkLength as number) < MIN_CHUNK_LENGTH || (chunkLength as number) > MAX_CHUNK_LENGTH) {
    throw invalid('chunkLength', `must be an integer from ${MIN_CHUNK_LENGTH} to ${MAX_CHUNK_LENGTH}`);
  }
  const shardLen = checkSize(shardLength, 'shardLength');
  if (shardLen === 0 || shardLen % (chunkLength as number) !== 0) throw invalid('shardLength', 'must be a positive multiple of chunkLength');
  // A full shard has shardLength / chunkLength full chunks plus the empty final one.
  if (shardLen / (chunkLength as number) >= MAX_CHUNKS) throw invalid('shardLength', 'must be less than 2^38 times chunkLength (C2SP allows 2^38 chunks per file)');
  if (typeof sealing !== 'string' || !DIGEST_PATTERN.test(sealing)) throw invalid('sealing', 'must be a SHA-256 digest in unpadded base64url (43 characters)');
  let headerRef: HeaderRef;
  if (!isRecord(header)) throw invalid('header', 'must be an object with "data" or with "path" and "size"');
  if ('data' in header) {
    if (typeof header['data'] !== 'string' || Object.keys(header).length !== 1) throw invalid('header', 'must be {"data": base64url} alone');
    let bytes: Uint8Array;
    try {
      bytes = fromBase64url(header['data']);
    } catch {
      throw invalid('header.data', 'must be unpadded base64url');
    }
    headerRef = { data: header['data'] };
    decodedHeaders.set(headerRef, bytes);
  } else {
    if (Object.keys(header).length !== 2) throw invalid('header', 'must be {"path", "size"}');
    headerRef = { path: checkPath(header['path'], 'header.path'), size: checkSize(header['size'], 'header.size') };
    if (headerRef.size > MAX_HEADER_BYTES) throw invalid('header.size', `is larger than the ${MAX_HEADER_BYTES}-byte header limit`);
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
  const manifest: SealedManifest = { modelseal: FORMAT_VERSION, modelId, keyId, chunkLength: chunkLength as number, shardLength: shardLen, sealing, header: headerRef, shards: shardRefs };
  if (keyServer !== undefined) manifest.keyServer = keyServer as string;
  return manifest;
}

/**
 * Parses the manifest's bytes and validates it (M1–M7): at most MAX_MANIFEST_BYTES, UTF-8 (one
 * leading byte order mark is ignored), strict JSON, then the fields.
 */
export function parseManifestBytes(bytes: Uint8Array): SealedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw invalid('document', `is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let text: string;
  try {
    text = fromUtf8(bytes);
  } catch (cause) {
    throw new ModelsealError('manifest_invalid', 'sealed manifest is not UTF-8 text', { cause });
  }
  return parseManifestText(text.startsWith('\uFEFF') ? text.slice(1) : text, bytes.length);
}

/** Parses manifest text and validates it; `byteLength` is its UTF-8 size when the caller knows it. */
export function parseManifestText(text: string, byteLength = new TextEncoder().encode(text).length): SealedManifest {
  if (byteLength > MAX_MANIFEST_BYTES) throw invalid('document', `is larger than ${MAX_MANIFEST_BYTES} bytes`);
  let json: unknown;
  try {
    json = parseStrictJson(text, { integersOnly: true });
  } catch (cause) {
    throw new ModelsealError('manifest_invalid', `sealed manifest is not valid: ${(cause as StrictJsonError).message}`, { cause });
  }
  return parseManifest(json);
}

/**
 * Checks a key-server URL: a WHATWG URL of at most 2048 characters with scheme http or https, a
 * host, and no credentials, query or fragment. Returns it unchanged.
 */
export function checkKeyServerUrl(value: unknown, field: string, fail: (field: string, problem: string) => Error): string {
  const problem = 'must be an absolute http(s) URL of at most 2048 characters, without credentials, query or fragment';
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048 || !/^https?:\/\//.test(value) || /[?#\s]/.test(value)) throw fail(field, problem);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail(field, problem);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '' || url.username !== '' || url.password !== '') throw fail(field, problem);
  return value;
}
