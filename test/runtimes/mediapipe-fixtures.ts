// Shared by the MediaPipe Tasks and LiteRT.js Chromium tests: a real .tflite model and a real photo
// that ship in npm packages, the runtimes' wasm files (served from node_modules by the test's static
// server, never from a CDN), and the page that both tests load.
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as flatbuffers from 'flatbuffers';
import { ROOT } from './fixtures.js';

/**
 * BlazeFace short range (MediaPipe's face detector, 128×128 input), as shipped in
 * @mediapipe/face_detection (Apache-2.0, package.json "license"). The same network MediaPipe Tasks'
 * FaceDetector and any TFLite interpreter run.
 */
export const FACE_MODEL = join(ROOT, 'node_modules/@mediapipe/face_detection/face_detection_short_range.tflite');
/** The file name the model is sealed and served under. */
export const FACE_MODEL_NAME = 'face_detection_short_range.tflite';
/** A photo strip with faces from @vladmandic/human's assets (MIT); the pages crop portraits out of it. */
export const SAMPLE_IMAGE = join(ROOT, 'node_modules/@vladmandic/human/assets/samples.jpg');
/**
 * Two portraits in SAMPLE_IMAGE (x, y, width, height in its 1280×1158 pixels): the second and third
 * thumbnails of its top row, one face each, close enough for the short-range model.
 */
export const PORTRAITS: ReadonlyArray<readonly [number, number, number, number]> = [[165, 0, 150, 157], [326, 0, 212, 157]];

/** Every file of `dir` whose name matches `pattern`, keyed `${prefix}${name}`. */
export async function filesOf(dir: string, pattern: RegExp, prefix: string): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const name of await readdir(dir)) {
    if (pattern.test(name)) out[`${prefix}${name}`] = new Uint8Array(await readFile(join(dir, name)));
  }
  return out;
}

/** The model as a one-file set for startRuntimeFixture. */
export async function faceModelSet(): Promise<Map<string, Uint8Array>> {
  return new Map([[FACE_MODEL_NAME, new Uint8Array(await readFile(FACE_MODEL))]]);
}

/**
 * The TFLite model metadata MediaPipe Tasks needs before it runs an image model with a float input
 * (what tflite-support's MetadataPopulator writes): one input tensor, RGB, normalised (x − 127.5) /
 * 127.5, which is BlazeFace's preprocessing. A ModelMetadata flatbuffer ("M001",
 * tensorflow_lite_support/metadata/metadata_schema.fbs), built with the flatbuffers library; slot
 * numbers follow that schema (a union takes two: its type, then its value).
 */
function imageMetadata(): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const floats = (values: number[]) => {
    b.startVector(4, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]!);
    return b.endVector();
  };
  const offsets = (values: number[]) => {
    b.startVector(4, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addOffset(values[i]!);
    return b.endVector();
  };
  const mean = floats([127.5]);
  const std = floats([127.5]);
  b.startObject(2); // NormalizationOptions { mean, std }
  b.addFieldOffset(0, mean, 0);
  b.addFieldOffset(1, std, 0);
  const normalization = b.endObject();
  b.startObject(2); // ProcessUnit { options_type = NormalizationOptions (1), options }
  b.addFieldInt8(0, 1, 0);
  b.addFieldOffset(1, normalization, 0);
  const units = offsets([b.endObject()]);
  b.startObject(2); // ImageProperties { color_space = RGB (1) }
  b.addFieldInt8(0, 1, 0);
  const image = b.endObject();
  b.startObject(3); // Content { content_properties_type = ImageProperties (2), content_properties }
  b.addFieldInt8(0, 2, 0);
  b.addFieldOffset(1, image, 0);
  const content = b.endObject();
  const tensorName = b.createString('image');
  b.startObject(7); // TensorMetadata { name, content (3), process_units (4) }
  b.addFieldOffset(0, tensorName, 0);
  b.addFieldOffset(3, content, 0);
  b.addFieldOffset(4, units, 0);
  const inputs = offsets([b.endObject()]);
  b.startObject(9); // SubGraphMetadata { input_tensor_metadata (2) }
  b.addFieldOffset(2, inputs, 0);
  const subgraphs = offsets([b.endObject()]);
  const name = b.createString('BlazeFace short range');
  const parser = b.createString('1.0.0');
  b.startObject(8); // ModelMetadata { name, subgraph_metadata (3), min_parser_version (7) }
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(3, subgraphs, 0);
  b.addFieldOffset(7, parser, 0);
  b.finish(b.endObject(), 'M001');
  return b.asUint8Array().slice();
}

/**
 * `model` (a .tflite flatbuffer) with `metadata` added under the metadata name TFLITE_METADATA, the
 * network untouched. Flatbuffer offsets are relative and point forward, so a new root Model table
 * (same fields, a buffers vector and a metadata vector one entry longer) is put in front of the
 * unchanged old bytes, shifted by a multiple of 16 so their 16-byte-aligned buffers stay aligned.
 */
