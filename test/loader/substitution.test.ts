// Model substitution by someone who holds the content key (every past session does) and can write
// to the CDN, and by someone who can rewrite model.json: in Node, through the real key server.
// Each variant loaded before modelseal/2; each is refused now, with a code and before any key
// reaches an attacker's server. An app that pins the sealing also refuses an older published
// sealing (a rollback), and its release starts beside the manifest's download.

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore } from '../../keyserver/index.js';
import { KeyServers } from '../helpers/key-server.js';
import { openSealedFiles, sealedModel, type SealedModelOptions } from '../../loader/index.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { forge, type Forgeries } from '../helpers/substitution.js';
import { buildLayersModel, sealInto } from './fixtures.js';
import { caughtModelsealError as failure } from '../helpers/expect-code.js';
import { loggingFetch, releaseFirstFetch } from './page-common.js';

let root: string;
let files: StaticServer;
let forgeries: Forgeries;
const servers = new KeyServers();
let keyServer: string;
let storeDir: string;
let attackerUrl: string;
let attackerRequests = 0;

async function startKeyServer(dir: string): Promise<string> {
  return (await servers.start(dir)).url;
}


const url = (path: string) => `${files.url}/${path}/model.json`;
/** The URL of a forged folder. */
const forgedUrl = (dir: string) => url(relative(join(root, 'www'), dir));
const token = (models = ['*']) => mintDevToken({ store: storeDir, models, ttl: '5m' });
/** A fetch that counts what reaches the attacker's key server. */
const counting: SealedModelOptions['fetch'] = (input, init) => {
  if (input.startsWith(attackerUrl)) attackerRequests++;
  return fetch(input, init);
};

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'modelseal-substitution-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  const layers = await buildLayersModel(tf, 64);
  const { key } = await sealInto(store, 'face-a', layers, join(root, 'www/face-a'), { chunkLength: 1024, shardLength: 16 * 1024, headerMode: 'file' });
  await sealInto(store, 'face-b', await buildLayersModel(tf, 32), join(root, 'www/face-b'));
  // Two published sealings of one model: v1 (key k1), then v2 (key k2); both still release.
  await sealInto(store, 'face-c', await buildLayersModel(tf, 16), join(root, 'www/face-c-v1'));
  await sealInto(store, 'face-c', await buildLayersModel(tf, 24), join(root, 'www/face-c-v2'));
  forgeries = await forge(join(root, 'www/face-a'), layers, key, join(root, 'www/forged'));

  // The attacker's own keystore and key server, with its own model sealed under the same ids.
  const attackerStore = join(root, 'attacker');
  const { store: theirs } = await FileKeyStore.open(attackerStore, { create: true });
  await sealInto(theirs, 'face-a', await buildLayersModel(tf, 16), join(root, 'www/theirs'));
  files = await startStaticServer({ root: join(root, 'www') });
  keyServer = await startKeyServer(storeDir);
  attackerUrl = await startKeyServer(attackerStore);
  const manifest = JSON.parse(await readFile(join(root, 'www/theirs/model.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(root, 'www/theirs/model.json'), JSON.stringify({ ...manifest, keyServer: attackerUrl }));
});

afterAll(async () => {
  await servers.closeAll();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a key holder who can write to the CDN', () => {
  it('the genuine sealing loads', async () => {
    const model = await tf.loadLayersModel(sealedModel(url('face-a'), { token: await token(), keyServer, modelId: 'face-a' }));
    expect(model.layers.length).toBe(3);
    model.dispose();
  });

  it('a model resealed under the same key and ids: the key server refuses a sealing it never recorded', async () => {
    const e = await failure(sealedModel(forgedUrl(forgeries.resealed), { token: await token(), keyServer }).load());
    expect(e.code).toBe('not_published');
    expect(e.message).toMatch(/does not vouch for this sealing of model face-a \(key k1, sealing [A-Za-z0-9_-]{43}\): this sealing was not published/);
  });

  it('the same forgery naming the published sealing: the header is not the one the sealing names', async () => {
    const e = await failure(sealedModel(forgedUrl(forgeries.forgedHeader), { token: await token(), keyServer }).load());
    expect(e.code).toBe('not_published');
    expect(e.message).toMatch(/header \(header\.sealed\) decrypts with this model's key but is not the sealing the manifest names/);
  });

  it('one shard resealed under its genuine context: its chunk digest is not the header\'s, also when streamed', async () => {
    const e = await failure(sealedModel(forgedUrl(forgeries.forgedShard), { token: await token(), keyServer }).load());
    expect(e.code).toBe('not_published');
    expect(e.message).toMatch(/shard 2 of \d+ .* its content is not what the publisher sealed/);
    const streamed = sealedModel(forgedUrl(forgeries.forgedShard), { token: await token(), keyServer, streamWeights: true });
    const s = await failure(tf.loadLayersModel(streamed));
    expect(s.code).toBe('not_published');
  });
});

describe('someone who can rewrite model.json', () => {
  it('cannot point the loader at their key server: no keyServer option is a TypeError, an allow-list refuses others, and no request reaches them', async () => {
    attackerRequests = 0;
    expect(() => sealedModel(url('theirs'), { token: 't', fetch: counting })).toThrow(/options\.keyServer is required/);
    const e = await failure(sealedModel(url('theirs'), { token: await token(), fetch: counting, allowManifestKeyServer: [new URL(keyServer).origin] }).load());
    expect(e.code).toBe('key_server_not_allowed');
    expect(e.message).toContain('no token was sent to it');
    expect(attackerRequests).toBe(0);
    // With the app's keyServer, the manifest's field is ignored: the real server refuses their sealing.
    const own = await failure(sealedModel(url('theirs'), { token: await token(), keyServer, fetch: counting }).load());
    expect(own.code).toBe('not_published');
    expect(attackerRequests).toBe(0);
  });

  it('allowManifestKeyServer lists the origins it trusts: a listed one is used', async () => {
    const manifestWithOurs = join(root, 'www/face-a-ks');
    await rm(manifestWithOurs, { recursive: true, force: true });
    await cp(join(root, 'www/face-a'), manifestWithOurs, { recursive: true });
    const m = JSON.parse(await readFile(join(manifestWithOurs, 'model.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(manifestWithOurs, 'model.json'), JSON.stringify({ ...m, keyServer }));
    const model = await tf.loadLayersModel(sealedModel(url('face-a-ks'), { token: await token(), allowManifestKeyServer: [new URL(keyServer).origin] }));
    model.dispose();
  });

  it('a token for several models (face-*) cannot be used to serve face-b at face-a\'s URL when the app pins modelId', async () => {
    const swapped = join(root, 'www/swapped');
    await cp(join(root, 'www/face-b'), swapped, { recursive: true });
    let releases = 0;
    const watching: SealedModelOptions['fetch'] = (input, init) => {
      if (input.endsWith('/v2/release')) releases++;
      return fetch(input, init);
    };
    const e = await failure(sealedModel(url('swapped'), { token: await token(['face-*']), keyServer, modelId: 'face-a', fetch: watching }).load());
    expect(e.code).toBe('unexpected_model');
    expect(e.message).toMatch(/is model face-b key k1, but the app expects face-a/);
    expect(releases).toBe(0);
    const k = await failure(sealedModel(url('face-a'), { token: await token(), keyServer, modelId: 'face-a', keyId: 'k9', fetch: watching }).load());
    expect(k.code).toBe('unexpected_model');
    expect(releases).toBe(0);
  });
});

describe('an app that pins the sealing (options.sealing)', () => {
  const manifestOf = async (dir: string) => JSON.parse(await readFile(join(root, 'www', dir, 'model.json'), 'utf8')) as { modelId: string; keyId: string; sealing: string };
  it('an older published sealing at the URL (a rollback) is refused with unexpected_model, before any key request', async () => {
    const v2 = await manifestOf('face-c-v2');
    const log: string[] = [];
    // Without the pin, the rollback loads: the key server vouches for every sealing it recorded.
    const rolledBack = await tf.loadLayersModel(sealedModel(url('face-c-v1'), { token: await token(), keyServer, modelId: 'face-c' }));
    rolledBack.dispose();
    const e = await failure(sealedModel(url('face-c-v1'), { token: await token(), keyServer, modelId: 'face-c', sealing: v2.sealing, fetch: loggingFetch(log) }).load());
    expect(e.code).toBe('unexpected_model');
    expect(e.message).toMatch(new RegExp(`is sealing [A-Za-z0-9_-]{43} of model face-c, but the app expects sealing ${v2.sealing}`));
    expect(log).toEqual(['manifest sent', 'manifest answered']);
    expect(() => sealedModel(url('face-c-v2'), { token: 't', keyServer, sealing: 'not-a-digest' })).toThrow(/options\.sealing must be a sealing as the manifest names it/);
  });

  it('with modelId, keyId, sealing and keyServer pinned, the release is sent before the manifest is answered, and the model loads', async () => {
    const v2 = await manifestOf('face-c-v2');
    const log: string[] = [];
    // The manifest's answer waits for the release request (releaseFirstFetch: at most 5 s).
    const pins = { modelId: v2.modelId, keyId: v2.keyId, sealing: v2.sealing };
    const model = await tf.loadLayersModel(sealedModel(url('face-c-v2'), { token: await token(), keyServer, ...pins, fetch: releaseFirstFetch(log) }));
    expect(model.layers.length).toBe(3);
    model.dispose();
    expect(log.slice(0, 3)).toEqual(['manifest sent', 'release sent', 'manifest answered']);
    // The same for the files form (openSealedFiles and the runtime helpers on it).
    const filesLog: string[] = [];
    const opened = await openSealedFiles(url('face-c-v2'), { token: await token(), keyServer, ...pins, fetch: releaseFirstFetch(filesLog) });
    expect([...opened.keys()].sort()).toEqual(['model.json', 'weights.bin']);
    expect(filesLog.slice(0, 3)).toEqual(['manifest sent', 'release sent', 'manifest answered']);
    // The rollback with every pin: the release (for the pinned sealing) went out, the files are refused all the same.
    const rolled: string[] = [];
    const e = await failure(sealedModel(url('face-c-v1'), { token: await token(), keyServer, ...pins, fetch: loggingFetch(rolled) }).load());
    expect(e.code).toBe('unexpected_model');
    expect(rolled.filter((r) => r === 'file sent')).toEqual([]);
  });
});
