// modelseal scan: each format's rule on real or spec-built bytes, the false positives it must not
// raise, sealed output, the ignore file, symbolic links, and the command's exit codes and JSON.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanBuild, type ScanReport } from '../../guard/index.js';
import { detectBinary, detectOnnx, HEAD_BYTES, onnxExternalLocations, parseOnnx, type OnnxResume } from '../../guard/signatures.js';
import { HUMAN_MODELS, run, tempDir } from '../cli/helpers.js';

const tmp = tempDir('modelseal-scan-');
afterAll(() => tmp.cleanup());

// Protobuf by hand (the ONNX rule must hold on what a protobuf serializer writes).
const varint = (n: number): number[] => {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
};
const field = (num: number, payload: Uint8Array | string): number[] => {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return [...varint(num * 8 + 2), ...varint(bytes.length), ...bytes];
};
const varintField = (num: number, value: number): number[] => [...varint(num * 8), ...varint(value)];

/**
 * A minimal ONNX ModelProto: ir_version 8, producer "pytorch" 2.1, a graph with one Sigmoid node
 * and one float initializer whose data lives in `external` (if given), opset_import { version 17 }.
 * Field numbers from onnx/onnx.proto3.
 */
function onnxModel(options: { external?: string; weights?: number; docString?: string } = {}): Uint8Array {
  const node = new Uint8Array([...field(1, 'x'), ...field(2, 'y'), ...field(4, 'Sigmoid')]); // NodeProto: input, output, op_type
  const raw = new Uint8Array((options.weights ?? 16) * 4);
  const tensor = new Uint8Array([
    ...[0x08, 0x04], // dims: [4]
    ...varintField(2, 1), // data_type FLOAT
    ...field(8, 'w'), // name
    ...(options.external
      ? [...field(13, new Uint8Array([...field(1, 'location'), ...field(2, options.external)])), ...varintField(14, 1)] // external_data, data_location EXTERNAL
      : field(9, raw)), // raw_data
  ]);
  const graph = new Uint8Array([...field(1, node), ...field(2, 'g'), ...field(5, tensor)]); // node, name, initializer
  return new Uint8Array([
    ...varintField(1, 8), // ir_version
    ...field(2, 'pytorch'),
    ...field(3, '2.1.0'),
    ...(options.docString === undefined ? [] : field(6, options.docString)), // doc_string, before the graph as serializers write it
    ...field(7, graph),
    ...field(8, new Uint8Array(varintField(2, 17))), // opset_import { version: 17 }
  ]);
}

/**
 * The first 24 bytes of a real exported ONNX file (test_Sigmoid/model.onnx, 115 bytes, from the
 * pytorch-converted backend test data of onnx/onnx): ir_version 3, producer "pytorch" "0.3", then
 * the graph field (93 bytes). The rest of that file is not needed: the rule reads up to the graph.
 * All 149 .onnx files of that repository's snapshot matched when this rule was written.
 */
const REAL_ONNX_HEAD = Uint8Array.from(Buffer.from('080312077079746f7263681a03302e333a5d0a0f0a013012', 'hex'));

function safetensors(): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }));
  const out = new Uint8Array(8 + header.length + 16);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}

function tflite(): Uint8Array {
  const out = new Uint8Array(256);
  new DataView(out.buffer).setUint32(0, 28, true); // root table offset
  out.set(new TextEncoder().encode('TFL3'), 4);
  return out;
}

function gguf(): Uint8Array {
  const out = new Uint8Array(64);
  out.set(new TextEncoder().encode('GGUF'), 0);
  new DataView(out.buffer).setUint32(4, 3, true);
  return out;
}

function write(path: string, data: Uint8Array | string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
  return path;
}

const kinds = (report: ScanReport, root: string): Record<string, string> =>
  Object.fromEntries(report.findings.map((f) => [f.path.slice(root.length + 1), f.kind]));

