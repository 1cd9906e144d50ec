// Load-all: every shard fetched (bounded) and decrypted, the chunks in order as tfjs `weightData`.

import { Limiter } from '../format/limiter.js';
import { linkedController, stoppedError } from './abort.js';
import { ShardReader, type ShardJob } from './shard-reader.js';

/** Fetches and decrypts every shard (bounded); resolves with all chunks in order (tfjs `weightData`). */
export async function loadAllShards(job: ShardJob, outer: AbortSignal | undefined): Promise<ArrayBuffer[]> {
  const { controller, unlink } = linkedController(outer);
  const reader = new ShardReader(job, true);
  const requests = new Limiter(job.maxConcurrentRequests);
  // No key, no use for the downloads: stop them (the caller reports the key failure itself).
  job.unlocked.catch((err: unknown) => controller.abort(err));
  const readOne = (index: number) => requests.run(() => {
    if (controller.signal.aborted) throw stoppedError(outer, job.urls[index]!);
    return reader.read(index, controller.signal, outer);
  }).catch((err: unknown) => {
    // The first failure stops the other downloads; Promise.all reports that first failure.
    controller.abort(err);
    throw err;
  });
  try {
    return (await Promise.all(job.urls.map((_, index) => readOne(index)))).flat();
  } finally {
    reader.close();
    unlink();
  }
}
