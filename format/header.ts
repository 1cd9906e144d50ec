// The encrypted header: the original model.json text, byte for byte, plus the layout of the weight
// bytes and the digest of every shard (docs/FORMAT.md §Encrypted header).

import { ModelsealError } from './errors.js';
import { DIGEST_PATTERN } from './manifest.js';
import { fileUsedAsFolder } from './files-header.js';
import { isRecord, parseStrictJson, type StrictJsonError } from './json.js';

/** A TF.js weight group as model.json lists it. */
export interface WeightsManifestGroup {
  paths: string[];
  weights: Array<Record<string, unknown> & { name: string; shape: number[]; dtype: string }>;
}

/** A TF.js model.json (graph or layers); unknown fields pass through untouched. */
export interface ModelJson {
  modelTopology: Record<string, unknown>;
  weightsManifest: WeightsManifestGroup[];
  [field: string]: unknown;
}

/** The decrypted header document, exactly the fields `modelseal/2` defines. */
export interface SealedHeader {
  /** Random per sealing, so the header digest (the sealing's identity) differs between sealings. */
  sealingId: string;
  /** Total plaintext weight bytes: the original weight files concatenated in manifest order. */
  weightBytes: number;
  /** Byte length of each original weight file, per group and path (lets `open` rebuild them). */
  weightFiles: number[][];
  /** One per shard: SHA-256 over the SHA-256 of each of its plaintext chunks, base64url. */
  shardDigests: string[];
  /** The original model.json text, exactly as sealed (a byte order mark included). */
  modelJson: string;
}

const HEADER_FIELDS = ['sealingId', 'weightBytes', 'weightFiles', 'shardDigests', 'modelJson'];

/**
 * The file a weight path names, relative to model.json's folder (docs/FORMAT.md §Weight paths):
 * `/`-separated, `.` and empty segments dropped, otherwise taken literally (no percent-decoding);
 * refused when empty, absolute, with a scheme, a `..` segment, a backslash or a control character,
 * or when it is `model.json`.
 * Returns undefined for a refused path.
 */
export function normalizeWeightPath(path: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  if (path.startsWith('/') || /[\\\u0000-\u001f\u007f]/.test(path) || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) return undefined;
  const segments = path.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.length === 0 || segments.includes('..')) return undefined;
  const normal = segments.join('/');
  return normal === 'model.json' ? undefined : normal;
}

/**
 * Checks that `json` is a TF.js model.json this tool can seal: an object with an object
 * `modelTopology` and a `weightsManifest` of groups with `paths` and `weights`, every path a valid
 * weight path, no two naming the same file and none a folder of another. Throws `model_invalid`.
 */
export function validateModelJson(json: unknown, label = 'model.json'): ModelJson {
  const bad = (problem: string) => new ModelsealError('model_invalid', `${label} is not a TensorFlow.js model: ${problem}`, { file: label });
  if (!isRecord(json)) throw bad('it must be a JSON object');
  if ('modelseal' in json) throw bad('it is already sealed (it has a "modelseal" field)');
  if (!isRecord(json['modelTopology'])) throw bad('"modelTopology" is missing or not an object');
  const groups = json['weightsManifest'];
  if (!Array.isArray(groups)) throw bad('"weightsManifest" is missing or not an array');
  const files = new Set<string>();
  groups.forEach((g: unknown, i) => {
    if (!isRecord(g)) throw bad(`weightsManifest[${i}] is not an object`);
    const paths = g['paths'];
    if (!Array.isArray(paths)) throw bad(`weightsManifest[${i}].paths must be an array of file names`);
    paths.forEach((p: unknown, j) => {
      const file = typeof p === 'string' ? normalizeWeightPath(p) : undefined;
      if (file === undefined) throw bad(`weightsManifest[${i}].paths[${j}] ${JSON.stringify(String(p).slice(0, 80))} is not a relative file path inside the model folder (no "..", "\\", control character, scheme or leading "/")`);
      if (files.has(file)) throw bad(`weightsManifest[${i}].paths[${j}] names the file ${JSON.stringify(file.slice(0, 80))} a second time`);
      files.add(file);
    });
    if (!Array.isArray(g['weights'])) throw bad(`weightsManifest[${i}].weights must be an array`);
    g['weights'].forEach((w: unknown, j) => {
      if (!isRecord(w) || typeof w['name'] !== 'string' || typeof w['dtype'] !== 'string' || !Array.isArray(w['shape'])) {
        throw bad(`weightsManifest[${i}].weights[${j}] needs "name", "shape" and "dtype"`);
      }
      if (w['shape'].some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) throw bad(`weightsManifest[${i}].weights[${j}].shape must list non-negative integers`);
    });
  });
  // A weight path can be a file's or a folder's name, not both: `open` writes them all to one folder.
  const conflict = fileUsedAsFolder([...files], (path) => path);
  if (conflict !== undefined) throw bad(`the weight path ${conflict}`);
  return json as ModelJson;
}

