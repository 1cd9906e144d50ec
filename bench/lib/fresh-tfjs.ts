// Child of bench/loader.ts's Node "fresh process" row (bench/lib/fresh-process.ts): one tfjs graph
// model loaded plainly (tf.io.http) or sealed (sealedModel, `weightData`, the Node default cipher).
import * as tf from '@tensorflow/tfjs';
import { sealedModel } from '../../loader/index.js';
import { runFreshChild, type FreshJob } from './fresh-process.js';

interface TfjsJob extends FreshJob {
  files: string;
  name: string;
  token: string;
  keyServer: string;
}

await tf.setBackend('cpu');
await runFreshChild<TfjsJob>(async ({ files, name, token, keyServer }, sealed) => {
  const model = await tf.loadGraphModel(sealed ? sealedModel(`${files}/sealed/${name}/model.json`, { token, keyServer }) : `${files}/plain/${name}/model.json`);
  model.dispose();
});
