// modelseal seal refuses --out in a folder that also holds the plaintext model (both under public/,
// the output inside the model's folder), writes nothing then, and seals with --allow-inside-source.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HUMAN_MODELS, listDir, run, tempDir } from '../cli/helpers.js';

const tmp = tempDir('modelseal-seal-guard-');
afterAll(() => tmp.cleanup());
const store = join(tmp.dir, 'store');

function plainModel(dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(dir, 'model.json'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(dir, 'blazeface.bin'));
  return join(dir, 'model.json');
}

describe('seal beside the plaintext model', () => {
  const project = join(tmp.dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{"name":"site","private":true}');
  const model = plainModel(join(project, 'public', 'src', 'face'));

  it('refuses --out under the public/ folder that holds the model, and writes nothing', () => {
    const r = run(['seal', model, '--out', 'public/model', '--model-id', 'face', '--store', store], { cwd: project });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`modelseal: error [plaintext_exposed]: refusing to write the sealed output ${join(project, 'public/model')} in ${join(project, 'public')}, which also holds the plaintext model ${model}: a published folder named "public" would ship both`);
    expect(r.stderr).toContain('hint: write --out outside');
    expect(r.stderr).toContain('--allow-inside-source');
    expect(listDir(join(project, 'public'))).toEqual(['src']);
    expect(existsSync(store)).toBe(false);
  });

  it('refuses --out inside the model\'s own folder, whatever its name', () => {
    const r = run(['seal', model, '--out', join(project, 'public/src/face/sealed'), '--model-id', 'face', '--store', store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`inside ${join(project, 'public/src/face')}, the folder of the plaintext model`);
  });

  it('seals with --allow-inside-source, and beside the project folder without it', () => {
    const allowed = run(['seal', model, '--out', 'public/model', '--model-id', 'face', '--store', store, '--allow-inside-source', '--json'], { cwd: project });
    expect(allowed.code).toBe(0);
    expect(listDir(join(project, 'public/model'))).toContain('model.json');
    // sealed/ and public/ meet at the project root (it has package.json): not a published folder.
    const beside = run(['seal', model, '--out', 'sealed/face', '--model-id', 'face', '--store', store], { cwd: project });
    expect(beside.code).toBe(0);
    // Without a project marker, two sibling folders of a temp folder are fine too (the CLI tests' layout).
    const plain = plainModel(join(tmp.dir, 'src'));
    expect(run(['seal', plain, '--out', join(tmp.dir, 'sealed'), '--model-id', 'face', '--store', store]).code).toBe(0);
  });

  it('refuses a dist/ folder holding both even when the model sits deeper', () => {
    const deep = plainModel(join(tmp.dir, 'site', 'dist', 'assets', 'models', 'face'));
    const r = run(['seal', deep, '--out', join(tmp.dir, 'site', 'dist', 'sealed', 'face'), '--model-id', 'face', '--store', store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`in ${join(tmp.dir, 'site', 'dist')}, which also holds the plaintext model`);
  });
});
