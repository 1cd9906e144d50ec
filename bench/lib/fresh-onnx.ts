// Child of bench/onnx.ts's Node "fresh process" rows (bench/lib/fresh-process.ts): one ONNX set
// created plainly (its files fetched from the static server, then InferenceSession.create) or
// sealed (openSealedFiles, then createOnnxSession), with onnxruntime-web or onnxruntime-node.
import { createOnnxSession, onnxModelFromFiles, openSealedFiles } from '../../loader/index.js';
import { fetchSet } from './fetch-set.js';
import { freshJob, runFreshChild, type FreshJob } from './fresh-process.js';

interface OnnxJob extends FreshJob {
  runtime: 'ort-web' | 'ort-node';
  files: string;
  name: string;
  paths: string[];
  token: string;
  keyServer: string;
}

type Session = { release(): Promise<void> };
type Ort = { InferenceSession: { create(model: Uint8Array, options: object): Promise<Session> }; env: { wasm: { numThreads: number } } };

const job = freshJob<OnnxJob>();
const ort = (job.runtime === 'ort-web' ? await import('onnxruntime-web') : await import('onnxruntime-node')) as unknown as Ort;
if (job.runtime === 'ort-web') ort.env.wasm.numThreads = 1;
await runFreshChild<OnnxJob>(async ({ files, name, paths, token, keyServer }, sealed) => {
  let session: Session;
  if (sealed) {
    session = await createOnnxSession(ort, await openSealedFiles(`${files}/sealed/${name}/model.json`, { token, keyServer }));
  } else {
    const input = onnxModelFromFiles(await fetchSet(`${files}/plain/${name}`, paths));
    session = await ort.InferenceSession.create(input.model, input.options);
  }
  await session.release();
});
