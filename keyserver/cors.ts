// CORS is not the access control here: the release's origin check (policy.ts) is. The release
// endpoints answer every well-formed origin, so a page on a refused origin can read its 403
// origin_not_allowed (and the refusal is audited) instead of seeing a network error. No credentials
// are allowed: the bearer token is the only one. Other endpoints answer only origins some policy allows.

import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import type { KeyServerConfig } from './config.js';
import { originAllowedAnywhere } from './policy.js';

// Retry-After is exposed: a cross-origin page must read it to wait the right time after a 429 or 503.
const corsFor = (open: boolean) => ({ origin: open, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], exposedHeaders: ['retry-after'], maxAge: 600 });
const CORS_OPEN = corsFor(true);
const CORS_CLOSED = corsFor(false);

/** Only a well-formed origin is echoed: a hostile 15 KB header is not copied into the answer. */
function echoable(origin: string | undefined): origin is string {
  return origin !== undefined && origin.length <= 300 && /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(origin);
}

/** Registers @fastify/cors: open on `releasePaths`, else only for origins some policy allows. */
export async function registerCors(app: FastifyInstance, config: KeyServerConfig, releasePaths: ReadonlySet<string>): Promise<void> {
  await app.register(cors, {
    delegator: (req, cb) => {
      const origin = req.headers.origin;
      const open = (echoable(origin) && releasePaths.has(req.url.split('?')[0]!)) || (origin !== undefined && originAllowedAnywhere(config, origin));
      cb(null, open ? CORS_OPEN : CORS_CLOSED);
    },
  });
}
