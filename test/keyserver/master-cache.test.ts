// The key server's content-key cache in front of the master key: one unwrap serves many releases,
// a keystore change drops the cache, the bound (masterKeyCacheSeconds) is strict, and 0 turns it
// off. The master key is the real file master key, wrapped to count its unwraps.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileKeyStore, buildApp, mintDevToken, openMasterKey, resolveConfig, type MasterKeyProvider } from '../../keyserver/index.js';
import { ModelsealError } from '../../format/index.js';
import { RELAXED, TEST_SEALING, clientKey, rotatePublished } from './helpers.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-master-cache-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A store on a file master key whose unwraps are counted, and an app over it. */
async function setup(name: string, cacheSeconds: number) {
  const dir = join(root, name);
  await FileKeyStore.open(dir, { create: true });
  const real = await openMasterKey('file:master.key', { storeDir: dir, env: {} });
  const counter = { unwraps: 0, down: false };
  const master: MasterKeyProvider = {
    id: real.id,
    uri: real.uri,
    wrap: (p, a) => real.wrap(p, a),
    unwrap: async (w, a) => {
      counter.unwraps++;
      if (counter.down) throw new ModelsealError('master_key_unavailable', 'the provider is down');
      return real.unwrap(w, a);
    },
  };
  const { store } = await FileKeyStore.open(dir, { master });
  await rotatePublished(store, 'face');
  const { app, reload } = await buildApp({ config: resolveConfig({ ...RELAXED, masterKeyCacheSeconds: cacheSeconds }), store });
  const token = await mintDevToken({ store, models: ['*'], ttl: '1h' });
  const { publicJwk } = await clientKey();
  const send = async () => (await app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk } })).statusCode;
  return { store, app, reload, send, counter };
}

describe('the content-key cache', () => {
  it('unwraps once for many releases, again after a keystore change, and again once the bound has passed', async () => {
    const s = await setup('bounded', 60);
    for (let i = 0; i < 5; i++) expect(await s.send()).toBe(200);
    expect(s.counter.unwraps).toBe(1);
    await s.store.publish('face', 'k1', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    expect(await s.reload()).toBe(true);
    expect(await s.send()).toBe(200);
    expect(s.counter.unwraps).toBe(2);
    // 61 s later the entry is stale: the next release asks the master key, which is down now.
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    s.counter.down = true;
    expect(await s.send()).toBe(503);
    expect(s.counter.unwraps).toBe(3);
    s.counter.down = false;
    expect(await s.send()).toBe(200);
    expect(s.counter.unwraps).toBe(4);
    await s.app.close();
  });

  it('with masterKeyCacheSeconds 0 every release unwraps', async () => {
    const s = await setup('off', 0);
    for (let i = 0; i < 4; i++) expect(await s.send()).toBe(200);
    expect(s.counter.unwraps).toBe(4);
    await s.app.close();
  });
});
