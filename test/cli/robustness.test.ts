// Hostile or unlucky surroundings (issue 9): links and special files among the inputs, output
// paths that cannot be made, control characters in manifests, a reader that closes the pipe, and
// signals at any moment. Every case runs the built bin on real files and real signals.

import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUMAN_MODELS, listDir, run, spawnBin, tempDir, type RunResult } from './helpers.js';
import { writeSyntheticModel } from './synthetic-model.js';

const tmp = tempDir('modelseal-robust-');
const store = join(tmp.dir, 'store');
const src = join(tmp.dir, 'src');
const model = join(src, 'model.json');
const sealed = join(tmp.dir, 'sealed');
let big = '';
let bigSealed = '';

/** Runs the bin with a time guard: the old code hung on FIFOs, /dev/zero and /proc paths. */
function runGuarded(args: string[], env: Record<string, string> = {}): RunResult {
  return run(args, { env: { MODELSEAL_HOME: '', ...env }, timeout: 60_000 });
}

/** Names anywhere under `dir` that look like modelseal temp files or set-aside folders. */
function leftovers(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((n) => /\.tmp$|\.old$|\.reclaim$|keys\.lock/.test(n));
}

beforeAll(() => {
  mkdirSync(src, { recursive: true });
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), model);
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(src, 'blazeface.bin'));
  expect(run(['seal', model, '--out', sealed, '--model-id', 'blaze', '--store', store, '--header', 'file']).code).toBe(0);
  big = writeSyntheticModel(join(tmp.dir, 'big'), 12 * 1024 * 1024);
  bigSealed = join(tmp.dir, 'big-sealed');
  expect(run(['seal', big, '--out', bigSealed, '--model-id', 'big', '--store', store, '--chunk-size', '1KiB', '--shard-size', '1MiB']).code).toBe(0);
});
afterAll(() => tmp.cleanup());

/** A copy of the blazeface model whose only weight path is `weight`, made by `make(folder)`. */
function modelWithWeight(name: string, weight: string, make: (dir: string) => void): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(model, 'utf8'));
  json.weightsManifest[0].paths = [weight];
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  make(dir);
  return join(dir, 'model.json');
}

describe('seal reads only regular files inside the model folder (item 1)', () => {
  const out = () => join(tmp.dir, 'seal-out');
  function sealRefused(modelPath: string, code: string, message: string): void {
    const r = runGuarded(['seal', modelPath, '--out', out(), '--model-id', 'blaze', '--store', store]);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`modelseal: error [${code}]: `);
    expect(r.stderr).toContain(message);
    expect(existsSync(out())).toBe(false);
  }

  it('a weight file that is a symbolic link to the keystore master.key: model_invalid, nothing sealed', () => {
    const m = modelWithWeight('link-master', 'w.bin', (d) => symlinkSync(join(store, 'master.key'), join(d, 'w.bin')));
    sealRefused(m, 'model_invalid', `weight file "w.bin" of ${join(tmp.dir, 'link-master')} resolves to ${join(store, 'master.key')}, outside the model folder`);
  });

  it('a weight link to keys.json through a linked subfolder: model_invalid', () => {
    const m = modelWithWeight('link-dir', 'sub/keys.json', (d) => symlinkSync(store, join(d, 'sub')));
    sealRefused(m, 'model_invalid', `resolves to ${join(store, 'keys.json')}, outside the model folder`);
  });

  it('a link to a file inside the model folder is fine', () => {
    const m = modelWithWeight('link-inside', 'alias.bin', (d) => {
      copyFileSync(join(src, 'blazeface.bin'), join(d, 'real.bin'));
      symlinkSync('real.bin', join(d, 'alias.bin'));
    });
    const r = run(['seal', m, '--out', join(tmp.dir, 'link-inside-out'), '--model-id', 'blaze', '--store', store]);
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
  });

  it('a weight file that is a FIFO: io_error at once, no hang', () => {
    const m = modelWithWeight('fifo-weight', 'w.bin', (d) => expect(spawnSync('mkfifo', [join(d, 'w.bin')]).status).toBe(0));
    sealRefused(m, 'io_error', `cannot read weight file ${join(tmp.dir, 'fifo-weight', 'w.bin')}: it is a FIFO, not a regular file`);
  });

  it('a weight path that is a folder: io_error', () => {
    const m = modelWithWeight('dir-weight', 'w.bin', (d) => mkdirSync(join(d, 'w.bin')));
    sealRefused(m, 'io_error', 'it is a folder, not a file');
  });

  it('model.json that is /dev/zero or a FIFO: io_error at once', () => {
    sealRefused('/dev/zero', 'io_error', 'cannot read model /dev/zero: it is a device, not a regular file');
    const fifo = join(tmp.dir, 'fifo-model.json');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    sealRefused(fifo, 'io_error', `cannot read model ${fifo}: it is a FIFO, not a regular file`);
  });

  it('a model.json above the 64 MiB bound: model_invalid before reading it', () => {
    const huge = join(tmp.dir, 'huge', 'model.json');
    mkdirSync(join(tmp.dir, 'huge'));
    writeFileSync(huge, '');
    spawnSync('truncate', ['-s', `${64 * 1024 * 1024 + 1}`, huge]);
    sealRefused(huge, 'model_invalid', `${huge} is 67108865 bytes, more than the 64 MiB a model.json may have`);
  });
});

