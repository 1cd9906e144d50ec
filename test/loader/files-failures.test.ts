// Every failure path of the TF.js loader, for the generic form: openSealedFiles and
// openSealedFileStream against real key servers and a real static server, sealed files altered on disk.

import { cp, mkdtemp, readFile, readdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyServer, mintDevToken } from '../../keyserver/index.js';
import { FileKeyStore } from '../../keystore/file-store.js';
import { isModelsealError, openSealedFiles, openSealedFileStream, type ErrorCode } from '../../loader/index.js';
import { forge, type Forgeries } from '../helpers/substitution.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { readAll, sampleFolder, sealFolderInto, type PlainFolder } from './files-fixtures.js';

let root: string;
let storeDir: string;
let store: FileKeyStore;
let files: StaticServer;
let keyServer: string;
let folder: PlainFolder;
let forged: Forgeries;
const servers: Array<Awaited<ReturnType<typeof createKeyServer>>> = [];

async function startKeyServer(dir: string, config: Record<string, unknown> = {}) {
  const server = await createKeyServer({ store: dir, config: { logLevel: 'silent', auditLog: null, ...config } });
  servers.push(server);
  return server.listen({ host: '127.0.0.1', port: 0 });
}

const token = (models = ['*']) => mintDevToken({ store: storeDir, models, ttl: '5m' });
const url = (name: string) => `${files.url}/${name}/model.json`;
const LARGE = 'onnx/model.onnx_data';

async function caught(load: Promise<unknown>): Promise<unknown> {
  return load.then(() => undefined, (e: unknown) => e);
}

async function expectCode(load: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  const err = await caught(load);
  if (!isModelsealError(err)) throw err ?? new Error(`expected ${code}, got success`);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}

/** Both forms fail the same way: the whole-files load, and the stream of the large file (opened, then read). */
async function expectBoth(name: string, code: ErrorCode, message: RegExp): Promise<void> {
  await expectCode(openSealedFiles(url(name), { token: await token(), keyServer }), code, message);
  await expectCode((async () => readAll(await openSealedFileStream(url(name), LARGE, { token: await token(), keyServer })))(), code, message);
}

async function variant(name: string, change: (dir: string, shards: string[]) => Promise<void>): Promise<void> {
  const dir = join(root, 'www', name);
  await cp(join(root, 'www/folder'), dir, { recursive: true });
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
  root = await mkdtemp(join(tmpdir(), 'modelseal-files-fail-'));
  storeDir = join(root, 'store');
  ({ store } = await FileKeyStore.open(storeDir, { create: true }));
  folder = sampleFolder();
  // 9 shards of 64 KiB (16 KiB chunks); the large file is in shards 3 to 9.
  const { key } = await sealFolderInto(store, 'folder', folder, join(root, 'www/folder'), { chunkLength: 16 * 1024, shardLength: 64 * 1024, headerMode: 'file' });
  await sealFolderInto(store, 'revoked', folder, join(root, 'www/revoked'));
  await sealFolderInto(store, 'elsewhere', folder, join(root, 'www/elsewhere'));
  await variant('tampered', async (dir, shards) => {
    const path = join(dir, shards[4]!);
    const bytes = await readFile(path);
    bytes[56 + 20_000]! ^= 1; // inside chunk 1 of shard 5
    await writeFile(path, bytes);
  });
  await variant('truncated', async (dir, shards) => {
    const path = join(dir, shards.at(-1)!);
    const { size } = await import('node:fs/promises').then((fs) => fs.stat(path));
    await truncate(path, size - 100);
  });
  await variant('appended', async (dir, shards) => {
    const path = join(dir, shards[3]!);
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.from('extra bytes')]));
  });
  await variant('swapped', async (dir, shards) => {
    await rename(join(dir, shards[3]!), join(dir, 'tmp'));
    await rename(join(dir, shards[4]!), join(dir, shards[3]!));
    await rename(join(dir, 'tmp'), join(dir, shards[4]!));
  });
  await variant('missing', async (dir, shards) => rm(join(dir, shards[5]!)));
  await variant('flipped-header', async (dir) => {
    const path = join(dir, 'header.sealed');
    const bytes = await readFile(path);
    bytes[3]! ^= 1; // the salt: the derived commitment differs
    await writeFile(path, bytes);
  });
  forged = await forge(join(root, 'www/folder'), { files: folder }, key, join(root, 'forged'));
  await cp(join(root, 'forged'), join(root, 'www/forged'), { recursive: true });
  files = await startStaticServer({ root: join(root, 'www') });
  keyServer = await startKeyServer(storeDir);
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('generic-form failures', () => {
  it('loads the unaltered folder (the baseline every variant departs from)', async () => {
    const opened = await openSealedFiles(url('folder'), { token: await token(), keyServer });
    expect(Buffer.from(opened.get(LARGE)!).equals(Buffer.from(folder.find((f) => f.path === LARGE)!.data))).toBe(true);
  });

  it('tampered shard → tampered, naming the shard and chunk', async () => {
    await expectBoth('tampered', 'tampered', /shard 5 of 9 .*chunk 1 failed authentication/);
  });

  it('truncated shard → truncated', async () => {
    await expectBoth('truncated', 'truncated', /shard 9 of 9 .*truncated/);
  });

  it('bytes appended to a shard → trailing_data', async () => {
    await expectBoth('appended', 'trailing_data', /shard 4 of 9 .*longer than its sealed length/);
  });

  it('swapped shards → misplaced_shard', async () => {
    await expectBoth('swapped', 'misplaced_shard', /shard [45] of 9 .*commitment mismatch/);
  });

  it('404 shard → file_unavailable naming the URL and status', async () => {
    await expectBoth('missing', 'file_unavailable', /missing\/shard-6-of-9\.sealed: HTTP 404/);
  });

  it('altered header salt → wrong_key', async () => {
    await expectBoth('flipped-header', 'wrong_key', /header \(header\.sealed\): key commitment mismatch/);
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
    await store.revoke('revoked');
    await servers[0]!.reload();
    await expectCode(openSealedFiles(url('revoked'), { token: await token(), keyServer }), 'key_denied', /HTTP 403 key_revoked/);
  });

  it('wrong key: a key server of another store that vouches for the sealing releases another key → wrong_key', async () => {
    const otherDir = join(root, 'other-store');
    const { store: other } = await FileKeyStore.open(otherDir, { create: true });
    const { record } = await other.rotate('elsewhere');
    const manifest = JSON.parse(await readFile(join(root, 'www/elsewhere/model.json'), 'utf8')) as { sealing: string };
    await other.publish('elsewhere', record.keyId, manifest.sealing);
    const otherServer = await startKeyServer(otherDir);
    const otherToken = await mintDevToken({ store: otherDir, models: ['*'], ttl: '5m' });
    await expectCode(openSealedFiles(url('elsewhere'), { token: otherToken, keyServer: otherServer }), 'wrong_key', /key commitment mismatch/);
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
    await expectCode(openSealedFiles(url('elsewhere'), { token: await token(), keyServer, modelId: 'folder', fetch: counting }), 'unexpected_model', /is model elsewhere key k1, but the app expects folder/);
    await expectCode(openSealedFileStream(url('elsewhere'), LARGE, { token: await token(), keyServer, modelId: 'folder', fetch: counting }), 'unexpected_model', /app expects folder/);
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
