// Every error the app meets becomes one wire error (errors.ts): Fastify's own errors are matched by
// its exported errorCodes, never by their message text. The client sees the code and a short
// detail; internals go to the operational log only.

import { errorCodes, type FastifyInstance, type FastifyReply } from 'fastify';
import { isModelsealError } from '../format/errors.js';
import type { KeyServerConfig } from './config.js';
import { SharedStateUnavailable } from './counter.js';
import { drainAndClose } from './drain.js';
import { WireError, type WireCode } from './errors.js';

interface ValidationFailure {
  validation: { instancePath?: string; message?: string }[];
  validationContext?: string;
}

function isValidationFailure(err: unknown): err is ValidationFailure {
  return typeof err === 'object' && err !== null && Array.isArray((err as { validation?: unknown }).validation);
}

/** Fastify's request errors and the wire error (code, detail) each one becomes. */
const FASTIFY_ERRORS: [new (...args: never[]) => Error, WireCode, string?][] = [
  [errorCodes.FST_ERR_CTP_BODY_TOO_LARGE, 'payload_too_large'],
  [errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE, 'unsupported_media_type'],
  [errorCodes.FST_ERR_NOT_FOUND, 'not_found'],
  [errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY, 'malformed_request', 'empty JSON body'],
  [errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH, 'malformed_request', 'bad Content-Length'],
  [errorCodes.FST_ERR_CTP_INVALID_JSON_BODY, 'malformed_request', 'body is not valid JSON'],
];

/** The wire error a thrown value becomes. */
export function toWireError(err: unknown): WireError {
  if (err instanceof WireError) return err;
  if (isValidationFailure(err)) {
    const first = err.validation[0];
    const where = `${err.validationContext ?? 'body'}${first?.instancePath ?? ''}`.slice(0, 80);
    return new WireError('malformed_request', `${where} ${first?.message ?? 'is invalid'}`.slice(0, 200));
  }
  // An HSM or KMS outage: the client may retry; cached keys are still being served meanwhile.
  if (isModelsealError(err, 'master_key_unavailable')) return new WireError('unavailable', 'the master key cannot be reached', { cause: err, retryAfter: 1 });
  if (isModelsealError(err)) return new WireError('unavailable', 'the keystore cannot be read', { cause: err });
  if (err instanceof SharedStateUnavailable) return new WireError('unavailable', `the shared state (Redis) ${err.refused ? 'refuses the key server\'s commands' : 'cannot be reached'}`, { cause: err, retryAfter: 1 });
  for (const [type, code, detail] of FASTIFY_ERRORS) if (err instanceof type) return new WireError(code, detail);
  // Any other client fault Fastify reports (an aborted body, a bad URL) is the client's, with no detail.
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return new WireError('malformed_request');
  return new WireError('internal_error', undefined, { cause: err });
}

/** Sends a wire error as the JSON error body with its status (and Retry-After when it has one). */
export function sendError(reply: FastifyReply, err: WireError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.toBody());
}

/** Installs the error and not-found handlers: every failure is a wire error, and its code is the request's audit reason. */
export function setErrorHandlers(app: FastifyInstance, config: KeyServerConfig): void {
  app.setErrorHandler((err, req, reply) => {
    const wire = toWireError(err);
    if (req.modelseal) req.modelseal.reason = wire.code;
    if (wire.code === 'payload_too_large') {
      reply.header('connection', 'close');
      drainAndClose(req.raw, { maxBytes: config.bodyDrainLimit, timeoutMs: config.requestTimeoutMs });
    }
    // A Redis outage or refusal is logged by RedisState (once, or once a minute per kind) and counted in modelseal_redis_errors_total, not per request.
    if (wire.code === 'internal_error' || (wire.code === 'unavailable' && !(err instanceof SharedStateUnavailable))) req.log.error({ code: (err as { code?: string }).code, msg: (err as Error).message }, 'release failed');
    return sendError(reply, wire);
  });
  app.setNotFoundHandler((req, reply) => {
    // A CORS preflight the CORS plugin did not answer: its Origin is not one this endpoint answers
    // (ill-formed, such as "null" or one with a path, or not allowed by any policy). The endpoint exists.
    if (req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined) {
      if (req.modelseal) req.modelseal.reason = 'origin_not_allowed';
      return sendError(reply, new WireError('origin_not_allowed', 'a CORS preflight from an origin this endpoint does not answer: the Origin must be scheme://host[:port] (not "null", no path) and, for endpoints other than the release, allowed by some model\'s origins'));
    }
    if (req.modelseal) req.modelseal.reason = 'not_found';
    return sendError(reply, new WireError('not_found', `${req.method} ${req.url.split('?')[0]!.slice(0, 64)}`));
  });
}
