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
  'model_format_mismatch',
  'timeout',
  'aborted',
  'offline_unavailable',
  'crypto_unavailable',
  'lease_expired',
  'lease_invalid',
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

/** The structured details a ModelsealError may carry besides its code and message. */
export interface ModelsealErrorOptions {
  /** The underlying error. */
  cause?: unknown;
  /** The sealed file (a path, URL or label) the error is about. */
  file?: string;
  /** Index of the chunk of `file` that failed, when one chunk did. */
  chunk?: number;
  /** The key server's own wire code (docs/PROTOCOL.md), when the key server answered with an error. */
  serverCode?: string;
  /** The HTTP status of the answer the error comes from. */
  status?: number;
  /** Seconds the server asked the caller to wait before retrying (its Retry-After header). */
  retryAfter?: number;
}

/** The one error class modelseal throws for bad data, keys or I/O; `code` says which failure it is. */
export class ModelsealError extends Error {
  override readonly name = 'ModelsealError';
  /** Stable machine-readable code, listed in docs/ERRORS.md. */
  readonly code: ErrorCode;
  /** The sealed file the error is about, when there is one (a path or URL). */
  readonly file: string | undefined;
  /** Index (from 0) of the chunk that failed, when the format layer knows it. */
  readonly chunk: number | undefined;
  /** The key server's wire code (`token_expired`, `key_revoked`, `origin_not_allowed`, …), when it refused or failed. */
  readonly serverCode: string | undefined;
  /** HTTP status of the failed answer (key server or file host), when there was one. */
  readonly status: number | undefined;
  /** Seconds to wait before trying again, from the server's Retry-After header. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: ModelsealErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = options.file;
    this.chunk = options.chunk;
    this.serverCode = options.serverCode;
    this.status = options.status;
    this.retryAfter = options.retryAfter;
  }
}

/** The same error (code, file, chunk, server fields) with `note` added to its message in brackets; the original is its cause. */
export function withNote(err: ModelsealError, note: string): ModelsealError {
  const fields: ModelsealErrorOptions = { cause: err };
  if (err.file !== undefined) fields.file = err.file;
  if (err.chunk !== undefined) fields.chunk = err.chunk;
  if (err.serverCode !== undefined) fields.serverCode = err.serverCode;
  if (err.status !== undefined) fields.status = err.status;
  if (err.retryAfter !== undefined) fields.retryAfter = err.retryAfter;
  return new ModelsealError(err.code, `${err.message} (${note})`, fields);
}

/** True when `err` is a ModelsealError, optionally with the given code. */
export function isModelsealError(err: unknown, code?: ErrorCode): err is ModelsealError {
  return err instanceof ModelsealError && (code === undefined || err.code === code);
}

/** The `aborted` error for a load that an AbortSignal stopped while it was loading `what`. */
export function abortedError(signal: AbortSignal | undefined, what: string, file?: string): ModelsealError {
  return new ModelsealError('aborted', `loading ${what} was aborted (the AbortSignal passed to the loader fired); start the load again if you still need the model`, { cause: signal?.reason, file });
}
