// The encrypted header: the original model.json in full plus the layout of the weight bytes.

import { ModelsealError } from './errors.js';

/** A TF.js weight group as model.json lists it. */
export interface WeightsManifestGroup {
  paths: string[];
  weights: Array<Record<string, unknown> & { name: string; shape: number[]; dtype: string }>;
}

/** A TF.js model.json (graph or layers); unknown fields pass through untouched. */
export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: WeightsManifestGroup[];
  [field: string]: unknown;
}

/** The decrypted header document. */
export interface SealedHeader {
  /** Random per sealing, so the header digest (bound into every shard) differs between sealings. */
  sealingId: string;
  /** Total plaintext weight bytes: the original weight files concatenated in manifest order. */
  weightBytes: number;
  /** Byte length of each original weight file, per group and path (lets `open` rebuild them). */
  weightFiles: number[][];
  /** The original model.json, every field kept as it was. */
  model: ModelJson;
}

const HEADER_FIELDS = new Set(['sealingId', 'weightBytes', 'weightFiles', 'model']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks that `json` is a TF.js model.json this tool can seal: an object with a `modelTopology`
 * and a `weightsManifest` of groups with `paths` and `weights`. Throws `model_invalid`.
 */
export function validateModelJson(json: unknown, label = 'model.json'): ModelJson {
  const bad = (problem: string) => new ModelsealError('model_invalid', `${label} is not a TensorFlow.js model: ${problem}`, { file: label });
  if (!isRecord(json)) throw bad('it must be a JSON object');
  if ('modelseal' in json) throw bad('it is already sealed (it has a "modelseal" field)');
  if (!('modelTopology' in json) || json['modelTopology'] === null || typeof json['modelTopology'] !== 'object') throw bad('"modelTopology" is missing or not an object');
  const groups = json['weightsManifest'];
  if (!Array.isArray(groups)) throw bad('"weightsManifest" is missing or not an array');
  groups.forEach((g: unknown, i) => {
    if (!isRecord(g)) throw bad(`weightsManifest[${i}] is not an object`);
    if (!Array.isArray(g['paths']) || g['paths'].some((p) => typeof p !== 'string' || p.length === 0)) throw bad(`weightsManifest[${i}].paths must be an array of file names`);
    if (!Array.isArray(g['weights'])) throw bad(`weightsManifest[${i}].weights must be an array`);
    g['weights'].forEach((w: unknown, j) => {
      if (!isRecord(w) || typeof w['name'] !== 'string' || typeof w['dtype'] !== 'string' || !Array.isArray(w['shape'])) {
        throw bad(`weightsManifest[${i}].weights[${j}] needs "name", "shape" and "dtype"`);
      }
    });
  });
  return json as ModelJson;
}

/** Parses and checks decrypted header bytes; throws `header_invalid`. */
export function parseHeader(text: string, label = 'header'): SealedHeader {
  const bad = (problem: string) => new ModelsealError('header_invalid', `${label} decrypted but is not a valid modelseal/1 header: ${problem}`, { file: label });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelsealError('header_invalid', `${label} decrypted but is not JSON`, { cause, file: label });
  }
  if (!isRecord(json)) throw bad('not an object');
  // Any change to the header bumps the format version, so an unknown field means a bad writer.
  for (const key of Object.keys(json)) if (!HEADER_FIELDS.has(key)) throw bad(`unknown field ${JSON.stringify(key.slice(0, 40))}`);
  const { sealingId, weightBytes, weightFiles, model } = json;
  if (typeof sealingId !== 'string' || sealingId.length === 0) throw bad('sealingId missing');
  if (!Number.isSafeInteger(weightBytes) || (weightBytes as number) < 0) throw bad('weightBytes must be a non-negative integer');
  let modelJson: ModelJson;
  try {
    modelJson = validateModelJson(model, `${label}.model`);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (!Array.isArray(weightFiles) || weightFiles.length !== modelJson.weightsManifest.length) throw bad('weightFiles must list one array per weight group');
  let sum = 0;
  weightFiles.forEach((sizes: unknown, i) => {
    if (!Array.isArray(sizes) || sizes.length !== modelJson.weightsManifest[i]!.paths.length || sizes.some((n) => !Number.isSafeInteger(n) || n < 0)) {
      throw bad(`weightFiles[${i}] must list one size per path`);
    }
    for (const n of sizes as number[]) sum += n;
  });
  if (sum !== weightBytes) throw bad(`weightFiles add up to ${sum}, not weightBytes ${String(weightBytes)}`);
  return json as unknown as SealedHeader;
}
