// The Vite plugin in a real `vite.build()`: a plaintext model in public/ fails the build naming
// the files; without it the build passes and the output holds the sealed model, which verifies.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RolldownWatcher } from 'rolldown';
import { build, createLogger } from 'vite';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { modelseal } from '../../vite/index.js';
import { HUMAN_MODELS, run, tempDir } from '../cli/helpers.js';

const tmp = tempDir('modelseal-vite-');
afterAll(() => tmp.cleanup());
const project = join(tmp.dir, 'app');
const outDir = join(project, 'dist');
const store = join(tmp.dir, 'store');

function plainModel(dir: string): void {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(dir, 'model.json'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(dir, 'blazeface.bin'));
}

const viteBuild = (plugin = modelseal({ models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }], store })) =>
  build({ root: project, logLevel: 'silent', configFile: false, build: { outDir }, plugins: [plugin] });

beforeEach(() => {
  rmSync(project, { recursive: true, force: true });
  mkdirSync(join(project, 'src'), { recursive: true });
  writeFileSync(join(project, 'index.html'), '<!doctype html><script type="module" src="/src/main.js"></script>');
  writeFileSync(join(project, 'src/main.js'), 'document.title = "app";');
  plainModel(join(project, 'models/face')); // the model to seal, outside public/
});

describe('modelseal/vite', () => {
  it('fails the build when public/ holds a plaintext model, naming each file', async () => {
    plainModel(join(project, 'public/face'));
    const err = await viteBuild().then(() => undefined, (e: unknown) => e as Error & { code?: string });
    expect(err).toBeDefined();
    expect(err!.message).toContain(`error [plaintext_exposed]: plaintext model files in the build output ${outDir}; they would ship next to the sealed model:`);
    expect(err!.message).toContain('face/model.json (tfjs-model: TF.js model.json with a weightsManifest (1 weight file))');
    expect(err!.message).toContain(`face/blazeface.bin (tfjs-weights: listed in the weightsManifest of ${join(outDir, 'face/model.json')})`);
    expect(err!.message).toContain('hint: move the plaintext model out of what the build copies into its output (public/ in Vite;');
    // The sealed model is not what the scan complained about.
    expect(err!.message).not.toContain('models/face');
  });

  it('passes without the plaintext copy, and the output holds the sealed model', async () => {
    await viteBuild();
    const sealedDir = join(outDir, 'models/face');
    const files = readdirSync(sealedDir).sort();
    expect(files).toContain('model.json');
    expect(files.filter((f) => f.endsWith('.sealed')).length).toBeGreaterThan(0);
    expect(files.some((f) => f.endsWith('.bin'))).toBe(false);
    expect(JSON.parse(readFileSync(join(sealedDir, 'model.json'), 'utf8')).modelseal).toMatch(/^modelseal\//);
    expect(existsSync(join(outDir, 'index.html'))).toBe(true);
    // The sealing is real: verify decrypts every file with the store the plugin used.
    const verified = run(['verify', join(sealedDir, 'model.json'), '--store', store]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^ok .*model face, key k1/);
  });

  it('in watch mode a failing scan is logged with its findings, and the watcher goes on to the next build', async () => {
    plainModel(join(project, 'public/face'));
    // The plugin's own log lines mark the end of each build's scan (closeBundle runs after the watcher's END event).
    const logged: string[] = [];
    let seen: () => void = () => undefined;
    const nextLine = () => new Promise<void>((resolve) => (seen = resolve));
    const customLogger = createLogger('silent');
    customLogger.error = (msg) => void (logged.push(msg), seen());
    customLogger.info = (msg) => void (msg.startsWith('modelseal:') && (logged.push(msg), seen()));
    const plugin = modelseal({ models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }], store });
    let line = nextLine();
    const watcher = await build({ root: project, logLevel: 'silent', customLogger, configFile: false, build: { outDir, watch: {} }, plugins: [plugin] }) as RolldownWatcher;
    try {
      const events: string[] = [];
      watcher.on('event', (e) => void events.push(e.code));
      await line;
      expect(logged[0]).toContain('modelseal: error [plaintext_exposed]: plaintext model files in the build output');
      expect(logged[0]).toContain('face/model.json (tfjs-model');
      rmSync(join(project, 'public/face'), { recursive: true });
      line = nextLine();
      writeFileSync(join(project, 'src/main.js'), 'document.title = "app 2";');
      await line;
      expect(logged[1]).toMatch(/^modelseal: sealed 1 model; scanned \d+ files in dist: no plaintext model files/);
      expect(events).not.toContain('ERROR');
    } finally {
      await watcher.close();
    }
  });

  it('the scan honours the ignore option, and reports seal errors with their code', async () => {
    plainModel(join(project, 'public/face'));
    await viteBuild(modelseal({ models: [], ignore: ['face/'] }));
    // .modelsealignore beside vite.config (patterns relative to outDir): the one file left is still named.
    writeFileSync(join(project, '.modelsealignore'), '# a demo asset\nface/blazeface.bin\n');
    const message = (await viteBuild(modelseal()).then(() => undefined, (e: Error) => e))?.message;
    expect(message).toContain('face/model.json (tfjs-model');
    expect(message).not.toContain('blazeface.bin (');
    const missing = await viteBuild(modelseal({ models: [{ model: 'models/none/model.json', modelId: 'face', out: 'm' }], store }))
      .then(() => undefined, (e: unknown) => e as Error);
    expect(missing?.message).toContain('error [file_unavailable]: cannot seal models/none/model.json: cannot read model');
    expect(() => modelseal({ models: [{ model: 'm.json', modelId: '../x', out: 'm' }] })).toThrow(TypeError);
    expect(() => modelseal({ models: [{ model: 'm.json', modelId: 'x', out: '../m' }] })).toThrow('must be a relative folder inside the build output');
  });
});
