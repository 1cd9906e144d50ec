// Every way a sealed load can fail, each asserting its error code and what the message says, for
// both loader forms: sealedModel (the TF.js IOHandler, also through tfjs's weight stream) and the
// generic openSealedFiles / openSealedFileStream. Damage to the sealed files is one table run
// against every form. Real key servers, a real static server, real sealed files altered on disk.

import { cp, mkdtemp, readFile, readdir, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore, mintDevToken } from '../../keyserver/index.js';
import { isModelsealError, openSealedFiles, openSealedFileStream, sealedModel, type ErrorCode, type ModelsealError, type SealedModelOptions } from '../../loader/index.js';
import { expectCode } from '../helpers/expect-code.js';
import { KeyServers, type RunningKeyServer } from '../helpers/key-server.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { forge, type Forgeries } from '../helpers/substitution.js';
import { readAll, sampleFolder, sealFolderInto, type PlainFolder } from './files-fixtures.js';
import { buildLayersModel, copyHumanModel, sealInto } from './fixtures.js';

let root: string;
let storeDir: string;
let store: FileKeyStore;
let files: StaticServer;
const servers = new KeyServers();
/** The key server of `store` every test uses unless it needs its own. */
let main: RunningKeyServer;
let keyServer: string;
let folder: PlainFolder;
let forged: Forgeries;
/** The generic-form file streamed in the tests: it lies in shards 3 to 9 of the sealed folder. */
const LARGE = 'onnx/model.onnx_data';

async function startKeyServer(dir: string, config: Record<string, unknown> = {}): Promise<string> {
  return (await servers.start(dir, config)).url;
}

async function token(models = ['*'], extra: Record<string, unknown> = {}): Promise<string> {
  return mintDevToken({ store: storeDir, models, ttl: '5m', ...extra });
}

function url(name: string): string {
  return `${files.url}/${name}/model.json`;
}

/** Both generic forms fail the same way: the whole-files load, and the stream of the large file (opened, then read). */
async function expectBoth(name: string, code: ErrorCode, message: RegExp): Promise<void> {
  for (const form of FORMS.filter((f) => f.base === 'folder')) await expectCode(form.load(url(name), { token: await token(), keyServer }), code, message);
}

