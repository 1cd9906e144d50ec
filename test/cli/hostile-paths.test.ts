// Paths that would make `seal` or `open` lose a key or seal a file from elsewhere: --force around
// the keystore or the working folder, an empty --out, weight paths and ONNX locations that name a
// keystore file or lead out through a linked folder; and valid inputs that were refused (names that
// start with "..", one ONNX data file under two spellings), key-server URLs readers refuse, a file
// that grows during a seal, a duration no date can hold. The real built bin, real files.

import { appendFileSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskFilesSource, readPlainFiles } from '../../cli/plain-files.js';
import { expectCliCode } from '../helpers/expect-code.js';
import { HUMAN_MODELS, listDir, run, tempDir } from './helpers.js';
import { onnxModel } from './onnx-writer.js';

const tmp = tempDir('modelseal-cli-hostile-');
afterAll(() => tmp.cleanup());

const fails = (args: string[], code: string, message: string | RegExp, cwd?: string): string =>
  expectCliCode(run(args, cwd === undefined ? {} : { cwd }), code === 'usage' ? 2 : 1, code, message);

function ok(args: string[], cwd?: string): void {
  const r = run(args, cwd === undefined ? {} : { cwd });
  expect(r.code, r.stderr).toBe(0);
}

/** A project folder with a TF.js model (blazeface) in model/, whose model.json lists `paths`. */
function project(name: string, paths = ['blazeface.bin']): string {
  const root = join(tmp.dir, name);
  const dir = join(root, 'model');
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(join(HUMAN_MODELS, 'blazeface.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
  json.weightsManifest[0]!.paths = paths;
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(dir, paths.find((p) => !p.startsWith('.modelseal')) ?? 'blazeface.bin'));
  return root;
}

describe('--force never deletes the keystore or the working folder; --out "" is a usage error', () => {
  const dir = project('force');
  ok(['seal', 'model/model.json', '--out', 'deploy/face', '--model-id', 'face', '--store', 'deploy/keys'], dir);

  it('refuses to replace a folder that holds the keystore in use, and keeps every key', () => {
    fails(['seal', 'model/model.json', '--out', 'deploy', '--model-id', 'face', '--store', 'deploy/keys', '--force'], 'output_exists', `it holds the keystore (${join(dir, 'deploy/keys')}), which --force would delete`, dir);
    fails(['open', 'deploy/face/model.json', '--out', 'deploy', '--store', 'deploy/keys', '--force'], 'output_exists', 'it holds the keystore', dir);
    expect(listDir(join(dir, 'deploy')).sort()).toEqual(['face', 'keys']);
    ok(['verify', 'deploy/face/model.json', '--store', 'deploy/keys'], dir);
  });

  it('an --out that is a symbolic link is refused before any work, naming its target', () => {
    symlinkSync(join(dir, 'deploy/face'), join(dir, 'linked-out'));
    fails(['open', 'deploy/face/model.json', '--out', 'linked-out', '--store', 'deploy/keys', '--force'], 'output_exists', `output ${join(dir, 'linked-out')} is a symbolic link to ${join(dir, 'deploy/face')}`, dir);
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling-out'));
    fails(['open', 'deploy/face/model.json', '--out', 'dangling-out', '--store', 'deploy/keys'], 'output_exists', 'is a symbolic link that does not resolve', dir);
    expect(listDir(join(dir, 'deploy/face')).some((f) => f.endsWith('.sealed'))).toBe(true);
  });

  it('an empty --store is a usage error (it would name the working folder); an empty MODELSEAL_HOME means the default', () => {
    fails(['keys', 'list', '--store', ''], 'usage', /option '--store <dir>' argument '' is invalid\. the keystore folder must not be empty/);
    const cwd = join(tmp.dir, 'empty-home');
    mkdirSync(cwd);
    const r = run(['keys', 'rotate', 'm', '--create'], { cwd, env: { MODELSEAL_HOME: '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(listDir(join(cwd, '.modelseal'))).toContain('keys.json');
  });

  it('refuses to replace the working folder, and an empty --out', () => {
    fails(['open', join(dir, 'deploy/face/model.json'), '--out', '.', '--store', join(dir, 'deploy/keys'), '--force'], 'output_exists', 'it holds the working folder', join(dir, 'deploy'));
    fails(['seal', 'model/model.json', '--out', '', '--model-id', 'face', '--store', 'deploy/keys', '--force'], 'usage', '--out is empty', dir);
    expect(listDir(join(dir, 'deploy')).sort()).toEqual(['face', 'keys']);
  });
});

describe('a keystore file is never sealed, whatever path names it', () => {
  it('a weight path into the keystore inside the model folder: plaintext_exposed', () => {
    // Run from the model folder: the default keystore .modelseal is then inside it.
    const dir = join(project('weights-into-store', ['blazeface.bin', '.modelseal/master.key']), 'model');
    ok(['seal', join(HUMAN_MODELS, 'blazeface.json'), '--out', join(tmp.dir, 'elsewhere'), '--model-id', 'x'], dir);
    fails(['seal', 'model.json', '--out', join(tmp.dir, 'sealed-ws'), '--model-id', 'face'], 'plaintext_exposed', `weight file ".modelseal/master.key" of ${dir} is ${join(dir, '.modelseal/master.key')}, inside the keystore`, dir);
  });

  it('a folder holding another keystore (ks/master.key, not the --store one): plaintext_exposed', () => {
    const dir = join(tmp.dir, 'other-keystore');
    mkdirSync(join(dir, 'ks'), { recursive: true });
    writeFileSync(join(dir, 'model.onnx'), onnxModel([]));
    writeFileSync(join(dir, 'ks', 'master.key'), 'modelseal-master-key/1:xxxx');
    fails(['seal', dir, '--out', join(tmp.dir, 'sealed-other-ks'), '--model-id', 'm', '--store', join(tmp.dir, 'store')], 'plaintext_exposed', '"ks/master.key" is named like a modelseal keystore secret (master.key)');
  });

  it('an ONNX location into the keystore, and the keystore file itself as the file to seal: plaintext_exposed', () => {
    const dir = join(tmp.dir, 'onnx-into-store');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.onnx'), onnxModel([{ name: 'w', location: '.modelseal/master.key' }]));
    ok(['seal', join(HUMAN_MODELS, 'blazeface.json'), '--out', join(tmp.dir, 'elsewhere-2'), '--model-id', 'x'], dir);
    fails(['seal', 'model.onnx', '--out', join(tmp.dir, 'sealed-os'), '--model-id', 'm'], 'plaintext_exposed', 'the external data ".modelseal/master.key" of', dir);
    fails(['seal', '.modelseal/master.key', '--out', join(tmp.dir, 'sealed-mk'), '--model-id', 'm'], 'plaintext_exposed', 'inside the keystore', dir);
  });
});

describe('ONNX external data', () => {
  it('through a linked folder that leads out of the model folder: model_invalid, nothing sealed', () => {
    const dir = join(tmp.dir, 'onnx-dirlink');
    mkdirSync(join(dir, 'm'), { recursive: true });
    writeFileSync(join(dir, 'outside.bin'), 'OUTSIDE');
    symlinkSync('..', join(dir, 'm', 'up'));
    writeFileSync(join(dir, 'm', 'model.onnx'), onnxModel([{ name: 'w', location: 'up/outside.bin' }]));
    const out = join(tmp.dir, 'sealed-dirlink');
    fails(['seal', join(dir, 'm', 'model.onnx'), '--out', out, '--model-id', 'm', '--store', join(tmp.dir, 'store')], 'model_invalid', `"up/outside.bin" is a symbolic link to ${join(dir, 'outside.bin')} (or lies in a linked folder), outside the folder being sealed`);
  });

  it('one data file named as d.bin and ./d.bin is sealed once', () => {
    const dir = join(tmp.dir, 'onnx-two-spellings');
    mkdirSync(dir);
    writeFileSync(join(dir, 'd.bin'), new Uint8Array(64).fill(7));
    writeFileSync(join(dir, 'model.onnx'), onnxModel([{ name: 'a', location: 'd.bin', offset: 0, length: 32 }, { name: 'b', location: './d.bin', offset: 32, length: 32 }]));
    const r = run(['seal', join(dir, 'model.onnx'), '--out', join(tmp.dir, 'sealed-two'), '--model-id', 'm', '--store', join(tmp.dir, 'store'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { fileCount: number }).fileCount).toBe(2);
  });
});

describe('valid inputs, and values readers refuse', () => {
  it('an --out name of 255 bytes (the longest a file system allows) seals: the temp folder beside it keeps a shorter name', () => {
    const dir = join(project('long-out'), 'model');
    ok(['seal', 'model.json', '--out', join(tmp.dir, 'long', 'é'.repeat(127) + 'x'), '--model-id', 'face', '--store', join(tmp.dir, 'store')], dir);
    expect(listDir(join(tmp.dir, 'long'))).toEqual(['é'.repeat(127) + 'x']);
  });

  it('a weight file whose name starts with ".." seals, and open gives it back byte for byte', () => {
    const dir = join(project('dotdot', ['..w.bin']), 'model');
    const out = join(tmp.dir, 'sealed-dotdot');
    ok(['seal', 'model.json', '--out', out, '--model-id', 'face', '--store', join(tmp.dir, 'store')], dir);
    const opened = join(tmp.dir, 'opened-dotdot');
    ok(['open', join(out, 'model.json'), '--out', opened, '--store', join(tmp.dir, 'store')]);
    expect(readFileSync(join(opened, '..w.bin')).equals(readFileSync(join(dir, '..w.bin')))).toBe(true);
  });

  it('--key-server with credentials, a query, a fragment or an upper-case scheme is a usage error', () => {
    const dir = join(project('keyserver-url'), 'model');
    for (const url of ['https://user:pw@keys.example.com', 'https://keys.example.com/?a=1', 'https://keys.example.com/#f', 'HTTPS://keys.example.com']) {
      fails(['seal', 'model.json', '--out', join(tmp.dir, 'ks-out'), '--model-id', 'face', '--store', join(tmp.dir, 'store'), '--key-server', url], 'usage', 'without credentials, query or fragment', dir);
    }
  });

  it('keys new-sealing-key with one path for both halves is a usage error, writing nothing; new-master-key into a missing folder names that folder, and an empty path is usage', () => {
    const jwk = join(tmp.dir, 'same.jwk');
    fails(['keys', 'new-sealing-key', jwk, jwk], 'usage', `the private and the public half would both be ${jwk}`);
    expect(listDir(tmp.dir)).not.toContain('same.jwk');
    fails(['keys', 'new-master-key', join(tmp.dir, 'missing', 'x.key')], 'io_error', `cannot write the new master key ${join(tmp.dir, 'missing', 'x.key')}: the folder ${join(tmp.dir, 'missing')} does not exist`);
    fails(['keys', 'new-master-key', ''], 'usage', 'keys new-master-key needs the path of the new file, got an empty one');
    // The public half's path taken: the private half just written is removed, not left alone.
    writeFileSync(join(tmp.dir, 'taken.pub.jwk'), 'someone else');
    fails(['keys', 'new-sealing-key', join(tmp.dir, 'half.jwk'), join(tmp.dir, 'taken.pub.jwk')], 'output_exists', 'taken.pub.jwk already exists: choose another path (nothing was written)');
    expect(listDir(tmp.dir)).not.toContain('half.jwk');
  });

  it('keys rewrap --to with an unknown scheme names --to, not --master-key', () => {
    fails(['keys', 'rewrap', '--to', 'bogus', '--store', join(tmp.dir, 'store')], 'usage', /error \[usage\]: --to: /);
  });

  it('--retire-after beyond what a date holds is a usage error', () => {
    fails(['keys', 'rotate', 'face', '--retire-after', '99999999999999w', '--store', join(tmp.dir, 'store')], 'usage', 'at most 100 years');
  });

  it('names that only upper-casing first folds alike (aΣ and aσ, s and ſ) are refused when sealing a folder', () => {
    for (const [a, b] of [['aΣ', 'aσ'], ['s.txt', 'ſ.txt']] as const) {
      const dir = join(tmp.dir, `fold-${a}`);
      mkdirSync(dir);
      writeFileSync(join(dir, a), 'one');
      writeFileSync(join(dir, b), 'two');
      fails(['seal', dir, '--out', join(tmp.dir, `fold-out-${a}`), '--model-id', 'm', '--store', join(tmp.dir, 'store')], 'model_invalid', `names the same file as "${a}" (paths are compared ignoring case)`);
    }
  });

  it('a folder holding a name that is not valid UTF-8 is model_invalid naming its bytes, not ENOENT', () => {
    const dir = join(tmp.dir, 'latin1');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), '{}');
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from('.bin')]), 'weights');
    fails(['seal', dir, '--out', join(tmp.dir, 'latin1-out'), '--model-id', 'm', '--store', join(tmp.dir, 'store')], 'model_invalid', `cannot seal ${dir}/caf\\xe9.bin: its name is not valid UTF-8`);
  });

  it('a lone file that grows between the two passes of a seal is refused, not sealed as a prefix', async () => {
    const file = join(tmp.dir, 'grows.bin');
    writeFileSync(file, new Uint8Array(4096).fill(1));
    const source = diskFilesSource(await readPlainFiles(file));
    try {
      expect((await source.read(0, 4096)).length).toBe(4096);
      appendFileSync(file, 'more');
      await expect(source.read(0, 4096)).rejects.toMatchObject({ code: 'model_invalid', message: expect.stringContaining('changed while it was being sealed (4096 bytes when listed, 4100 now)') });
    } finally {
      await source.close();
    }
  });
});
