// `modelseal/vite`: seals TF.js models into the bundle output at build time, then scans the
// written output and fails the build when plaintext model files are in it (docs/BUILD.md).
// Vite is an optional peer dependency: only its types are imported.

import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Plugin, ResolvedConfig } from 'vite';
import { collectSeal, type SealSummary } from '../cli/commands/seal.js';
import { CliError } from '../cli/errors.js';
import { isContainedPath } from '../cli/out-dir.js';
import { ModelsealError } from '../format/errors.js';
import { ID_PATTERN } from '../format/manifest.js';
import { IGNORE_FILE, scanBuild, type ScanReport } from '../guard/index.js';

/** One model to seal into the build output. */
export interface ModelsealViteModel {
  /** The plaintext model.json (relative to Vite's root); keep it outside `public/`. */
  model: string;
  /** The model id recorded in the manifest and used to find the key. */
  modelId: string;
  /** Output folder relative to the build's outDir, e.g. `models/face`. */
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

/** Options of the `modelseal()` Vite plugin. */
export interface ModelsealViteOptions {
  /** Models to seal into the output after the bundle is written. */
  models?: ModelsealViteModel[];
  /** Keystore folder (default: `$MODELSEAL_HOME`, else `.modelseal` in Vite's root). */
  store?: string;
  /** Scan the written output and fail the build on plaintext model files (default true). */
  scan?: boolean;
  /** Gitignore-style patterns (relative to outDir) the scan leaves out, after those in `.modelsealignore` in Vite's root. */
  ignore?: string[];
}

function check(options: ModelsealViteOptions): void {
  if (options === null || typeof options !== 'object') throw new TypeError('modelseal(): options must be an object such as { models: [{ model, modelId, out }] }');
  if (options.models !== undefined && !Array.isArray(options.models)) throw new TypeError('modelseal(): models must be an array of { model, modelId, out }');
  for (const [i, m] of (options.models ?? []).entries()) {
    if (typeof m?.model !== 'string' || m.model.length === 0) throw new TypeError(`modelseal(): models[${i}].model must be the path of a model.json`);
    if (typeof m.modelId !== 'string' || !ID_PATTERN.test(m.modelId)) throw new TypeError(`modelseal(): models[${i}].modelId must be 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit`);
    if (typeof m.out !== 'string' || !isContainedPath(m.out)) throw new TypeError(`modelseal(): models[${i}].out must be a relative folder inside the build output, such as "models/face"`);
  }
  if (options.store !== undefined && typeof options.store !== 'string') throw new TypeError('modelseal(): store must be a folder path');
  if (options.ignore !== undefined && (!Array.isArray(options.ignore) || options.ignore.some((p) => typeof p !== 'string'))) throw new TypeError('modelseal(): ignore must be an array of patterns');
}

/** The error a failed scan ends the build with: every finding, with its kind and reason. */
function scanError(report: ScanReport, outDir: string): CliError {
  const lines = report.findings.map((f) => `  ${relative(outDir, f.path) || f.path} (${f.kind}: ${f.reason})`);
  const unread = report.errors.map((e) => `  ${e.path} (cannot read: ${e.message})`);
  const n = report.findings.length;
  const message = n > 0
    ? `plaintext model files in the build output ${outDir}; they would ship next to the sealed model:\n${lines.join('\n')}${unread.length ? `\n${unread.join('\n')}` : ''}`
    : `could not read ${report.errors.length} file(s) in the build output ${outDir}, so the scan cannot vouch for it:\n${unread.join('\n')}`;
  const hint = `move the plaintext model out of public/ (seal it with the plugin's models option instead); a file that is not a model goes in ${IGNORE_FILE} beside vite.config, or in the plugin's ignore option`;
  // Vite (Rolldown) sets err.code to PLUGIN_ERROR, so the message carries the modelseal code too.
  const code = n > 0 ? 'plaintext_exposed' : 'io_error';
  return new CliError(code, `error [${code}]: ${message}\nhint: ${hint}`, { file: report.findings[0]?.path ?? report.errors[0]?.path, hint });
}

/**
 * The modelseal Vite plugin: seals `models` into the build output and fails the build when the
 * written output holds plaintext model files.
 * @example
 * // vite.config.ts
 * import { modelseal } from 'modelseal/vite';
 * export default { plugins: [modelseal({ models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }] })] };
 */
export function modelseal(options: ModelsealViteOptions = {}): Plugin {
  check(options);
  let config: ResolvedConfig | undefined;
  let outDir = '';
  let written = false;
  // What the last build sealed, for the closing log line.
  const sealed: SealSummary[] = [];
  return {
    name: 'modelseal',
    apply: 'build',
    configResolved(resolved) {
      config = resolved;
      outDir = resolve(resolved.root, resolved.build.outDir);
    },
    writeBundle: {
      order: 'post',
      sequential: true,
      async handler() {
        const root = config?.root ?? process.cwd();
        const store = options.store !== undefined ? resolve(root, options.store) : process.env['MODELSEAL_HOME'] ?? resolve(root, '.modelseal');
        sealed.length = 0;
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
        written = true;
      },
    },
    closeBundle: {
      order: 'post',
      sequential: true,
      async handler() {
        // Runs after every plugin's writeBundle, so files other plugins copied are scanned too.
        if (!written || options.scan === false) return;
        written = false;
        // Patterns from .modelsealignore in Vite's root (relative to outDir), then the ignore option.
        const root = config?.root ?? process.cwd();
        const fromFile = await readFile(join(root, IGNORE_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return '';
          throw err;
        });
        const report = await scanBuild([outDir], { ignore: [...fromFile.split(/\r?\n/), ...(options.ignore ?? [])] });
        if (!report.clean) throw scanError(report, outDir);
        config?.logger.info(`modelseal: sealed ${sealed.length} model${sealed.length === 1 ? '' : 's'}; scanned ${report.files} files in ${relative(config.root, outDir) || outDir}: no plaintext model files`);
      },
    },
  };
}

export default modelseal;
