// The product is what `npm pack` ships: install the tarball into an empty folder and use it there.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'modelseal-pack-'));
const app = join(work, 'app');
let installWarnings = '';

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
}

describe('npm pack', () => {
  beforeAll(() => {
    // `npm test` builds first; pack what is built, exactly as a publish would. --ignore-scripts
    // skips prepack's rebuild, which would empty dist/ under the tests running beside this one.
    run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error('npm pack made no tarball');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
    const install = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball), '@tensorflow/tfjs@4.22.0'], { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });
    if (install.status !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`);
    installWarnings = install.stderr;
  }, 600_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships compiled JS and types, not sources or tests', () => {
    const listing = run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], root);
    const files: string[] = JSON.parse(listing)[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/loader/index.js');
    expect(files).toContain('dist/loader/index.d.ts');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('dist/vite/index.js');
    expect(files).toContain('dist/vite/index.d.ts');
    expect(files).toContain('dist/esbuild/index.js');
    expect(files.some((f) => f.startsWith('test/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toBe(false);
    expect(files.some((f) => f.includes('.modelseal') || f.endsWith('master.key'))).toBe(false);
    // A pack from a clean checkout (no dist/ yet) builds first.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['prepack']).toBe('npm run build');
  });

  it('installs on Node 20 without an engine warning from any dependency', () => {
    // light-my-request (Fastify's inject) moved to cookie 2, which wants Node 22: modelseal pins 6.6.0.
    expect(installWarnings).not.toMatch(/EBADENGINE/);
  });

  it('runs the modelseal bin from the installed package', () => {
    const out = run(join(app, 'node_modules/.bin/modelseal'), ['--help'], app);
    expect(out).toMatch(/seal/);
    expect(out).toMatch(/verify/);
  });

  it('runs modelseal scan from the installed package on a build folder holding a plain model', () => {
    mkdirSync(join(app, 'public', 'model'), { recursive: true });
    for (const f of ['blazeface.json', 'blazeface.bin']) copyFileSync(join(root, 'node_modules/@vladmandic/human/models', f), join(app, 'public', 'model', f));
    const r = spawnSync(join(app, 'node_modules/.bin/modelseal'), ['scan', 'public'], { cwd: app, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('public/model/blazeface.json\ttfjs-model\t');
    expect(r.stderr).toContain('error [plaintext_exposed]');
  });

  it('ships the key server config schema under modelseal/keyserver-config.schema.json', () => {
    const out = run('node', ['--input-type=module', '-e', `
      import { createRequire } from 'node:module';
      import { readFileSync } from 'node:fs';
      const path = createRequire(process.cwd() + '/').resolve('modelseal/keyserver-config.schema.json');
      process.stdout.write(readFileSync(path, 'utf8'));
    `], app);
    expect(out).toBe(readFileSync(join(root, 'docs/keyserver-config.schema.json'), 'utf8'));
    expect(JSON.parse(out).properties.tokens.properties.keys.default).toEqual([{ type: 'store-secret', algorithms: ['HS256'] }]);
  });

  it('resolves every subpath export at run time', () => {
    const out = run('node', ['--input-type=module', '-e', `
      const loader = await import('modelseal');
      const format = await import('modelseal/format');
      const keyserver = await import('modelseal/keyserver');
      const node = await import('modelseal/node');
      // vite and esbuild are optional peers, not installed here: the plugins import only their types.
      const vite = await import('modelseal/vite');
      const esbuild = await import('modelseal/esbuild');
      console.log(JSON.stringify({ loader: Object.keys(loader).sort(), format: 'sealModel' in format, keyserver: 'FileKeyStore' in keyserver, node: typeof node.nodeChunkCipher.forFile, vite: vite.modelseal().name, esbuild: esbuild.default().name }));
    `], app);
    const seen = JSON.parse(out);
    expect(seen.format).toBe(true);
    expect(seen.keyserver).toBe(true);
    expect(seen.node).toBe('function');
    expect(seen.vite).toBe('modelseal');
    expect(seen.esbuild).toBe('modelseal');
    expect(seen.loader).toContain('sealedModel');
    expect(seen.loader).toContain('openSealedFiles');
    expect(seen.loader).toContain('openSealedFileStream');
  });

  it('type-checks an app that imports modelseal', () => {
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, skipLibCheck: true, types: [], lib: ['ES2022', 'DOM'] }, include: ['app.ts'] }));
    writeFileSync(join(app, 'app.ts'), `
      import * as tf from '@tensorflow/tfjs';
      import { sealedModel, type SealedModelOptions } from 'modelseal';
      import { parseManifest, type SealedManifest } from 'modelseal/format';
      const options: SealedModelOptions = { token: async () => 'token', keyServer: 'https://keys.example.com' };
      export const load = () => tf.loadGraphModel(sealedModel('https://cdn.example.com/m/model.json', options));
      export const check = (json: unknown): SealedManifest => parseManifest(json);
      import { modelseal, type ModelsealViteOptions } from 'modelseal/vite';
      const viteOptions: ModelsealViteOptions = { models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }], ignore: ['demo/'] };
      export const plugin = modelseal(viteOptions);
    `);
    run('node', [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
  });
});
