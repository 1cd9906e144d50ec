// Master keys through the built bin: the full flow on a real SoftHSM2 token (seal, serve, release,
// load bit-identical, no master key file), the CI route (seal with only keys.json and the public
// sealing key, which cannot unwrap an older content key), and `keys rewrap` killed at many moments.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../keystore/atomic.js';
import { FileKeyStore } from '../../keyserver/index.js';
import { openMasterKey } from '../../keystore/master/index.js';
import { sealedModel } from '../../loader/index.js';
import { createSoftHsmToken, type SoftHsmToken } from '../helpers/softhsm.js';
import { startStaticServer } from '../helpers/static-server.js';
import { listDir, run, serveBin, spawnBin, tempDir, weightPaths } from './helpers.js';
import { writeSyntheticModel } from './synthetic-model.js';

const tmp = tempDir('modelseal-master-cli-');
let hsm: SoftHsmToken;
let modelPath: string;
let plainWeights: Buffer;

beforeAll(() => {
  hsm = createSoftHsmToken(join(tmp.dir, 'hsm'));
  modelPath = writeSyntheticModel(join(tmp.dir, 'plain'), 5 * 1024 * 1024 + 128);
  plainWeights = Buffer.concat(weightPaths(modelPath).map((p) => readFileSync(join(tmp.dir, 'plain', p))));
});
afterAll(() => tmp.cleanup());

/** Starts `modelseal serve` on port 0 (warnings only on stderr) and resolves once it printed its URL. */
function serve(args: string[], env: Record<string, string>) {
  return serveBin(args, { env: { MODELSEAL_LOG_LEVEL: 'warn', ...env } });
}

/** Loads a sealed model with the real loader and returns its weight bytes, concatenated. */
async function loadWeights(manifestUrl: string, keyServer: string, token: string): Promise<Buffer> {
  const artifacts = await sealedModel(manifestUrl, { token, keyServer }).load();
  const data = artifacts.weightData!;
  return Buffer.concat((Array.isArray(data) ? data : [data]).map((b) => Buffer.from(b)));
}

describe('a store on the HSM master key, end to end', () => {
  it('seals with pkcs11:, holds no master key file, serves, releases, and the loader gets the exact weights', async () => {
    const store = join(tmp.dir, 'hsm-store');
    const sealed = join(tmp.dir, 'hsm-sealed');
    const env = { SOFTHSM2_CONF: hsm.conf };
    const s = run(['seal', modelPath, '--out', sealed, '--model-id', 'hsm-model', '--store', store, '--master-key', hsm.uri, '--json'], { env });
    expect(s.stderr).toContain('content keys wrapped by pkcs11:token=modelseal;object=master');
    expect(s.code).toBe(0);
    expect(listDir(store)).toEqual(['keys.json', 'token.secret']);

    // Without the HSM URI the store cannot be opened: no master key file to fall back on.
    const bare = run(['verify', join(sealed, 'model.json'), '--store', store], { env });
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('error [master_key_missing]');
    expect(bare.stderr).toContain('--master-key / MODELSEAL_MASTER_KEY');
    const verified = run(['verify', join(sealed, 'model.json'), '--store', store], { env: { ...env, MODELSEAL_MASTER_KEY: hsm.uri } });
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);

    // A PIN on the command line is refused outright (usage, exit 2), and never echoed.
    const pinned = run(['keys', 'list', '--store', store, '--master-key', `${hsm.uri}&pin-value=${hsm.pin}`], { env });
    expect(pinned.code).toBe(2);
    expect(pinned.stderr).toContain('never put a PIN on the command line');
    expect(pinned.stderr).not.toContain(hsm.pin);

    const token = run(['token', '--model', 'hsm-model', '--store', store, '--master-key', hsm.uri], { env }).stdout.trim();
    const server = await serve(['--store', store], { ...env, MODELSEAL_MASTER_KEY: hsm.uri });
    const files = await startStaticServer({ root: sealed });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      const weights = await loadWeights(`${files.url}/model.json`, server.url, token);
      expect(weights.length).toBe(plainWeights.length);
      expect(weights.equals(plainWeights)).toBe(true);
    } finally {
      await files.close();
      await server.stop();
    }
  });
});

