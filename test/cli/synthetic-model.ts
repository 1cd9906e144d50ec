// A synthetic graph model of a given size, for tests that need a large model quickly.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes model.json plus weight files (4 MiB each at most) holding `bytes` of float32 weights. */
export function writeSyntheticModel(dir: string, bytes: number): string {
  mkdirSync(dir, { recursive: true });
  const fileSize = 4 * 1024 * 1024;
  const weights: Array<{ name: string; shape: number[]; dtype: string }> = [];
  const paths: string[] = [];
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(fileSize, left);
    const data = new Uint8Array(size);
    for (let j = 0; j < size; j += 4096) data[j] = (i * 7 + j) & 255;
    const path = `group1-shard${i + 1}.bin`;
    writeFileSync(join(dir, path), data);
    paths.push(path);
    weights.push({ name: `layer${i}/kernel`, shape: [size / 4], dtype: 'float32' });
    left -= size;
  }
  const model = { format: 'graph-model', generatedBy: 'test', convertedBy: 'test', modelTopology: { node: [] }, weightsManifest: [{ paths, weights }] };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(model));
  return join(dir, 'model.json');
}
