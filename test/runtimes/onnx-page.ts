// The page script of the Chromium ONNX test, bundled by esbuild with onnxruntime-web and the loader.
// The wasm files come from the test's static server (/ort/), out of node_modules/onnxruntime-web.
import * as ort from 'onnxruntime-web';
import { createOnnxSession, onnxModelFromFiles, openSealedFiles } from '../../loader/index.js';
import { runFloatInput, runSilero, type OrtModule, type OrtSession } from './runners.js';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;

async function fetchSet(base: string, paths: string[]): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const path of paths) {
    const response = await fetch(new URL(path, base));
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    files.set(path, new Uint8Array(await response.arrayBuffer()));
  }
  return files;
}

function run(session: OrtSession, inputShape: readonly number[] | null): Promise<number[]> {
  const m = ort as unknown as OrtModule;
  return inputShape ? runFloatInput(m, session, inputShape) : runSilero(m, session);
}

/** What the test calls through page.evaluate. */
const onnxTest = {
  async plain(base: string, paths: string[], inputShape: readonly number[] | null): Promise<number[]> {
    const input = onnxModelFromFiles(await fetchSet(base, paths));
    const session = (await ort.InferenceSession.create(input.model, input.options)) as unknown as OrtSession;
    try {
      return await run(session, inputShape);
    } finally {
      await session.release?.();
    }
  },
  async sealed(url: string, inputShape: readonly number[] | null, token: string, keyServer: string): Promise<{ outputs: number[]; wiped: boolean }> {
    const files = await openSealedFiles(url, { token, keyServer });
    const buffers = [...files.values()];
    const session = (await createOnnxSession(ort, files)) as unknown as OrtSession;
    try {
      return { outputs: await run(session, inputShape), wiped: files.size === 0 && buffers.every((b) => b.every((x) => x === 0)) };
    } finally {
      await session.release?.();
    }
  },
  async storage(): Promise<{ caches: string[]; databases: string[] }> {
    const databases = (await indexedDB.databases()).map((d) => d.name ?? '');
    return { caches: await caches.keys(), databases };
  },
};
(globalThis as unknown as { onnxTest: typeof onnxTest }).onnxTest = onnxTest;
