// End to end in Node: real pretrained graph models and a layers model built here, sealed with the
// format, served by a static server, keys released by the real key server; everything on 127.0.0.1.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { registerSealedRouter, sealedModel, type SealedModelOptions } from '../../loader/index.js';
import { READ_AHEAD_BYTES } from '../../loader/shard-reader.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import { buildLayersModel, copyHumanModel, inputsFor, reluModelJson, sealInto, tensorBytes, writePlain, type ModelFiles } from './fixtures.js';
import { expectSameBytes } from '../helpers/bytes.js';
import { expectCode } from '../helpers/expect-code.js';

// Every graph model @vladmandic/human ships: float16-quantized (antispoof, faceres, movenet, …),
// uint8-quantized + int32 (handtrack), float32 (emotion, blazeface), and the rest as they come.
const GRAPH_MODELS = ['antispoof', 'blazeface', 'centernet', 'emotion', 'facemesh', 'faceres', 'handlandmark-lite', 'handtrack', 'iris', 'liveness', 'movenet-lightning'];

let root: string;
let storeDir: string;
let files: StaticServer;
let keys: KeyServer;
let keyServer: string;
const plainModels = new Map<string, ModelFiles>();

async function options(extra: Partial<SealedModelOptions> = {}): Promise<SealedModelOptions> {
  return { token: await mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' }), keyServer, ...extra };
}

function compareGraphWeights(plain: tf.GraphModel, sealed: tf.GraphModel): number {
  const names = Object.keys(plain.weights).sort();
  expect(names.length, 'the plain model has no weights to compare').toBeGreaterThan(0);
  expect(Object.keys(sealed.weights).sort()).toEqual(names);
  for (const name of names) {
    const a = plain.weights[name]!;
    const b = sealed.weights[name]!;
    expect(b.length).toBe(a.length);
    a.forEach((t, i) => {
      expect(b[i]!.dtype).toBe(t.dtype);
      expect(b[i]!.shape).toEqual(t.shape);
      expect(Buffer.from(tensorBytes(b[i]!)).equals(Buffer.from(tensorBytes(t)))).toBe(true);
    });
  }
  return names.length;
}

async function predict(model: tf.GraphModel): Promise<Uint8Array[]> {
  const inputs = inputsFor(tf, model);
  const out = await model.executeAsync(inputs.length === 1 ? inputs[0]! : inputs);
  const list = Array.isArray(out) ? out : [out];
  const bytes = list.map(tensorBytes);
  tf.dispose([...inputs, ...list]);
  return bytes;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'modelseal-loader-node-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  for (const name of GRAPH_MODELS) {
    const model = await copyHumanModel(name, join(root, 'www/plain', name));
    plainModels.set(name, model);
    // handtrack: small shards and chunks, so one model spans many shards and chunk boundaries.
    const layout = name === 'handtrack' ? { shardLength: 1024 * 1024, chunkLength: 64 * 1024 } : {};
    await sealInto(store, name, model, join(root, 'www/sealed', name), layout);
  }
  const layers = await buildLayersModel(tf);
  plainModels.set('layers', layers);
  await writePlain(join(root, 'www/plain/layers'), layers);
  await sealInto(store, 'layers', layers, join(root, 'www/sealed/layers'), { shardLength: 64 * 1024, chunkLength: 16 * 1024, headerMode: 'file' });
  files = await startStaticServer({ root: join(root, 'www') });
  ({ server: keys, url: keyServer } = await startKeyServer(storeDir));
});

