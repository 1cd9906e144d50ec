// What `modelseal scan` does (defined in cli/commands/scan.ts): the build guard. Finds plaintext model
// files in a build output before it ships; exit 1 when it finds any (or cannot read a file), 0 when clean.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { IGNORE_FILE, scanBuild, type ScanReport } from '../../guard/index.js';
import { CliError, usageError } from '../errors.js';
import { formatBytes, note, printFields, printJson } from '../output.js';

/** Options of `modelseal scan`, as commander parses them. */
export interface ScanCommandOptions {
  ignore?: string[];
  json?: boolean;
}

/** Checks the arguments (each must exist: a typo must not pass as clean) and scans. */
export async function collectScan(paths: string[], opts: ScanCommandOptions): Promise<ScanReport> {
  for (const p of paths) {
    // resolve('') is the working folder: an empty $OUT_DIR must not scan somewhere else and pass.
    if (p.trim() === '') throw usageError('cannot scan "": the folder argument is empty', 'pass the build output folder, e.g. `modelseal scan dist` (is the variable that names it set?)');
    try {
      const info = await stat(resolve(p));
      if (!info.isDirectory() && !info.isFile()) throw usageError(`${p} is neither a folder nor a file`);
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw usageError(`cannot scan ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (err as Error).message}`, 'pass the build output folder, e.g. `modelseal scan dist`');
    }
  }
  return scanBuild(paths, { ignore: opts.ignore ?? [] });
}

/** Prints findings (stdout: one `path  kind  reason` line each, or the JSON report) and throws when not clean. */
export function printScan(report: ScanReport, opts: { json?: boolean }): void {
  if (opts.json) printJson(report);
  else for (const f of report.findings) printFields([f.path, f.kind, f.reason]);
  for (const s of report.skipped) note(`skipped ${s.path}: ${s.reason}`);
  for (const e of report.errors) note(`cannot read ${e.path}: ${e.message}`);
  const where = report.roots.join(', ');
  if (report.findings.length > 0) {
    const n = report.findings.length;
    throw new CliError('plaintext_exposed', `${n} plaintext model file${n === 1 ? '' : 's'} in ${where}: ${report.findings.slice(0, 3).map((f) => f.path).join(', ')}${n > 3 ? ', …' : ''}`, {
      file: report.findings[0]!.path,
      hint: `move the plaintext model out of the folder you publish and ship only the sealed output; a file that is not a model goes in ${IGNORE_FILE}`,
    });
  }
  if (report.errors.length > 0) {
    throw new CliError('io_error', `could not read ${report.errors.length} file${report.errors.length === 1 ? '' : 's'} in ${where}, so the scan cannot vouch for ${where}`, { file: report.errors[0]!.path, hint: `fix what stops the read (EACCES: the permissions; ENOENT: a file removed during the scan; a name that is not valid UTF-8: rename it), or list the paths in ${IGNORE_FILE}` });
  }
  const ignored = report.ignored > 0 ? `, ${report.ignored} path${report.ignored === 1 ? '' : 's'} left out by ignore rules` : '';
  note(`scanned ${report.files} file${report.files === 1 ? '' : 's'} (${formatBytes(report.bytes)}) in ${where}${ignored}: no plaintext model files`);
}
