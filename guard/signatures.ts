// What plaintext model material looks like in its first bytes: one rule per format, each needing
// more than a magic number where the format gives more (docs/CLI.md §Detection rules). Pure: bytes
// in, a verdict out; the scanner reads the bytes.

/** The kinds of plaintext model material the scan reports. */
export type FindingKind =
  | 'tfjs-model'
  | 'tfjs-weights'
  | 'onnx'
  | 'onnx-external-data'
  | 'onnx-runtime'
  | 'tflite'
  | 'safetensors'
  | 'gguf';

/** A rule's verdict on one file. */
export interface Detection {
  kind: FindingKind;
  reason: string;
}

/** Bytes read from the start of every file (a TF.js model.json candidate is then read whole). */
export const HEAD_BYTES = 4096;

const ascii = (bytes: Uint8Array, at: number, text: string): boolean => {
  if (bytes.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
};
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** A sealed modelseal file: skipped by name, never a finding. */
export function isSealedName(name: string): boolean {
  return name.endsWith('.sealed');
}

/**
 * The names tensorflowjs_converter gives weight shards: `group1-shard3of7.bin` (or without `.bin`),
 * and the same name as a JavaScript module (`group1-shard1of2.min.js`: nsfwjs ships its shards so,
 * base64 inside); also with the content hash a bundler adds to an imported asset
 * (`group1-shard1of1-CQBa4mzY.bin` from Vite, `-HU7LPCPW` from esbuild).
 */
export function isTfjsShardName(name: string): boolean {
  return /^group\d+-shard\d+of\d+(-[A-Za-z0-9_-]{6,32})?(\.bin|\.js|\.min\.js)?$/.test(name);
}

/** ONNX external-data files by name: `model.onnx_data`, `model.onnx.data`, `weights.onnx_data`. */
export function isOnnxDataName(name: string): boolean {
  return /\.onnx(_data|\.data)$/i.test(name);
}

/**
 * Rules on a file's name alone (no bytes needed). The shard rule needs the converter's exact
 * pattern: a random `*.bin` is not flagged unless a model.json lists it.
 */
export function detectByName(name: string): Detection | undefined {
  if (isTfjsShardName(name)) return { kind: 'tfjs-weights', reason: 'named like a tensorflowjs_converter weight shard (groupN-shardNofM)' };
  if (isOnnxDataName(name)) return { kind: 'onnx-external-data', reason: 'named like ONNX external tensor data (.onnx_data)' };
  return undefined;
}

/** Binary formats with a signature in the first bytes. `size` is the file's size in bytes. */
export function detectBinary(head: Uint8Array, size: number): Detection | undefined {
  // GGUF: magic "GGUF", then a little-endian uint32 version (1 to 3 today; a later one is still GGUF).
  if (ascii(head, 0, 'GGUF') && head.length >= 8) {
    const version = u32(head, 4);
    if (version >= 1 && version <= 64) return { kind: 'gguf', reason: `GGUF magic, version ${version}` };
  }
  // FlatBuffers with a file identifier at offset 4, and a root-table offset at 0 that points inside the file.
  if (head.length >= 8 && (ascii(head, 4, 'TFL3') || ascii(head, 4, 'ORTM'))) {
    const root = u32(head, 0);
    if (root >= 8 && root < size) {
      return ascii(head, 4, 'TFL3')
        ? { kind: 'tflite', reason: 'TFLite FlatBuffer (identifier TFL3 at offset 4, root offset inside the file)' }
        : { kind: 'onnx-runtime', reason: 'ONNX Runtime ORT FlatBuffer (identifier ORTM at offset 4)' };
    }
  }
  const safetensors = detectSafetensors(head, size);
  if (safetensors) return safetensors;
  return detectOnnx(head, size) ?? detectZipModel(head) ?? detectEmbeddedTflite(head, size);
}

// Names of model files a zip may hold first (a MediaPipe .task bundle: .tflite files, or nested .task).
const ZIPPED_MODEL = /\.(tflite|task|onnx|ort|gguf|safetensors)$/i;

/**
 * A zip (local file header `PK\x03\x04` at 0) whose first entry is named like a model file: a
 * MediaPipe `.task` bundle, or a zipped model. Only the first entry's name is in the head.
 */
function detectZipModel(head: Uint8Array): Detection | undefined {
  if (head.length < 30 || !ascii(head, 0, 'PK\x03\x04')) return undefined;
  const nameLength = head[26]! | (head[27]! << 8);
  if (nameLength === 0 || 30 + nameLength > head.length) return undefined;
  const name = new TextDecoder().decode(head.subarray(30, 30 + nameLength));
  if (!ZIPPED_MODEL.test(name)) return undefined;
  return { kind: 'tflite', reason: `zip archive whose first entry is ${JSON.stringify(name.slice(0, 100))} (a MediaPipe .task bundle or a zipped model)` };
}

/**
 * A TFLite FlatBuffer that starts inside the head rather than at 0 (an emscripten
 * `*_packed_assets.data`, a stored zip entry): identifier `TFL3` at offset p ≥ 8, and at p − 4 a
 * root-table offset from 8 to 4095 that stays inside the file. Text cannot match: four text
 * bytes read as that number are at least 0x09090909.
 */
function detectEmbeddedTflite(head: Uint8Array, size: number): Detection | undefined {
  for (let p = 8; p + 4 <= head.length; p++) {
    if (head[p] !== 0x54 || !ascii(head, p, 'TFL3')) continue;
    const root = u32(head, p - 4);
    if (root >= 8 && root < 4096 && p - 4 + root < size) {
      return { kind: 'tflite', reason: `TFLite FlatBuffer starting at byte ${p - 4} (identifier TFL3 at ${p}), inside a packed or archived file` };
    }
  }
  return undefined;
}

// safetensors: u64 LE header length N, then N bytes of JSON starting with '{' (the format caps N at 100 MB).
function detectSafetensors(head: Uint8Array, size: number): Detection | undefined {
  if (head.length < 10 || head[8] !== 0x7b) return undefined;
  const high = u32(head, 4);
  const n = u32(head, 0);
  if (high !== 0 || n < 2 || n > 100_000_000 || 8 + n > size) return undefined;
  // After '{' comes a key ('"') or the end of an empty object ('}'), possibly after spaces.
  let i = 9;
  while (i < head.length && i < 8 + n && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  if (i < head.length && head[i] !== 0x22 && head[i] !== 0x7d) return undefined;
  return { kind: 'safetensors', reason: `safetensors (${n}-byte JSON header after an 8-byte length)` };
}

// ONNX ModelProto field numbers and their wire types (onnx.proto3): 0 varint, 2 length-delimited.
const MODEL_PROTO_FIELDS: Record<number, 0 | 2> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };
const STRING_FIELDS = new Set([2, 3, 4, 6]);
const utf8 = new TextDecoder('utf-8', { fatal: true });

function varint(b: Uint8Array, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = at; i < b.length && i < at + 10; i++) {
    const byte = b[i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return { value, next: i + 1 };
    scale *= 128;
  }
  return undefined;
}

/** Where an ONNX parse stands when a field runs past the bytes read: read on from file offset `at`. */
export interface OnnxResume {
  at: number;
  irVersion: number;
}

/**
 * ONNX (a protobuf ModelProto has no magic): field 1 `ir_version` first, as every serializer
 * writes fields in number order, with a value from 1 to 64; then only ModelProto fields with their
 * right wire types, strings that are UTF-8, until the `graph` (7) or an `opset_import` (8) field,
 * whose length must fit in the file. `bytes` start at file offset `from.at` (0 without `from`).
 * A field that ends past `bytes` but inside the file (a long doc_string) gives `{ resume }`: the
 * caller reads on from there (that field's UTF-8 is then not checked).
 */
export function parseOnnx(bytes: Uint8Array, size: number, from?: OnnxResume): { detection: Detection } | { resume: OnnxResume } | undefined {
  let at = 0;
  let irVersion: number;
  if (from) irVersion = from.irVersion;
  else {
    if (bytes[0] !== 0x08) return undefined;
    const ir = varint(bytes, 1);
    if (!ir || ir.value < 1 || ir.value > 64) return undefined;
    irVersion = ir.value;
    at = ir.next;
  }
  const base = from?.at ?? 0;
  // The bytes ran out before the field at `at` was whole: read on from it, if the file goes on.
  const readOn = (): { resume: OnnxResume } | undefined => (base + bytes.length < size && at > 0 ? { resume: { at: base + at, irVersion } } : undefined);
  for (let fields = 0; fields < 64; fields++) {
    if (at >= bytes.length) return readOn();
    const tag = varint(bytes, at);
    if (!tag) return bytes.length - at < 10 ? readOn() : undefined;
    const field = Math.floor(tag.value / 8);
    const wire = tag.value % 8;
    if (MODEL_PROTO_FIELDS[field] !== wire || field === 1) return undefined;
    if (wire === 0) {
      const v = varint(bytes, tag.next);
      if (!v) return bytes.length - tag.next < 10 ? readOn() : undefined;
      at = v.next;
      continue;
    }
    const len = varint(bytes, tag.next);
    if (!len) return bytes.length - tag.next < 10 ? readOn() : undefined;
    const end = len.next + len.value;
    if (base + end > size) return undefined;
    if (field === 7 || field === 8) {
      return { detection: { kind: 'onnx', reason: `ONNX ModelProto (ir_version ${irVersion}, then a ${field === 7 ? 'graph' : 'opset_import'} field of ${len.value} bytes)` } };
    }
    if (end > bytes.length) return { resume: { at: base + end, irVersion } };
    if (STRING_FIELDS.has(field)) {
      try {
        utf8.decode(bytes.subarray(len.next, end));
      } catch {
        return undefined;
      }
    }
    at = end;
  }
  return undefined;
}

/** parseOnnx on the head alone: the finding, or undefined (also when the fields run past the head). */
export function detectOnnx(head: Uint8Array, size: number): Detection | undefined {
  const parsed = parseOnnx(head, size);
  return parsed && 'detection' in parsed ? parsed.detection : undefined;
}

const isJsonSpace = (byte: number | undefined): boolean => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/**
 * A JSON file whose head looks like a TF.js model.json (an object naming a model key), or like a
 * bare weights manifest (an array of objects naming `paths` and `weights`, as face-api and TF.js
 * before 1.0 ship beside their weights): worth reading whole and parsing.
 */
export function looksLikeTfjsJson(head: Uint8Array): boolean {
  let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (i < head.length && isJsonSpace(head[i])) i++;
  const text = new TextDecoder().decode(head);
  if (head[i] === 0x5b) {
    i++;
    while (i < head.length && isJsonSpace(head[i])) i++;
    return head[i] === 0x7b && /"(paths|weights)"\s*:/.test(text);
  }
  if (head[i] !== 0x7b) return false;
  return /"(modelTopology|weightsManifest)"\s*:/.test(text) || /"format"\s*:\s*"(graph|layers)-model"/.test(text);
}

// A bare weights manifest: a non-empty array of groups, each `{ paths: string[], weights: [{ name }] }`.
function weightsManifestPaths(json: unknown[]): string[] | undefined {
  if (json.length === 0) return undefined;
  const paths: string[] = [];
  for (const group of json) {
    if (group === null || typeof group !== 'object' || Array.isArray(group)) return undefined;
    const { paths: groupPaths, weights } = group as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(groupPaths) || !groupPaths.every((p) => typeof p === 'string')) return undefined;
    if (!Array.isArray(weights) || !weights.every((w) => typeof (w as { name?: unknown } | null)?.name === 'string')) return undefined;
    paths.push(...(groupPaths as string[]));
  }
  return paths;
}

