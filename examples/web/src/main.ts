// The demo page: get a session from the demo backend, load the sealed model, detect faces in the
// sample picture, draw the boxes. The state ends up in document.body.dataset.state ('ready' or
// 'error') and the result in window.modelsealDemo, which the browser test reads.
import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../../loader/index.js';
import { decodeFaces, preprocess, runRaw, type Face } from './blazeface.js';
import { SAMPLE_CROP } from './sample.js';
import { recordingFetch, showRequests, showStages, stagesOf, type SeenRequest, type Stage } from './observe.js';

/** What the demo backend's `GET /api/session` answers. */
interface Session {
  token: string;
  keyServer: string;
  /** The model id the page pins (`modelId` option). */
  modelId: string;
  /** The sealed model.json, relative to this page. */
  modelUrl: string;
}

/** What the page leaves for the browser test: the model's exact input, the faces it drew, the progress it showed. */
interface DemoResult {
  input: number[];
  faces: Face[];
  progress: number[];
  /** The stages the page showed, in ms since the load started. */
  stages: Stage[];
  /** The requests the page listed as a visitor's Network tab sees them. */
  requests: SeenRequest[];
}

declare global {
  interface Window {
    modelsealDemo?: DemoResult;
  }
}

const statusLine = document.getElementById('status') as HTMLElement;
const progress = document.getElementById('progress') as HTMLProgressElement;
const canvas = document.getElementById('canvas') as HTMLCanvasElement;
const facesLine = document.getElementById('faces') as HTMLElement;

function status(text: string): void {
  statusLine.textContent = text;
}

async function main(): Promise<void> {
  // The CPU backend gives the same numbers as tfjs in Node, so the test can compare exactly.
  await tf.setBackend('cpu');
  status('asking the demo backend where the model is…');
  const response = await fetch('./api/config', { cache: 'no-store' });
  if (!response.ok) throw new Error(`GET /api/config answered ${response.status}`);
  const session = (await response.json()) as Omit<Session, 'token'>;
  // The loader makes its one-time key pair first and passes its thumbprint: the backend binds the
  // token to that key (cnf.jkt), so a copied token is useless to anyone else.
  let started = 0;
  let tokenStage: Stage | undefined;
  const token = async ({ jkt }: { jkt: string }): Promise<string> => {
    const startMs = performance.now() - started;
    const answer = await fetch(`./api/session?jkt=${encodeURIComponent(jkt)}`, { cache: 'no-store' });
    if (!answer.ok) throw new Error(`GET /api/session answered ${answer.status}`);
    const text = ((await answer.json()) as Session).token;
    tokenStage = { name: 'token', startMs, endMs: performance.now() - started };
    return text;
  };

  status('loading the sealed model…');
  const requests: SeenRequest[] = [];
  const recorder = recordingFetch(requests, () => started);
  started = performance.now();
  const seen: number[] = [];
  const modelUrl = new URL(session.modelUrl, location.href).href;
  const model = await tf.loadGraphModel(sealedModel(modelUrl, {
    token,
    // Only to list the requests beside the result; the loader's default is the browser's fetch.
    fetch: recorder.fetch,
    // Passed explicitly: the manifest's keyServer field is not authenticated (THREAT_MODEL.md).
    keyServer: session.keyServer,
    // The model this page expects: another model's files at this URL are refused before any key request.
    modelId: session.modelId,
    onProgress: (fraction) => {
      seen.push(fraction);
      progress.value = fraction;
      status(`loading the sealed model… ${Math.round(fraction * 100)}%`);
    },
  }));
  const loadMs = performance.now() - started;

  const image = new Image();
  image.src = './sample.jpg';
  await image.decode();
  const [sx, sy, sw, sh] = SAMPLE_CROP;
  // The model reads the exact crop; the visible canvas shows it twice as large with the boxes.
  const source = document.createElement('canvas');
  source.width = sw;
  source.height = sh;
  source.getContext('2d', { willReadFrequently: true })!.drawImage(image, sx, sy, sw, sh, 0, 0, sw, sh);

  const pixels = tf.browser.fromPixels(source);
  const input = preprocess(tf, pixels);
  const runStart = performance.now() - started;
  const raw = await runRaw(tf, model, input);
  const faces = decodeFaces(raw);
  const run = { name: 'run', startMs: runStart, endMs: performance.now() - started };
  const inputValues = Array.from(await input.data());
  tf.dispose([pixels, input]);

  const scale = 2;
  canvas.width = sw * scale;
  canvas.height = sh * scale;
  const g = canvas.getContext('2d')!;
  g.drawImage(source, 0, 0, canvas.width, canvas.height);
  g.lineWidth = 3;
  g.strokeStyle = '#19e68c';
  g.fillStyle = '#19e68c';
  g.font = 'bold 15px system-ui, sans-serif';
  for (const face of faces) {
    const [x1, y1, x2, y2] = face.box.map((v) => v * scale) as Face['box'];
    g.strokeRect(x1 * sw, y1 * sh, (x2 - x1) * sw, (y2 - y1) * sh);
    g.fillText(`face ${(face.score * 100).toFixed(0)}%`, x1 * sw, Math.max(15, y1 * sh - 6));
  }
  facesLine.textContent = faces.length === 0
    ? 'no face found'
    : faces.map((f, i) => `face ${i + 1}: score ${f.score.toFixed(3)}, box [${f.box.map((v) => v.toFixed(3)).join(', ')}]`).join('\n');
  await recorder.settled();
  const stages = stagesOf(requests, tokenStage, modelUrl, '/v2/release', run);
  showStages(document.getElementById('stages') as HTMLTableElement, stages);
  showRequests(document.getElementById('network') as HTMLTableElement, requests);
  window.modelsealDemo = { input: inputValues, faces, progress: seen, stages, requests };
  progress.value = 1;
  status(`ready: sealed model loaded and decrypted in ${loadMs.toFixed(0)} ms; ${faces.length} face(s) found`);
  document.body.dataset['state'] = 'ready';
}

main().catch((err: unknown) => {
  const code = typeof err === 'object' && err !== null && 'code' in err ? ` [${String((err as { code: unknown }).code)}]` : '';
  status(`error${code}: ${err instanceof Error ? err.message : String(err)}`);
  document.body.dataset['state'] = 'error';
});
