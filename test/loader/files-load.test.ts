// openSealedFiles and openSealedFileStream in Node, against a real key server and a real static
// server: every file back byte for byte, of both kinds, streamed or whole, with progress.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { openSealedFiles, openSealedFileStream, sealedModel, type ChunkCipherFactory } from '../../loader/index.js';
import { webCryptoChunkCipher } from '../../format/index.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { readAll, sampleFolder, sealFolderInto, type PlainFolder } from './files-fixtures.js';
import { copyHumanModel, sealInto, type ModelFiles } from './fixtures.js';
import { expectSameBytes } from '../helpers/bytes.js';
import { expectCode } from '../helpers/expect-code.js';

let root: string;
let storeDir: string;
let files: StaticServer;
let keyServer: string;
let server: KeyServer;
let folder: PlainFolder;
let human: ModelFiles;

const token = () => mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' });
const url = (name: string) => `${files.url}/${name}/model.json`;


beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-files-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  folder = sampleFolder();
  // 16 KiB chunks, 64 KiB shards: the 550 KB folder spans 9 shards, files cross shard boundaries.
  await sealFolderInto(store, 'folder', folder, join(root, 'www/folder'), { chunkLength: 16 * 1024, shardLength: 64 * 1024, headerMode: 'file' });
  await sealFolderInto(store, 'defaults', folder, join(root, 'www/defaults'));
  await sealFolderInto(store, 'only-empty', [{ path: 'empty.bin', data: new Uint8Array(0) }], join(root, 'www/only-empty'));
  human = await copyHumanModel('faceres', join(root, 'plain/faceres'));
  await sealInto(store, 'faceres', human, join(root, 'www/faceres'), { shardLength: 256 * 1024 });
  files = await startStaticServer({ root: join(root, 'www') });
  ({ server, url: keyServer } = await startKeyServer(storeDir));
});

