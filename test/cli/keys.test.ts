// Key versions from the CLI: seal creates k1, --new-key and `keys rotate` add versions, `keys
// revoke` stops them; MODELSEAL_HOME and --store pick the store; no key material is ever printed.
// Each test works on its own copy of a store made once in beforeAll (blaze k1, sealed into s1), so
// the tests hold in any order.

import { copyFileSync, cpSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../keyserver/index.js';
import { expectCliCode } from '../helpers/expect-code.js';
import { HUMAN_MODELS, listDir, run, tempDir } from './helpers.js';

const tmp = tempDir();
const model = join(tmp.dir, 'src', 'model.json');
/** The shared store (read only): blaze k1, the key s1 was sealed with. */
const template = join(tmp.dir, 'template-home');
/** s1: the model sealed with the template's k1 (read only). */
const s1 = join(tmp.dir, 's1', 'model.json');

beforeAll(() => {
  mkdirSync(join(tmp.dir, 'src'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), model);
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(tmp.dir, 'src', 'blazeface.bin'));
  const r = run(['seal', model, '--out', join(tmp.dir, 's1'), '--model-id', 'blaze'], { env: { MODELSEAL_HOME: template } });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => tmp.cleanup());

let homes = 0;
/** A fresh MODELSEAL_HOME for one test: a copy of the template store, or (`empty`) a path with nothing there yet. */
function newHome(empty = false): { home: string; env: { MODELSEAL_HOME: string } } {
  const home = join(tmp.dir, `home-${++homes}`);
  if (!empty) cpSync(template, home, { recursive: true });
  return { home, env: { MODELSEAL_HOME: home } };
}

interface Listed { store: string; keys: Array<{ modelId: string; keyId: string; state: string; createdAt: string; revokedAt?: string; expiresAt?: string }> }
const list = (env: { MODELSEAL_HOME: string }): Listed => {
  const r = run(['keys', 'list', '--json'], { env });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Listed;
};

describe('key versions', () => {
  it('keys list on a store that does not exist: key_not_found, and the store is not created', () => {
    const { home, env } = newHome(true);
    const r = run(['keys', 'list'], { env });
    expectCliCode(r, 1, 'key_not_found', `modelseal: error [key_not_found]: no keystore at ${home}`);
    expect(listDir(tmp.dir)).not.toContain(home.slice(tmp.dir.length + 1));
  });

  it('the first seal creates the store under MODELSEAL_HOME and key k1, and says so on stderr', () => {
    const { home, env } = newHome(true);
    const r = run(['seal', model, '--out', join(tmp.dir, 'first'), '--model-id', 'blaze'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`modelseal: created keystore at ${home}`);
    expect(r.stderr).toContain('modelseal: created key k1 for model blaze');
    expect(listDir(home)).toEqual(expect.arrayContaining(['keys.json', 'master.key', 'token.secret']));
  });

  it('the next seal reuses the active version without a new key', () => {
    const { env } = newHome();
    const r = run(['seal', model, '--out', join(tmp.dir, 's2'), '--model-id', 'blaze', '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ keyId: 'k1', keyCreated: false });
    expect(r.stderr).toBe('');
  });

  it('--new-key makes k2 active and retires k1; files sealed with k1 still verify', () => {
    const { env } = newHome();
    const r = run(['seal', model, '--out', join(tmp.dir, 's3'), '--model-id', 'blaze', '--new-key', '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ keyId: 'k2', keyCreated: true });
    expect(r.stderr).toContain('created key k2 for model blaze; k1 is now retired');
    expect(list(env).keys.map((k) => [k.keyId, k.state])).toEqual([['k1', 'retired'], ['k2', 'active']]);
    const v = run(['verify', s1], { env });
    expect(v.code).toBe(0);
    expect(v.stderr).toContain('modelseal: key k1 is retired');
  });

  it('keys rotate --retire-after sets the expiry of the retired version', () => {
    const { env } = newHome();
    const before = Date.now();
    const r = run(['keys', 'rotate', 'blaze', '--retire-after', '30d', '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ modelId: 'blaze', keyId: 'k2', state: 'active', retired: ['k1'] });
    const k1 = list(env).keys.find((k) => k.keyId === 'k1')!;
    expect(k1.state).toBe('retired');
    const expires = Date.parse(k1.expiresAt!);
    expect(expires).toBeGreaterThanOrEqual(before + 30 * 86_400_000);
    expect(expires).toBeLessThan(before + 31 * 86_400_000);
  });

  it('keys revoke --key-id revokes one version; verify still opens it locally but says so', () => {
    const { env } = newHome();
    const r = run(['keys', 'revoke', 'blaze', '--key-id', 'k1'], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('modelseal: revoked k1 of model blaze');
    const k1 = list(env).keys.find((k) => k.keyId === 'k1')!;
    expect(k1.state).toBe('revoked');
    expect(k1.revokedAt).toBeDefined();
    const v = run(['verify', s1], { env });
    expect(v.code).toBe(0);
    expect(v.stderr).toContain('key k1 is revoked: the key server will not release it');
    // Again: nothing to do, and keys.json is not rewritten (each write renames a new file in).
    const inode = statSync(join(env.MODELSEAL_HOME, 'keys.json')).ino;
    const again = run(['keys', 'revoke', 'blaze', '--key-id', 'k1'], { env });
    expect(again.stderr).toContain('nothing to do: k1 of blaze was already revoked');
    expect(statSync(join(env.MODELSEAL_HOME, 'keys.json')).ino).toBe(inode);
  });

  it('revoking the last released version of a model says that its pages now fail', () => {
    const { env } = newHome();
    const r = run(['keys', 'revoke', 'blaze', '--all'], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('modelseal: model blaze has no key version left that the key server releases: every page loading it now fails with key_denied');
  });

  it('keys revoke of an unknown version: key_not_found, exit 1', () => {
    const { env } = newHome();
    const r = run(['keys', 'revoke', 'blaze', '--key-id', 'k9'], { env });
    expectCliCode(r, 1, 'key_not_found', 'modelseal: error [key_not_found]: no key k9 for model "blaze"');
  });

  it('keys list prints a table with states and never key material; --store beats MODELSEAL_HOME', async () => {
    const { home, env } = newHome();
    // Three versions in three states, made through the keystore API (the commands have their own tests above).
    const { store } = await FileKeyStore.open(home);
    await store.rotate('blaze');
    await store.rotate('blaze');
    await store.revoke('blaze', 'k1');
    await store.close();
    const r = run(['keys', 'list', '--store', home], { env: { MODELSEAL_HOME: join(tmp.dir, 'elsewhere') } });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^MODEL\s+KEY\s+STATE\s+CREATED\s+REVOKED\s+EXPIRES$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([['blaze', 'k1', 'revoked'], ['blaze', 'k2', 'retired'], ['blaze', 'k3', 'active']]);
    const stored = JSON.parse(readFileSync(join(home, 'keys.json'), 'utf8')) as { keys: Array<{ wrapped: string }> };
    const json = run(['keys', 'list', '--json'], { env }).stdout;
    for (const k of stored.keys) {
      expect(r.stdout).not.toContain(k.wrapped);
      expect(json).not.toContain(k.wrapped);
    }
    expect(json).not.toContain('wrapped');
  });

  it('bad arguments to keys commands are usage errors', () => {
    const { env } = newHome();
    const r = run(['keys', 'rotate', 'blaze', '--retire-after', 'soon'], { env });
    expectCliCode(r, 2, 'usage', "modelseal: error [usage]: option '--retire-after <duration>' argument 'soon' is invalid");
    expect(r.stderr).toContain('hint: run `modelseal keys rotate --help` for usage');
  });
});

describe('inspect', () => {
  it('shows public facts without the key, and says why the private ones are hidden', () => {
    const r = run(['inspect', s1, '--json'], { env: { MODELSEAL_HOME: join(tmp.dir, 'no-store') } });
    expect(r.code).toBe(0);
    const facts = JSON.parse(r.stdout);
    expect(facts.public).toMatchObject({ version: 'modelseal/2', modelId: 'blaze', keyId: 'k1', shards: 1 });
    expect(facts.public.sealing).toBe(JSON.parse(readFileSync(s1, 'utf8')).sealing);
    expect(facts.private).toBeNull();
    expect(r.stderr).toContain('modelseal: private facts hidden: no keystore at');
    expect(listDir(tmp.dir)).not.toContain('no-store');
  });

  it('shows the private facts with the key: format, producers, weights, parameters, dtypes', () => {
    const r = run(['inspect', s1], { env: { MODELSEAL_HOME: template } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('model format: graph-model');
    expect(r.stdout).toContain('generated by: https://github.com/google/mediapipe');
    expect(r.stdout).toContain('weights: 112');
    expect(r.stdout).toContain('dtypes: float32 ×106, int32 ×6');
    expect(r.stdout).toContain('quantization: none');
    expect(r.stdout).toContain('published: yes');
  });
});

describe('recorded options and JSON summaries', () => {
  it('seal --key-server is recorded in the public manifest and shown by inspect', () => {
    const { env } = newHome();
    const out = join(tmp.dir, 'with-server');
    const r = run(['seal', model, '--out', out, '--model-id', 'blaze', '--key-server', 'https://keys.example.com'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).keyServer).toBe('https://keys.example.com');
    const i = run(['inspect', join(out, 'model.json')], { env });
    expect(i.stdout).toContain('key server: https://keys.example.com');
  });

  it('open --json lists the original files; open --force replaces a non-empty folder', () => {
    const env = { MODELSEAL_HOME: template };
    const target = join(tmp.dir, 'opened');
    const first = run(['open', s1, '--out', target, '--json'], { env });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ modelId: 'blaze', keyId: 'k1', files: [{ path: 'model.json' }, { path: 'blazeface.bin', size: 538928 }], weightBytes: 538928 });
    const again = run(['open', s1, '--out', target], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('modelseal: error [output_exists]: ');
    const forced = run(['open', s1, '--out', target, '--force'], { env });
    expect(forced.code).toBe(0);
    expect(listDir(target)).toEqual(['blazeface.bin', 'model.json']);
    expect(listDir(tmp.dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