export function withMetadata(model: Uint8Array, metadata: Uint8Array): Uint8Array {
  const bb = new flatbuffers.ByteBuffer(model);
  if (bb.__has_identifier('TFL3') === false) throw new Error('not a TFLite flatbuffer (no TFL3 identifier)');
  const root = bb.__indirect(0);
  /** The table field `slot`'s absolute position in the old model, or 0 when absent. */
  const at = (table: number, slot: number) => {
    const o = bb.__offset(table, 4 + 2 * slot);
    return o === 0 ? 0 : table + o;
  };
  const vector = (slot: number) => {
    const p = at(root, slot);
    if (p === 0) return [];
    const start = bb.__vector(p);
    return Array.from({ length: bb.__vector_len(p) }, (_, i) => bb.__indirect(start + 4 * i));
  };
  const buffers = vector(4);
  for (const buffer of buffers) {
    if (at(buffer, 1) !== 0) throw new Error('this model keeps buffer data outside the flatbuffer (Buffer.offset): not supported here');
  }
  const metadataEntries = vector(6);

  const out: number[] = [];
  const u8 = (v: number) => out.push(v & 0xff);
  const u16 = (v: number) => { u8(v); u8(v >> 8); };
  const u32 = (v: number) => { u16(v & 0xffff); u16(v >>> 16); };
  const align = (n: number, pad = 0) => { while ((out.length + pad) % n !== 0) u8(0); };
  const patches: Array<{ pos: number; target: () => number }> = [];
  /** A uoffset at the current position, to `target` (an absolute position in the new file). */
  const uoffset = (target: () => number) => { patches.push({ pos: out.length, target }); u32(0); };
  let prefix = 0; // the old model's start in the new file, known at the end
  const old = (p: number) => () => prefix + p;

  // Header: root offset, then the file identifier.
  let modelTable = 0;
  uoffset(() => modelTable);
  for (const c of 'TFL3') u8(c.charCodeAt(0));
  // The new Model table's fields: version (0) copied, offsets 1, 2, 3, 5, 7 to the old objects, 4 and 6 new.
  const slots = [0, 1, 2, 3, 4, 5, 6, 7];
  const present = slots.filter((s) => s === 4 || s === 6 || at(root, s) !== 0);
  const vtable = out.length;
  u16(4 + 2 * slots.length);
  u16(4 + 4 * present.length);
  for (const s of slots) u16(present.includes(s) ? 4 + 4 * present.indexOf(s) : 0);
  align(4);
  modelTable = out.length;
  u32(modelTable - vtable); // soffset: the vtable sits before the table
  let buffersVector = 0;
  let metadataVector = 0;
  for (const s of present) {
    if (s === 0) u32(bb.readUint32(at(root, 0)));
    else if (s === 4) uoffset(() => buffersVector);
    else if (s === 6) uoffset(() => metadataVector);
    else uoffset(old(bb.__indirect(at(root, s))));
  }
  // buffers: the old Buffer tables, then the new one holding the metadata.
  let newBuffer = 0;
  buffersVector = out.length;
  u32(buffers.length + 1);
  for (const p of buffers) uoffset(old(p));
  uoffset(() => newBuffer);
  // metadata: the old entries, then { name: "TFLITE_METADATA", buffer: <the new buffer's index> }.
  let newEntry = 0;
  metadataVector = out.length;
  u32(metadataEntries.length + 1);
  for (const p of metadataEntries) uoffset(old(p));
  uoffset(() => newEntry);
  const entryVtable = out.length;
  u16(8); u16(12); u16(4); u16(8);
  newEntry = out.length;
  u32(newEntry - entryVtable);
  let entryName = 0;
  uoffset(() => entryName);
  u32(buffers.length);
  entryName = out.length;
  const label = 'TFLITE_METADATA';
  u32(label.length);
  for (const c of label) u8(c.charCodeAt(0));
  u8(0);
  align(4);
  const bufferVtable = out.length;
  u16(6); u16(8); u16(4);
  align(4);
  newBuffer = out.length;
  u32(newBuffer - bufferVtable);
  let data = 0;
  uoffset(() => data);
  align(16, 4); // Buffer.data is force_align 16: its bytes, after the length, start on 16
  data = out.length;
  u32(metadata.length);
  for (const byte of metadata) u8(byte);
  align(16);
  prefix = out.length;

  const result = new Uint8Array(prefix + model.length);
  result.set(out, 0);
  result.set(model, prefix);
  const view = new DataView(result.buffer);
  for (const { pos, target } of patches) view.setUint32(pos, target() - pos, true);
  return result;
}

/** BlazeFace short range with the image metadata MediaPipe Tasks requires (see imageMetadata). */
export async function faceModelForTasks(): Promise<Uint8Array> {
  return withMetadata(new Uint8Array(await readFile(FACE_MODEL)), imageMetadata());
}

/**
 * Copies the sealed set `<root>/www/sealed/<name>` to `<name>-tampered` with one byte of its last
 * shard flipped near the end (inside a chunk, past the commitment): the manifest, key and header
 * still check, and the stream fails only at that chunk. Returns the copy's manifest URL path.
 */
export async function tamperedCopy(root: string, name: string): Promise<string> {
  const from = join(root, 'www/sealed', name);
  const to = join(root, 'www/sealed', `${name}-tampered`);
  await cp(from, to, { recursive: true });
  const shard = (await readdir(to)).filter((f) => f.endsWith('.sealed')).sort().pop();
  if (!shard) throw new Error(`no shard in ${from}`);
  const bytes = new Uint8Array(await readFile(join(to, shard)));
  bytes[bytes.length - 40]! ^= 0x01;
  await writeFile(join(to, shard), bytes);
  return `/sealed/${name}-tampered/model.json`;
}
