// The Chromium page of bench/tflite.ts: a MediaPipe Tasks FaceDetector or a LiteRT.js compiled model
// made ready plainly (the runtime fetching the .tflite URL itself) or sealed (openSealedFileStream's
// reader); returns the milliseconds until it exists.
import { loadAndCompile, loadLiteRt } from '@litertjs/core';
import { FaceDetector, FilesetResolver } from '@mediapipe/tasks-vision';
import { openSealedFileStream } from '../../loader/index.js';

const vision = FilesetResolver.forVisionTasks(new URL('/mediapipe', location.href).href);
const litert = loadLiteRt(new URL('/litert/', location.href).href);

async function benchTflite(runtime: 'mediapipe' | 'litert', sealed: boolean, url: string, path: string, token: string, keyServer: string): Promise<number> {
  // The runtimes' wasm is loaded before the clock starts: both paths share it.
  const fileset = await vision;
  await litert;
  const t0 = performance.now();
  const asset = sealed ? (await openSealedFileStream(url, path, { token, keyServer })).getReader() : undefined;
  let close: () => void;
  if (runtime === 'mediapipe') {
    const detector = await FaceDetector.createFromOptions(fileset, {
      baseOptions: { ...(asset ? { modelAssetBuffer: asset } : { modelAssetPath: url }), delegate: 'CPU' }, runningMode: 'IMAGE',
    });
    close = () => detector.close();
  } else {
    const model = await loadAndCompile(asset ?? url, { accelerator: 'wasm' });
    close = () => model.delete();
  }
  const ms = performance.now() - t0;
  close();
  return ms;
}
(globalThis as unknown as { benchTflite: typeof benchTflite }).benchTflite = benchTflite;
