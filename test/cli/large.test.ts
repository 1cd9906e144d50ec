// Large models: the progress bar goes to stderr only when asked for (TTY, or MODELSEAL_PROGRESS=1),
// and an interrupted seal exits 130 leaving nothing behind.

import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, listDir, run, tempDir } from './helpers.js';
import { writeSyntheticModel } from './synthetic-model.js';

const tmp = tempDir();
const store = join(tmp.dir, 'store');
let model = '';

beforeAll(() => {
  model = writeSyntheticModel(join(tmp.dir, 'src'), 40 * 1024 * 1024);
});
afterAll(() => tmp.cleanup());

describe('large models', () => {
  it('piped stderr gets no progress bar; MODELSEAL_PROGRESS=1 forces one; --json never shows it', () => {
    const quiet = run(['seal', model, '--out', join(tmp.dir, 'a'), '--model-id', 'big', '--store', store]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toContain('sealing [');
    const forced = run(['verify', join(tmp.dir, 'a', 'model.json'), '--store', store], { env: { MODELSEAL_PROGRESS: '1' } });
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain('modelseal: verifying [');
    expect(forced.stdout).toMatch(/^ok /);
    const json = run(['verify', join(tmp.dir, 'a', 'model.json'), '--store', store, '--json'], { env: { MODELSEAL_PROGRESS: '1' } });
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout).weightBytes).toBe(40 * 1024 * 1024);
  });

  it('on a real terminal (a pseudo-terminal from util-linux `script`) the bar shows without forcing', () => {
    const sealed = join(tmp.dir, 'tty');
    expect(run(['seal', model, '--out', sealed, '--model-id', 'big', '--store', store]).code).toBe(0);
    // `script` runs the CLI with stdin, stdout and stderr on a new pty and copies what it printed.
    const verify = [process.execPath, BIN, 'verify', join(sealed, 'model.json'), '--store', store].map((a) => `'${a}'`).join(' ');
    const env: Record<string, string | undefined> = { ...process.env };
    delete env['MODELSEAL_PROGRESS'];
    const r = spawnSync('script', ['-qec', verify, '/dev/null'], { encoding: 'utf8', env, timeout: 120_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('modelseal: verifying [');
    expect(r.stdout).toMatch(/ok .*model\.json: model big/);
  });

  it('SIGINT during seal exits 130 and removes the temp folder and the parent it created', async () => {
    const parent = join(tmp.dir, 'interrupted');
    const child = spawn(process.execPath, [BIN, 'seal', model, '--out', join(parent, 'sealed'), '--model-id', 'big', '--store', store, '--chunk-size', '1KiB', '--shard-size', '1MiB'], {
      env: { ...process.env, MODELSEAL_PROGRESS: '1' },
    });
    let stderr = '';
    let signalled = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // The bar starts once the key is ready and sealing has begun: interrupt then.
      if (!signalled && stderr.includes('modelseal: sealing [')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(signalled).toBe(true);
    expect(code).toBe(130);
    expect(stderr).toContain('modelseal: interrupted');
    // The parent folder the seal created for its output goes too (docs/CLI.md: nothing half-written).
    expect(listDir(tmp.dir)).not.toContain('interrupted');
  });
});
