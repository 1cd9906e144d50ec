// The Chromium page of bench/onnx.ts: creates an onnxruntime-web session plainly or from sealed files
// and returns the milliseconds until it is ready; or gets the files alone (benchFiles).
import * as ort from 'onnxruntime-web';
import { createOnnxSession, onnxModelFromFiles, openSealedFiles } from '../../loader/index.js';
import { cryptoAloneMs } from './crypto-alone.js';
import { fetchSet } from './fetch-set.js';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;

async function benchOnnx(sealed: boolean, url: string, paths: string[], token: string, keyServer: string): Promise<number> {
  const t0 = performance.now();
  let session: { release(): Promise<void> };
  if (sealed) {
    session = await createOnnxSession(ort, await openSealedFiles(url, { token, keyServer }));
  } else {
    const input = onnxModelFromFiles(await fetchSet(url, paths));
    session = await ort.InferenceSession.create(input.model, input.options);
  }
  const ms = performance.now() - t0;
  await session.release();
  return ms;
}
/** The files alone, no runtime: fetched plainly, or opened sealed; the milliseconds until every byte is in memory. */
async function benchFiles(sealed: boolean, url: string, paths: string[], token: string, keyServer: string): Promise<number> {
  const t0 = performance.now();
  const files = sealed ? await openSealedFiles(url, { token, keyServer }) : await fetchSet(url, paths);
  const ms = performance.now() - t0;
  files.clear();
  return ms;
}
(globalThis as unknown as { benchOnnx: typeof benchOnnx; benchFiles: typeof benchFiles }).benchOnnx = benchOnnx;
(globalThis as unknown as { benchFiles: typeof benchFiles }).benchFiles = benchFiles;
(globalThis as unknown as { benchCryptoAlone(bytes: number): Promise<number> }).benchCryptoAlone = (bytes) => cryptoAloneMs(bytes, undefined);