afterAll(async () => {
  await server?.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('openSealedFiles', () => {
  it('gives back every file of a sealed folder byte for byte, under its relative path, with monotonic progress to 1', async () => {
    const fractions: number[] = [];
    const opened = await openSealedFiles(url('folder'), { token: await token(), keyServer, modelId: 'folder', onProgress: (f) => fractions.push(f) });
    expect([...opened.keys()]).toEqual(folder.map((f) => f.path));
    for (const f of folder) expect(Buffer.from(opened.get(f.path)!).equals(Buffer.from(f.data)), f.path).toBe(true);
    expect(fractions[0]).toBe(0);
    expect(fractions.at(-1)).toBe(1);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]!).toBeGreaterThan(fractions[i - 1]!);
    // Each file is its own buffer: a runtime may keep or transfer one without holding the others.
    const buffers = new Set([...opened.values()].map((b) => b.buffer));
    expect(buffers.size).toBe(folder.length);
  });

  it('at the defaults (256 KiB chunks, 4 MiB shards, header inline), and a sealing of one empty file', async () => {
    const opened = await openSealedFiles(url('defaults'), { token: await token(), keyServer });
    for (const f of folder) expect(Buffer.from(opened.get(f.path)!).equals(Buffer.from(f.data))).toBe(true);
    const empty = await openSealedFiles(url('only-empty'), { token: await token(), keyServer });
    expect([...empty.entries()]).toEqual([['empty.bin', new Uint8Array(0)]]);
  });

  it('on a TF.js sealing gives back its original files: model.json as sealed and each weight file', async () => {
    const opened = await openSealedFiles(url('faceres'), { token: await token(), keyServer });
    expect([...opened.keys()]).toEqual(['model.json', ...human.names]);
    expect(JSON.parse(Buffer.from(opened.get('model.json')!).toString('utf8'))).toEqual(human.modelJson);
    expectSameBytes(human.names.map((name) => opened.get(name)!), human.weightFiles, 'weight file');
  });

  it('paths: returns only the files asked for, fetching only the shards that hold them', async () => {
    const before = files.requests.length;
    const opened = await openSealedFiles(url('folder'), { token: await token(), keyServer, paths: ['tokenizer.json', 'config.json'] });
    expect([...opened.keys()]).toEqual(['config.json', 'tokenizer.json']);
    for (const path of ['config.json', 'tokenizer.json']) expect(Buffer.from(opened.get(path)!).equals(Buffer.from(folder.find((f) => f.path === path)!.data))).toBe(true);
    // config.json is in shard 1, tokenizer.json (the last file) in shard 9: nothing between.
    const shards = files.requests.slice(before).filter((r) => r.includes('/folder/shard-')).map((r) => /shard-(\d)-of-9/.exec(r)![1]).sort();
    expect(shards).toEqual(['1', '9']);
    const onnx = await openSealedFiles(url('folder'), { token: await token(), keyServer, paths: (p) => p.startsWith('onnx/') });
    expect([...onnx.keys()]).toEqual(['onnx/model.onnx', 'onnx/model.onnx_data']);
    expect(Buffer.from(onnx.get('onnx/model.onnx')!).equals(Buffer.from(folder[2]!.data))).toBe(true);
    await expectCode(openSealedFiles(url('folder'), { token: await token(), keyServer, paths: ['config.json', 'nope.bin'] }), 'file_unavailable', /holds no file "nope\.bin"/);
    await expect(openSealedFiles(url('folder'), { token: 't', keyServer, paths: [''] })).rejects.toThrow(/^openSealedFiles: options.paths must be a list of file paths/);
  });

  it('the manifest URL\'s query goes to the header and every shard (a signed URL\'s token, a cache-busting ?v=), as tf.io.http does for weight files', async () => {
    const fetched: string[] = [];
    const recording = (input: string, init?: RequestInit) => {
      fetched.push(input);
      return fetch(input, init);
    };
    const opened = await openSealedFiles(`${url('folder')}?v=3&sig=a%2Fb`, { token: await token(), keyServer, fetch: recording });
    expect(opened.size).toBe(folder.length);
    const files = fetched.filter((u) => u.includes('/folder/'));
    expect(files.filter((u) => /\/(header|shard-\d-of-9)\.sealed\?v=3&sig=a%2Fb$/.test(u))).toHaveLength(10);
    expect(files).toHaveLength(11); // the manifest, the header, nine shards
    fetched.length = 0;
    const model = await tf.loadGraphModel(sealedModel(`${url('faceres')}?v=3`, { token: await token(), keyServer, fetch: recording }));
    model.dispose();
    const shards = fetched.filter((u) => u.includes('/faceres/shard-'));
    expect(shards.length).toBeGreaterThan(1);
    expect(shards.every((u) => u.endsWith('.sealed?v=3'))).toBe(true);
    // A host that refuses a file gets a hint about access, not about uploading.
    const refusing = async (input: string, init?: RequestInit) => (input.includes('/shard-') ? new Response(null, { status: 403 }) : fetch(input, init));
    await expectCode(openSealedFiles(url('folder'), { token: await token(), keyServer, fetch: refusing }), 'file_unavailable', /HTTP 403; the host refused access: check its access rules/);
  });

  it('options.manifest, the app\'s own copy of model.json (text, object or bytes): the manifest is not downloaded, and it is checked like a downloaded one', async () => {
    const text = await readFile(join(root, 'www/folder/model.json'), 'utf8');
    const fetched: string[] = [];
    const recording = (input: string, init?: RequestInit) => {
      fetched.push(input);
      return fetch(input, init);
    };
    for (const manifest of [text, JSON.parse(text) as object, new TextEncoder().encode(text)]) {
      fetched.length = 0;
      const opened = await openSealedFiles(url('folder'), { token: await token(), keyServer, fetch: recording, manifest });
      for (const f of folder) expect(Buffer.from(opened.get(f.path)!).equals(Buffer.from(f.data)), f.path).toBe(true);
      const own = fetched.filter((u) => u.includes('/folder/'));
      expect(own.some((u) => u.endsWith('/model.json'))).toBe(false);
      expect(own).toHaveLength(10); // the header and nine shards
    }
    // The TF.js loader and the stream take it too.
    fetched.length = 0;
    const faceres = await readFile(join(root, 'www/faceres/model.json'), 'utf8');
    const model = await tf.loadGraphModel(sealedModel(url('faceres'), { token: await token(), keyServer, fetch: recording, manifest: faceres }));
    model.dispose();
    expect(fetched.filter((u) => u.includes('/faceres/') && u.endsWith('model.json'))).toEqual([]);
    expect(await readAll(await openSealedFileStream(url('folder'), 'config.json', { token: await token(), keyServer, manifest: text }))).toEqual(folder.find((f) => f.path === 'config.json')!.data);
    // Checked: not a manifest is manifest_invalid naming the option, a wrong type a TypeError, and the pins apply to it.
    await expectCode(openSealedFiles(url('folder'), { token: 't', keyServer, manifest: '{"modelseal": "modelseal/2"' }), 'manifest_invalid', /^options\.manifest: .*pass the model\.json that `modelseal seal` wrote$/);
    await expectCode(openSealedFiles(url('folder'), { token: 't', keyServer, manifest: { ...(JSON.parse(text) as object), extra: 1 } }), 'manifest_invalid', /^options\.manifest: /);
    await expect(openSealedFiles(url('folder'), { token: 't', keyServer, manifest: 42 } as never)).rejects.toThrow(/^openSealedFiles: options\.manifest must be the sealed model\.json/);
    await expectCode(openSealedFiles(url('folder'), { token: await token(), keyServer, manifest: faceres, modelId: 'folder' }), 'unexpected_model', /is model faceres key k1, but the app expects folder/);
    // Another sealing's manifest for these files: the header it names is not this one.
    await expectCode(openSealedFiles(url('defaults'), { token: await token(), keyServer, manifest: text }), 'file_unavailable', /defaults\/header\.sealed/);
  });

  it('reads a sealing from disk through a file:// URL in Node', async () => {
    const opened = await openSealedFiles(pathToFileURL(join(root, 'www/folder/model.json')).href, { token: await token(), keyServer });
    for (const f of folder) expect(Buffer.from(opened.get(f.path)!).equals(Buffer.from(f.data))).toBe(true);
  });

  it('sealedModel on a files sealing fails with kind_mismatch naming openSealedFiles', async () => {
    await expectCode(tf.loadGraphModel(sealedModel(url('folder'), { token: await token(), keyServer })), 'kind_mismatch', /sealing of 5 files .*openSealedFiles/);
  });

  it('rejects bad arguments with TypeError naming openSealedFiles and the option', async () => {
    await expect(openSealedFiles('', { token: 't', keyServer })).rejects.toThrow(/^openSealedFiles: the first argument must be the URL/);
    await expect(openSealedFiles(url('folder'), { token: 't' } as never)).rejects.toThrow(/^openSealedFiles: options.keyServer is required/);
    await expect(openSealedFiles(url('folder'), { token: 't', keyServer, streamWeights: true } as never)).rejects.toThrow(/^openSealedFiles: options.streamWeights is for sealedModel/);
    await expect(openSealedFiles(url('folder'), { token: 't', keyServer, colour: 1 } as never)).rejects.toThrow(/^openSealedFiles: unknown option "colour"/);
  });
});