describe('detection rules', () => {
  it('ONNX: a hand-built ModelProto, the head of a real exported file, and not a protobuf that is not a ModelProto', () => {
    const model = onnxModel();
    expect(detectOnnx(model, model.length)?.kind).toBe('onnx');
    expect(detectOnnx(model, model.length)?.reason).toContain('ir_version 8');
    // The real file's head: ir_version 3, producer "pytorch", version "0.3", graph of 93 bytes (115-byte file).
    expect(detectOnnx(REAL_ONNX_HEAD, 115)?.reason).toBe('ONNX ModelProto (ir_version 3, then a graph field of 93 bytes)');
    // A graph longer than the file: a truncated or unrelated file.
    expect(detectOnnx(REAL_ONNX_HEAD, 50)).toBeUndefined();
    // A TF SavedModel (saved_model.pb: field 1 = 1, field 2 = a big MetaGraphDef) is not ONNX: field 2 must be a short UTF-8 string.
    const savedModel = new Uint8Array([0x08, 0x01, 0x12, ...varint(100_000), 0x0a, 0xff, 0xfe]);
    expect(detectOnnx(savedModel, 200_000)).toBeUndefined();
    // Field 1 must come first, with a plausible IR version; unknown fields end the match.
    expect(detectOnnx(new Uint8Array([0x08, 0x00, 0x3a, 0x01, 0x00]), 5)).toBeUndefined();
    expect(detectOnnx(new Uint8Array([0x08, 0x07, 0x4a, 0x01, 0x00]), 5)).toBeUndefined(); // field 9 is not in ModelProto
    expect(detectOnnx(new Uint8Array([0x12, 0x01, 0x41, 0x3a, 0x00]), 5)).toBeUndefined();
  });

  it('ONNX whose doc_string runs past the head: parseOnnx says where to read on, and finds the graph there', () => {
    const model = onnxModel({ docString: 'x'.repeat(5000) });
    const head = model.subarray(0, HEAD_BYTES);
    expect(detectOnnx(head, model.length)).toBeUndefined();
    const first = parseOnnx(head, model.length);
    // Read on right after the doc_string: where the graph field starts (the same bytes as in the model without it).
    const graphAt = model.length - (onnxModel().length - 18); // 18: ir_version, producer name and version
    expect(first && 'resume' in first ? first.resume : undefined).toEqual({ at: graphAt, irVersion: 8 });
    const resume = (first as { resume: OnnxResume }).resume;
    expect(parseOnnx(model.subarray(resume.at, resume.at + HEAD_BYTES), model.length, resume)).toEqual({ detection: { kind: 'onnx', reason: expect.stringContaining('ir_version 8, then a graph field') } });
    // Past the file's end there is nothing to read on: the doc_string claims more bytes than the file has.
    expect(parseOnnx(head, 4500)).toBeUndefined();
  });

  it('TFLite inside a packed file or a zip: found at its offset or by the first entry\'s name; text naming TFL3 is not', () => {
    // An emscripten packed-assets file as MediaPipe ships: a 184-byte label map, then the .tflite.
    const packed = new Uint8Array(2000);
    packed.set(new TextEncoder().encode('label map\n'.repeat(18).padEnd(184, 'x')), 0);
    packed.set(tflite().subarray(0, 256), 184);
    expect(detectBinary(packed, packed.length)).toEqual({ kind: 'tflite', reason: 'TFLite FlatBuffer starting at byte 184 (identifier TFL3 at 188), inside a packed or archived file' });
    // A zip's local file header: signature, 22 bytes of fields, name length at 26, extra length at 28, then the name.
    const zip = (name: string): Uint8Array => {
      const out = new Uint8Array(30 + name.length + 64);
      out.set([0x50, 0x4b, 0x03, 0x04], 0);
      new DataView(out.buffer).setUint16(26, name.length, true);
      out.set(new TextEncoder().encode(name), 30);
      return out;
    };
    expect(detectBinary(zip('hand_landmarks_detector.tflite'), 200)?.reason).toBe('zip archive whose first entry is "hand_landmarks_detector.tflite" (a MediaPipe .task bundle or a zipped model)');
    expect(detectBinary(zip('readme.txt'), 200)).toBeUndefined();
    // Source code that names the identifier: the four bytes before it are text, far from a root offset.
    expect(detectBinary(new TextEncoder().encode('if (ascii(head, 4, "TFL3")) return "tflite";'), 50)).toBeUndefined();
  });

  it('finds the external-data locations an ONNX model names', () => {
    expect(onnxExternalLocations(onnxModel({ external: 'weights/model.onnx_data' }))).toEqual(['weights/model.onnx_data']);
    expect(onnxExternalLocations(onnxModel())).toEqual([]);
  });

  it('TFLite, safetensors and GGUF need more than their magic', () => {
    expect(detectBinary(tflite(), 256)?.kind).toBe('tflite');
    const badRoot = tflite();
    new DataView(badRoot.buffer).setUint32(0, 1000, true); // root offset beyond the file
    expect(detectBinary(badRoot, 256)).toBeUndefined();
    expect(detectBinary(safetensors(), safetensors().length)?.kind).toBe('safetensors');
    expect(detectBinary(safetensors(), 20)).toBeUndefined(); // header longer than the file
    expect(detectBinary(gguf(), 64)?.kind).toBe('gguf');
    const ggufBad = gguf();
    new DataView(ggufBad.buffer).setUint32(4, 0, true);
    expect(detectBinary(ggufBad, 64)).toBeUndefined();
  });
});