describe('the CI route: sealing without any credential that unwraps', () => {
  it('CI seals a new key version with keys.json and the public sealing key; the server releases it; CI cannot unwrap the older key', async () => {
    const store = join(tmp.dir, 'ci-route-store');
    const secrets = join(tmp.dir, 'server-secrets');
    const ciDir = join(tmp.dir, 'ci');
    mkdirSync(secrets);
    mkdirSync(join(ciDir, 'store'), { recursive: true });
    // The first sealing, made the old way (file master key), then moved to a new sealing key.
    const oldSealed = join(tmp.dir, 'ci-old-sealed');
    expect(run(['seal', modelPath, '--out', oldSealed, '--model-id', 'app', '--store', store]).code).toBe(0);
    const pair = run(['keys', 'new-sealing-key', join(secrets, 'seal.jwk'), join(ciDir, 'seal.pub.jwk'), '--json']);
    expect(pair.code).toBe(0);
    const sealingId = (JSON.parse(pair.stdout) as { id: string }).id;
    const rewrap = run(['keys', 'rewrap', '--store', store, '--to', `file:${join(secrets, 'seal.jwk')}`, '--json']);
    expect(rewrap.stderr).toContain('rewrapped 1 content key');
    expect(rewrap.code).toBe(0);
    expect(JSON.parse(rewrap.stdout)).toMatchObject({ moved: 1, to: { id: sealingId } });
    rmSync(join(store, 'master.key'));

    // CI gets keys.json and the public half: nothing else (no PIN, no master key, no token secret).
    copyFileSync(join(store, 'keys.json'), join(ciDir, 'store', 'keys.json'));
    const ciEnv = { MODELSEAL_MASTER_KEY: `file:${join(ciDir, 'seal.pub.jwk')}` };
    const newSealed = join(tmp.dir, 'ci-new-sealed');
    const ci = run(['seal', modelPath, '--out', newSealed, '--model-id', 'app', '--store', join(ciDir, 'store'), '--no-create-store', '--json'], { env: ciEnv });
    expect(ci.stderr).toContain('wrapped to the public sealing key');
    expect(ci.code).toBe(0);
    expect((JSON.parse(ci.stdout) as { keyId: string }).keyId).toBe('k2');
    expect(readdirSync(join(ciDir, 'store')).filter((n) => !n.startsWith('.'))).toEqual(['keys.json']);

    // With the same credentials, the older content key stays out of reach: by the CLI and the library.
    const tryOpen = run(['open', join(oldSealed, 'model.json'), '--out', join(tmp.dir, 'ci-stolen'), '--store', join(ciDir, 'store')], { env: ciEnv });
    expect(tryOpen.code).toBe(1);
    expect(tryOpen.stderr).toContain('error [master_key_missing]');
    expect(tryOpen.stderr).toContain('public half of a sealing key');
    expect(existsSync(join(tmp.dir, 'ci-stolen'))).toBe(false);
    const pub = await openMasterKey(ciEnv.MODELSEAL_MASTER_KEY, { storeDir: join(ciDir, 'store'), env: {} });
    const { store: ciStore } = await FileKeyStore.open(join(ciDir, 'store'), { master: pub });
    await expect(ciStore.get('app', 'k1')).rejects.toMatchObject({ code: 'master_key_missing' });
    await expect(ciStore.get('app', 'k2')).rejects.toMatchObject({ code: 'master_key_missing' });

    // The deploy step puts CI's keys.json in place; the key server (private half) releases both sealings.
    await writeFileAtomic(join(store, 'keys.json'), readFileSync(join(ciDir, 'store', 'keys.json')));
    const token = run(['token', '--model', 'app', '--store', store, '--master-key', `file:${join(secrets, 'seal.jwk')}`]).stdout.trim();
    const server = await serve(['--store', store, '--master-key', `file:${join(secrets, 'seal.jwk')}`], {});
    const files = await startStaticServer({ root: tmp.dir });
    try {
      expect((await loadWeights(`${files.url}/ci-new-sealed/model.json`, server.url, token)).equals(plainWeights)).toBe(true);
      expect((await loadWeights(`${files.url}/ci-old-sealed/model.json`, server.url, token)).equals(plainWeights)).toBe(true);
    } finally {
      await files.close();
      await server.stop();
    }
  });
});

