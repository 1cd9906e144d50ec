// The CLI's one error printer: `modelseal: error [code]: message` and a `hint:` line on stderr,
// and the exit code that goes with the error (2 for usage, 1 for every other failure).

import { ModelsealError, type ErrorCode } from '../format/errors.js';
import { escapeControls, safeMessage } from './safe-text.js';

/** Exit codes the CLI documents in docs/CLI.md. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

/** A ModelsealError raised by the CLI with a specific `hint:` for the person at the terminal. */
export class CliError extends ModelsealError {
  /** One line saying how to fix it, printed after the error. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; file?: string; hint?: string } = {}) {
    super(code, message, options);
    this.hint = options.hint;
  }
}

/** Shorthand for a usage error (exit 2). */
export function usageError(message: string, hint?: string): CliError {
  return new CliError('usage', message, hint === undefined ? {} : { hint });
}

// Hints for codes whose fix does not depend on the situation; specific hints come with CliError.
const HINTS: Partial<Record<ErrorCode, string>> = {
  wrong_key: 'check --store / MODELSEAL_HOME points at the keystore this model was sealed with, and that model.json\'s modelId and keyId were not edited',
  misplaced_shard: 'upload the shard files of this sealing again, keeping their names; do not mix files from two sealings',
  tampered: 'the file changed after sealing: upload or copy it again from the sealed output',
  truncated: 'the file is shorter than sealed: upload or copy it again from the sealed output',
  trailing_data: 'the file is longer than sealed: upload or copy it again from the sealed output',
  manifest_invalid: 'model.json must be the sealed manifest `modelseal seal` wrote, unedited',
  unsupported_version: 'upgrade modelseal, or reseal the original model with this version',
  header_invalid: 'reseal the original model',
  key_not_found: 'run `modelseal keys list` (with the same --store) to see the keys this store holds',
  master_key_missing: 'restore master.key from your backup into the keystore folder, or name the store\'s master key with --master-key / MODELSEAL_MASTER_KEY',
  master_key_wrong: 'use the master key that wrapped this keystore (--master-key / MODELSEAL_MASTER_KEY), or restore its master.key from your backup',
  master_key_unavailable: 'check that the HSM or KMS is reachable and the PIN or credentials are right, then retry',
  keystore_invalid: 'restore the keystore folder from your backup',
  output_exists: 'choose an empty or new --out folder, or pass --force to replace it',
  model_invalid: 'fix what the message names: a TF.js model.json as tensorflowjs_converter or model.save writes it, or for a file or folder the rules of `modelseal seal` in docs/CLI.md',
};

/** Turns anything thrown into a ModelsealError (non-modelseal errors become io_error). */
export function toModelsealError(err: unknown): ModelsealError {
  if (err instanceof ModelsealError) return err;
  if (err instanceof Error) return new ModelsealError('io_error', lowerFirst(err.message), { cause: err });
  return new ModelsealError('io_error', String(err));
}

/** Exit code for an error: 2 for usage, else 1. */
export function exitCodeFor(err: ModelsealError): number {
  return err.code === 'usage' ? EXIT.usage : EXIT.failure;
}

/** Prints `err` to stderr in the CLI's format and returns the exit code to use. */
export function printError(err: unknown, write: (text: string) => void = (t) => process.stderr.write(t)): number {
  const e = toModelsealError(err);
  // Messages echo paths, manifest fields and parser excerpts of input files: escaped, so they cannot
  // forge terminal output, and a binary file's excerpt is described instead of printed.
  write(`modelseal: error [${e.code}]: ${safeMessage(lowerFirst(e.message))}\n`);
  const hint = e instanceof CliError && e.hint !== undefined ? e.hint : HINTS[e.code];
  if (hint !== undefined) write(`hint: ${escapeControls(hint)}\n`);
  if (process.env['MODELSEAL_DEBUG'] && e.cause instanceof Error && e.cause.stack) write(`${e.cause.stack}\n`);
  return exitCodeFor(e);
}

function lowerFirst(text: string): string {
  // Lowercase the first letter unless the first word is an acronym or a name like "TensorFlow".
  return /^[A-Z][a-z]/.test(text) && !/^[A-Z][a-z]+[A-Z]/.test(text) ? text[0]!.toLowerCase() + text.slice(1) : text;
}

/** Maps a Node file-system error to a coded error naming the file and what was being done. */
export function fsError(err: unknown, action: string, path: string): ModelsealError {
  if (err instanceof ModelsealError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return new CliError('file_unavailable', `cannot ${action} ${path}: no such file`, { cause: err, file: path, hint: 'check the path; weight and shard files are looked up next to model.json' });
    case 'EISDIR':
      return new CliError('io_error', `cannot ${action} ${path}: it is a folder, not a file`, { cause: err, file: path, hint: `pass the model.json file inside it, e.g. ${path.replace(/\/+$/, '')}/model.json` });
    case 'ENOTDIR':
      return new CliError('io_error', `cannot ${action} ${path}: a part of the path is a file, not a folder`, { cause: err, file: path });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new CliError('io_error', `cannot ${action} ${path}: permission denied`, { cause: err, file: path, hint: 'check the folder\'s permissions, or choose another location' });
    case 'ENOSPC':
      return new CliError('io_error', `cannot ${action} ${path}: no space left on the device`, { cause: err, file: path });
    default:
      return new CliError('io_error', `cannot ${action} ${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err, file: path });
  }
}