describe('scanBuild', () => {
  const root = join(tmp.dir, 'dist');
  // A build output with one of each kind and a set of look-alikes that are not models.
  write(join(root, 'index.html'), '<!doctype html><title>app</title>');
  write(join(root, 'assets/app.js'), 'export const weightsManifest = [];');
  mkdirSync(join(root, 'public/face'), { recursive: true });
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(root, 'public/face/model.json'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(root, 'public/face/blazeface.bin'));
  write(join(root, 'models/orphan/group1-shard1of2.bin'), new Uint8Array(64));
  // face-api's layout: a bare weights manifest (an array of groups) beside a weight file with any name.
  const faceApiManifest = [{ weights: [{ name: 'conv0/filters', shape: [3, 3, 3, 16], dtype: 'float32' }, { name: 'conv0/bias', shape: [16], dtype: 'float32' }], paths: ['tiny_face_detector_model.bin'] }];
  write(join(root, 'public/faceapi/tiny_face_detector_model-weights_manifest.json'), JSON.stringify(faceApiManifest, null, 2));
  write(join(root, 'public/faceapi/tiny_face_detector_model.bin'), new Uint8Array(1792));
  write(join(root, 'models/nsfw/group1-shard1of1.min.js'), '!function(e){module.exports=e()}(function(){return "AAAA"});'); // nsfwjs: a shard as a JS module
  write(join(root, 'assets/group1-shard1of1-CQBa4mzY.bin'), new Uint8Array(64)); // a shard imported through a bundler, content hash added
  write(join(root, 'models/net.onnx'), onnxModel());
  write(join(root, 'models/documented.onnx'), onnxModel({ docString: 'd'.repeat(3 * HEAD_BYTES) })); // fields before the graph run past the head
  write(join(root, 'models/ext/small.onnx'), onnxModel({ external: 'tensors.dat' }));
  write(join(root, 'models/ext/tensors.dat'), new Uint8Array(64));
  write(join(root, 'models/big.onnx_data'), new Uint8Array(8));
  write(join(root, 'models/m.tflite'), tflite());
  write(join(root, 'models/w.safetensors'), safetensors());
  write(join(root, 'models/llm.gguf'), gguf());
  // Not findings: random binaries, a JSON that mentions a model key in text only, a sealed model, empty files.
  write(join(root, 'assets/random.bin'), Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7919 + 13) & 0xff));
  write(join(root, 'assets/logo.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Uint8Array(100)]));
  write(join(root, 'assets/wasm.wasm'), new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  write(join(root, 'assets/i18n.json'), JSON.stringify({ help: 'a "modelTopology": is what tfjs calls it' }));
  write(join(root, 'assets/fonts.json'), JSON.stringify([{ family: 'Inter', weights: [400, 700], paths: ['inter.woff2'] }])); // an array with `paths` and `weights` that name no tensor
  write(join(root, 'assets/empty.onnx'), '');
  write(join(root, 'sealed/face/model.json'), JSON.stringify({ modelseal: 'modelseal/2', modelId: 'face', keyId: 'k1', modelTopology: {} }));
  write(join(root, 'sealed/face/shard-1-of-1.sealed'), gguf()); // a .sealed file is never a finding, whatever its bytes
  write(join(root, 'sealed/face/group1-shard1of1.bin.sealed'), new Uint8Array(8));

  it('finds each kind, with its reason, and nothing else', async () => {
    const report = await scanBuild([root]);
    expect(kinds(report, root)).toEqual({
      'public/face/model.json': 'tfjs-model',
      'public/face/blazeface.bin': 'tfjs-weights',
      'models/orphan/group1-shard1of2.bin': 'tfjs-weights',
      'public/faceapi/tiny_face_detector_model-weights_manifest.json': 'tfjs-model',
      'public/faceapi/tiny_face_detector_model.bin': 'tfjs-weights',
      'models/nsfw/group1-shard1of1.min.js': 'tfjs-weights',
      'assets/group1-shard1of1-CQBa4mzY.bin': 'tfjs-weights',
      'models/net.onnx': 'onnx',
      'models/documented.onnx': 'onnx',
      'models/ext/small.onnx': 'onnx',
      'models/ext/tensors.dat': 'onnx-external-data',
      'models/big.onnx_data': 'onnx-external-data',
      'models/m.tflite': 'tflite',
      'models/w.safetensors': 'safetensors',
      'models/llm.gguf': 'gguf',
    });
    const bin = report.findings.find((f) => f.path.endsWith('blazeface.bin'))!;
    expect(bin.reason).toBe(`listed in the weightsManifest of ${join(root, 'public/face/model.json')}`);
    expect(bin.size).toBeGreaterThan(500_000);
    expect(report.findings.find((f) => f.path.endsWith('tensors.dat'))!.reason).toContain('external data of the ONNX model');
    expect(report.clean).toBe(false);
    expect(report.findings.find((f) => f.path.endsWith('-weights_manifest.json'))!.reason).toBe('TF.js weights manifest: an array of weight groups, as face-api ships (1 weight file)');
    expect(report.files).toBe(26);
    // Heads only: far less than the ~530 KB of weights was read (model.json is read whole).
    expect(report.bytesRead).toBeLessThan(HEAD_BYTES * 30 + 200_000);
  });

  it('leaves out what .modelsealignore and --ignore patterns name', async () => {
    const dir = join(tmp.dir, 'ignored');
    write(join(dir, 'vendor/llm.gguf'), gguf());
    write(join(dir, 'fixtures/a.tflite'), tflite());
    write(join(dir, 'fixtures/keep.tflite'), tflite());
    write(join(dir, 'other.gguf'), gguf());
    write(join(dir, '.modelsealignore'), '# test fixtures, not shipped models\nvendor/\nfixtures/*.tflite\n!fixtures/keep.tflite\n');
    const report = await scanBuild([dir], { ignore: ['other.gguf'] });
    expect(report.findings.map((f) => f.path)).toEqual([join(dir, 'fixtures/keep.tflite')]);
    expect(report.ignored).toBe(3);
  });

  it('follows no symbolic link, and says where one points outside the folder', async () => {
    const dir = join(tmp.dir, 'links');
    const outside = write(join(tmp.dir, 'outside/llm.gguf'), gguf());
    write(join(dir, 'a/real.txt'), 'hello');
    symlinkSync(outside, join(dir, 'model.gguf'));
    symlinkSync(join(tmp.dir, 'outside'), join(dir, 'models'));
    symlinkSync(join(dir, 'a'), join(dir, 'b'));
    const report = await scanBuild([dir]);
    expect(report.findings).toEqual([]);
    expect(report.clean).toBe(true);
    expect(report.skipped.map((s) => [s.path.slice(dir.length + 1), s.reason.split(' (')[0]!.split(',')[0]])).toEqual([
      ['b', 'symbolic link inside the scanned folder'],
      ['model.gguf', `symbolic link to ${outside}`],
      ['models', `symbolic link to ${join(tmp.dir, 'outside')}`],
    ]);
  });
});

describe('modelseal scan', () => {
  const dist = join(tmp.dir, 'cli-dist');
  mkdirSync(join(dist, 'face'), { recursive: true });
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(dist, 'face/model.json'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(dist, 'face/blazeface.bin'));
  write(join(dist, 'index.html'), '<!doctype html>');
  const clean = join(tmp.dir, 'cli-clean');
  write(join(clean, 'index.html'), '<!doctype html>');

  it('exits 1 and lists each finding (path, kind, reason) on stdout, the error on stderr', () => {
    const r = run(['scan', dist]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toEqual([
      `${join(dist, 'face/blazeface.bin')}\ttfjs-weights\tlisted in the weightsManifest of ${join(dist, 'face/model.json')}`,
      `${join(dist, 'face/model.json')}\ttfjs-model\tTF.js model.json with a weightsManifest (1 weight file)`,
    ]);
    expect(r.stderr).toContain(`modelseal: error [plaintext_exposed]: 2 plaintext model files in ${dist}: `);
    expect(r.stderr).toContain('hint: move the plaintext model out of the folder you publish');
  });

  it('--json prints the report on stdout', () => {
    const r = run(['scan', dist, clean, '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as ScanReport;
    expect(report.roots).toEqual([dist, clean]);
    expect(report.clean).toBe(false);
    expect(report.files).toBe(4);
    expect(report.findings.map((f) => [f.kind, f.size > 0])).toEqual([['tfjs-weights', true], ['tfjs-model', true]]);
    expect(r.stderr).toContain('error [plaintext_exposed]');
  });

  it('exits 0 on a clean folder, and with --ignore', () => {
    const ok = run(['scan', clean]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('');
    expect(ok.stderr).toBe(`modelseal: scanned 1 file (15 B) in ${clean}: no plaintext model files\n`);
    const ignored = run(['scan', dist, '--ignore', 'face/']);
    expect(ignored.code).toBe(0);
    expect(ignored.stderr).toBe(`modelseal: scanned 1 file (15 B) in ${dist}, 1 path left out by ignore rules: no plaintext model files\n`);
    expect(JSON.parse(run(['scan', clean, '--json']).stdout).clean).toBe(true);
  });

  it('exits 1 with io_error when a file cannot be read: the scan does not vouch for what it did not read', () => {
    const dir = join(tmp.dir, 'locked');
    write(join(dir, 'ok.txt'), 'fine');
    write(join(dir, 'secret.bin'), gguf());
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'secret.bin'), 0o000);
    // As root every file is readable: run as nobody, as test/cli/bad-input.test.ts does.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    chmodSync(tmp.dir, 0o755);
    const r = run(['scan', dir, '--json'], { ...asNobody, cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).errors).toEqual([{ path: join(dir, 'secret.bin'), message: 'EACCES' }]);
    expect(r.stderr).toContain(`modelseal: cannot read ${join(dir, 'secret.bin')}: EACCES`);
    expect(r.stderr).toContain(`modelseal: error [io_error]: could not read 1 file in ${dir}, so the scan cannot vouch for ${dir}`);
  });

  it('a name that is not valid UTF-8 is io_error naming its bytes (the scan cannot read it by name), unless an ignore rule leaves it out', () => {
    const dir = join(tmp.dir, 'latin1');
    write(join(dir, 'ok.txt'), 'fine');
    // Node's string paths cannot name such a file: write it through a Buffer path.
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from('.gguf')]), gguf());
    const r = run(['scan', dir, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).errors).toEqual([{ path: join(dir, 'caf\\xe9.gguf'), message: 'its name is not valid UTF-8 (bytes shown as \\xNN): rename it, or list it in the ignore file' }]);
    expect(r.stderr).toContain('error [io_error]: could not read 1 file in');
    expect(run(['scan', dir, '--ignore', 'caf*.gguf']).code).toBe(0);
  });

  it('an ignore file that is a link, a FIFO or a folder is io_error at once, naming it; its rules are not applied', () => {
    for (const kind of ['link', 'fifo', 'folder'] as const) {
      const dir = join(tmp.dir, `ignore-${kind}`);
      write(join(dir, 'llm.gguf'), gguf());
      const file = join(dir, '.modelsealignore');
      if (kind === 'link') symlinkSync(write(join(tmp.dir, `rules-${kind}`), '*.gguf\n'), file);
      if (kind === 'fifo') execFileSync('mkfifo', [file]);
      if (kind === 'folder') mkdirSync(file);
      const r = run(['scan', dir]);
      expect(r.code, kind).toBe(1);
      expect(r.stderr, kind).toContain(`modelseal: error [io_error]: cannot read ${kind === 'link' ? 'the ignore file ' : ''}${file}: `);
    }
  });

  it('exits 2 on usage errors: no folder, a folder that does not exist', () => {
    const empty = run(['scan', '']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('modelseal: error [usage]: cannot scan "": the folder argument is empty');
    const none = run(['scan']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("modelseal: error [usage]: missing required argument 'dir'");
    const missing = run(['scan', join(tmp.dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`modelseal: error [usage]: cannot scan ${join(tmp.dir, 'nope')}: no such file or folder`);
  });
});
