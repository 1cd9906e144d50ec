// Shared helpers of the CLI tests: run the built bin (test/helpers/bin.ts), make temp folders, load
// models with real tfjs.

import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../helpers/bin.js';
import type * as tfTypes from '@tensorflow/tfjs';

export { BIN, ROOT, run, spawnBin, serveBin, type RunResult } from '../helpers/bin.js';

/** Real pretrained graph models shipped in @vladmandic/human. */
export const HUMAN_MODELS = join(ROOT, 'node_modules/@vladmandic/human/models');

/** A temp folder under os.tmpdir(); remove it with `cleanup()`. */
export function tempDir(prefix = 'modelseal-cli-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Names in a folder, sorted (to check that nothing was left behind). */
export function listDir(dir: string): string[] {
  return readdirSync(dir).sort();
}

/** Weight file paths of a model.json, group by group. */
export function weightPaths(modelJsonPath: string): string[] {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
  return json.weightsManifest.flatMap((g) => g.paths);
}

/**
 * A tf.io.IOHandler reading a plain model from disk (Node tfjs without tfjs-node has no file://
 * handler): model.json is parsed and the weight files are read in manifest order by
 * tf.io.getModelArtifactsForJSON, the same path tf.io.http takes.
 */
export function fileHandler(tf: typeof tfTypes, modelJsonPath: string): tfTypes.io.IOHandler {
  return {
    async load() {
      const modelJson = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as tfTypes.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tfTypes.io.WeightsManifestEntry[] = [];
        const buffers: Uint8Array[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) buffers.push(readFileSync(join(dirname(modelJsonPath), p)));
        }
        const total = buffers.reduce((n, b) => n + b.length, 0);
        const data = new Uint8Array(total);
        let offset = 0;
        for (const b of buffers) {
          data.set(b, offset);
          offset += b.length;
        }
        return [specs, data.buffer];
      });
    },
  };
}
