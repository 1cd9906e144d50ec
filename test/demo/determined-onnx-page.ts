// An app page of the determined-user ONNX case: it reads its session from /session.json (standing in
// for the app's session route), loads a sealed Silero VAD model with sealedOnnxSession and
// onnxruntime-web, runs it once, and reports `ready` on <body data-state>.
import * as ort from 'onnxruntime-web';
import { sealedOnnxSession } from '../../loader/index.js';

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;

async function main(): Promise<void> {
  document.body.dataset['state'] = 'loading';
  try {
    const session = (await (await fetch('/session.json')).json()) as { token: string; keyServer: string; modelUrl: string };
    await sealedOnnxSession(ort, new URL(session.modelUrl, location.href).href, { token: session.token, keyServer: session.keyServer });
    document.body.dataset['state'] = 'ready';
  } catch (err) {
    document.body.dataset['state'] = 'error';
    document.body.textContent = String(err);
  }
}
void main();
