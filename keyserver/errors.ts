// The key server's one error table: wire code → HTTP status → message. docs/PROTOCOL.md lists every
// code (a test checks it). Messages are fixed text plus a short detail the server chose; they never
// carry key material, stack traces or the raw input.

/** Every error code the key server puts on the wire, with its HTTP status and default message. */
export const WIRE_ERRORS = {
  malformed_request: { status: 400, message: 'the request is malformed' },
  invalid_token: { status: 401, message: 'the session token is not valid' },
  token_expired: { status: 401, message: 'the session token has expired' },
  forbidden_model: { status: 403, message: 'the session token does not allow this model' },
  origin_not_allowed: { status: 403, message: 'this origin may not load this model' },
  release_limit: { status: 403, message: 'this session token has used all its key releases' },
  key_revoked: { status: 403, message: 'this key version is revoked' },
  key_expired: { status: 403, message: 'this key version has expired' },
  not_published: { status: 403, message: 'this sealing was not published with this key version' },
  unknown_key: { status: 404, message: 'no such model or key version' },
  not_found: { status: 404, message: 'no such endpoint' },
  outdated_client: { status: 410, message: 'this client speaks an older key-release protocol' },
  payload_too_large: { status: 413, message: 'the request body is too large' },
  unsupported_media_type: { status: 415, message: 'the request body must be application/json' },
  rate_limited: { status: 429, message: 'too many requests: retry later' },
  unavailable: { status: 503, message: 'the key server is not ready' },
  internal_error: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A code from WIRE_ERRORS. */
export type WireCode = keyof typeof WIRE_ERRORS;

/** The JSON body of every error response. */
export interface WireErrorBody {
  error: { code: WireCode; message: string };
}

/** An error that maps to one wire response; `detail` is safe to show to the client. */
export class WireError extends Error {
  override readonly name = 'WireError';
  readonly code: WireCode;
  readonly statusCode: number;
  /** Seconds for a Retry-After header (429, and 503 while shared state is unreachable). */
  readonly retryAfter: number | undefined;

  constructor(code: WireCode, detail?: string, options: { retryAfter?: number; cause?: unknown } = {}) {
    super(detail ? `${WIRE_ERRORS[code].message}: ${detail}` : WIRE_ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.statusCode = WIRE_ERRORS[code].status;
    this.retryAfter = options.retryAfter;
  }

  /** The response body. */
  toBody(): WireErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}
