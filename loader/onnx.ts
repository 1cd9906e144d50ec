// ONNX Runtime (onnxruntime-web and onnxruntime-node) on sealed files: the model bytes plus its
// external-data files as `externalData: [{ path, data }]`, in memory, under the paths the model
// stores (relative to the model file's folder). The runtime is passed in, never imported, so this
// file works with either package and pulls neither into a bundle.

import type { OpenSealedFilesOptions } from './files-session.js';
import { openSealedFiles } from './sealed-files.js';

/** One in-memory external-data file, as `InferenceSession.create` takes it. */
export interface OnnxExternalData {
  /** The path the model stores in `external_data.location`, relative to the model file's folder. */
  path: string;
  data: Uint8Array;
}

/** What `ort.InferenceSession.create(model, options)` takes for a sealed ONNX model. */
export interface OnnxModelInput {
  /** The model file's path in the sealed set. */
  path: string;
  /** The decrypted .onnx bytes. */
  model: Uint8Array;
  /** Session options carrying the external-data files; spread your own options into it. */
  options: { externalData: OnnxExternalData[] };
}

/** The part of an `onnxruntime-web` / `onnxruntime-node` module these helpers call. */
export interface OnnxRuntimeLike<S, O> {
  InferenceSession: { create(model: Uint8Array, options?: O): Promise<S> };
}

const MODEL_EXTENSIONS = ['.onnx', '.ort'];

function isModelFile(path: string): boolean {
  const lower = path.toLowerCase();
  return MODEL_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

function folderOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash + 1);
}

/** The model file to load: `model` if given (it must be in the set), else the set's only .onnx/.ort file. */
function pickModel(files: ReadonlyMap<string, Uint8Array>, model: string | undefined, caller: string): string {
  const candidates = [...files.keys()].filter(isModelFile).sort();
  if (model !== undefined) {
    if (typeof model !== 'string' || model.length === 0) throw new TypeError(`${caller}: options.model must be a non-empty path inside the sealed files, e.g. "onnx/model.onnx"`);
    const path = model.replace(/^\.\//, '');
    if (!files.has(path)) {
      throw new TypeError(`${caller}: options.model ${JSON.stringify(model)} is not one of the sealed files; the model files there are: ${candidates.map((c) => JSON.stringify(c)).join(', ') || 'none'}`);
    }
    return path;
  }
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) throw new TypeError(`${caller}: the sealed files hold no .onnx or .ort file (they hold ${files.size} file(s)); seal the ONNX model, or pass options.model naming the model file`);
  throw new TypeError(`${caller}: the sealed files hold several models (${candidates.map((c) => JSON.stringify(c)).join(', ')}); pass options.model to choose one`);
}

/**
 * Builds what `InferenceSession.create` takes from decrypted files (relative path → bytes): the
 * model, and as external data every other non-model file in its folder or below, by its path
 * relative to that folder. The runtime reads the ones the model names and ignores the rest; no
 * bytes are copied.
 * @example
 * const input = onnxModelFromFiles(await openSealedFiles(url, options), { model: 'onnx/model.onnx' });
 * const session = await ort.InferenceSession.create(input.model, { ...input.options, executionProviders: ['wasm'] });
 */
export function onnxModelFromFiles(files: ReadonlyMap<string, Uint8Array>, options: { model?: string } = {}): OnnxModelInput {
  if (!(files instanceof Map)) throw new TypeError('onnxModelFromFiles: files must be the Map that openSealedFiles returns (relative path → bytes)');
  const path = pickModel(files, options.model, 'onnxModelFromFiles');
  const folder = folderOf(path);
  const externalData: OnnxExternalData[] = [];
  for (const [name, data] of files) {
    if (name === path || isModelFile(name) || !name.startsWith(folder)) continue;
    externalData.push({ path: name.slice(folder.length), data });
  }
  externalData.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { path, model: files.get(path)!, options: { externalData } };
}

/**
 * Creates an ONNX Runtime session from decrypted files, then zeroes every buffer of `files`: the
 * runtime holds its own copy once `create` resolves (onnxruntime-web copies the model into its
 * wasm heap and reads external data during `create` only; onnxruntime-node copies initializers
 * into its own tensors). Pass `wipe: false` to keep the buffers.
 */
export async function createOnnxSession<S, O extends object>(
  ort: OnnxRuntimeLike<S, O>,
  files: Map<string, Uint8Array>,
  options: { model?: string; sessionOptions?: O; wipe?: boolean } = {},
): Promise<S> {
  if (typeof ort?.InferenceSession?.create !== 'function') {
    throw new TypeError('createOnnxSession: pass the ONNX Runtime module as the first argument (import * as ort from "onnxruntime-web" or "onnxruntime-node")');
  }
  try {
    const input = onnxModelFromFiles(files, options);
    const sessionOptions = { ...(options.sessionOptions ?? {}), externalData: input.options.externalData } as O;
    return await ort.InferenceSession.create(input.model, sessionOptions);
  } finally {
    // The plaintext stays in the runtime's memory either way; this drops the loader's copy.
    if (options.wipe !== false) wipeFiles(files);
  }
}

/** Options of {@link sealedOnnxSession}: those of `openSealedFiles` (`paths` included), the model file to load, and the runtime's session options. */
export interface SealedOnnxOptions<O> extends OpenSealedFilesOptions {
  /** The model file's path in the sealing, when it holds more than one .onnx/.ort file. */
  model?: string;
  /** Passed to `InferenceSession.create` (with `externalData` filled in). */
  sessionOptions?: O;
}

/**
 * Opens a sealed ONNX model (`modelseal seal model.onnx`, external data included, or a folder) in
 * memory and creates an ONNX Runtime session from it; the decrypted copy is zeroed once the runtime
 * holds its own.
 * @example
 * import * as ort from 'onnxruntime-web';
 * const session = await sealedOnnxSession(ort, 'https://cdn.example.com/vad/model.json', { token, keyServer: 'https://keys.example.com' });
 */
export async function sealedOnnxSession<S, O extends object>(ort: OnnxRuntimeLike<S, O>, url: string, options: SealedOnnxOptions<O>): Promise<S> {
  // Checked before any request: a wrong first argument is a programming mistake, not a load failure.
  if (typeof ort?.InferenceSession?.create !== 'function') {
    throw new TypeError('sealedOnnxSession: pass the ONNX Runtime module as the first argument (import * as ort from "onnxruntime-web" or "onnxruntime-node")');
  }
  const { model, sessionOptions, ...openOptions } = options ?? ({} as SealedOnnxOptions<O>);
  const files = await openSealedFiles(url, openOptions);
  return createOnnxSession(ort, files, { ...(model === undefined ? {} : { model }), ...(sessionOptions === undefined ? {} : { sessionOptions }) });
}

/** Zeroes every buffer of a decrypted file set and empties it. */
export function wipeFiles(files: Map<string, Uint8Array>): void {
  for (const bytes of files.values()) bytes.fill(0);
  files.clear();
}
