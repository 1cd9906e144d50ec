// A large file in the generic form streams: `seal` of a 1 GiB file and `open` of its sealing each
// peak far below the file's size in resident memory (the file is never held whole), and `open`
// gives back the same bytes. The input is a sparse file with a few written regions.

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, run, tempDir } from './helpers.js';

const tmp = tempDir('modelseal-cli-files-large-');
afterAll(() => tmp.cleanup());

const SIZE = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** Runs the CLI with the RSS reporter preloaded; returns the exit code, stderr and the peak RSS in bytes. */
function runMeasured(args: string[]): { code: number | null; stderr: string; maxRss: number } {
  const rssFile = join(tmp.dir, `rss-${Math.random().toString(36).slice(2)}`);
  const r = run(args, { env: { MODELSEAL_TEST_RSS_FILE: rssFile }, nodeArgs: ['--import', join(ROOT, 'test/helpers/report-rss.mjs')], timeout: 600_000 });
  return { code: r.code, stderr: r.stderr, maxRss: Number(readFileSync(rssFile, 'utf8')) };
}

async function digest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(piece as Buffer);
  return hash.digest('hex');
}

describe('a 1 GiB file in the generic form', () => {
  it('seal and open stream it: each peaks below 256 MiB resident, and the bytes come back', async () => {
    const src = join(tmp.dir, 'src');
    mkdirSync(src);
    const file = join(src, 'model.onnx_data');
    // Sparse, with marked regions at the start, across a shard boundary, and at the end.
    const fd = openSync(file, 'w');
    for (const at of [0, 4 * MiB - 3, 517 * MiB + 11, SIZE - 4096]) writeSync(fd, Buffer.alloc(4096, at % 251), 0, 4096, at);
    closeSync(fd);
    const store = join(tmp.dir, 'store');
    const sealed = join(tmp.dir, 'sealed');
    const s = runMeasured(['seal', join(src), '--out', sealed, '--model-id', 'big-files', '--store', store]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.maxRss).toBeLessThan(256 * MiB);

    const opened = join(tmp.dir, 'opened');
    const o = runMeasured(['open', join(sealed, 'model.json'), '--out', opened, '--store', store]);
    expect(o.code, o.stderr).toBe(0);
    expect(o.maxRss).toBeLessThan(256 * MiB);
    expect(await digest(join(opened, 'model.onnx_data'))).toBe(await digest(file));
  }, 600_000);
});
