// Bad input to the CLI: a clear coded message, the documented exit code, nothing half-written.
// beforeAll makes the shared, read-only fixtures (the source model, the store with blaze k1 and
// that model sealed once); every test makes whatever else it needs, so they hold in any order.

import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCliCode } from '../helpers/expect-code.js';
import { HUMAN_MODELS, listDir, ROOT, run, tempDir } from './helpers.js';

const tmp = tempDir();
const store = join(tmp.dir, 'store');
const src = join(tmp.dir, 'src');
const model = join(src, 'model.json');
const work = join(tmp.dir, 'work');
/** The source model sealed once with `store` (read only). */
const sealedDir = join(tmp.dir, 'already');

beforeAll(() => {
  mkdirSync(src);
  mkdirSync(work);
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), model);
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(src, 'blazeface.bin'));
  const r = run(['seal', model, '--out', sealedDir, '--model-id', 'blaze', '--store', store]);
  expect(r.code, r.stderr).toBe(0);
  // The line people read names the sealing an app pins (the loader's sealing option).
  const sealing = (JSON.parse(readFileSync(join(sealedDir, 'model.json'), 'utf8')) as { sealing: string }).sealing;
  expect(r.stderr).toContain(`sealing ${sealing} (pin it in the app with modelId, keyId and sealing)`);
});
afterAll(() => tmp.cleanup());

/** Runs seal with `args`, expects `exit` and `[code]` in stderr, and no leftovers in `work`. */
function sealFails(args: string[], exit: number, code: string, message: string | RegExp): string {
  const before = listDir(work);
  const stderr = expectCliCode(run(['seal', ...args]), exit, code, message);
  expect(listDir(work)).toEqual(before);
  return stderr;
}

function modelWith(name: string, change: (m: Record<string, unknown>) => void): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(model, 'utf8'));
  change(json);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  copyFileSync(join(src, 'blazeface.bin'), join(dir, 'blazeface.bin'));
  return join(dir, 'model.json');
}

const out = () => join(work, 'sealed');
const common = () => ['--out', out(), '--model-id', 'blaze', '--store', store];

