// Child of bench/onnx.ts's transformers.js "fresh process" row (bench/lib/fresh-process.ts): the
// first pipeline() of an app, plainly (from the static server into a new file cache folder, as the
// "pipeline() first" row) or sealed (openSealedFiles, then useSealedFiles under a new model id).
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { openSealedFiles, useSealedFiles } from '../../loader/index.js';
import { usePlainHost } from '../../test/runtimes/transformers-run.js';
import { runFreshChild, type FreshJob } from './fresh-process.js';

interface TransformersJob extends FreshJob {
  files: string;
  name: string;
  /** A folder of the bench's own for this child's file caches. */
  cacheRoot: string;
  token: string;
  keyServer: string;
}

const saved = { ...env };
let loads = 0;
type Extractor = { dispose(): Promise<unknown> };
const ready = async (id: string) => (await pipeline('feature-extraction', id, { dtype: 'fp32' })) as unknown as Extractor;

await runFreshChild<TransformersJob>(async ({ files, name, cacheRoot, token, keyServer }, sealed) => {
  // A new cache folder or model id per load, so nothing cached or memoised by id is reused.
  const n = loads++;
  if (sealed) {
    Object.assign(env, saved);
    const handle = useSealedFiles(env as never, `sealed/fresh-${n}`, await openSealedFiles(`${files}/sealed/${name}/model.json`, { token, keyServer }));
    const extractor = await ready(`sealed/fresh-${n}`);
    handle.release();
    await extractor.dispose();
  } else {
    Object.assign(env, saved, { cacheDir: join(cacheRoot, `cache-${process.pid}-${n}`) });
    usePlainHost(env, `${files}/`, { fs: true });
    await (await ready(`plain/${name}`)).dispose();
  }
});