describe('keys rewrap is crash-safe', () => {
  it('SIGKILL at 30 or more moments: the store always opens with the old or the new master key and every content key is unchanged', async () => {
    const dir = join(tmp.dir, 'rewrap-store');
    const { store } = await FileKeyStore.open(dir, { create: true });
    const originals = new Map<string, string>();
    for (let i = 0; i < 120; i++) {
      const k = await store.rotate(`m${i}`);
      originals.set(`m${i}`, Buffer.from(k.key).toString('hex'));
    }
    expect(run(['keys', 'new-master-key', join(tmp.dir, 'other.key')]).code).toBe(0);
    const uris = [`file:${join(dir, 'master.key')}`, `file:${join(tmp.dir, 'other.key')}`];
    const providers = await Promise.all(uris.map((u) => openMasterKey(u, { storeDir: dir, env: {} })));

    /** Which master key opens the store now (exactly one must), after checking every content key. */
    const state = async (): Promise<number> => {
      const opened: number[] = [];
      for (const [i, master] of providers.entries()) {
        let s: FileKeyStore;
        try {
          s = (await FileKeyStore.open(dir, { master })).store;
        } catch (err) {
          expect((err as { code: string }).code).toBe('master_key_wrong');
          continue;
        }
        for (const [modelId, hex] of originals) expect(Buffer.from((await s.get(modelId, 'k1'))!.key).toString('hex')).toBe(hex);
        opened.push(i);
      }
      expect(opened.length).toBe(1);
      return opened[0]!;
    };

    const spawnRewrap = (to: string) => {
      const { child, done } = spawnBin(['keys', 'rewrap', '--store', dir, '--master-key', uris[1 - uris.indexOf(to)]!, '--to', to]);
      return { child, exited: done.then((r) => r.code) };
    };

    // One uninterrupted run tells how long a rewrap takes here, so the kills spread over all of it.
    let current = await state();
    const t0 = performance.now();
    const first = spawnRewrap(uris[1 - current]!);
    expect(await first.exited).toBe(0);
    const span = performance.now() - t0;
    expect(await state()).toBe(1 - current);
    current = 1 - current;

    // At least 30 rounds, and more (up to 90) until kills have landed on both sides of the replace: on a
    // loaded machine a rewrap can take longer than the first one did, so every run that was killed before
    // the replace stretches the window a little.
    const outcomes = { kept: 0, moved: 0 };
    let window = span * 1.2;
    for (let round = 0; round < 90 && (round < 30 || outcomes.kept === 0 || outcomes.moved === 0); round++) {
      const r = spawnRewrap(uris[1 - current]!);
      const delay = Math.random() * window;
      const timer = setTimeout(() => r.child.kill('SIGKILL'), delay);
      await r.exited;
      clearTimeout(timer);
      const now = await state();
      if (now === current) {
        outcomes.kept++;
        window *= 1.1;
      } else outcomes.moved++;
      current = now;
    }
    // Kills landed both before and after the atomic replace (else the test showed only one side).
    expect(outcomes.kept).toBeGreaterThan(0);
    expect(outcomes.moved).toBeGreaterThan(0);
    // No temp file is left to confuse a reader: at most leftovers named .keys.json.*.tmp, never a second
    // keys document. A writer killed while it held the store lock leaves keys.lock (and its owner file),
    // which the next writer reclaims once stale (test/cli/keystore-processes.test.ts).
    const left = readdirSync(dir).filter((n) => !n.startsWith('.') && n !== 'keys.lock' && n !== 'keys.lock.owner');
    expect(left.sort()).toEqual(['keys.json', 'master.key', 'token.secret']);
  });
});