describe('seal refuses bad input', () => {
  it('a missing model.json: file_unavailable, exit 1', () => {
    sealFails([join(src, 'nope.json'), ...common()], 1, 'file_unavailable', 'nope.json: no such file');
  });

  it('a folder with --kind tfjs: io_error with a hint naming model.json (without it, a folder is sealed as files)', () => {
    const stderr = sealFails([src, '--kind', 'tfjs', ...common()], 1, 'io_error', 'it is a folder, not a file');
    expect(stderr).toContain(`hint: pass the model.json file inside it, e.g. ${src}/model.json`);
  });

  it('invalid JSON: model_invalid', () => {
    writeFileSync(join(tmp.dir, 'broken.json'), '{"modelTopology": ');
    sealFails([join(tmp.dir, 'broken.json'), ...common()], 1, 'model_invalid', 'is not valid: not valid JSON');
  });

  it('JSON that is not a model: model_invalid with a hint', () => {
    writeFileSync(join(tmp.dir, 'package.json'), '{"name": "x"}');
    const stderr = sealFails([join(tmp.dir, 'package.json'), ...common()], 1, 'model_invalid', '"modelTopology" is missing');
    expect(stderr).toContain('hint: ');
    // A bare weights manifest (face-api's form): the hint names the way that works.
    writeFileSync(join(tmp.dir, 'tiny-weights_manifest.json'), '[{"paths": ["tiny-shard1"], "weights": []}]');
    const manifest = sealFails([join(tmp.dir, 'tiny-weights_manifest.json'), ...common()], 1, 'model_invalid', 'must be a JSON object');
    expect(manifest).toContain('hint: this looks like a bare weights manifest');
  });

  it('an already sealed model.json: model_invalid', () => {
    sealFails([join(sealedDir, 'model.json'), ...common()], 1, 'model_invalid', 'already sealed');
  });

  for (const [label, path] of [['a parent path', '../blazeface.bin'], ['an absolute path', '/etc/passwd'], ['a URL', 'https://cdn.example.com/w.bin']] as const) {
    it(`a weight path that leaves the model folder (${label}): model_invalid`, () => {
      const bad = modelWith(`escape-${label.replace(/ /g, '-')}`, (m) => { (m['weightsManifest'] as Array<{ paths: string[] }>)[0]!.paths = [path]; });
      sealFails([bad, ...common()], 1, 'model_invalid', `${JSON.stringify(path)} is not a relative file path inside the model folder`);
    });
  }

  it('a missing weight file: file_unavailable naming it', () => {
    const bad = modelWith('missing-weights', (m) => { (m['weightsManifest'] as Array<{ paths: string[] }>)[0]!.paths = ['other.bin']; });
    sealFails([bad, ...common()], 1, 'file_unavailable', 'other.bin');
  });

  it('a truncated weight file: model_invalid', () => {
    const bad = modelWith('short-weights', () => undefined);
    const bin = join(bad, '..', 'blazeface.bin');
    writeFileSync(bin, readFileSync(bin).subarray(0, 1000));
    sealFails([bad, ...common()], 1, 'model_invalid', 'hold 1000 bytes but its weight specs need 538928');
  });

  it('an existing non-empty --out: output_exists, the folder untouched; --force replaces it atomically', () => {
    const target = join(tmp.dir, 'occupied');
    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'mine');
    const before = listDir(tmp.dir);
    const r = run(['seal', model, '--out', target, '--model-id', 'blaze', '--store', store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`modelseal: error [output_exists]: output folder ${target} is not empty`);
    expect(r.stderr).toContain('hint: choose an empty or new --out folder, or pass --force');
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('mine');
    expect(listDir(tmp.dir)).toEqual(before);
    const forced = run(['seal', model, '--out', target, '--model-id', 'blaze', '--store', store, '--force']);
    expect(forced.code).toBe(0);
    expect(listDir(target)).toContain('model.json');
    expect(listDir(target)).not.toContain('keep.txt');
    expect(listDir(tmp.dir)).toEqual(before);
  });

  it('an empty existing --out is used', () => {
    const target = join(tmp.dir, 'empty-out');
    mkdirSync(target);
    expect(run(['seal', model, '--out', target, '--model-id', 'blaze', '--store', store]).code).toBe(0);
    expect(listDir(target)).toContain('model.json');
  });

  it('an --out below a regular file: io_error', () => {
    writeFileSync(join(work, 'a-file'), 'x');
    try {
      sealFails([model, '--out', join(work, 'a-file', 'sealed'), '--model-id', 'blaze', '--store', store], 1, 'io_error', 'a-file');
    } finally {
      rmSync(join(work, 'a-file'));
    }
  });

  it('an unwritable output folder (run as an unprivileged user): io_error, permission denied', () => {
    // Root ignores permissions, so the CLI runs as `nobody` here; the model is world-readable.
    const locked = join(tmp.dir, 'locked');
    mkdirSync(locked);
    chmodSync(tmp.dir, 0o755);
    chmodSync(locked, 0o555);
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = run(['seal', model, '--out', join(locked, 'sealed'), '--model-id', 'blaze', '--store', join(tmp.dir, 'nobody-store')], { ...asNobody, cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('modelseal: error [io_error]: ');
    expect(r.stderr).toContain('permission denied');
    expect(listDir(locked)).toEqual([]);
  });
});

describe('usage errors exit 2 with a hint', () => {
  const cases: Array<[string, string[], string]> = [
    ['a bad --shard-size', ['--shard-size', '4XB'], "option '--shard-size <bytes>' argument '4XB' is invalid"],
    ['a --shard-size below one chunk', ['--shard-size', '10'], 'a shard holds at least 1024 bytes'],
    ['a bad --chunk-size', ['--chunk-size', '32MiB'], 'the chunk size must be from 1KiB to 16MiB'],
    ['a bad --header', ['--header', 'outside'], "argument 'outside' is invalid. Allowed choices are inline, file, auto"],
    ['a bad --key-server', ['--key-server', 'ftp://x'], 'must be an absolute http(s) URL'],
  ];
  for (const [label, extra, message] of cases) {
    it(label, () => {
      const stderr = sealFails([model, ...common(), ...extra], 2, 'usage', message);
      expect(stderr).toContain('hint: run `modelseal seal --help` for usage');
    });
  }

  it('a bad --model-id', () => {
    sealFails([model, '--out', out(), '--model-id', '../evil', '--store', store], 2, 'usage', "option '--model-id <id>' argument '../evil' is invalid");
  });

  it('a missing --out', () => {
    sealFails([model, '--model-id', 'blaze', '--store', store], 2, 'usage', "required option '--out <dir>' not specified");
  });

  it('an unknown command, with a suggestion', () => {
    expectCliCode(run(['sael']), 2, 'usage', "modelseal: error [usage]: unknown command 'sael' (did you mean seal?)");
  });

  it('--help and --version exit 0 on stdout', () => {
    const help = run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted');
    const version = run(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });
});

describe('the keystore must be right', () => {
  it('a wrong master key: master_key_wrong, nothing written', () => {
    const s = join(tmp.dir, 'store-wrong');
    expect(run(['seal', model, '--out', join(tmp.dir, 'mk-1'), '--model-id', 'blaze', '--store', s]).code).toBe(0);
    writeFileSync(join(s, 'master.key'), `modelseal-master-key/1:${Buffer.alloc(32, 7).toString('base64url')}\n`);
    sealFails([model, '--out', out(), '--model-id', 'blaze', '--store', s], 1, 'master_key_wrong', 'is not the one that wrapped the keys');
    expectCliCode(run(['verify', join(tmp.dir, 'mk-1', 'model.json'), '--store', s]), 1, 'master_key_wrong');
  });

  it('a missing master key: master_key_missing, never regenerated', () => {
    const s = join(tmp.dir, 'store-missing');
    expect(run(['seal', model, '--out', join(tmp.dir, 'mk-2'), '--model-id', 'blaze', '--store', s]).code).toBe(0);
    rmSync(join(s, 'master.key'));
    sealFails([model, '--out', out(), '--model-id', 'blaze', '--store', s], 1, 'master_key_missing', 'restore it from your backup');
    expect(listDir(s)).not.toContain('master.key');
  });

  it('verify of a plain (unsealed) model.json: manifest_invalid', () => {
    expectCliCode(run(['verify', model, '--store', store]), 1, 'manifest_invalid', 'is not sealed');
  });

  it('verify of a huge file posing as a manifest: manifest_invalid before reading it', () => {
    const huge = join(tmp.dir, 'huge-model.json');
    writeFileSync(huge, Buffer.alloc(2 * 1024 * 1024, 32));
    expectCliCode(run(['verify', huge, '--store', store]), 1, 'manifest_invalid', 'is larger than 1048576 bytes');
  });

  it('open into a non-empty folder: output_exists', () => {
    expectCliCode(run(['open', join(sealedDir, 'model.json'), '--out', src, '--store', store]), 1, 'output_exists');
  });
});

describe('binary data where JSON is read: a short description, never the bytes', () => {
  // A ZIP's first bytes are valid UTF-8 (ASCII controls), so they reach JSON.parse, whose message
  // quotes them; a weight file is not UTF-8 at all, and Node decodes it with replacement characters.
  const zipBytes = Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00', 'latin1'), Buffer.from('\x1b]0;pwned\x07\x1b[2J', 'latin1'), Buffer.alloc(64, 7)]);
  const weightFile = join(HUMAN_MODELS, 'blazeface.bin');
  // eslint-disable-next-line no-control-regex -- raw control characters are what must not be printed
  const garbage = /[\ufffd\u0000-\u0008\u000b-\u001f]|\\u0003|\\u001b|PK/;

  function expectShort(stderr: string): void {
    expect(stderr).not.toMatch(garbage);
    for (const line of stderr.trim().split('\n')) expect(line.length).toBeLessThan(240);
  }

  it('seal of a ZIP named model.json: model_invalid, "binary data, not JSON text"', () => {
    const dir = join(tmp.dir, 'zip-model');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), zipBytes);
    const stderr = sealFails([join(dir, 'model.json'), '--out', join(work, 'zip-out'), '--model-id', 'blaze', '--store', store], 1, 'model_invalid', 'not valid JSON (the input is binary data, not JSON text)');
    expectShort(stderr);
  });

  it('seal --kind tfjs of a weight file: model_invalid, "is not UTF-8 text"', () => {
    const stderr = sealFails([weightFile, '--kind', 'tfjs', '--out', join(work, 'bin-out'), '--model-id', 'blaze', '--store', store], 1, 'model_invalid', `${weightFile} is not UTF-8 text`);
    expectShort(stderr);
  });

  it('serve --config of a weight file: config_invalid (exit 2), "binary data, not JSON text"', () => {
    const r = run(['serve', '--config', weightFile, '--store', store, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`modelseal: error [config_invalid]: config file ${weightFile} is not a JSON object: the input is binary data, not JSON text`);
    expectShort(r.stderr);
  });

  it('verify --json of a ZIP posing as a manifest: the JSON verdict carries the description, not the bytes', () => {
    const path = join(tmp.dir, 'zip-manifest.json');
    writeFileSync(path, zipBytes);
    const r = run(['verify', path, '--store', store, '--json']);
    expect(r.code).toBe(1);
    const verdict = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
    expect(verdict.ok).toBe(false);
    expect(verdict.error.code).toBe('manifest_invalid');
    expect(verdict.error.message).toContain('the input is binary data, not JSON text');
    expect(verdict.error.message).not.toMatch(garbage);
    expectShort(r.stderr);
  });

  it('a text file that is not JSON keeps the parser\'s excerpt, which shows where it went wrong', () => {
    const dir = join(tmp.dir, 'text-model');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), 'hello, this is a README');
    sealFails([join(dir, 'model.json'), '--out', join(work, 'text-out'), '--model-id', 'blaze', '--store', store], 1, 'model_invalid', 'Unexpected token \'h\', "hello, thi"... is not valid JSON');
  });
});