/** A copy of the sealed folder `base` in folder `name`, altered by `change(dir, shardNames)`. */
async function variant(base: string, name: string, change: (dir: string, shards: string[]) => Promise<void>): Promise<void> {
  const dir = join(root, 'www', name);
  await cp(join(root, 'www', base), dir, { recursive: true });
  const shards = (await readdir(dir)).filter((f) => f.startsWith('shard-')).sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
  expect(shards.length).toBeGreaterThanOrEqual(6);
  await change(dir, shards);
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * Damage to a sealed model's files, and what every form must report. Shard indexes are picked so
 * that the damaged shard holds part of LARGE in the sealed folder (the stream reads only its shards).
 */
const DAMAGE: Array<{ name: string; title: string; code: ErrorCode; change: (dir: string, shards: string[]) => Promise<void>; message: (n: number) => RegExp; fields?: (n: number) => Partial<ModelsealError> }> = [
  {
    name: 'tampered', title: 'tampered shard → tampered, naming the shard and chunk', code: 'tampered',
    change: async (dir, shards) => {
      const path = join(dir, shards[4]!);
      const bytes = await readFile(path);
      bytes[56 + 20_000]! ^= 1; // inside chunk 1 of shard 5, past the salt and commitment
      await writeFile(path, bytes);
    },
    message: (n) => new RegExp(`shard 5 of ${n} .*chunk 1 failed authentication`),
    fields: (n) => ({ chunk: 1, file: `shard 5 of ${n} (shard-5-of-${n}.sealed)` }),
  },
  {
    name: 'truncated', title: 'truncated shard → truncated', code: 'truncated',
    change: async (dir, shards) => {
      const path = join(dir, shards.at(-1)!);
      await truncate(path, (await stat(path)).size - 100);
    },
    message: (n) => new RegExp(`shard ${n} of ${n} .*truncated`),
  },
  {
    name: 'appended', title: 'bytes appended to a shard → trailing_data', code: 'trailing_data',
    change: async (dir, shards) => {
      const path = join(dir, shards[3]!);
      await writeFile(path, Buffer.concat([await readFile(path), Buffer.from('extra bytes')]));
    },
    message: (n) => new RegExp(`shard 4 of ${n} .*longer than its sealed length`),
  },
  {
    name: 'swapped', title: 'swapped shards → misplaced_shard', code: 'misplaced_shard',
    change: async (dir, shards) => {
      await rename(join(dir, shards[3]!), join(dir, 'tmp'));
      await rename(join(dir, shards[4]!), join(dir, shards[3]!));
      await rename(join(dir, 'tmp'), join(dir, shards[4]!));
    },
    message: (n) => new RegExp(`shard [45] of ${n} .*commitment mismatch`),
  },
  {
    name: 'missing', title: '404 shard → file_unavailable naming the URL and status', code: 'file_unavailable',
    change: async (dir, shards) => rm(join(dir, shards[2]!)),
    message: (n) => new RegExp(`missing/shard-3-of-${n}\\.sealed: HTTP 404`),
    fields: () => ({ status: 404 }),
  },
  {
    name: 'flipped-header', title: 'altered header salt → wrong_key', code: 'wrong_key',
    change: async (dir) => {
      const path = join(dir, 'header.sealed');
      const bytes = await readFile(path);
      bytes[3]! ^= 1; // the salt: the derived commitment differs
      await writeFile(path, bytes);
    },
    message: () => /header \(header\.sealed\): key commitment mismatch/,
  },
];

/** The loader forms the DAMAGE table runs against: the sealed model each loads, its shard count, and the load. */
const FORMS: Array<{ name: string; base: string; shards: number; load: (url: string, options: { token: string; keyServer: string }) => Promise<unknown> }> = [
  { name: 'sealedModel', base: 'layers', shards: 6, load: (u, o) => sealedModel(u, o).load() },
  { name: 'sealedModel through tfjs\'s weight stream', base: 'layers', shards: 6, load: (u, o) => tf.loadGraphModel(sealedModel(u, { ...o, streamWeights: true })) },
  { name: 'openSealedFiles', base: 'folder', shards: 9, load: (u, o) => openSealedFiles(u, o) },
  { name: 'openSealedFileStream', base: 'folder', shards: 9, load: async (u, o) => readAll(await openSealedFileStream(u, LARGE, o)) },
];

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
  folder = sampleFolder();
  // 9 shards of 64 KiB (16 KiB chunks); the large file is in shards 3 to 9.
  const { key } = await sealFolderInto(store, 'folder', folder, join(root, 'www/folder'), { chunkLength: 16 * 1024, shardLength: 64 * 1024, headerMode: 'file' });
  await sealFolderInto(store, 'folder-revoked', folder, join(root, 'www/folder-revoked'));
  await sealFolderInto(store, 'folder-elsewhere', folder, join(root, 'www/folder-elsewhere'));

  for (const base of ['layers', 'folder']) for (const d of DAMAGE) await variant(base, `${base}-${d.name}`, d.change);
  await variant('layers', 'unsupported', async (dir) => {
    const manifest = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(dir, 'model.json'), JSON.stringify({ ...manifest, modelseal: 'modelseal/9' }));
  });
  await cp(join(root, 'plain/faceres'), join(root, 'www/plain-faceres'), { recursive: true });
  forged = await forge(join(root, 'www/folder'), { files: folder }, key, join(root, 'forged'));
  await cp(join(root, 'forged'), join(root, 'www/forged'), { recursive: true });

  files = await startStaticServer({ root: join(root, 'www') });
  main = await servers.start(storeDir);
  keyServer = main.url;
});

