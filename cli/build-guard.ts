// What the bundler plugins (modelseal/vite, modelseal/esbuild) do, kept apart from any bundler:
// seal models into a build output folder, then scan the written output for plaintext model files.
// vite/ and esbuild/ import this file, and so cli/ (STYLE says nothing imports cli/): one seal path for
// the CLI and the plugins (collectSeal) rather than a second copy of it.

import { lstat, readdir } from 'node:fs/promises';
import { join, normalize, relative, resolve, sep } from 'node:path';
import { MAX_CHUNK_LENGTH, MIN_CHUNK_LENGTH } from '../format/chunked.js';
import { ModelsealError } from '../format/errors.js';
import { ID_RULE } from '../format/ids.js';
import { checkKeyServerUrl, ID_PATTERN } from '../format/manifest.js';
import { IGNORE_FILE, readIgnoreFile, scanBuild, type ScanReport } from '../guard/index.js';
import { collectSeal, type SealSummary } from './actions/seal.js';
import { CliError } from './errors.js';
import { isContainedPath } from './out-dir.js';
import { readWholeFile } from './safe-read.js';

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

const isInteger = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

/** Throws TypeError on a model entry of the wrong shape or value. */
function checkBuildModel(m: BuildModel, at: string): void {
  if (typeof m?.model !== 'string' || m.model.length === 0) throw new TypeError(`${at}.model must be the path of a model.json`);
  if (typeof m.modelId !== 'string' || !ID_PATTERN.test(m.modelId)) throw new TypeError(`${at}.modelId must be ${ID_RULE}`);
  // Not '.' (or 'a/..'): the plugin replaces its out folder, which must not be the whole output.
  if (typeof m.out !== 'string' || !isContainedPath(m.out) || normalize(m.out) === '.') throw new TypeError(`${at}.out must be a relative folder inside the build output (not the output itself), such as "models/face"`);
  // The rule every manifest reader applies (a writer must not produce what readers refuse).
  if (m.keyServer !== undefined) checkKeyServerUrl(m.keyServer, 'keyServer', () => new TypeError(`${at}.keyServer must be an http(s) URL such as "https://keys.example.com"`));
  if (m.shardSize !== undefined && !isInteger(m.shardSize, MIN_CHUNK_LENGTH, Number.MAX_SAFE_INTEGER)) throw new TypeError(`${at}.shardSize must be a whole number of bytes, at least ${MIN_CHUNK_LENGTH}`);
  if (m.chunkSize !== undefined && !isInteger(m.chunkSize, MIN_CHUNK_LENGTH, MAX_CHUNK_LENGTH)) throw new TypeError(`${at}.chunkSize must be a whole number of bytes from ${MIN_CHUNK_LENGTH} to ${MAX_CHUNK_LENGTH}`);
  if (m.header !== undefined && !['inline', 'file', 'auto'].includes(m.header)) throw new TypeError(`${at}.header must be 'inline', 'file' or 'auto'`);
}

/** Throws TypeError on options of the wrong shape (a programming mistake, not bad data). */
export function checkBuildGuardOptions(options: BuildGuardOptions, who: string): void {
  if (options === null || typeof options !== 'object') throw new TypeError(`${who}: options must be an object such as { models: [{ model, modelId, out }] }`);
  if (options.models !== undefined && !Array.isArray(options.models)) throw new TypeError(`${who}: models must be an array of { model, modelId, out }`);
  const outs: string[] = [];
  for (const [i, m] of (options.models ?? []).entries()) {
    checkBuildModel(m, `${who}: models[${i}]`);
    const out = normalize(m.out).replace(/[\\/]+$/, '');
    const clash = outs.findIndex((o) => o === out || out.startsWith(o + sep) || o.startsWith(out + sep));
    // One model's out folder replaced by another's would drop the first model from the output.
    if (clash >= 0) throw new TypeError(`${who}: models[${i}].out "${m.out}" and models[${clash}].out "${options.models![clash]!.out}" overlap: give each model a folder of its own`);
    outs.push(out);
  }
  if (options.store !== undefined && typeof options.store !== 'string') throw new TypeError(`${who}: store must be a folder path`);
  if (options.scan !== undefined && typeof options.scan !== 'boolean') throw new TypeError(`${who}: scan must be true or false`);
  if (options.ignore !== undefined && (!Array.isArray(options.ignore) || options.ignore.some((p) => typeof p !== 'string'))) throw new TypeError(`${who}: ignore must be an array of patterns`);
}