describe('openSealedFileStream', () => {
  it('streams one file that spans several shards, byte for byte, fetching only the shards that hold it', async () => {
    const target = folder.find((f) => f.path === 'onnx/model.onnx_data')!;
    const before = files.requests.length;
    const stream = await openSealedFileStream(url('folder'), 'onnx/model.onnx_data', { token: await token(), keyServer });
    const bytes = await readAll(stream);
    expect(Buffer.from(bytes).equals(Buffer.from(target.data))).toBe(true);
    const shards = files.requests.slice(before).filter((r) => r.includes('/folder/shard-'));
    // Its bytes start at 150 071 (after config, empty, model.onnx): shards 3 to 9 of 9 (64 KiB each).
    expect(shards.map((r) => /shard-(\d)-of-9/.exec(r)![1])).toEqual(['3', '4', '5', '6', '7', '8', '9']);
  });

  it('streams a small file inside one shard, an empty file, and a TF.js model.json (from the header)', async () => {
    const config = await readAll(await openSealedFileStream(url('folder'), 'config.json', { token: await token(), keyServer }));
    expect(Buffer.from(config).toString()).toBe(Buffer.from(folder[0]!.data).toString());
    expect((await readAll(await openSealedFileStream(url('folder'), 'empty.txt', { token: await token(), keyServer }))).length).toBe(0);
    const modelJson = await readAll(await openSealedFileStream(url('faceres'), 'model.json', { token: await token(), keyServer }));
    expect(JSON.parse(Buffer.from(modelJson).toString())).toEqual(human.modelJson);
  });

  it('an unknown path rejects with file_unavailable before any shard is fetched', async () => {
    const before = files.requests.length;
    await expectCode(openSealedFileStream(url('folder'), 'onnx/MODEL.onnx', { token: await token(), keyServer }), 'file_unavailable', /holds no file "onnx\/MODEL.onnx" \(it holds 5 files/);
    expect(files.requests.slice(before).some((r) => r.includes('shard-'))).toBe(false);
  });

  it('a piece shows only its own file: the bytes of neighbouring files in its chunk are zeroed', async () => {
    const pieces: Uint8Array[] = [];
    for (const path of ['onnx/model.onnx', 'onnx/model.onnx_data']) {
      const reader = (await openSealedFileStream(url('folder'), path, { token: await token(), keyServer })).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) pieces.push(r.value);
    }
    // model.onnx ends inside a chunk that model.onnx_data starts in (both random bytes), so both
    // files' edge pieces are views into chunks that held the other file's bytes.
    const edges = pieces.filter((p) => p.byteLength < p.buffer.byteLength);
    expect(edges.length).toBeGreaterThanOrEqual(2);
    for (const p of edges) {
      const whole = new Uint8Array(p.buffer);
      expect(whole.subarray(0, p.byteOffset).every((b) => b === 0) && whole.subarray(p.byteOffset + p.byteLength).every((b) => b === 0)).toBe(true);
    }
  });

  it('cancelling zeroes the shards read ahead, which no reader gets', async () => {
    // A cipher that records every chunk it decrypts, so the test can look at what was not handed out.
    const decrypted: ArrayBuffer[] = [];
    const cipher: ChunkCipherFactory = {
      ...webCryptoChunkCipher,
      async forFile(key, nonce) {
        const inner = await webCryptoChunkCipher.forFile(key, nonce);
        return { seal: inner.seal, open: async (i, sealed) => { const out = await inner.open(i, sealed); decrypted.push(out); return out; } };
      },
    };
    const stream = await openSealedFileStream(url('folder'), 'onnx/model.onnx_data', { token: await token(), keyServer, cipher });
    decrypted.length = 0; // the header's chunks, opened before the stream resolved
    const reader = stream.getReader();
    // The file starts at byte 150 071: its first shard (the third, to byte 196 608) gives 46 537 bytes.
    const handed = new Set<ArrayBufferLike>();
    for (let got = 0; got < 196_608 - 150_071;) {
      const { value } = await reader.read();
      handed.add(value!.buffer);
      got += value!.byteLength;
    }
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 200));
    const ahead = decrypted.filter((b) => !handed.has(b));
    // The control: shards past the first were decrypted ahead of the reader.
    expect(ahead.length).toBeGreaterThan(1);
    for (const b of ahead) expect(new Uint8Array(b).every((x) => x === 0)).toBe(true);
  });

  it('reads at most one shard ahead of the reader, and cancelling stops there', async () => {
    const before = files.requests.length;
    const stream = await openSealedFileStream(url('folder'), 'onnx/model.onnx_data', { token: await token(), keyServer });
    const shardRequests = () => files.requests.slice(before).filter((r) => r.includes('/folder/shard-')).length;
    const reader = stream.getReader();
    await reader.read();
    // The file spans 7 shards: the one handed out, the one after it, and the next one started.
    expect(shardRequests()).toBeLessThanOrEqual(3);
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 100));
    expect(shardRequests()).toBeLessThanOrEqual(3);
  });
});
