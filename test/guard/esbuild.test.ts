// The esbuild plugin in a real esbuild build: a plaintext model in the outdir (a copy step put it
// there) fails the build naming the file; without it the outdir holds the sealed model.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

const esbuild = () => build({
  absWorkingDir: project,
  entryPoints: ['src/main.js'],
  bundle: true,
  outdir: 'dist',
  logLevel: 'silent',
  plugins: [modelseal({ models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }], store })],
});

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
  });
});
