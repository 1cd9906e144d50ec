// The esbuild plugin in a real esbuild build: a plaintext model in the outdir (a copy step put it
// there) fails the build naming the file; without it the outdir holds the sealed model.
import { copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { modelseal } from '../../esbuild/index.js';
import { HUMAN_MODELS, run, tempDir } from '../cli/helpers.js';

const tmp = tempDir('modelseal-esbuild-');
afterAll(() => tmp.cleanup());
const project = join(tmp.dir, 'app');
const store = join(tmp.dir, 'store');

function plainModel(dir: string): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(dir, 'model.json'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(dir, 'blazeface.bin'));
}

const face = { model: 'models/face/model.json', modelId: 'face', out: 'models/face' };
const esbuild = (plugin = modelseal({ models: [face], store }), absWorkingDir = project) => build({
  absWorkingDir,
  entryPoints: ['src/main.js'],
  bundle: true,
  outdir: 'dist',
  logLevel: 'silent',
  plugins: [plugin],
});

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

beforeEach(() => {
  rmSync(project, { recursive: true, force: true });
  mkdirSync(join(project, 'src'), { recursive: true });
  writeFileSync(join(project, 'src/main.js'), 'console.log("app");');
  plainModel(join(project, 'models/face'));
});

describe('modelseal/esbuild', () => {
  it('fails the build on a plaintext model in the outdir, naming it', async () => {
    plainModel(join(project, 'dist/assets/face'));
    const err = await esbuild().then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain('error [plaintext_exposed]: plaintext model files in the build output');
    expect(err?.message).toContain('assets/face/model.json (tfjs-model: TF.js model.json with a weightsManifest (1 weight file))');
  });

  it('passes when clean, with the sealed model in the outdir', async () => {
    const result = await esbuild();
    expect(result.errors).toEqual([]);
    expect(readdirSync(join(project, 'dist')).sort()).toEqual(['main.js', 'models']);
    expect(run(['verify', join(project, 'dist/models/face/model.json'), '--store', store]).code).toBe(0);
    // A rebuild into the same outdir replaces the earlier sealed output.
    expect((await esbuild()).errors).toEqual([]);
  });

  it('refuses options that would replace the output or write a bad manifest, when the plugin is created', () => {
    const bad: Array<[object, string]> = [
      [{ ...face, out: '.' }, 'out must be a relative folder inside the build output (not the output itself)'],
      [{ ...face, out: 'models/..' }, 'out must be a relative folder inside the build output (not the output itself)'],
      [{ ...face, keyServer: 'keys.example.com' }, 'keyServer must be an http(s) URL'],
      [{ ...face, shardSize: 'big' }, 'shardSize must be a whole number of bytes'],
      [{ ...face, chunkSize: 1 }, 'chunkSize must be a whole number of bytes from 1024'],
      [{ ...face, header: 'weird' }, "header must be 'inline', 'file' or 'auto'"],
    ];
    for (const [model, message] of bad) expect(() => modelseal({ models: [model as typeof face] }), message).toThrow(new TypeError(`modelseal(): models[0].${message}`).message);
    expect(() => modelseal({ models: [{ ...face, out: 'models' }, face] })).toThrow('models[1].out "models/face" and models[0].out "models" overlap');
  });

  it('refuses an out folder that the build already filled, and keeps what is there', async () => {
    write(join(project, 'dist/models/face/index.js'), 'the app'); // a copy step or the bundle put it there
    const err = await esbuild().then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain(`error [output_exists]: cannot seal models/face/model.json: out folder models/face (${join(project, 'dist/models/face')}) already holds files this build wrote`);
    expect(readdirSync(join(project, 'dist/models/face'))).toEqual(['index.js']);
  });

  it('a .modelsealignore inside the outdir does not switch the scan off; links in the output are warned about', async () => {
    write(join(project, 'dist/.modelsealignore'), '*\n');
    plainModel(join(project, 'dist/face'));
    const err = await esbuild().then(() => undefined, (e: Error) => e);
    expect(err?.message).toContain('error [plaintext_exposed]');
    rmSync(join(project, 'dist/face'), { recursive: true });
    symlinkSync(join(project, 'models/face'), join(project, 'dist/linked'));
    const result = await esbuild();
    expect(result.warnings.map((w) => w.text)).toEqual([`modelseal: skipped linked in the build output: symbolic link to ${join(project, 'models/face')}, outside the scanned folder (not followed: check what it points at before you publish)`]);
  });

  it('seals in a project folder named like a web root (site/): the output folder is what ships, and it is scanned', async () => {
    const site = join(tmp.dir, 'site');
    rmSync(site, { recursive: true, force: true });
    write(join(site, 'src/main.js'), 'console.log("app");');
    plainModel(join(site, 'models/face'));
    expect((await esbuild(undefined, site)).errors).toEqual([]);
    expect(readdirSync(join(site, 'dist/models/face'))).toContain('model.json');
  });
});