afterAll(async () => {
  await servers.closeAll();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('damaged sealed files, every form', () => {
  for (const form of FORMS) {
    for (const d of DAMAGE) {
      it(`${d.title} (${form.name})`, async () => {
        await expectCode(form.load(url(`${form.base}-${d.name}`), { token: await token(), keyServer }), d.code, d.message(form.shards), d.fields?.(form.shards) ?? {});
      });
    }
  }
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
    await main.server.reload();
    const err = await expectCode(sealedModel(url('revoked'), { token: await token(), keyServer }).load(), 'key_denied', /HTTP 403 key_revoked: .*no token can unlock them: the publisher reseals the model with the active key version/, { serverCode: 'key_revoked', status: 403 });
    expect(err.message).not.toMatch(/new token|fresh session token/);
  });

  it('expired key version → key_denied (key_expired), and an unknown key version → key_denied (unknown_key)', async () => {
    const layers = await buildLayersModel(tf);
    await sealInto(store, 'expiring', layers, join(root, 'www/expiring'));
    await store.rotate('expiring', { retireExpiresAt: new Date(Date.now() - 60_000) });
    await main.server.reload();
    await expectCode(sealedModel(url('expiring'), { token: await token(), keyServer }).load(), 'key_denied', /HTTP 403 key_expired: .*publisher reseals the model with a current key version/, { serverCode: 'key_expired', status: 403 });
    const emptyDir = join(root, 'empty-store');
    await FileKeyStore.open(emptyDir, { create: true });
    const empty = await startKeyServer(emptyDir);
    await expectCode(sealedModel(url('layers'), { token: await mintDevToken({ store: emptyDir, models: ['*'], ttl: '5m' }), keyServer: empty }).load(), 'key_denied', /HTTP 404 unknown_key: .*check that keyServer is this model's key server/, { serverCode: 'unknown_key', status: 404 });
  });

  it('a token from another issuer → key_denied (invalid_token) naming the token\'s issuer and the one the server expects', async () => {
    const strict = await startKeyServer(storeDir, { tokens: { issuer: ['https://login.example'] } });
    await expectCode(sealedModel(url('layers'), { token: await token(), keyServer: strict }).load(), 'key_denied', /HTTP 401 invalid_token: .*issuer \(iss\) is "modelseal-dev"; this key server accepts "https:\/\/login\.example"/, { serverCode: 'invalid_token', status: 401 });
  });

  it('release cap used up → key_denied (release_limit)', async () => {
    const capped = await startKeyServer(storeDir, { defaults: { releasesPerToken: 1 } });
    const once = await token();
    await sealedModel(url('layers'), { token: once, keyServer: capped }).load();
    await expectCode(sealedModel(url('layers'), { token: once, keyServer: capped }).load(), 'key_denied', /HTTP 403 release_limit: .*mint a new token \(a new `jti`\)/, { serverCode: 'release_limit', status: 403 });
  });

  it('origin allow-list from Node: no Origin → origin_not_allowed with the way out; options.origin sends one, and only an allowed one loads', async () => {
    const guarded = await startKeyServer(storeDir, { models: { layers: { origins: ['https://app.example'] } } });
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

  it('wrong key server: another store with the same model id refuses the sealing it never recorded (not_published), and one that claims it releases another key (wrong_key)', async () => {
    const otherDir = join(root, 'other-store-layers');
    const { store: other } = await FileKeyStore.open(otherDir, { create: true });
    const { record } = await other.rotate('elsewhere');
    const otherServer = await startKeyServer(otherDir);
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
    const limited = await startKeyServer(storeDir, { rateWindowMs: 2000, defaults: { ratePerSubject: 1 } });
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

    const slow = await startKeyServer(storeDir, { rateWindowMs: 60_000, defaults: { ratePerSubject: 1 } });
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

  it('an HTML page served with 200 in place of a shard: the error keeps its code and says the host answered HTML', async () => {
    const html = '<!doctype html><title>Not found</title><p>This page does not exist.</p>';
    const fetchHtmlShard = (input: string, init?: RequestInit) => /shard-2-of-/.test(input)
      ? Promise.resolve(new Response(html, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } }))
      : fetch(input, init);
    const err = await expectCode(sealedModel(url('layers'), { token: await token(), keyServer, fetch: fetchHtmlShard }).load(), 'misplaced_shard');
    expect(err.message).toContain('(the host answered with text/html: an error or login page served in place of the sealed file? check what the URL serves)');
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
    await variant('layers', 'long-header', async (dir) => {
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

describe('generic-form failures', () => {
  it('loads the unaltered folder (the baseline every variant departs from)', async () => {
    const opened = await openSealedFiles(url('folder'), { token: await token(), keyServer });
    expect(Buffer.from(opened.get(LARGE)!).equals(Buffer.from(folder.find((f) => f.path === LARGE)!.data))).toBe(true);
  });

  it('a key holder\'s substitutions → not_published: an unrecorded resealing, a header that is not the named sealing, a shard that is not the header\'s', async () => {
    const name = (dir: string) => `forged/${dir.split('/').at(-1)}`;
    await expectBoth(name(forged.resealed), 'not_published', /does not vouch for this sealing|not published/);
    await expectBoth(name(forged.forgedHeader), 'not_published', /not the sealing the manifest names/);
    // Shard 2 holds none of the large file (the stream of it never fetches shard 2): the next test streams through it.
    await expectCode(openSealedFiles(url(name(forged.forgedShard)), { token: await token(), keyServer }), 'not_published', /shard 2 of 9 .*content is not what the publisher sealed/);
  });

  it('the stream hands out no byte of a substituted shard: it errors before the shard\'s bytes, after the earlier good ones', async () => {
    // The forged shard is shard 2; onnx/model.onnx spans shards 1 to 3.
    const stream = await openSealedFileStream(url(`forged/${forged.forgedShard.split('/').at(-1)}`), 'onnx/model.onnx', { token: await token(), keyServer });
    const reader = stream.getReader();
    const got: Uint8Array[] = [];
    const err = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        got.push(value);
      }
    })().catch((e: unknown) => e);
    expect(isModelsealError(err, 'not_published')).toBe(true);
    // model.onnx starts in shard 1 (after config.json and empty.txt): only shard 1's part of it was handed out, and it is genuine.
    const original = folder.find((f) => f.path === 'onnx/model.onnx')!.data;
    const start = folder[0]!.data.length + folder[1]!.data.length;
    const handed = Buffer.concat(got);
    expect(handed.length).toBe(64 * 1024 - start);
    expect(handed.equals(Buffer.from(original.subarray(0, handed.length)))).toBe(true);
  });

  it('denied token: scoped to another model → key_denied with the server code; revoked key version → key_denied', async () => {
    await expectCode(openSealedFiles(url('folder'), { token: await token(['face-*']), keyServer }), 'key_denied', /HTTP 403 forbidden_model/);
    await expectCode(openSealedFileStream(url('folder'), LARGE, { token: await token(['face-*']), keyServer }), 'key_denied', /HTTP 403 forbidden_model/);
    await store.revoke('folder-revoked');
    await main.server.reload();
    await expectCode(openSealedFiles(url('folder-revoked'), { token: await token(), keyServer }), 'key_denied', /HTTP 403 key_revoked/);
  });

  it('wrong key: a key server of another store that vouches for the sealing releases another key → wrong_key', async () => {
    const otherDir = join(root, 'other-store-folder');
    const { store: other } = await FileKeyStore.open(otherDir, { create: true });
    const { record } = await other.rotate('folder-elsewhere');
    const manifest = JSON.parse(await readFile(join(root, 'www/folder-elsewhere/model.json'), 'utf8')) as { sealing: string };
    await other.publish('folder-elsewhere', record.keyId, manifest.sealing);
    const otherServer = await startKeyServer(otherDir);
    const otherToken = await mintDevToken({ store: otherDir, models: ['*'], ttl: '5m' });
    await expectCode(openSealedFiles(url('folder-elsewhere'), { token: otherToken, keyServer: otherServer }), 'wrong_key', /key commitment mismatch/);
  });

  it('offline: key server down → key_server_unreachable; file host down → file_unavailable', async () => {
    const port = await closedPort();
    await expectCode(openSealedFiles(url('folder'), { token: await token(), keyServer: `http://127.0.0.1:${port}` }), 'key_server_unreachable', /could not reach the key server/);
    await expectCode(openSealedFileStream(url('folder'), LARGE, { token: await token(), keyServer: `http://127.0.0.1:${port}` }), 'key_server_unreachable', /could not reach the key server/);
    await expectCode(openSealedFiles(`http://127.0.0.1:${port}/folder/model.json`, { token: await token(), keyServer }), 'file_unavailable', /could not download .*network error/);
  });

  it('origin allow-list from Node: options.origin reaches the release of both forms', async () => {
    const guarded = await startKeyServer(storeDir, { models: { folder: { origins: ['https://app.example'] } } });
    await expectCode(openSealedFiles(url('folder'), { token: await token(), keyServer: guarded }), 'key_denied', /HTTP 403 origin_not_allowed/);
    const opened = await openSealedFiles(url('folder'), { token: await token(), keyServer: guarded, origin: 'https://app.example' });
    expect(opened.size).toBe(folder.length);
    const streamed = await readAll(await openSealedFileStream(url('folder'), LARGE, { token: await token(), keyServer: guarded, origin: 'https://app.example' }));
    expect(Buffer.from(streamed).equals(Buffer.from(opened.get(LARGE)!))).toBe(true);
  });

  it('pinned modelId: another model at the URL → unexpected_model before any key request', async () => {
    const releases: string[] = [];
    const counting = async (u: string, init?: RequestInit) => {
      if (u.endsWith('/v2/release')) releases.push(u);
      return fetch(u, init);
    };
    await expectCode(openSealedFiles(url('folder-elsewhere'), { token: await token(), keyServer, modelId: 'folder', fetch: counting }), 'unexpected_model', /is model folder-elsewhere key k1, but the app expects folder/);
    await expectCode(openSealedFileStream(url('folder-elsewhere'), LARGE, { token: await token(), keyServer, modelId: 'folder', fetch: counting }), 'unexpected_model', /app expects folder/);
    expect(releases).toEqual([]);
  });

  it('abort mid-download → aborted', async () => {
    const controller = new AbortController();
    await expectCode(openSealedFiles(url('folder'), {
      token: await token(), keyServer, signal: controller.signal, maxConcurrentRequests: 1,
      onProgress: (f) => {
        if (f > 0.2) controller.abort();
      },
    }), 'aborted', /aborted/);
    expect(controller.signal.aborted).toBe(true);
    await expectCode(openSealedFiles(url('folder'), { token: await token(), keyServer, signal: AbortSignal.abort() }), 'aborted', /aborted/);
  });
});
