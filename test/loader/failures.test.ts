// Every way a sealed load can fail, each asserting its error code and what the message says.
// Real key servers, a real static server, real sealed files altered on disk.

import { cp, mkdtemp, readFile, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyServer, mintDevToken } from '../../keyserver/index.js';
import { FileKeyStore } from '../../keystore/file-store.js';
import { isModelsealError, sealedModel, type ErrorCode, type ModelsealError, type SealedModelOptions } from '../../loader/index.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { buildLayersModel, copyHumanModel, sealInto } from './fixtures.js';

let root: string;
let storeDir: string;
let store: FileKeyStore;
let files: StaticServer;
const servers: Array<Awaited<ReturnType<typeof createKeyServer>>> = [];
let keyServer: string;

async function startKeyServer(dir: string, config: Record<string, unknown> = {}) {
  const server = await createKeyServer({ store: dir, config: { logLevel: 'silent', auditLog: null, ...config } });
  servers.push(server);
  return { server, url: await server.listen({ host: '127.0.0.1', port: 0 }) };
}

async function token(models = ['*'], extra: Record<string, unknown> = {}): Promise<string> {
  return mintDevToken({ store: storeDir, models, ttl: '5m', ...extra });
}

async function expectCode(load: Promise<unknown>, code: ErrorCode, message: RegExp, fields: Partial<Pick<ModelsealError, 'serverCode' | 'status' | 'retryAfter' | 'file' | 'chunk'>> = {}): Promise<ModelsealError> {
  const err = await load.then(() => undefined, (e: unknown) => e);
  expect(err, `expected ${code}`).toBeDefined();
  if (!isModelsealError(err)) throw err;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(err).toMatchObject(fields);
  return err;
}

function url(name: string): string {
  return `${files.url}/${name}/model.json`;
}

