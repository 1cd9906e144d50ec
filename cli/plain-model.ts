// Reading a plain TF.js model (model.json plus its weight files) from disk, with the checks a
// publisher wants before sealing: valid JSON, a real model, weight files inside the model folder.

import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fromUtf8 } from '../format/bytes.js';
import { weightByteLengths, type WeightSpecLike } from '../format/dtypes.js';
import { normalizeWeightPath, parseModelJsonText, type ModelJson } from '../format/header.js';
import { CliError, fsError } from './errors.js';
import { MAX_MODEL_JSON_BYTES, MAX_WEIGHT_FILE_BYTES, readWholeFile } from './safe-read.js';
import { realStoreDir, refuseKeystoreFile } from './plain-files.js';

/** A plain model read from disk. */
export interface PlainModelFiles {
  path: string;
  modelJson: ModelJson;
  /** The model.json text exactly as read (sealed byte for byte). */
  modelJsonText: string;
  /** Weight file paths as model.json lists them, group by group. */
  weightPaths: string[];
  weightFiles: Uint8Array[];
  weightBytes: number;
}

/** Bytes the weight specs need, or undefined when a spec's size is not fixed (string tensors). */
export function specBytes(modelJson: ModelJson): number | undefined {
  const sizes = weightByteLengths(modelJson.weightsManifest.flatMap((group) => group.weights as WeightSpecLike[]));
  return sizes?.reduce((a, b) => a + b, 0);
}

/**
 * Reads one weight file: after symbolic links it must still be inside the model folder (a link
 * to master.key or /etc/… is refused), a regular file, at most MAX_WEIGHT_FILE_BYTES.
 */
async function readWeightFile(root: string, rel: string, realStore: string | undefined): Promise<Uint8Array> {
  const full = resolve(root, rel);
  let real: string;
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    real = await realpath(full);
  } catch (err) {
    throw fsError(err, 'read weight file', full);
  }
  const back = relative(realRoot, real);
  if (back === '..' || back.startsWith(`..${sep}`) || isAbsolute(back)) {
    throw new CliError('model_invalid', `weight file ${JSON.stringify(rel)} of ${root} resolves to ${real}, outside the model folder (a symbolic link)`, { file: full, hint: 'copy the weight files into the model folder instead of linking to files elsewhere' });
  }
  refuseKeystoreFile(real, realStore, `weight file ${JSON.stringify(rel)} of ${root}`);
  const tooLarge = (size: number) => new CliError('model_invalid', `weight file ${full} is ${size} bytes, more than the ${MAX_WEIGHT_FILE_BYTES / 1073741824} GiB modelseal reads per file`, { file: full, hint: 'convert the model with smaller weight shards (tensorflowjs_converter --weight_shard_size_bytes)' });
  // The resolved path, opened without following a link: a link swapped in after the check is refused.
  return readWholeFile(real, 'read weight file', MAX_WEIGHT_FILE_BYTES, tooLarge, { noFollow: true });
}

/**
 * The hint for a .json that is not a TF.js model.json. A bare weights manifest (a JSON array, as
 * face-api's `*-weights_manifest.json`) has no topology to seal as a TF.js model, but its folder
 * seals as files.
 */
function modelJsonHint(text: string): string {
  if (text.trimStart().replace(/^\uFEFF/, '').startsWith('[')) {
    return 'this looks like a bare weights manifest (no model topology, as face-api ships): seal its folder as files (`modelseal seal <folder>`), and load it with openSealedFiles and tf.io.decodeWeights';
  }
  return 'pass the model.json of a TensorFlow.js model';
}

/** Reads and checks model.json and its weight files. */
export async function readPlainModel(modelPath: string, options: { storeDir?: string } = {}): Promise<PlainModelFiles> {
  const path = resolve(modelPath);
  const bytes = await readWholeFile(path, 'read model', MAX_MODEL_JSON_BYTES, (size) => new CliError('model_invalid', `${path} is ${size} bytes, more than the ${MAX_MODEL_JSON_BYTES / 1048576} MiB a model.json may have`, { file: path }));
  let text: string;
  try {
    text = fromUtf8(bytes);
  } catch (cause) {
    throw new CliError('model_invalid', `${path} is not UTF-8 text`, { cause, file: path, hint: 'pass the model.json of a TensorFlow.js model' });
  }
  // A UTF-8 byte order mark is ignored when parsing, as fetch's response.json() (and so
  // tf.io.http) ignores it, and kept in the sealed text so `open` gives back the same bytes.
  let modelJson: ModelJson;
  try {
    modelJson = parseModelJsonText(text, path);
  } catch (err) {
    throw new CliError('model_invalid', (err as Error).message, { cause: err, file: path, hint: modelJsonHint(text) });
  }
  const root = dirname(path);
  const weightPaths = modelJson.weightsManifest.flatMap((g) => g.paths);
  const weightFiles: Uint8Array[] = [];
  const realStore = await realStoreDir(options.storeDir);
  for (const p of weightPaths) weightFiles.push(await readWeightFile(root, normalizeWeightPath(p)!, realStore));
  const weightBytes = weightFiles.reduce((n, f) => n + f.length, 0);
  const needed = specBytes(modelJson);
  if (needed !== undefined && weightBytes < needed) {
    throw new CliError('model_invalid', `the weight files of ${path} hold ${weightBytes} bytes but its weight specs need ${needed}: a weight file is truncated or not this model's`, { file: path, hint: 'copy the weight files again from the converter output' });
  }
  return { path, modelJson, modelJsonText: text, weightPaths, weightFiles, weightBytes };
}
