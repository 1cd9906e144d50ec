// `modelseal seal PATH` in the generic form: a single .onnx file with the external-data files it
// references, and a folder (every file under its relative path). open gives every file back byte
// for byte; verify, inspect and keys publish work on it; the rules for hidden files, links, the
// keystore and the output folder hold. The real built bin, real files.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../keyserver/index.js';
import { forge } from '../helpers/substitution.js';
import { listDir, run, tempDir } from './helpers.js';
import { onnxModel } from './onnx-writer.js';
import { expectCliCode } from '../helpers/expect-code.js';

const tmp = tempDir('modelseal-cli-files-');
const store = join(tmp.dir, 'store');
afterAll(() => tmp.cleanup());

/** Every regular file under `dir`, relative path → bytes. */
function tree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.set(relative(dir, full).split('\\').join('/'), readFileSync(full));
    }
  };
  walk(dir);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function ok(args: string[]): { stdout: string; stderr: string } {
  const r = run(args);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

function fails(args: string[], code: string, message: string | RegExp): string {
  return expectCliCode(run(args), 1, code, message);
}

let n = 0;
const outDir = () => join(tmp.dir, 'out', `sealed-${++n}`);

describe('seal model.onnx: the model and the external-data files it references', () => {
  const dir = join(tmp.dir, 'onnx');
  const data = randomBytes(300_000);
  const sub = randomBytes(1234);
  const extra = randomBytes(77);
  mkdirSync(join(dir, 'weights'), { recursive: true });
  // Tensors inline, external in one shared file at two offsets, in a subfolder, and in a subgraph.
  const model = onnxModel(
    [
      { name: 'inline', raw: randomBytes(5000) },
      { name: 'w1', location: 'model.onnx_data', offset: 0, length: 4096 },
      { name: 'w2', location: 'model.onnx_data', offset: 4096, length: 295_904 },
      { name: 'w3', location: './weights/extra.bin' },
    ],
    [{ name: 'then_w', location: 'sub.bin' }],
  );
  writeFileSync(join(dir, 'model.onnx'), model);
  writeFileSync(join(dir, 'model.onnx_data'), data);
  writeFileSync(join(dir, 'sub.bin'), sub);
  writeFileSync(join(dir, 'weights/extra.bin'), extra);
  writeFileSync(join(dir, 'notes.txt'), 'not referenced by the model');

  it('seals exactly those files; inspect lists them only with the key; open gives them back byte for byte; verify passes', () => {
    const out = outDir();
    const sealed = JSON.parse(ok(['seal', join(dir, 'model.onnx'), '--out', out, '--model-id', 'vad', '--store', store, '--shard-size', '64KiB', '--json']).stdout);
    expect(sealed).toMatchObject({ kind: 'files', fileCount: 4, modelId: 'vad', weightBytes: model.length + data.length + sub.length + extra.length });
    // The public files name none of the model's files.
    for (const name of listDir(out)) expect(name).toMatch(/^(model\.json|shard-\d+-of-\d+\.sealed)$/);
    const manifest = readFileSync(join(out, 'model.json'), 'utf8');
    for (const word of ['onnx', 'extra', 'sub.bin', 'notes']) expect(manifest).not.toContain(word);

    const inspected = JSON.parse(ok(['inspect', join(out, 'model.json'), '--store', store, '--json']).stdout);
    expect(inspected.private).toEqual({
      kind: 'files', keyState: 'active', published: true, fileCount: 4, totalBytes: sealed.weightBytes,
      files: [
        { path: 'model.onnx', bytes: model.length },
        { path: 'model.onnx_data', bytes: data.length },
        { path: 'sub.bin', bytes: sub.length },
        { path: 'weights/extra.bin', bytes: extra.length },
      ],
    });
    const hidden = run(['inspect', join(out, 'model.json'), '--store', join(tmp.dir, 'no-store'), '--json']);
    expect(JSON.parse(hidden.stdout).private).toBeNull();
    expect(hidden.stdout).not.toContain('model.onnx');

    const verified = JSON.parse(ok(['verify', join(out, 'model.json'), '--store', store, '--json']).stdout);
    expect(verified).toMatchObject({ ok: true, kind: 'files', fileCount: 4, weightBytes: sealed.weightBytes });

    const opened = join(tmp.dir, 'opened-onnx');
    const summary = JSON.parse(ok(['open', join(out, 'model.json'), '--out', opened, '--store', store, '--json']).stdout);
    expect(summary.kind).toBe('files');
    const back = tree(opened);
    expect([...back.keys()]).toEqual(['model.onnx', 'model.onnx_data', 'sub.bin', 'weights/extra.bin']);
    expect(back.get('model.onnx')!.equals(Buffer.from(model))).toBe(true);
    expect(back.get('model.onnx_data')!.equals(data)).toBe(true);
    expect(back.get('sub.bin')!.equals(sub)).toBe(true);
    expect(back.get('weights/extra.bin')!.equals(extra)).toBe(true);
  });

  it('refuses a missing external file, a location outside the folder, and a file that is not ONNX', () => {
    const bad = join(tmp.dir, 'onnx-bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'missing.onnx'), onnxModel([{ name: 'w', location: 'gone.bin' }]));
    fails(['seal', join(bad, 'missing.onnx'), '--out', outDir(), '--model-id', 'bad', '--store', store], 'file_unavailable', /missing\.onnx stores tensors in "gone\.bin", but .*gone\.bin cannot be read \(ENOENT\)/);
    writeFileSync(join(bad, 'escape.onnx'), onnxModel([{ name: 'w', location: '../secret.bin' }]));
    fails(['seal', join(bad, 'escape.onnx'), '--out', outDir(), '--model-id', 'bad', '--store', store], 'model_invalid', 'stores tensors in "../secret.bin", which is not a relative path inside its folder');
    writeFileSync(join(bad, 'noise.onnx'), randomBytes(1000));
    fails(['seal', join(bad, 'noise.onnx'), '--out', outDir(), '--model-id', 'bad', '--store', store], 'model_invalid', 'is not an ONNX model this tool can read');
    expect(listDir(join(tmp.dir, 'out')).filter((d) => !statSync(join(tmp.dir, 'out', d)).isDirectory() || listDir(join(tmp.dir, 'out', d)).length > 0).length).toBe(1);
  });

  it('a file that is not .onnx is sealed alone, as it is', () => {
    const out = outDir();
    ok(['seal', join(dir, 'notes.txt'), '--out', out, '--model-id', 'notes', '--store', store]);
    const opened = join(tmp.dir, 'opened-notes');
    ok(['open', join(out, 'model.json'), '--out', opened, '--store', store]);
    expect([...tree(opened).keys()]).toEqual(['notes.txt']);
  });
});

describe('seal FOLDER: every file under its relative path', () => {
  const dir = join(tmp.dir, 'folder');
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  mkdirSync(join(dir, 'empty-folder'));
  mkdirSync(join(dir, '.git'));
  writeFileSync(join(dir, 'config.json'), '{"model_type":"bert"}');
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { vocab: { a: 0 } } }));
  writeFileSync(join(dir, 'onnx/model_quantized.onnx'), randomBytes(200_000));
  writeFileSync(join(dir, 'empty.txt'), '');
  writeFileSync(join(dir, '.gitattributes'), '*.onnx filter=lfs');
  writeFileSync(join(dir, '.git/HEAD'), 'ref: refs/heads/main');
  symlinkSync('config.json', join(dir, 'config-link.json'));

  it('seals regular files and links to files inside; leaves out hidden entries (said on stderr) and empty folders; open gives the rest back byte for byte', () => {
    const out = outDir();
    const r = ok(['seal', dir, '--out', out, '--model-id', 'bert', '--store', store, '--shard-size', '64KiB']);
    expect(r.stderr).toContain('modelseal: left out 2 hidden entries (.git, .gitattributes); pass --include-hidden to seal them');
    const opened = join(tmp.dir, 'opened-folder');
    ok(['open', join(out, 'model.json'), '--out', opened, '--store', store]);
    const back = tree(opened);
    expect([...back.keys()]).toEqual(['config-link.json', 'config.json', 'empty.txt', 'onnx/model_quantized.onnx', 'tokenizer.json']);
    for (const [path, bytes] of back) {
      expect(bytes.equals(readFileSync(join(dir, path === 'config-link.json' ? 'config.json' : path))), path).toBe(true);
    }
    // A link is sealed as the file it points to: open writes a regular file.
    expect(statSync(join(opened, 'config-link.json')).isFile()).toBe(true);
  });

  it('--include-hidden seals hidden files too', () => {
    const out = outDir();
    ok(['seal', dir, '--out', out, '--model-id', 'bert-hidden', '--store', store, '--include-hidden']);
    const opened = join(tmp.dir, 'opened-hidden');
    ok(['open', join(out, 'model.json'), '--out', opened, '--store', store]);
    expect([...tree(opened).keys()]).toContain('.git/HEAD');
    expect([...tree(opened).keys()]).toContain('.gitattributes');
  });

  it('refuses a link that leaves the folder, names that collide ignoring case, and a keystore inside the folder', () => {
    const linked = join(tmp.dir, 'linked');
    mkdirSync(linked);
    writeFileSync(join(linked, 'a.txt'), 'a');
    symlinkSync(join(tmp.dir, 'onnx', 'sub.bin'), join(linked, 'outside.bin'));
    fails(['seal', linked, '--out', outDir(), '--model-id', 'x', '--store', store], 'model_invalid', '"outside.bin" is a symbolic link to');

    const cased = join(tmp.dir, 'cased');
    mkdirSync(cased);
    writeFileSync(join(cased, 'Vocab.txt'), 'a');
    writeFileSync(join(cased, 'vocab.txt'), 'b');
    fails(['seal', cased, '--out', outDir(), '--model-id', 'x', '--store', store], 'model_invalid', 'names the same file as "Vocab.txt" (paths are compared ignoring case)');

    const withStore = join(tmp.dir, 'with-store');
    mkdirSync(withStore);
    writeFileSync(join(withStore, 'model.onnx'), 'x');
    const inner = join(withStore, '.modelseal');
    // Hidden, so left out by default: sealing works and the store's files are not in it.
    const out = outDir();
    ok(['seal', withStore, '--out', out, '--model-id', 'with-store', '--store', inner]);
    const inspected = JSON.parse(ok(['inspect', join(out, 'model.json'), '--store', inner, '--json']).stdout);
    expect(inspected.private.files.map((f: { path: string }) => f.path)).toEqual(['model.onnx']);
    // With --include-hidden it would be sealed: refused.
    fails(['seal', withStore, '--out', outDir(), '--model-id', 'with-store', '--store', inner, '--include-hidden'], 'plaintext_exposed', 'is inside the folder being sealed');
  });

  it('the seal guard: --out inside the folder being sealed is refused', () => {
    fails(['seal', dir, '--out', join(dir, 'sealed'), '--model-id', 'x', '--store', store], 'plaintext_exposed', `inside ${dir}, the folder of the plaintext model`);
  });

  it('a folder holding a TF.js model.json is sealed as files, with a note; --kind tfjs on a folder keeps the old error', () => {
    const tf = join(tmp.dir, 'tf-folder');
    mkdirSync(tf);
    writeFileSync(join(tf, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [] }));
    const r = ok(['seal', tf, '--out', outDir(), '--model-id', 'tf-folder', '--store', store]);
    expect(r.stderr).toContain('the folder has a model.json: every file is sealed as it is (load with openSealedFiles); to seal a TensorFlow.js model for sealedModel, pass its model.json instead');
    fails(['seal', tf, '--out', outDir(), '--model-id', 'tf-folder', '--store', store, '--kind', 'tfjs'], 'io_error', 'it is a folder, not a file');
  });

  it('keys publish records a files sealing after checking every file (here one made with a copy of the key)', async () => {
    const out = outDir();
    ok(['seal', dir, '--out', out, '--model-id', 'pub', '--store', store]);
    const { store: opened } = await FileKeyStore.open(store);
    const entry = (await opened.get('pub', 'k1'))!;
    const folder = [...tree(dir)].filter(([p]) => !p.startsWith('.')).map(([path, data]) => ({ path, data: new Uint8Array(data) }));
    const forged = await forge(out, { files: folder }, entry.key, join(tmp.dir, 'forged-pub'));
    entry.key.fill(0);
    fails(['verify', join(forged.resealed, 'model.json'), '--store', store], 'not_published', 'has no record of sealing');
    fails(['keys', 'publish', join(forged.forgedShard, 'model.json'), '--store', store], 'not_published', 'its content is not what the publisher sealed');
    ok(['keys', 'publish', join(forged.resealed, 'model.json'), '--store', store]);
    ok(['verify', join(forged.resealed, 'model.json'), '--store', store]);
  });
});