/** A copy of the sealed layers model in folder `name`, altered by `change(dir, shardNames)`. */
async function variant(name: string, change: (dir: string, shards: string[]) => Promise<void>): Promise<void> {
  const dir = join(root, 'www', name);
  await cp(join(root, 'www/layers'), dir, { recursive: true });
  const shards = (await readdir(dir)).filter((f) => f.startsWith('shard-')).sort();
  await change(dir, shards);
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'modelseal-loader-fail-'));
  storeDir = join(root, 'store');
  ({ store } = await FileKeyStore.open(storeDir, { create: true }));
  const layers = await buildLayersModel(tf);
  // 16 KiB chunks, 64 KiB shards: the ~350 KB model spans 6 shards, the first 5 of equal size.
  await sealInto(store, 'layers', layers, join(root, 'www/layers'), { shardLength: 64 * 1024, chunkLength: 16 * 1024, headerMode: 'file' });
  await sealInto(store, 'revoked', layers, join(root, 'www/revoked'));
  await sealInto(store, 'elsewhere', layers, join(root, 'www/elsewhere'));
  const faceres = await copyHumanModel('faceres', join(root, 'plain/faceres'));
  await sealInto(store, 'faceres', faceres, join(root, 'www/faceres'));

  await variant('tampered', async (dir, shards) => {
    const path = join(dir, shards[1]!);
    const bytes = await readFile(path);
    bytes[56 + 20_000]! ^= 1; // inside chunk 1, past the salt and commitment
    await writeFile(path, bytes);
  });
  await variant('truncated', async (dir, shards) => {
    const path = join(dir, shards.at(-1)!);
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(path));
    await truncate(path, size - 100);
  });
  await variant('appended', async (dir, shards) => {
    const path = join(dir, shards[0]!);
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.from('extra bytes')]));
  });
  await variant('swapped', async (dir, shards) => {
    await rename(join(dir, shards[0]!), join(dir, 'tmp'));
    await rename(join(dir, shards[1]!), join(dir, shards[0]!));
    await rename(join(dir, 'tmp'), join(dir, shards[1]!));
  });
  await variant('missing', async (dir, shards) => rm(join(dir, shards[2]!)));
  await variant('unsupported', async (dir) => {
    const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'model.json'), JSON.stringify({ ...manifest, modelseal: 'modelseal/9' }));
  });
  await cp(join(root, 'plain/faceres'), join(root, 'www/plain-faceres'), { recursive: true });

  files = await startStaticServer({ root: join(root, 'www') });
  ({ url: keyServer } = await startKeyServer(storeDir));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('sealedModel failures', () => {
  it('loads the unaltered model (the baseline every variant departs from)', async () => {
    const model = await tf.loadLayersModel(sealedModel(url('layers'), { token: await token(), keyServer }));
    expect(model.getWeights().length).toBe(6);
    model.dispose();
  });

  it('sender-bound token: the provider gets this load\'s key thumbprint; a token bound to it loads, one bound to another key is refused', async () => {
    const seen: Array<{ modelId: string; keyId: string; jkt: string }> = [];
    const bound = sealedModel(url('layers'), {
      keyServer,
      token: async (request) => {
        seen.push(request);
        return token(['*'], { cnfJkt: request.jkt });
      },
    });
    const model = await tf.loadLayersModel(bound);
    expect(model.getWeights().length).toBe(6);
    model.dispose();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.modelId).toBe('layers');
    expect(seen[0]!.jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A token bound to an earlier load's key is useless to this load (a copied token is useless).
    const stolen = await token(['*'], { cnfJkt: seen[0]!.jkt });
    await expectCode(sealedModel(url('layers'), { token: stolen, keyServer }).load(), 'key_denied', /HTTP 401 invalid_token/);
  });

  it('denied token: a token scoped to another model → key_denied with the server code as a field and the hint for it', async () => {
    await expectCode(sealedModel(url('layers'), { token: await token(['face-*']), keyServer }).load(), 'key_denied', /HTTP 403 forbidden_model: the session token does not allow this model: the token's models claim does not include layers; have the app backend mint tokens whose `models` claim covers this model/, { serverCode: 'forbidden_model', status: 403 });
  });

  it('expired token → key_denied (token_expired): when it expired, by the server\'s clock, and one hint', async () => {
    const err = await expectCode(sealedModel(url('layers'), { token: await token(['*'], { ttl: -600 }), keyServer }).load(), 'key_denied', /HTTP 401 token_expired: the session token has expired: its exp \S+ is 6\d\d s before the key server's clock .*mint a new token for each load/, { serverCode: 'token_expired', status: 401 });
    expect(err.message.match(/new token|fresh session token/g)).toHaveLength(1);
  });

  it('revoked key version → key_denied (key_revoked): the fix is a reseal, not a new token', async () => {
    await store.revoke('revoked');
    await servers[0]!.reload();
    const err = await expectCode(sealedModel(url('revoked'), { token: await token(), keyServer }).load(), 'key_denied', /HTTP 403 key_revoked: .*no token can unlock them: the publisher reseals the model with the active key version/, { serverCode: 'key_revoked', status: 403 });
    expect(err.message).not.toMatch(/new token|fresh session token/);
  });

  it('expired key version → key_denied (key_expired), and an unknown key version → key_denied (unknown_key)', async () => {
    const layers = await buildLayersModel(tf);
    await sealInto(store, 'expiring', layers, join(root, 'www/expiring'));
    await store.rotate('expiring', { retireExpiresAt: new Date(Date.now() - 60_000) });
    await servers[0]!.reload();
    await expectCode(sealedModel(url('expiring'), { token: await token(), keyServer }).load(), 'key_denied', /HTTP 403 key_expired: .*publisher reseals the model with a current key version/, { serverCode: 'key_expired', status: 403 });
    const emptyDir = join(root, 'empty-store');
    await FileKeyStore.open(emptyDir, { create: true });
    const { url: empty } = await startKeyServer(emptyDir);
    await expectCode(sealedModel(url('layers'), { token: await mintDevToken({ store: emptyDir, models: ['*'], ttl: '5m' }), keyServer: empty }).load(), 'key_denied', /HTTP 404 unknown_key: .*check that keyServer is this model's key server/, { serverCode: 'unknown_key', status: 404 });
  });

  it('a token from another issuer → key_denied (invalid_token) naming the token\'s issuer and the one the server expects', async () => {
    const { url: strict } = await startKeyServer(storeDir, { tokens: { issuer: ['https://login.example'] } });
    await expectCode(sealedModel(url('layers'), { token: await token(), keyServer: strict }).load(), 'key_denied', /HTTP 401 invalid_token: .*issuer \(iss\) is "modelseal-dev"; this key server accepts "https:\/\/login\.example"/, { serverCode: 'invalid_token', status: 401 });
  });

  it('release cap used up → key_denied (release_limit)', async () => {
    const { url: capped } = await startKeyServer(storeDir, { defaults: { releasesPerToken: 1 } });
    const once = await token();
    await sealedModel(url('layers'), { token: once, keyServer: capped }).load();
    await expectCode(sealedModel(url('layers'), { token: once, keyServer: capped }).load(), 'key_denied', /HTTP 403 release_limit: .*mint a new token \(a new `jti`\)/, { serverCode: 'release_limit', status: 403 });
  });

  it('origin allow-list from Node: no Origin → origin_not_allowed with the way out; options.origin sends one, and only an allowed one loads', async () => {
    const { url: guarded } = await startKeyServer(storeDir, { models: { layers: { origins: ['https://app.example'] } } });
    const tok = await token();
    await expectCode(sealedModel(url('layers'), { token: tok, keyServer: guarded }).load(), 'key_denied', /HTTP 403 origin_not_allowed: .*no Origin header; .*from Node, which sends no Origin, pass the loader's `origin` option/, { serverCode: 'origin_not_allowed', status: 403 });
    await expectCode(sealedModel(url('layers'), { token: tok, keyServer: guarded, origin: 'https://evil.example' }).load(), 'key_denied', /origin https:\/\/evil\.example is not allowed for layers/, { serverCode: 'origin_not_allowed' });
    const model = await tf.loadLayersModel(sealedModel(url('layers'), { token: tok, keyServer: guarded, origin: 'https://app.example' }));
    expect(model.getWeights().length).toBe(6);
    model.dispose();
    // The option needs no custom fetch, so file: URLs still load from disk.
    const fromDisk = await tf.loadLayersModel(sealedModel(pathToFileURL(join(root, 'www/layers/model.json')).href, { token: tok, keyServer: guarded, origin: 'https://app.example' }));
    expect(fromDisk.getWeights().length).toBe(6);
    fromDisk.dispose();
    for (const bad of ['https://app.example/', 'app.example', 'ftp://app.example', 42]) {
      expect(() => sealedModel(url('layers'), { token: tok, keyServer: guarded, origin: bad as string })).toThrow(/options\.origin must be an origin such as "https:\/\/app\.example"/);
    }
  });

  it('tampered shard → tampered, naming the shard and chunk', async () => {
    await expectCode(sealedModel(url('tampered'), { token: await token(), keyServer }).load(), 'tampered', /shard 2 of 6 .*chunk 1 failed authentication/, { chunk: 1, file: 'shard 2 of 6 (shard-2-of-6.sealed)' });
  });

  it('truncated shard → truncated', async () => {
    await expectCode(sealedModel(url('truncated'), { token: await token(), keyServer }).load(), 'truncated', /shard 6 of 6 .*truncated/);
  });

  it('bytes appended to a shard → trailing_data, also through getWeightStream', async () => {
    await expectCode(sealedModel(url('appended'), { token: await token(), keyServer }).load(), 'trailing_data', /shard 1 of 6 .*longer than its sealed length/);
    await expectCode(tf.loadGraphModel(sealedModel(url('appended'), { token: await token(), keyServer, streamWeights: true })), 'trailing_data', /shard 1 of 6/);
  });

  it('swapped shards → misplaced_shard', async () => {
    await expectCode(sealedModel(url('swapped'), { token: await token(), keyServer }).load(), 'misplaced_shard', /shard [12] of 6 .*commitment mismatch/);
  });

  it('404 shard → file_unavailable naming the URL and status', async () => {
    await expectCode(sealedModel(url('missing'), { token: await token(), keyServer }).load(), 'file_unavailable', /missing\/shard-3-of-6\.sealed: HTTP 404/, { status: 404 });
  });

  it('the same failures surface through getWeightStream', async () => {
    const handler = sealedModel(url('tampered'), { token: await token(), keyServer, streamWeights: true });
    await expectCode(tf.loadGraphModel(handler), 'tampered', /failed authentication/);
  });

  it('wrong key server: another store with the same model id refuses the sealing it never recorded (not_published), and one that claims it releases another key (wrong_key)', async () => {
    const otherDir = join(root, 'other-store');
    const { store: other } = await FileKeyStore.open(otherDir, { create: true });
    const { record } = await other.rotate('elsewhere');
    const { url: otherServer } = await startKeyServer(otherDir);
    const otherToken = await mintDevToken({ store: otherDir, models: ['*'], ttl: '5m' });
    await expectCode(sealedModel(url('elsewhere'), { token: otherToken, keyServer: otherServer }).load(), 'not_published', /does not vouch for this sealing.*HTTP|not published/);
    // A server that records any digest (as an attacker's can) still holds another key: the header's commitment fails.
    const manifest = JSON.parse(await readFile(join(root, 'www', 'elsewhere', 'model.json'), 'utf8')) as { sealing: string };
    await other.publish('elsewhere', record.keyId, manifest.sealing);
    await expectCode(sealedModel(url('elsewhere'), { token: otherToken, keyServer: otherServer }).load(), 'wrong_key', /key commitment mismatch/);
    // With this store's token, the other server cannot even verify the session.
    await expectCode(sealedModel(url('elsewhere'), { token: await token(), keyServer: otherServer }).load(), 'key_denied', /HTTP 401 invalid_token/);
  });

  it('key server down (closed port) → key_server_unreachable', async () => {
    const port = await closedPort();
    await expectCode(sealedModel(url('layers'), { token: await token(), keyServer: `http://127.0.0.1:${port}` }).load(), 'key_server_unreachable', /could not reach the key server.*running/);
  });

  it('keyServer pointing at something else (a static host) → key_server_error', async () => {
    await expectCode(sealedModel(url('layers'), { token: await token(), keyServer: files.url }).load(), 'key_server_error', /HTTP 405 \(no error code\).*check that keyServer points at a modelseal key server/, { serverCode: undefined, status: 405 });
    // A key server URL with a wrong path: the server's 404 not_found is the URL's fault, not a refusal.
    await expectCode(sealedModel(url('layers'), { token: await token(), keyServer: `${keyServer}/keys` }).load(), 'key_server_error', /HTTP 404 not_found: .*base URL of a modelseal key server/, { serverCode: 'not_found', status: 404 });
  });

  it('abort mid-download → aborted', async () => {
    const controller = new AbortController();
    let aborted = false;
    const handler = sealedModel(url('faceres'), {
      token: await token(), keyServer, signal: controller.signal, maxConcurrentRequests: 1,
      onProgress: (f) => {
        if (f > 0.2 && !aborted) {
          aborted = true;
          controller.abort();
        }
      },
    });
    await expectCode(handler.load(), 'aborted', /aborted/);
    expect(aborted).toBe(true);
    // The same mid-download, through tfjs's streaming path.
    const streaming = new AbortController();
    const streamed = sealedModel(url('faceres'), {
      token: await token(), keyServer, signal: streaming.signal, maxConcurrentRequests: 1, streamWeights: true,
      onProgress: (f) => {
        if (f > 0.2) streaming.abort();
      },
    });
    await expectCode(tf.loadGraphModel(streamed), 'aborted', /aborted/);
    expect(streaming.signal.aborted).toBe(true);
    // Aborted before it starts: no request at all.
    const before = files.requests.length;
    await expectCode(sealedModel(url('faceres'), { token: await token(), keyServer, signal: AbortSignal.abort() }).load(), 'aborted', /aborted/);
    expect(files.requests.length).toBe(before);
  });

  it('429 with a short Retry-After is retried once and succeeds; a long one fails with the wait', async () => {
    const { url: limited } = await startKeyServer(storeDir, { rateWindowMs: 2000, defaults: { ratePerSubject: 1 } });
    const releases: number[] = [];
    const counting: SealedModelOptions['fetch'] = async (u, init) => {
      const response = await fetch(u, init);
      if (u.endsWith('/v2/release')) releases.push(response.status);
      return response;
    };
    const opts = async () => ({ token: await token(['*'], { sub: 'user-429' }), keyServer: limited, fetch: counting });
    await sealedModel(url('layers'), await opts()).load();
    await sealedModel(url('layers'), await opts()).load();
    expect(releases).toEqual([200, 429, 200]);

    const { url: slow } = await startKeyServer(storeDir, { rateWindowMs: 60_000, defaults: { ratePerSubject: 1 } });
    const slowOpts = async () => ({ token: await token(['*'], { sub: 'user-slow' }), keyServer: slow });
    await sealedModel(url('layers'), await slowOpts()).load();
    const limitedErr = await expectCode(sealedModel(url('layers'), await slowOpts()).load(), 'rate_limited', /retry in \d+ s/, { serverCode: 'rate_limited', status: 429 });
    expect(limitedErr.retryAfter).toBeGreaterThan(5);
    expect(limitedErr.message).toContain(`retry in ${limitedErr.retryAfter} s`);
  });

  it('bad manifests: a plain model.json → manifest_invalid; an unknown version → unsupported_version', async () => {
    await expectCode(sealedModel(url('plain-faceres'), { token: await token(), keyServer }).load(), 'manifest_invalid', /not sealed/);
    await expectCode(sealedModel(url('unsupported'), { token: await token(), keyServer }).load(), 'unsupported_version', /modelseal\/9.*upgrade modelseal/);
    await expectCode(sealedModel(`${files.url}/nowhere/model.json`, { token: await token(), keyServer }).load(), 'file_unavailable', /nowhere\/model\.json: HTTP 404/);
  });

  it('oversized manifest or header → refused at the declared limit without reading the rest', async () => {
    const big = join(root, 'www', 'huge');
    await cp(join(root, 'www/layers'), big, { recursive: true });
    await writeFile(join(big, 'model.json'), ' '.repeat(2 * 1024 * 1024));
    await expectCode(sealedModel(url('huge'), { token: await token(), keyServer }).load(), 'manifest_invalid', /larger than 1048576 bytes/);
    // A body without Content-Length that never ends: the loader stops at the limit.
    let sent = 0;
    const endless: SealedModelOptions['fetch'] = async () => new Response(new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 65536;
        controller.enqueue(new Uint8Array(65536).fill(32));
      },
    }));
    await expectCode(sealedModel('http://127.0.0.1:9/endless/model.json', { token: await token(), keyServer, fetch: endless }).load(), 'manifest_invalid', /larger than/);
    expect(sent).toBeLessThan(4 * 1024 * 1024);
    await variant('long-header', async (dir) => {
      const path = join(dir, 'header.sealed');
      await writeFile(path, Buffer.concat([await readFile(path), Buffer.alloc(100)]));
    });
    await expectCode(sealedModel(url('long-header'), { token: await token(), keyServer }).load(), 'trailing_data', /header .* is longer than the \d+ bytes the manifest declares/);
  });

  it('a failing token provider → token_unavailable', async () => {
    const token = async (): Promise<string> => {
      throw new Error('backend said 401');
    };
    await expectCode(sealedModel(url('layers'), { token, keyServer }).load(), 'token_unavailable', /backend said 401/);
    await expectCode(sealedModel(url('layers'), { token: () => '', keyServer }).load(), 'token_unavailable', /empty string/);
  });
});
