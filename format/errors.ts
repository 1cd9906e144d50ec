/**
 * Every failure modelseal reports carries one of these stable codes. The table of codes, their
 * meaning and what to do about each lives in docs/ERRORS.md; a test checks the two agree.
 */
export const ERROR_CODES = [
  // format: reading and checking sealed files
  'manifest_invalid',
  'unsupported_version',
  'invalid_key',
  'wrong_key',
  'misplaced_shard',
  'tampered',
  'truncated',
  'trailing_data',
  'header_invalid',
  'not_published',
  'kind_mismatch',
  // loader: fetching files and keys
  'file_unavailable',
  'token_unavailable',
  'key_denied',
  'rate_limited',
  'key_server_unreachable',
  'key_server_error',
  'key_server_not_allowed',
  'unexpected_model',
  'timeout',
  'aborted',
  // publisher side: models, keystore, CLI
  'model_invalid',
  'key_not_found',
  'key_revoked',
  'master_key_missing',
  'master_key_wrong',
  'master_key_unavailable',
  'missing_dependency',
  'keystore_invalid',
  'output_exists',
  'plaintext_exposed',
  'io_error',
  'usage',
  'config_invalid',
] as const;

/** A stable, documented error code: switch on it, never on the message. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** The one error class modelseal throws for bad data, keys or I/O; `code` says which failure it is. */
export class ModelsealError extends Error {
  override readonly name = 'ModelsealError';
  /** Stable machine-readable code, listed in docs/ERRORS.md. */
  readonly code: ErrorCode;
  /** The sealed file the error is about, when there is one (a path or URL). */
  readonly file: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; file?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = options.file;
  }
}

/** True when `err` is a ModelsealError, optionally with the given code. */
export function isModelsealError(err: unknown, code?: ErrorCode): err is ModelsealError {
  return err instanceof ModelsealError && (code === undefined || err.code === code);
}
