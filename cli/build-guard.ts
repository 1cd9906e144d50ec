// What the bundler plugins (modelseal/vite, modelseal/esbuild) do, kept apart from any bundler:
// seal models into a build output folder, then scan the written output for plaintext model files.
// vite/ and esbuild/ import this file, and so cli/ (STYLE says nothing imports cli/): one seal path for
// the CLI and the plugins (collectSeal) rather than a second copy of it.

import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { ModelsealError } from '../format/errors.js';
import { ID_RULE } from '../format/ids.js';
import { ID_PATTERN } from '../format/manifest.js';
import { IGNORE_FILE, scanBuild, type ScanReport } from '../guard/index.js';
import { collectSeal, type SealSummary } from './actions/seal.js';
import { CliError } from './errors.js';
import { isContainedPath } from './out-dir.js';

/** One model to seal into the build output. */
export interface BuildModel {
  /** The plaintext model.json (relative to the project root); keep it outside `public/`. */
  model: string;
  /** The model id recorded in the manifest and used to find the key. */
  modelId: string;
  /** Output folder relative to the build's output folder, e.g. `models/face`. */
  out: string;
  /** Key-server URL to record in the manifest. */
  keyServer?: string;
  /** Plaintext bytes per shard (default 4 MiB). */
  shardSize?: number;
  /** Chunk length (default 256 KiB). */
  chunkSize?: number;
  /** Where the encrypted header goes (default `auto`). */
  header?: 'inline' | 'file' | 'auto';
}

/** Options of the bundler plugins. */
export interface BuildGuardOptions {
  /** Models to seal into the output after the bundle is written. */
  models?: BuildModel[];
  /** Keystore folder (default: `$MODELSEAL_HOME`, else `.modelseal` in the project root). */
  store?: string;
  /** Scan the written output and fail the build on plaintext model files (default true). */
  scan?: boolean;
  /** Gitignore-style patterns (relative to the output folder) the scan leaves out, after those in `.modelsealignore` in the project root. */
  ignore?: string[];
}

/** Throws TypeError on options of the wrong shape (a programming mistake, not bad data). */
export function checkBuildGuardOptions(options: BuildGuardOptions, who: string): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object such as { models: [{ model, modelId, out }] }`);
  if (options.models !== undefined && !Array.isArray(options.models)) throw new TypeError(`${who}: models must be an array of { model, modelId, out }`);
  for (const [i, m] of (options.models ?? []).entries()) {
    if (typeof m?.model !== 'string' || m.model.length === 0) throw new TypeError(`${who}: models[${i}].model must be the path of a model.json`);
    if (typeof m.modelId !== 'string' || !ID_PATTERN.test(m.modelId)) throw new TypeError(`${who}: models[${i}].modelId must be ${ID_RULE}`);
    if (typeof m.out !== 'string' || !isContainedPath(m.out)) throw new TypeError(`${who}: models[${i}].out must be a relative folder inside the build output, such as "models/face"`);
  }
  if (options.store !== undefined && typeof options.store !== 'string') throw new TypeError(`${who}: store must be a folder path`);
  if (options.ignore !== undefined && (!Array.isArray(options.ignore) || options.ignore.some((p) => typeof p !== 'string'))) throw new TypeError(`${who}: ignore must be an array of patterns`);
}

/**
 * Seals every model into `outDir` with the CLI's seal path. Errors are CliErrors whose message
 * starts `error [code]:` (bundlers replace `err.code` with their own).
 */
export async function sealIntoOutput(options: BuildGuardOptions, root: string, outDir: string): Promise<SealSummary[]> {
  const store = options.store !== undefined ? resolve(root, options.store) : process.env['MODELSEAL_HOME'] ?? resolve(root, '.modelseal');
  const sealed: SealSummary[] = [];
  for (const m of options.models ?? []) {
    try {
      sealed.push(await collectSeal(resolve(root, m.model), {
        out: join(outDir, m.out),
        modelId: m.modelId,
        store,
        header: m.header ?? 'auto',
        // The plugin owns these folders in the output: a second output of the same build replaces them.
        force: true,
        // No progress bar inside a bundler's log.
        json: true,
        ...(m.keyServer === undefined ? {} : { keyServer: m.keyServer }),
        ...(m.shardSize === undefined ? {} : { shardSize: m.shardSize }),
        ...(m.chunkSize === undefined ? {} : { chunkSize: m.chunkSize }),
      }));
    } catch (err) {
      if (err instanceof ModelsealError) {
        const hint = err instanceof CliError && err.hint ? `\nhint: ${err.hint}` : '';
        throw new CliError(err.code, `error [${err.code}]: cannot seal ${m.model}: ${err.message}${hint}`, { cause: err, ...(err.file === undefined ? {} : { file: err.file }) });
      }
      throw err;
    }
  }
  return sealed;
}

/** Scans the written output; throws a CliError listing every finding when it is not clean. */
export async function guardOutput(options: BuildGuardOptions, root: string, outDir: string): Promise<ScanReport> {
  const fromFile = await readFile(join(root, IGNORE_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const report = await scanBuild([outDir], { ignore: [...fromFile.split(/\r?\n/), ...(options.ignore ?? [])] });
  if (report.clean) return report;
  const lines = report.findings.map((f) => `  ${relative(outDir, f.path) || f.path} (${f.kind}: ${f.reason})`);
  const unread = report.errors.map((e) => `  ${relative(outDir, e.path) || e.path} (cannot read: ${e.message})`);
  const n = report.findings.length;
  const message = n > 0
    ? `plaintext model files in the build output ${outDir}; they would ship next to the sealed model:\n${[...lines, ...unread].join('\n')}`
    : `could not read ${report.errors.length} file(s) in the build output ${outDir}, so the scan cannot vouch for it:\n${unread.join('\n')}`;
  const hint = `move the plaintext model out of public/ (seal it with the plugin's models option instead); a file that is not a model goes in ${IGNORE_FILE} in the project root, or in the plugin's ignore option`;
  const code = n > 0 ? 'plaintext_exposed' : 'io_error';
  // Bundlers set err.code to their own (Rolldown: PLUGIN_ERROR), so the message carries the modelseal code too.
  throw new CliError(code, `error [${code}]: ${message}\nhint: ${hint}`, { file: report.findings[0]?.path ?? report.errors[0]?.path, hint });
}