/** What a parsed TF.js model.json says: a finding (or undefined for a sealed manifest), and its weight paths. */
export function classifyModelJson(json: unknown): { detection: Detection; weightPaths: string[] } | undefined {
  if (Array.isArray(json)) {
    const weightPaths = weightsManifestPaths(json);
    if (!weightPaths) return undefined;
    const files = `${weightPaths.length} weight file${weightPaths.length === 1 ? '' : 's'}`;
    return { detection: { kind: 'tfjs-model', reason: `TF.js weights manifest: an array of weight groups, as face-api ships (${files})` }, weightPaths };
  }
  if (json === null || typeof json !== 'object') return undefined;
  const obj = json as Record<string, unknown>;
  // A sealed manifest (modelseal/1, /2 or later) holds no plaintext: never a finding.
  if (typeof obj['modelseal'] === 'string') return undefined;
  const manifest = obj['weightsManifest'];
  const hasTopology = typeof obj['modelTopology'] === 'object' && obj['modelTopology'] !== null;
  if (!Array.isArray(manifest) && !hasTopology) return undefined;
  const weightPaths: string[] = [];
  if (Array.isArray(manifest)) {
    for (const group of manifest) {
      const paths = (group as { paths?: unknown } | null)?.paths;
      if (Array.isArray(paths)) for (const p of paths) if (typeof p === 'string') weightPaths.push(p);
    }
  }
  const what = Array.isArray(manifest)
    ? `TF.js model.json with a weightsManifest (${weightPaths.length} weight file${weightPaths.length === 1 ? '' : 's'})`
    : 'TF.js model.json with a plaintext modelTopology';
  return { detection: { kind: 'tfjs-model', reason: what }, weightPaths };
}

/**
 * The external-data files an ONNX model names: TensorProto.external_data entries
 * `{ key: "location", value: <path> }`, found by their exact protobuf encoding.
 */
export function onnxExternalLocations(bytes: Uint8Array): string[] {
  // StringStringEntryProto: field 1 (0x0a) length 8 "location", then field 2 (0x12) length, value.
  const needle = [0x0a, 0x08, ...Array.from('location', (c) => c.charCodeAt(0)), 0x12];
  const found = new Set<string>();
  outer: for (let i = 0; i + needle.length < bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    const len = varint(bytes, i + needle.length);
    if (!len || len.value === 0 || len.value > 4096 || len.next + len.value > bytes.length) continue;
    try {
      found.add(utf8.decode(bytes.subarray(len.next, len.next + len.value)));
    } catch {
      // not a path
    }
  }
  return [...found];
}
