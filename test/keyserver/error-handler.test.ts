// Fastify's request errors become wire errors by their type (fastify's exported errorCodes), not by
// their message: a look-alike message maps to nothing special, and a renamed message changes nothing.

import { describe, expect, it } from 'vitest';
import { errorCodes } from 'fastify';
import { toWireError } from '../../keyserver/error-handler.js';
import { SharedStateUnavailable } from '../../keyserver/counter.js';
import { ModelsealError } from '../../format/errors.js';

const wire = (err: unknown) => {
  const w = toWireError(err);
  return { code: w.code, status: w.statusCode, message: w.message, retryAfter: w.retryAfter };
};

describe('toWireError', () => {
  it('maps each Fastify request error by its class', () => {
    expect(wire(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE())).toMatchObject({ code: 'payload_too_large', status: 413 });
    expect(wire(new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE())).toMatchObject({ code: 'unsupported_media_type', status: 415 });
    expect(wire(new errorCodes.FST_ERR_NOT_FOUND())).toMatchObject({ code: 'not_found', status: 404 });
    expect(wire(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY())).toMatchObject({ code: 'malformed_request', message: 'the request is malformed: empty JSON body' });
    expect(wire(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH())).toMatchObject({ code: 'malformed_request', message: 'the request is malformed: bad Content-Length' });
    expect(wire(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY())).toMatchObject({ code: 'malformed_request', message: 'the request is malformed: body is not valid JSON' });
  });

  it('does not match by code or message text: a look-alike plain error is only a 4xx or an internal error', () => {
    const lookAlike = Object.assign(new Error("Body is not valid JSON but content-type is set to 'application/json'"), { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 });
    expect(wire(lookAlike)).toMatchObject({ code: 'malformed_request', message: 'the request is malformed' });
    expect(wire(Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE' }))).toMatchObject({ code: 'internal_error', status: 500 });
  });

  it('schema failures name the field; outages are 503 with Retry-After where a retry helps', () => {
    const validation = Object.assign(new Error('body/modelId must match pattern'), { validation: [{ instancePath: '/modelId', message: 'must match pattern "^[A-Za-z0-9]"' }], validationContext: 'body' });
    expect(wire(validation)).toMatchObject({ code: 'malformed_request', message: 'the request is malformed: body/modelId must match pattern "^[A-Za-z0-9]"' });
    expect(wire(new SharedStateUnavailable('redis down'))).toMatchObject({ code: 'unavailable', status: 503, retryAfter: 1 });
    expect(wire(new ModelsealError('master_key_unavailable', 'hsm gone'))).toMatchObject({ code: 'unavailable', retryAfter: 1 });
    expect(wire(new ModelsealError('keystore_invalid', 'damaged'))).toMatchObject({ code: 'unavailable', retryAfter: undefined, message: 'the key server is not ready: the keystore cannot be read' });
    expect(wire(new TypeError('bug'))).toMatchObject({ code: 'internal_error', message: 'internal error' });
  });
});