/**
 * Parses the text of a plain model.json: one leading byte order mark ignored, strict JSON (no
 * duplicate member names), then validateModelJson. Throws `model_invalid`.
 */
export function parseModelJsonText(text: string, label = 'model.json'): ModelJson {
  let json: unknown;
  try {
    json = parseStrictJson(text.startsWith('\uFEFF') ? text.slice(1) : text, { integersOnly: false });
  } catch (cause) {
    throw new ModelsealError('model_invalid', `${label} is not valid: ${(cause as StrictJsonError).message}`, { cause, file: label });
  }
  return validateModelJson(json, label);
}

/** A parsed header and the model.json it carries, parsed. */
export interface ParsedHeader {
  header: SealedHeader;
  model: ModelJson;
}

/** Parses and checks decrypted header text (H6); throws `header_invalid`. */
export function parseHeader(text: string, label = 'header'): ParsedHeader {
  const bad = (problem: string, cause?: unknown) => new ModelsealError('header_invalid', `${label} decrypted but is not a valid modelseal/2 header: ${problem}`, { file: label, cause });
  let json: unknown;
  try {
    json = parseStrictJson(text, { integersOnly: true });
  } catch (cause) {
    throw bad((cause as StrictJsonError).message, cause);
  }
  return parseHeaderJson(json, label);
}

/** Checks a header document already parsed as strict JSON (H7); throws `header_invalid`. */
export function parseHeaderJson(json: unknown, label = 'header'): ParsedHeader {
  const bad = (problem: string, cause?: unknown) => new ModelsealError('header_invalid', `${label} decrypted but is not a valid modelseal/2 header: ${problem}`, { file: label, cause });
  if (!isRecord(json)) throw bad('not an object');
  // Any change to the header bumps the format version, so an unknown field means a bad writer.
  for (const key of Object.keys(json)) if (!HEADER_FIELDS.includes(key)) throw bad(`unknown field ${JSON.stringify(key.slice(0, 40))}`);
  const { sealingId, weightBytes, weightFiles, shardDigests, modelJson } = json;
  if (typeof sealingId !== 'string' || sealingId.length === 0) throw bad('sealingId missing');
  if (!Number.isSafeInteger(weightBytes) || (weightBytes as number) < 0) throw bad('weightBytes must be a non-negative integer');
  if (!Array.isArray(shardDigests) || shardDigests.some((d) => typeof d !== 'string' || !DIGEST_PATTERN.test(d))) throw bad('shardDigests must be an array of base64url SHA-256 digests');
  if (typeof modelJson !== 'string') throw bad('modelJson must be the text of the original model.json');
  let model: ModelJson;
  try {
    model = parseModelJsonText(modelJson, `${label}.modelJson`);
  } catch (err) {
    throw bad((err as Error).message, err);
  }
  if (!Array.isArray(weightFiles) || weightFiles.length !== model.weightsManifest.length) throw bad('weightFiles must list one array per weight group');
  let sum = 0;
  weightFiles.forEach((sizes: unknown, i) => {
    if (!Array.isArray(sizes) || sizes.length !== model.weightsManifest[i]!.paths.length || sizes.some((n) => !Number.isSafeInteger(n) || n < 0)) {
      throw bad(`weightFiles[${i}] must list one size per path`);
    }
    for (const n of sizes as number[]) sum += n;
  });
  if (sum !== weightBytes) throw bad(`weightFiles add up to ${sum}, not weightBytes ${String(weightBytes)}`);
  return { header: json as unknown as SealedHeader, model };
}