describe('verify and open read only regular files, never past the declared size (item 2)', () => {
  /** A copy of the sealed blazeface output with `file` replaced by `make(path)`. */
  function sealedWith(name: string, file: string, make: (path: string) => void): string {
    const dir = join(tmp.dir, name);
    mkdirSync(dir);
    for (const f of listDir(sealed)) if (f !== file) copyFileSync(join(sealed, f), join(dir, f));
    make(join(dir, file));
    return join(dir, 'model.json');
  }
  const cases: Array<[string, string, (p: string) => void, string]> = [
    ['a shard that is a FIFO', 'shard-1-of-1.sealed', (p) => void spawnSync('mkfifo', [p]), 'it is a FIFO, not a regular file'],
    ['a shard linked to /dev/zero', 'shard-1-of-1.sealed', (p) => symlinkSync('/dev/zero', p), 'it is a device, not a regular file'],
    ['header.sealed linked to /dev/zero', 'header.sealed', (p) => symlinkSync('/dev/zero', p), 'it is a device, not a regular file'],
    ['model.json that is a FIFO', 'model.json', (p) => void spawnSync('mkfifo', [p]), 'it is a FIFO, not a regular file'],
  ];
  for (const [label, file, make, message] of cases) {
    it(`${label}: io_error from verify and open, at once`, () => {
      const m = sealedWith(label.replace(/\W+/g, '-'), file, make);
      for (const args of [['verify', m], ['open', m, '--out', join(tmp.dir, 'opened-special')]]) {
        const r = runGuarded([...args, '--store', store]);
        expect(r.signal).toBeNull();
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('modelseal: error [io_error]: cannot read ');
        expect(r.stderr).toContain(message);
      }
      expect(existsSync(join(tmp.dir, 'opened-special'))).toBe(false);
    });
  }

  it('a shard that goes on past its sealed size: trailing_data after reading one byte more', () => {
    const m = sealedWith('long-shard', 'shard-1-of-1.sealed', (p) => {
      writeFileSync(p, Buffer.concat([readFileSync(join(sealed, 'shard-1-of-1.sealed')), Buffer.alloc(64 * 1024 * 1024)]));
    });
    const r = runGuarded(['verify', m, '--store', store]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('modelseal: error [trailing_data]: ');
  });
});

describe('output paths that cannot be created fail fast with io_error (item 12)', () => {
  const cases: Array<[string, () => string[]]> = [
    ['--out /proc/x/y', () => ['--out', '/proc/x/y', '--store', store]],
    ['--store /proc/x/y', () => ['--out', join(tmp.dir, 'proc-store-out'), '--store', '/proc/x/y']],
    // Inside the model's folder, which seal refuses first (plaintext_exposed) unless allowed.
    ['--out below a regular file', () => ['--out', join(src, 'blazeface.bin', 'a', 'b'), '--store', store, '--allow-inside-source']],
  ];
  for (const [label, args] of cases) {
    it(label, () => {
      const r = runGuarded(['seal', model, '--model-id', 'blaze', ...args()]);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/modelseal: error \[io_error\]: cannot (create|use) /);
      expect(existsSync(join(tmp.dir, 'proc-store-out'))).toBe(false);
    });
  }

  it('--out in an unwritable folder (as an unprivileged user): io_error, permission denied', () => {
    const locked = join(tmp.dir, 'locked');
    mkdirSync(locked);
    chmodSync(tmp.dir, 0o755);
    chmodSync(locked, 0o555);
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = run(['seal', model, '--out', join(locked, 'a', 'b'), '--model-id', 'blaze', '--store', join(tmp.dir, 'nobody-store')], { ...asNobody, cwd: tmp.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('modelseal: error [io_error]: cannot create output folder');
    expect(r.stderr).toContain('permission denied');
    expect(listDir(locked)).toEqual([]);
  });
});

describe('control characters never reach the terminal raw (item 8)', () => {
  const forged = 'http://keys.example.com/\x1b[2J\r\nok fake.json: model other, key k9\x9b31m\u202e';
  // eslint-disable-next-line no-control-regex -- the test looks for raw control characters
  const raw = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/;

  it('a keyServer with ESC, CR, LF, CSI and a bidi override is refused (modelseal/2 URL rule), and the error escapes what it echoes', () => {
    const dir = join(tmp.dir, 'forged');
    mkdirSync(dir);
    for (const f of listDir(sealed)) copyFileSync(join(sealed, f), join(dir, f));
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    json.keyServer = forged;
    writeFileSync(join(dir, `model${forged.slice(-3)}.json`), JSON.stringify(json));
    const r = run(['inspect', join(dir, `model${forged.slice(-3)}.json`), '--store', join(tmp.dir, 'no-store')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('modelseal: error [manifest_invalid]: ');
    expect(r.stderr).toContain('keyServer must be an absolute http(s) URL');
    expect(r.stderr).not.toMatch(raw);
    expect(r.stdout).toBe('');
  });

  it('an id with control characters in an edited keys.json is refused, escaped in the error; errors escape the paths they echo', () => {
    const s = join(tmp.dir, 'forged-store');
    expect(run(['keys', 'rotate', 'face', '--create', '--store', s]).code).toBe(0);
    const doc = JSON.parse(readFileSync(join(s, 'keys.json'), 'utf8'));
    doc.keys[0].modelId = 'face\x1b]0;pwned\x07\rMODEL';
    writeFileSync(join(s, 'keys.json'), JSON.stringify(doc));
    // Since 2026-12-04 keys.json is read strictly: an id that is not an id is keystore_invalid.
    const l = run(['keys', 'list', '--store', s]);
    expect(l.code).toBe(1);
    expect(l.stderr).not.toMatch(raw);
    expect(l.stderr).toContain('error [keystore_invalid]');
    expect(l.stderr).toContain('face\\u001b]0;pwned\\u0007\\rMODEL');
    const e = run(['seal', join(tmp.dir, 'no\x1b[31mpe\n.json'), '--out', join(tmp.dir, 'x'), '--model-id', 'blaze', '--store', store]);
    expect(e.code).toBe(1);
    expect(e.stderr).not.toMatch(raw);
    expect(e.stderr.trim().split('\n')).toHaveLength(2);
    expect(e.stderr).toContain('no\\u001b[31mpe\\n.json: no such file');
  });
});

describe('a reader that closes the pipe early (item 9)', () => {
  for (const args of [['inspect', 'SEALED'], ['keys', 'list', '--store', 'STORE'], ['verify', 'SEALED', '--json']]) {
    it(`${args.slice(0, 2).join(' ')} | head: exit 0, no stack trace`, async () => {
      const argv = args.map((a) => (a === 'SEALED' ? join(sealed, 'model.json') : a === 'STORE' ? store : a));
      const { child, done } = spawnBin([...argv, ...(argv.includes('--store') ? [] : ['--store', store])]);
      // Closed before the bin has started: its first write to stdout meets EPIPE.
      child.stdout!.destroy();
      const { code, stderr } = await done;
      expect(stderr).toBe('');
      expect(code).toBe(0);
    });
  }
});

describe('keys commands that would change much need an explicit flag (item 10)', () => {
  const s = join(tmp.dir, 'flag-store');
  const states = () => (JSON.parse(run(['keys', 'list', '--json', '--store', s]).stdout) as { keys: Array<{ modelId: string; keyId: string; state: string }> }).keys.map((k) => `${k.modelId}/${k.keyId}:${k.state}`);

  it('keys rotate of an unknown model: key_not_found without --create, nothing created; --create makes k1', () => {
    const none = run(['keys', 'rotate', 'face', '--store', s]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`modelseal: error [key_not_found]: no keystore at ${s}`);
    expect(existsSync(s)).toBe(false);
    expect(run(['keys', 'rotate', 'face', '--create', '--store', s]).code).toBe(0);
    const typo = run(['keys', 'rotate', 'fcae', '--store', s]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain(`modelseal: error [key_not_found]: the keystore ${s} has no model fcae`);
    expect(typo.stderr).toContain('hint: check the id with `modelseal keys list`, or pass --create to make the first key of a new model');
    expect(states()).toEqual(['face/k1:active']);
    expect(run(['keys', 'rotate', 'face', '--store', s]).code).toBe(0);
    expect(states()).toEqual(['face/k1:retired', 'face/k2:active']);
  });

  it('keys revoke without --key-id or --all: usage error, exit 2, nothing revoked; --all revokes every version', () => {
    const r = run(['keys', 'revoke', 'face', '--store', s]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('modelseal: error [usage]: keys revoke needs --key-id <id> (one version) or --all (every version of the model)');
    expect(states()).toEqual(['face/k1:retired', 'face/k2:active']);
    const both = run(['keys', 'revoke', 'face', '--all', '--key-id', 'k1', '--store', s]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('modelseal: error [usage]: pass --key-id or --all, not both');
    expect(states()).toEqual(['face/k1:retired', 'face/k2:active']);
    const all = run(['keys', 'revoke', 'face', '--all', '--store', s]);
    expect(all.code).toBe(0);
    expect(states()).toEqual(['face/k1:revoked', 'face/k2:revoked']);
  });
});

describe('seal can refuse to create a keystore (item 11)', () => {
  const missing = join(tmp.dir, 'not-mounted');
  for (const [label, extra, env, by] of [
    ['--no-create-store', ['--no-create-store'], {}, '--no-create-store'],
    ['MODELSEAL_NO_CREATE=1', [], { MODELSEAL_NO_CREATE: '1' }, 'MODELSEAL_NO_CREATE'],
  ] as const) {
    it(`${label}: key_not_found naming it, no store and no output created`, () => {
      const r = run(['seal', model, '--out', join(tmp.dir, 'ci-out'), '--model-id', 'blaze', ...extra], { env: { ...env, MODELSEAL_HOME: missing } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`modelseal: error [key_not_found]: no keystore at ${missing}, and ${by} forbids creating one`);
      expect(r.stderr).toContain('hint: mount the real keystore there');
      expect(existsSync(missing)).toBe(false);
      expect(existsSync(join(tmp.dir, 'ci-out'))).toBe(false);
    });
  }

  it('with the store present, --no-create-store seals as usual', () => {
    const r = run(['seal', model, '--out', join(tmp.dir, 'ci-out'), '--model-id', 'blaze', '--no-create-store', '--store', store, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ keyId: 'k1', keyCreated: false });
  });
});

/** Spawns the bin; `onStderr` sees stderr as it grows and may signal the child. */
function spawnGuarded(args: string[], onStderr: (text: string, child: ChildProcess) => void = () => undefined, env: Record<string, string> = {}) {
  return spawnBin(args, { env: { MODELSEAL_HOME: '', ...env }, onStderr });
}

describe('open never leaves plaintext readable by others (item 6)', () => {
  it('the temp folder is 0700 with 0600 files; SIGTERM removes it and exits 143; SIGKILL leaves only that private folder', async () => {
    const parent = join(tmp.dir, 'open-signals');
    mkdirSync(parent);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      let modes: { dir: number; files: number[] } | undefined;
      let started = false;
      const { child, done } = spawnGuarded(['open', join(bigSealed, 'model.json'), '--out', join(parent, 'plain'), '--store', store], (text) => {
        started ||= text.includes('modelseal: opening [');
      }, { MODELSEAL_PROGRESS: '1' });
      // Once the bar is up, wait (bounded) for the first plaintext file in the temp folder, look at the modes, then signal.
      for (let i = 0; i < 5000 && !modes && child.exitCode === null; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        const temp = started ? readdirSync(parent).find((n) => n.endsWith('.tmp')) : undefined;
        const files = temp ? readdirSync(join(parent, temp)) : [];
        if (temp && files.length > 0) {
          modes = { dir: statSync(join(parent, temp)).mode & 0o777, files: files.map((f) => statSync(join(parent, temp, f)).mode & 0o777) };
          child.kill(signal);
        }
      }
      const r = await done;
      expect(modes).toBeDefined();
      expect(modes!.dir).toBe(0o700);
      expect(modes!.files.length).toBeGreaterThan(0);
      for (const m of modes!.files) expect(m).toBe(0o600);
      if (signal === 'SIGTERM') {
        expect(r.code).toBe(143);
        expect(r.stderr).toContain('modelseal: terminated (SIGTERM)');
        expect(listDir(parent)).toEqual([]);
      } else {
        expect(r.signal).toBe('SIGKILL');
        const left = listDir(parent);
        expect(left).toHaveLength(1);
        expect(left[0]).toMatch(/^\.plain\.modelseal-[0-9a-f]{12}\.tmp$/);
        expect(statSync(join(parent, left[0]!)).mode & 0o777).toBe(0o700);
        rmSync(join(parent, left[0]!), { recursive: true });
      }
    }
  });
});

describe('Ctrl-C during seal leaves nothing behind (item 7)', () => {
  it('12 interrupts at moments from start-up to the last shard: exit 130, the folder as it was, no temp files in the store', async () => {
    const work = join(tmp.dir, 'interrupts');
    mkdirSync(work);
    const before = listDir(work);
    const storeBefore = listDir(store);
    let interrupted = 0;
    for (let i = 0; i < 12; i++) {
      const out = join(work, 'new-parent', 'deeper', 'sealed');
      // Odd runs: 40 to 440 ms after the start (start-up, reading the model, the keystore). Even runs:
      // 0 to 500 ms after the progress bar appears (sealing and writing shards; the seal takes ~1.5 s).
      let sealing = false;
      const { child, done } = spawnGuarded(['seal', big, '--out', out, '--model-id', 'big', '--store', store, '--chunk-size', '1KiB', '--shard-size', '1MiB'], (text) => {
        sealing ||= text.includes('modelseal: sealing [');
      }, { MODELSEAL_PROGRESS: '1' });
      for (let w = 0; i % 2 === 0 && !sealing && w < 5000 && child.exitCode === null; w++) await new Promise((resolve) => setTimeout(resolve, 2));
      await new Promise((resolve) => setTimeout(resolve, i % 2 === 1 ? 40 * i : 50 * i));
      child.kill('SIGINT');
      const r = await done;
      if (r.code === 0) {
        // It finished before the signal: then the output is whole.
        expect(run(['verify', join(out, 'model.json'), '--store', store]).code).toBe(0);
        rmSync(join(work, 'new-parent'), { recursive: true });
      } else {
        interrupted++;
        // 130 from the handler; a signal that lands before Node installs it kills the process outright.
        expect(r.code === 130 || r.signal === 'SIGINT', r.stderr).toBe(true);
      }
      expect(listDir(work), `run ${i}: ${r.code} ${r.signal} ${JSON.stringify((readdirSync(work, { recursive: true }) as string[]))} ${r.stderr}`).toEqual(before);
      expect(leftovers(store)).toEqual([]);
      expect(listDir(store)).toEqual(storeBefore);
    }
    expect(interrupted).toBeGreaterThanOrEqual(10);
  });
});

describe('the keystore and the key server read only regular files of bounded size', () => {
  /** A copy of the store with `file` replaced by `make(path)`. */
  function storeWith(name: string, file: string, make: (path: string) => void): string {
    const dir = join(tmp.dir, name);
    mkdirSync(dir);
    for (const f of readdirSync(store)) if (f !== file && statSync(join(store, f)).isFile()) copyFileSync(join(store, f), join(dir, f));
    make(join(dir, file));
    return dir;
  }
  const fifo = (p: string) => void spawnSync('mkfifo', [p]);
  const cases: Array<[string, string, (p: string) => void, string[], string]> = [
    ['keys.json that is a FIFO', 'keys.json', fifo, ['keys', 'list'], 'it is a FIFO, not a regular file'],
    ['keys.json that is a folder', 'keys.json', (p) => mkdirSync(p), ['keys', 'list'], 'keys.json: it is a folder, not a regular file'],
    ['master.key linked to /dev/zero', 'master.key', (p) => symlinkSync('/dev/zero', p), ['keys', 'list'], 'master.key: it is a device, not a regular file'],
    ['token.secret that is a FIFO', 'token.secret', fifo, ['token', '--model', 'blaze'], 'token.secret: it is a FIFO, not a regular file'],
  ];
  for (const [label, file, make, args, message] of cases) {
    it(`${label}: io_error at once, no hang`, () => {
      const dir = storeWith(label.replace(/\W+/g, '-'), file, make);
      const r = runGuarded([...args, '--store', dir]);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('modelseal: error [io_error]: cannot read ');
      expect(r.stderr).toContain(message);
    });
  }

  it('serve --config of a FIFO or /dev/zero: config_invalid at once, no hang', () => {
    const config = join(tmp.dir, 'config-fifo.json');
    fifo(config);
    for (const [path, kind] of [[config, 'a FIFO'], ['/dev/zero', 'a device']] as const) {
      const r = runGuarded(['serve', '--config', path, '--store', store, '--port', '0']);
      expect(r.signal).toBeNull();
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('[config_invalid]');
      expect(r.stderr).toContain(`it is ${kind}, not a regular file`);
    }
  });
});