afterAll(async () => {
  await keys?.close();
  await files?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('sealedModel in Node', () => {
  for (const name of GRAPH_MODELS) {
    it(`loads ${name} bit for bit and predicts exactly like the plain model`, async () => {
      const plain = await tf.loadGraphModel(`${files.url}/plain/${name}/model.json`);
      const fractions: number[] = [];
      const sealed = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/${name}/model.json`, await options({ onProgress: (f) => fractions.push(f) })));
      expect(compareGraphWeights(plain, sealed)).toBeGreaterThan(0);
      expectSameBytes(await predict(sealed), await predict(plain), 'output');
      expect(fractions[0]).toBe(0);
      expect(fractions.at(-1)).toBe(1);
      for (let i = 1; i < fractions.length; i++) expect(fractions[i]!).toBeGreaterThan(fractions[i - 1]!);
      plain.dispose();
      sealed.dispose();
    });
  }

  it('streams weights (getWeightStream) for tf.loadGraphModel with streamWeights', async () => {
    for (const name of ['handtrack', 'faceres']) {
      const plain = await tf.loadGraphModel(`${files.url}/plain/${name}/model.json`);
      const handler = sealedModel(`${files.url}/sealed/${name}/model.json`, await options({ streamWeights: true }));
      const artifacts = await handler.load();
      expect(artifacts.weightData).toBeUndefined();
      expect(typeof artifacts.getWeightStream).toBe('function');
      const sealed = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/${name}/model.json`, await options({ streamWeights: true })));
      compareGraphWeights(plain, sealed);
      if (name === 'faceres') {
        // One prediction is enough here (handtrack's takes seconds on the CPU backend); weights are compared above.
        expectSameBytes(await predict(sealed), await predict(plain), 'output');
      }
      plain.dispose();
      sealed.dispose();
    }
  });

  it('returns every model.json field and weightData as equal-size ArrayBuffers (tfjs fast path)', async () => {
    const name = 'handtrack';
    const original = plainModels.get(name)!.modelJson as Record<string, unknown>;
    const artifacts = await sealedModel(`${files.url}/sealed/${name}/model.json`, await options()).load();
    for (const field of ['modelTopology', 'format', 'generatedBy', 'convertedBy', 'signature', 'userDefinedMetadata']) {
      expect((artifacts as Record<string, unknown>)[field]).toEqual(original[field]);
    }
    const groups = original['weightsManifest'] as Array<{ weights: unknown[] }>;
    expect(artifacts.weightSpecs).toEqual(groups.flatMap((g) => g.weights));
    const data = artifacts.weightData as ArrayBuffer[];
    expect(Array.isArray(data)).toBe(true);
    expect(data.length).toBeGreaterThan(16);
    for (const buffer of data) expect(buffer).toBeInstanceOf(ArrayBuffer);
    for (const buffer of data.slice(0, -1)) expect(buffer.byteLength).toBe(64 * 1024);
    const total = data.reduce((n, b) => n + b.byteLength, 0);
    expect(total).toBe(plainModels.get(name)!.weightFiles.reduce((n, f) => n + f.length, 0));
  });

  it('tf.loadGraphModel on a sealed layers model → model_format_mismatch naming loadLayersModel (tfjs alone: a TypeError)', async () => {
    // The plain path shows what a user got before: tfjs's own crash, no code, no hint.
    const plainErr = await tf.loadGraphModel(`${files.url}/plain/layers/model.json`).then(() => undefined, (e: unknown) => e);
    expect(plainErr).toBeInstanceOf(TypeError);
    await expectCode(tf.loadGraphModel(sealedModel(`${files.url}/sealed/layers/model.json`, await options())), 'model_format_mismatch', /layers model .*tf\.loadLayersModel\(sealedModel/, { file: `${files.url}/sealed/layers/model.json` });
    // The guard is invisible to tfjs-layers: the same artifacts still load as a layers model.
    const handler = sealedModel(`${files.url}/sealed/layers/model.json`, await options());
    const artifacts = await handler.load();
    expect(Object.keys(artifacts.modelTopology as object)).not.toContain('versions');
    expect(JSON.stringify(artifacts.modelTopology)).not.toContain('versions');
    const model = await tf.loadLayersModel({ load: () => Promise.resolve(artifacts) });
    expect(model.getWeights().length).toBe(6);
    model.dispose();
  });

  it('loads a layers model built in tfjs (header in its own file, many shards)', async () => {
    const plain = await tf.loadLayersModel(`${files.url}/plain/layers/model.json`);
    const sealed = await tf.loadLayersModel(sealedModel(`${files.url}/sealed/layers/model.json`, await options()));
    const [wa, wb] = [plain.getWeights(), sealed.getWeights()];
    expectSameBytes(wb.map(tensorBytes), wa.map(tensorBytes), 'weight');
    const x = tf.randomUniform([3, 64], 0, 1, 'float32', 7);
    const [pa, pb] = [plain.predict(x) as tf.Tensor, sealed.predict(x) as tf.Tensor];
    expect(Buffer.from(tensorBytes(pb)).equals(Buffer.from(tensorBytes(pa)))).toBe(true);
    tf.dispose([x, pa, pb]);
    plain.dispose();
    sealed.dispose();
  });

  it('takes a node:crypto chunk cipher (the CLI\'s) and loads the same bits', async () => {
    const { nodeChunkCipher } = await import('../../node/index.js');
    const plain = await tf.loadGraphModel(`${files.url}/plain/faceres/model.json`);
    const sealed = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/faceres/model.json`, await options({ cipher: nodeChunkCipher })));
    compareGraphWeights(plain, sealed);
    [plain, sealed].forEach((m) => m.dispose());
  });

  it('downloads shards while the key is released: all of a small model, at most READ_AHEAD_BYTES of a large one', async () => {
    const { store } = await FileKeyStore.open(storeDir);
    // 20 MB of weights in 4 MiB shards: more than the read-ahead budget (16 MiB).
    const big = new Uint8Array(20_000_000);
    for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, Math.min(big.length, i + 65536)));
    const bigModel: ModelFiles = { modelJson: { format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [5_000_000], dtype: 'float32' }] }] }, weightFiles: [big], names: ['w.bin'] };
    await sealInto(store, 'read-ahead', bigModel, join(root, 'www/sealed/read-ahead'));
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' });

    // Counts the shard bytes the loader has read, through a pull-only body (no buffering of its own).
    const pulled = { bytes: 0 };
    const countingFetch = async (input: string, init?: RequestInit): Promise<Response> => {
      const response = await fetch(input, init);
      if (!/shard-/.test(input) || !response.body) return response;
      const reader = response.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          pulled.bytes += value.byteLength;
          controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    /** Waits until `check` holds; the 10 s guard only keeps a broken loader from hanging the test. */
    const waitFor = async (check: () => boolean) => {
      for (let waited = 0; !check() && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    };

    // Small model: the token provider holds the key back until every shard byte was read.
    const smallShards = (await (await fetch(`${files.url}/sealed/faceres/model.json`)).json() as { shards: Array<{ size: number }> }).shards.reduce((n, s) => n + s.size, 0);
    let beforeToken = -1;
    const small = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/faceres/model.json`, {
      keyServer, fetch: countingFetch,
      token: async () => {
        await waitFor(() => pulled.bytes >= smallShards);
        beforeToken = pulled.bytes;
        return token;
      },
    }));
    expect(beforeToken).toBe(smallShards);
    compareGraphWeights(await tf.loadGraphModel(`${files.url}/plain/faceres/model.json`), small);

    // Large model, all five shards requested at once: reading stops at the budget (plus at most
    // one piece per shard in flight).
    pulled.bytes = 0;
    const artifacts = await sealedModel(`${files.url}/sealed/read-ahead/model.json`, {
      keyServer, fetch: countingFetch, maxConcurrentRequests: 8,
      token: async () => {
        await waitFor(() => pulled.bytes >= READ_AHEAD_BYTES);
        await new Promise((r) => setTimeout(r, 300)); // room to overshoot, were the budget ignored
        beforeToken = pulled.bytes;
        return token;
      },
    }).load();
    expect(beforeToken).toBeGreaterThanOrEqual(READ_AHEAD_BYTES);
    expect(beforeToken).toBeLessThanOrEqual(READ_AHEAD_BYTES + 5 * (256 * 1024 + 16));
    const weights = artifacts.weightData as ArrayBuffer[];
    expect(Buffer.concat(weights.map((b) => new Uint8Array(b))).equals(big)).toBe(true);
  });

  it('decrypts shards on the key alone while the header file still downloads, and checks their digests once it is open', async () => {
    const { defaultCipher } = await import('../../loader/default-cipher.js');
    const base = (await defaultCipher())!;
    let opens = 0;
    const counting = {
      ...base,
      forFile: async (keyBytes: Uint8Array, baseNonce: Uint8Array) => {
        const inner = await base.forFile(keyBytes, baseNonce);
        return { ...inner, open: (i: number, sealed: Uint8Array) => (opens++, inner.open(i, sealed)) };
      },
    };
    const manifest = await (await fetch(`${files.url}/sealed/layers/model.json`)).json() as { header: { path: string } };
    /** Waits until `check` holds; the 10 s guard only keeps a broken loader from hanging the test. */
    const waitFor = async (check: () => boolean) => {
      for (let waited = 0; !check() && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    };
    // The header file is held back until a shard chunk has been decrypted: only a loader that
    // decrypts on the key alone gets there (one that needs the header first waits out the guard).
    let decryptsBeforeHeader = -1;
    const holdingFetch = async (input: string, init?: RequestInit): Promise<Response> => {
      if (input.endsWith(`/${manifest.header.path}`)) {
        await waitFor(() => opens > 0);
        decryptsBeforeHeader = opens;
      }
      return fetch(input, init);
    };
    const plain = await tf.loadLayersModel(`${files.url}/plain/layers/model.json`);
    const sealed = await tf.loadLayersModel(sealedModel(`${files.url}/sealed/layers/model.json`, await options({ fetch: holdingFetch, cipher: counting })));
    expect(decryptsBeforeHeader).toBeGreaterThan(0);
    const [wa, wb] = [plain.getWeights(), sealed.getWeights()];
    expectSameBytes(wb.map(tensorBytes), wa.map(tensorBytes), 'weight');
    plain.dispose();
    sealed.dispose();
  });

  it('loads a model without weights (no shards), also with streamWeights', async () => {
    const { store } = await FileKeyStore.open(storeDir);
    const model: ModelFiles = { modelJson: reluModelJson(), weightFiles: [], names: [] };
    await sealInto(store, 'no-weights', model, join(root, 'www/sealed/no-weights'));
    for (const streamWeights of [false, true]) {
      const fractions: number[] = [];
      const sealed = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/no-weights/model.json`, await options({ streamWeights, onProgress: (f) => fractions.push(f) })));
      const y = sealed.predict(tf.tensor1d([-1, 2, -3, 4])) as tf.Tensor;
      expect(Array.from(y.dataSync())).toEqual([0, 2, 0, 4]);
      expect(fractions.at(-1)).toBe(1);
      tf.dispose(y);
      sealed.dispose();
    }
  });

  it('decrypts with node:crypto by default in Node, with WebCrypto when asked or streaming (same bits)', async () => {
    const { webCryptoChunkCipher } = await import('../../format/chunked.js');
    const subtle = globalThis.crypto.subtle;
    const decrypt = subtle.decrypt.bind(subtle);
    const sign = subtle.sign.bind(subtle);
    const digest = subtle.digest.bind(subtle);
    let aesCalls = 0;
    let kdfCalls = 0;
    let hashCalls = 0;
    // Counts WebCrypto SHA-256 calls on full 256 KiB chunks (not the header's, thumbprints or final digests).
    subtle.digest = ((algorithm: AlgorithmIdentifier, data: BufferSource) => {
      if (data.byteLength === 256 * 1024) hashCalls++;
      return digest(algorithm, data);
    }) as typeof subtle.digest;
    // Counts WebCrypto HMAC-SHA-512 calls: the key schedule's (token HMACs are SHA-256).
    subtle.sign = ((algorithm: AlgorithmIdentifier, key: CryptoKey, data: BufferSource) => {
      if ((key.algorithm as HmacKeyAlgorithm).hash?.name === 'SHA-512') kdfCalls++;
      return sign(algorithm, key, data);
    }) as typeof subtle.sign;
    // Counts WebCrypto AES-GCM decrypt calls on model chunks (not the few 48-byte ones that unwrap
    // keys in the keystore and the key release).
    subtle.decrypt = ((algorithm: AlgorithmIdentifier, key: CryptoKey, data: BufferSource) => {
      if ((typeof algorithm === 'string' ? algorithm : algorithm.name) === 'AES-GCM' && data.byteLength > 1024) aesCalls++;
      return decrypt(algorithm, key, data);
    }) as typeof subtle.decrypt;
    try {
      const plain = await tf.loadGraphModel(`${files.url}/plain/faceres/model.json`);
      const byDefault = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/faceres/model.json`, await options()));
      const defaultCalls = aesCalls;
      const defaultKdfCalls = kdfCalls;
      const defaultHashCalls = hashCalls;
      aesCalls = 0;
      kdfCalls = 0;
      hashCalls = 0;
      const byWebCrypto = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/faceres/model.json`, await options({ cipher: webCryptoChunkCipher })));
      // faceres: 6.7 MB in 256 KiB chunks, so WebCrypto makes ~27 chunk calls; node:crypto none.
      expect(defaultCalls).toBe(0);
      expect(aesCalls).toBeGreaterThan(20);
      // The key schedule too: node:crypto's HMAC by default, WebCrypto's two calls per file when asked.
      expect(defaultKdfCalls).toBe(0);
      expect(kdfCalls).toBeGreaterThanOrEqual(4);
      // And the chunk digests: node:crypto's SHA-256 by default, WebCrypto's per chunk when asked.
      expect(defaultHashCalls).toBe(0);
      expect(hashCalls).toBeGreaterThan(20);
      // streamWeights keeps WebCrypto by default (the memory-lean path).
      aesCalls = 0;
      const streamed = await tf.loadGraphModel(sealedModel(`${files.url}/sealed/faceres/model.json`, await options({ streamWeights: true })));
      expect(aesCalls).toBeGreaterThan(20);
      compareGraphWeights(plain, streamed);
      streamed.dispose();
      compareGraphWeights(plain, byDefault);
      compareGraphWeights(plain, byWebCrypto);
      [plain, byDefault, byWebCrypto].forEach((m) => m.dispose());
    } finally {
      subtle.decrypt = decrypt;
      subtle.sign = sign;
      subtle.digest = digest;
    }
  });

  it('loads sealed files from disk through a file:// URL', async () => {
    const plain = await tf.loadGraphModel(`${files.url}/plain/antispoof/model.json`);
    const url = pathToFileURL(join(root, 'www/sealed/antispoof/model.json')).href;
    const sealed = await tf.loadGraphModel(sealedModel(url, await options()));
    compareGraphWeights(plain, sealed);
    const streamed = await tf.loadGraphModel(sealedModel(url, await options({ streamWeights: true })));
    compareGraphWeights(plain, streamed);
    // streamWeights is ignored for layers models (tfjs-layers would drop a weight stream silently).
    const layers = await tf.loadLayersModel(sealedModel(pathToFileURL(join(root, 'www/sealed/layers/model.json')).href, await options({ streamWeights: true })));
    const plainLayers = await tf.loadLayersModel(`${files.url}/plain/layers/model.json`);
    expectSameBytes(layers.getWeights().map(tensorBytes), plainLayers.getWeights().map(tensorBytes), 'weight');
    plainLayers.dispose();
    expect(layers.getWeights().length).toBe(6);
    [plain, sealed, streamed, layers].forEach((m) => m.dispose());
  });

  it('resolves shards with weightUrlConverter and passes requestInit headers to model files only', async () => {
    const seen: Array<{ url: string; headers: Headers; credentials: string | undefined }> = [];
    const counting: SealedModelOptions['fetch'] = (url, init) => {
      seen.push({ url, headers: new Headers(init?.headers), credentials: init?.credentials });
      return fetch(url, init);
    };
    const base = `${files.url}/sealed/emotion/`;
    const handler = sealedModel(`${base}model.json`, await options({
      fetch: counting,
      requestInit: { headers: { 'x-cdn-auth': 'abc' } },
      weightUrlConverter: async (path) => `${base}${path}?v=1`,
    }));
    const model = await tf.loadGraphModel(handler);
    model.dispose();
    const shardRequests = seen.filter((s) => s.url.includes('.sealed'));
    expect(shardRequests.length).toBeGreaterThan(0);
    for (const s of shardRequests) {
      expect(s.url).toMatch(/\?v=1$/);
      expect(s.headers.get('x-cdn-auth')).toBe('abc');
    }
    const release = seen.find((s) => s.url.endsWith('/v2/release'))!;
    expect(release.headers.get('x-cdn-auth')).toBeNull();
    expect(release.headers.get('authorization')).toMatch(/^Bearer /);
    expect(release.credentials).toBe('omit');
    expect(files.requests).toContain('GET /sealed/emotion/model.json');
  });

  it('sends an X25519 key where WebCrypto has it, and P-256 where it has not', async () => {
    const epks: Array<Record<string, unknown>> = [];
    const recording: SealedModelOptions['fetch'] = (url, init) => {
      if (url.endsWith('/v2/release')) epks.push((JSON.parse(String(init?.body)) as { epk: Record<string, unknown> }).epk);
      return fetch(url, init);
    };
    const load = async () => (await tf.loadGraphModel(sealedModel(`${files.url}/sealed/emotion/model.json`, await options({ fetch: recording })))).dispose();
    await load();
    expect(Object.keys(epks[0]!).sort()).toEqual(['crv', 'kty', 'x']);
    expect(epks[0]).toMatchObject({ kty: 'OKP', crv: 'X25519' });
    // Node and Chromium here both have X25519, so a WebCrypto without it cannot exist in this
    // test: generateKey is wrapped to refuse the curve as such a browser does (NotSupportedError).
    const subtle = globalThis.crypto.subtle;
    const generateKey = subtle.generateKey;
    const refused: string[] = [];
    subtle.generateKey = function (this: SubtleCrypto, algorithm: AlgorithmIdentifier, ...rest: unknown[]) {
      const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
      if (name === 'X25519') {
        refused.push(name);
        return Promise.reject(new DOMException('Unrecognized algorithm name', 'NotSupportedError'));
      }
      return (generateKey as (...args: unknown[]) => Promise<unknown>).call(this, algorithm, ...rest);
    } as typeof subtle.generateKey;
    try {
      await load();
    } finally {
      subtle.generateKey = generateKey;
    }
    expect(refused).toEqual(['X25519']);
    expect(Object.keys(epks[1]!).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(epks[1]).toMatchObject({ kty: 'EC', crv: 'P-256' });
  });

  it('registers the sealed+ URL scheme only when asked', async () => {
    const url = `sealed+${files.url}/sealed/antispoof/model.json`;
    expect(tf.io.getLoadHandlers(url).length).toBe(0);
    registerSealedRouter(tf, await options());
    expect(tf.io.getLoadHandlers(url).length).toBe(1);
    const fractions: number[] = [];
    const model = await tf.loadGraphModel(url, { onProgress: (f) => fractions.push(f), streamWeights: true });
    expect(Object.keys(model.weights).length).toBeGreaterThan(0);
    expect(fractions.at(-1)).toBe(1);
    model.dispose();
  });

  it('rejects bad options with TypeError naming the option', async () => {
    expect(() => sealedModel('', { token: 't' })).toThrow(TypeError);
    expect(() => sealedModel('http://x/model.json', {} as SealedModelOptions)).toThrow(/options.token/);
    expect(() => sealedModel('http://x/model.json', { token: 't', keyServer: 'ftp://x' })).toThrow(/options.keyServer/);
    const ks = { token: 't', keyServer: 'https://keys.example.com' };
    expect(() => sealedModel('http://x/model.json', { ...ks, maxConcurrentRequests: 0 })).toThrow(/maxConcurrentRequests/);
    expect(() => sealedModel('http://x/model.json', { ...ks, requestInit: { body: 'x' } })).toThrow(/must not have a body/);
    expect(() => sealedModel('http://x/model.json', { ...ks, fetch: 'no' as unknown as SealedModelOptions['fetch'] })).toThrow(/options.fetch must be a function/);
    expect(() => sealedModel('http://x/model.json', { ...ks, tokn: 1 } as unknown as SealedModelOptions)).toThrow(/unknown option "tokn"/);
    expect(() => sealedModel('http://x/model.json', { ...ks, modelId: '../x' })).toThrow(/options.modelId must be a model or key id/);
    expect(() => sealedModel('http://x/model.json', { ...ks, timeoutMs: 0 })).toThrow(/options.timeoutMs must be a positive integer/);
    for (const allow of [[], ['keys.example.com'], ['https://keys.example.com/path'], 'yes']) {
      expect(() => sealedModel('http://x/model.json', { token: 't', allowManifestKeyServer: allow as string[] })).toThrow(/allowManifestKeyServer must be true or a list of key-server origins/);
    }
    // No options.keyServer and no opt-in: refused before any request (the manifest's field is not authenticated).
    let requests = 0;
    const counting: SealedModelOptions['fetch'] = (u, init) => { requests++; return fetch(u, init); };
    expect(() => sealedModel(`${files.url}/sealed/antispoof/model.json`, { token: 't', fetch: counting })).toThrow(/options.keyServer is required/);
    expect(requests).toBe(0);
  });
});