// What a sealed output folder holds: *.sealed files and a model.json whose `modelseal` is a string.
async function isSealedOutput(dir: string): Promise<boolean> {
  for (const name of await readdir(dir)) {
    const full = join(dir, name);
    const st = await lstat(full);
    if (!st.isFile()) return false;
    if (name.endsWith('.sealed')) continue;
    if (name !== 'model.json') return false;
    const text = await readWholeFile(full, 'read', 128 * 1024 * 1024, () => new Error('too large')).catch(() => undefined);
    try {
      if (!text || typeof (JSON.parse(text.toString('utf8')) as { modelseal?: unknown }).modelseal !== 'string') return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * Refuses an `out` folder that holds anything but an earlier sealed output: the bundler (or
 * public/, or another plugin) wrote it in this build, and replacing it would delete that output.
 */
async function refuseForeignOut(target: string, out: string): Promise<void> {
  const st = await lstat(target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory() && await isSealedOutput(target).catch(() => false)) return;
  throw new CliError('output_exists', `out folder ${out} (${target}) already holds files this build wrote, not a sealed model: sealing there would replace them`, {
    file: target,
    hint: 'give the model an out folder of its own that nothing else writes (not one that public/ or the bundle fills)',
  });
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
      await refuseForeignOut(join(outDir, m.out), m.out);
      sealed.push(await collectSeal(resolve(root, m.model), {
        out: join(outDir, m.out),
        modelId: m.modelId,
        store,
        header: m.header ?? 'auto',
        // Replaces only an earlier sealed output (refuseForeignOut): a rebuild into the same outdir.
        force: true,
        // The whole output is scanned after sealing; the CLI's published-folder-name guess does not apply.
        allowInsideSource: true,
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

/**
 * What the scan did not look into (symbolic links, special files), one line each, for the bundler's
 * warnings: a host or a copy step that follows a link would upload its target.
 */
export function skippedWarnings(report: ScanReport, outDir: string): string[] {
  return report.skipped.map((s) => `modelseal: skipped ${relative(outDir, s.path) || s.path} in the build output: ${s.reason}`);
}

/** Scans the written output; throws a CliError listing every finding when it is not clean. */
export async function guardOutput(options: BuildGuardOptions, root: string, outDir: string): Promise<ScanReport> {
  const fromFile = await readIgnoreFile(join(root, IGNORE_FILE));
  // ignoreFiles: false: a .modelsealignore inside the output came from public/ (it ships) and must not switch the scan off.
  const report = await scanBuild([outDir], { ignore: [...fromFile.split(/\r?\n/), ...(options.ignore ?? [])], ignoreFiles: false });
  if (report.clean) return report;
  const lines = report.findings.map((f) => `  ${relative(outDir, f.path) || f.path} (${f.kind}: ${f.reason})`);
  const unread = report.errors.map((e) => `  ${relative(outDir, e.path) || e.path} (cannot read: ${e.message})`);
  const n = report.findings.length;
  const message = n > 0
    ? `plaintext model files in the build output ${outDir}; they would ship next to the sealed model:\n${[...lines, ...unread].join('\n')}`
    : `could not read ${report.errors.length} file(s) in the build output ${outDir}, so the scan cannot vouch for it:\n${unread.join('\n')}`;
  const hint = `move the plaintext model out of what the build copies into its output (public/ in Vite; seal it with the plugin's models option instead); a file that is not a model goes in ${IGNORE_FILE} in the project root, or in the plugin's ignore option`;
  const code = n > 0 ? 'plaintext_exposed' : 'io_error';
  // Bundlers set err.code to their own (Rolldown: PLUGIN_ERROR), so the message carries the modelseal code too.
  throw new CliError(code, `error [${code}]: ${message}\nhint: ${hint}`, { file: report.findings[0]?.path ?? report.errors[0]?.path, hint });
}
