// The key server as a pure Fastify app: routes, schemas and policy from a config and a keystore.
// No port, no signals, no timers: server.ts adds those. Tests can drive it with app.inject().

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import { pino, type Logger } from 'pino';
import { DIGEST_PATTERN, ID_PATTERN } from '../format/manifest.js';
import { ModelsealError, isModelsealError } from '../format/errors.js';
import type { KeyServerConfig, ModelPolicy } from './config.js';
import type { KeyStoreReader } from '../keystore/file-store.js';
import { WireError, type WireCode } from './errors.js';
import { SessionVerifier, matchesPattern, type Session } from './session.js';
import { ServerEphemeralKeys, importClientKey, wrapContentKey } from './wrap.js';
import { MemoryReleaseCounter, SharedStateUnavailable, type ReleaseCounter } from './counter.js';
import { MemoryRequestLimiter, type RequestLimiter } from './limiter.js';
import { AuditLog, type AuditEntry } from './audit.js';
import { AuditGate, type AuditSuppression } from './audit-limits.js';
import { KeyServerMetrics } from './metrics.js';
import { KeySnapshot } from './snapshot.js';
import { clientGroup } from './client-address.js';
import { drainAndClose } from './drain.js';

/** What buildApp needs. */
export interface AppOptions {
  config: KeyServerConfig;
  store: KeyStoreReader;
  /** Audit sink; default: none (server.ts opens the file). */
  audit?: AuditLog;
  /** Releases per token; default: in memory (one process). */
  counter?: ReleaseCounter;
  /** Rate limits; default: in memory (one process). */
  limiter?: RequestLimiter;
  /** Why a shared store the app depends on is not ready (Redis down), or undefined when it is. */
  readiness?: () => Promise<string | undefined>;
  /** Metrics registry; default: a new one. */
  metrics?: KeyServerMetrics;
  /** Operational log (stderr by default). */
  logger?: Logger;
}

/** The app plus the handles the process wrapper needs. */
export interface KeyServerApp {
  app: FastifyInstance;
  /** Re-reads the keystore and token keys; resolves true when the keystore changed. */
  reload(): Promise<boolean>;
  /** Marks the app as shutting down: responses carry `Connection: close` so keep-alive sockets end. */
  drain(): void;
  /** Writes the summary lines of audit windows that have ended (server.ts calls it with each keystore poll). */
  auditSweep(): void;
  metrics: KeyServerMetrics;
  audit: AuditLog;
}

/** The path of the key-release endpoint (protocol version 2, docs/PROTOCOL.md). */
export const RELEASE_PATH = '/v2/release';

/** The JSON body of POST /v2/release. */
export interface ReleaseRequest {
  modelId: string;
  keyId: string;
  /** The manifest's `sealing` digest: the key is released only for a sealing the keystore records. */
  sealing: string;
  epk: Record<string, unknown>;
  /** Asks for an offline lease; granted only when the model's policy has `offlineLeaseSeconds` > 0. */
  offline?: boolean;
}

/** The JSON answer of POST /v2/release. */
export interface ReleaseResponse {
  /** Compact JWE whose plaintext is the 32-byte content key. */
  key: string;
  /** When the release expires (ISO 8601); equals the JWE header `exp`. */
  expiresAt: string;
  /** When the offline lease ends (ISO 8601), present only when one is granted; equals the JWE header `lease`. */
  leaseExpiresAt?: string;
}

const idSchema = { type: 'string', minLength: 1, maxLength: 128, pattern: ID_PATTERN.source } as const;
const b64 = { type: 'string', minLength: 1, maxLength: 128 } as const;
const releaseSchema = {
  type: 'object',
  required: ['modelId', 'keyId', 'sealing', 'epk'],
  additionalProperties: false,
  properties: {
    modelId: idSchema,
    keyId: idSchema,
    sealing: { type: 'string', minLength: 43, maxLength: 43, pattern: DIGEST_PATTERN.source },
    offline: { type: 'boolean' },
    epk: {
      type: 'object',
      required: ['kty', 'crv', 'x'],
      additionalProperties: false,
      properties: {
        kty: { type: 'string', maxLength: 8 },
        crv: { type: 'string', maxLength: 16 },
        x: b64,
        y: b64,
        // Private members are accepted by the schema only so the handler can name them in its refusal.
        d: b64,
        k: b64,
        alg: { type: 'string', maxLength: 32 },
        use: { type: 'string', maxLength: 8 },
        kid: { type: 'string', maxLength: 128 },
        ext: { type: 'boolean' },
        key_ops: { type: 'array', maxItems: 8, items: { type: 'string', maxLength: 16 } },
      },
    },
  },
} as const;

interface RequestState {
  audit: Partial<AuditEntry>;
  reason: WireCode | undefined;
  /** What per-address limits count: the address, or its IPv6 network (client-address.ts). */
  clientGroup: string;
  /** The bearer token verified (signature and claims): its lines are never held back by the audit gate. */
  verified: boolean;
  /** A release was taken from the token's cap: the request is audited even if the client is gone. */
  counted: boolean;
  /** The handler has produced its answer (onSend ran). */
  decided: boolean;
  /** The audit line (or its suppression) is done. */
  audited: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    modelseal: RequestState | undefined;
  }
}

/** Finds the policy for a model: an exact entry, else the most specific matching pattern, else defaults. */
export function policyFor(config: KeyServerConfig, modelId: string): { name: string; policy: ModelPolicy } {
  const exact = config.models[modelId];
  if (exact && !modelId.includes('*')) return { name: modelId, policy: { ...config.defaults, ...exact } };
  let best: string | undefined;
  for (const pattern of Object.keys(config.models)) {
    if (!pattern.includes('*') || !matchesPattern(pattern, modelId)) continue;
    if (best === undefined || pattern.replaceAll('*', '').length > best.replaceAll('*', '').length) best = pattern;
  }
  return best === undefined ? { name: '', policy: config.defaults } : { name: best, policy: { ...config.defaults, ...config.models[best] } };
}

/**
 * The offline lease of a release (seconds since the epoch), or undefined: only a client that asks
 * and a policy that grants one get it, and it never outlasts the key version's own expiry.
 */
function offlineLease(asked: boolean | undefined, policy: ModelPolicy, nowMs: number, keyExpiryMs: number): number | undefined {
  if (asked !== true || policy.offlineLeaseSeconds <= 0) return undefined;
  return Math.floor(Math.min(nowMs + policy.offlineLeaseSeconds * 1000, keyExpiryMs) / 1000);
}

/** True when a browser origin may use at least one model (CORS answers only such origins). */
function originAllowedAnywhere(config: KeyServerConfig, origin: string): boolean {
  const policies = [config.defaults, ...Object.values(config.models).map((p) => ({ ...config.defaults, ...p }))];
  return policies.some((p) => p.origins === null || p.origins.includes(origin));
}

function toWireError(err: unknown): WireError {
  if (err instanceof WireError) return err;
  const e = err as { statusCode?: number; code?: string; validation?: { instancePath?: string; message?: string }[]; validationContext?: string };
  if (e && Array.isArray(e.validation)) {
    const first = e.validation[0];
    const where = `${e.validationContext ?? 'body'}${first?.instancePath ?? ''}`.slice(0, 80);
    return new WireError('malformed_request', `${where} ${first?.message ?? 'is invalid'}`.slice(0, 200));
  }
  // An HSM or KMS outage: the client may retry; cached keys are still being served meanwhile.
  if (isModelsealError(err, 'master_key_unavailable')) return new WireError('unavailable', 'the master key cannot be reached', { cause: err, retryAfter: 1 });
  if (isModelsealError(err)) return new WireError('unavailable', 'the keystore cannot be read', { cause: err });
  if (err instanceof SharedStateUnavailable) return new WireError('unavailable', 'the shared state (Redis) cannot be reached', { cause: err, retryAfter: 1 });
  switch (e?.statusCode) {
    case 413:
      return new WireError('payload_too_large');
    case 415:
      return new WireError('unsupported_media_type');
    case 404:
      return new WireError('not_found');
    case 400:
      return new WireError('malformed_request', e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'empty JSON body' : e.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' ? 'bad Content-Length' : 'body is not valid JSON');
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new WireError('malformed_request');
  return new WireError('internal_error', undefined, { cause: err });
}

function sendError(reply: FastifyReply, err: WireError): FastifyReply {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.toBody());
}

/**
 * Builds the key server app from a resolved config and a keystore.
 * @example const { app } = await buildApp({ config: resolveConfig({}), store }); await app.inject({ url: '/healthz' });
 */
export async function buildApp(options: AppOptions): Promise<KeyServerApp> {
  const { config, store } = options;
  const logger = options.logger ?? pino({ level: config.logLevel, base: { name: 'modelseal-keyserver' } }, pino.destination(2));
  const audit = options.audit ?? new AuditLog(null);
  const counter = options.counter ?? new MemoryReleaseCounter();
  const limiter = options.limiter ?? new MemoryRequestLimiter();
  const metrics = options.metrics ?? new KeyServerMetrics();
  const snapshot = new KeySnapshot(store, { cacheMs: config.masterKeyCacheSeconds * 1000 });
  const serverKeys = new ServerEphemeralKeys(config.serverKeyReuseSeconds * 1000);
  // Reuse rests on a jose parameter jose calls test-only: refuse to start where it does not hold.
  const reuseBroken = await serverKeys.selfTest(config.wrapAlgorithm);
  if (reuseBroken !== undefined) throw new ModelsealError('config_invalid', `serverKeyReuseSeconds ${config.serverKeyReuseSeconds} needs the jose version modelseal pins (${reuseBroken}); set serverKeyReuseSeconds to 0 (a fresh server key per release)`);
  const sessions = await SessionVerifier.create(config.tokens, store);
  await snapshot.refresh();

  const app = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    // The audit log records every release request; per-request access lines would only duplicate it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimit,
    // Deadlines, so slow clients cannot hold connections open: Node checks the request and header
    // deadlines every connectionsCheckingInterval (30 s by default, far coarser than the deadlines).
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    },
    // A hop count is valid at runtime (proxy-addr) though fastify's types omit it.
    trustProxy: config.trustProxy as boolean | string | string[],
    // While closing, requests on open keep-alive sockets are still answered (with Connection: close).
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });
  // Only JSON bodies: without this, text/plain would parse and fail later as a 400 instead of a 415.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('modelseal', undefined);

  // CORS is not the access control here: the release's origin check (policy) is. The release
  // endpoints answer every origin, so a page on a refused origin can read its 403
  // origin_not_allowed (and the refusal is audited) instead of seeing a network error. No
  // credentials are allowed: the bearer token is the only one. Other endpoints answer only origins
  // some policy allows.
  const releasePaths = new Set([RELEASE_PATH, '/v1/release']);
  const corsFor = (open: boolean) => ({ origin: open, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 });
  const corsOpen = corsFor(true);
  const corsClosed = corsFor(false);
  await app.register(cors, {
    delegator: (req, cb) => {
      const origin = req.headers.origin;
      // Only a well-formed origin is echoed: a hostile 15 KB header is not copied into the answer.
      const echo = origin !== undefined && origin.length <= 300 && /^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/i.test(origin);
      const open = (echo && releasePaths.has(req.url.split('?')[0]!)) || (origin !== undefined && originAllowedAnywhere(config, origin));
      cb(null, open ? corsOpen : corsClosed);
    },
  });
  // Rate limits count separately per policy entry (its name; '' is `defaults`).
  const limit = async (kind: 'address' | 'subject', policyName: string, max: number, key: string) => {
    let r;
    try {
      r = await limiter.hit(`${kind}:${policyName}`, key, max, config.rateWindowMs);
    } catch (err) {
      // Only rate limits may fail open, by choice; the release cap never does.
      if (!(err instanceof SharedStateUnavailable) || !config.rateLimitFailOpen) throw err;
      metrics.rateLimitFailOpen.inc({ kind });
      return;
    }
    if (!r.allowed) throw new WireError('rate_limited', kind === 'address' ? 'too many requests from this address' : 'too many releases for this session', { retryAfter: Math.max(1, Math.ceil(r.msBeforeNext / 1000)) });
  };

  // The config does not change while the app runs: look each model's policy up once (bounded, as
  // ids come from requests; a full cache starts over).
  const policyCache = new Map<string, { name: string; policy: ModelPolicy }>();
  const policies = (modelId: string) => {
    let p = policyCache.get(modelId);
    if (!p) {
      if (policyCache.size >= 4096) policyCache.clear();
      p = policyFor(config, modelId);
      policyCache.set(modelId, p);
    }
    return p;
  };

  const gate = new AuditGate({ perClient: config.auditUnverifiedPerAddress, windowMs: config.auditUnverifiedWindowMs });
  let nextSweep = 0;
  const writeSummaries = (list: AuditSuppression[]) => {
    for (const g of list) {
      audit.write({ time: new Date(g.until).toISOString(), modelId: undefined, keyId: undefined, sub: undefined, jti: undefined, client: g.client, origin: undefined, outcome: 'suppressed', reason: undefined, status: undefined, suppressed: g.suppressed, since: new Date(g.since).toISOString() });
    }
  };

  const releaseLatency = metrics.latency.labels({ outcome: 'release' });
  const deniedLatency = metrics.latency.labels({ outcome: 'denied' });
  // Writes the request's audit line and metrics, once: from onResponse, or with `aborted` when the
  // connection closed before the response was written.
  const record = (req: FastifyRequest, reply: FastifyReply, aborted: boolean) => {
    const s = req.modelseal;
    if (req.routeOptions.url !== RELEASE_PATH || !s || s.audited) return;
    s.audited = true;
    const status = aborted && !s.decided ? undefined : reply.statusCode;
    const ok = status === 200;
    const reason = ok || status === undefined ? undefined : (s.reason ?? (status === 404 ? 'not_found' : 'malformed_request'));
    const outcome = aborted ? 'aborted' : ok ? 'release' : 'denied';
    if (aborted) metrics.aborted.inc();
    else {
      (ok ? releaseLatency : deniedLatency).observe(reply.elapsedTime / 1000);
      if (ok) metrics.releases.inc({ model: s.audit.modelId ?? '' });
      else metrics.denials.inc({ reason });
    }
    if (s.counted) metrics.counted.inc({ model: s.audit.modelId ?? '', outcome });
    const entry: AuditEntry = {
      modelId: s.audit.modelId,
      keyId: s.audit.keyId,
      sub: s.audit.sub,
      jti: s.audit.jti,
      client: s.audit.client ?? req.ip,
      origin: s.audit.origin,
      outcome,
      reason,
      status,
      counted: s.counted,
      ...(ok && s.audit.lease !== undefined ? { lease: s.audit.lease } : {}),
    };
    if (s.verified || s.counted) {
      audit.write(entry);
      return;
    }
    const now = Date.now();
    if (now >= nextSweep) {
      nextSweep = now + Math.min(config.auditUnverifiedWindowMs, 1000);
      writeSummaries(gate.sweep(now));
    }
    const { write, ended } = gate.admit(s.clientGroup, now);
    if (ended) writeSummaries([ended]);
    if (write) audit.write(entry);
    else metrics.auditSuppressed.inc();
  };

  let draining = false;
  // The per-request hooks take `done` rather than being async: no promise and microtask per hook.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('cache-control', 'no-store');
    if (draining) reply.header('connection', 'close');
    reply.header('x-content-type-options', 'nosniff');
    const state: RequestState = { audit: { client: req.ip, origin: req.headers.origin }, reason: undefined, clientGroup: clientGroup(req.ip, config.ipv6PrefixLength), verified: false, counted: false, decided: false, audited: false };
    req.modelseal = state;
    // A client that resets the connection gets no response, so onResponse never runs; the request may
    // still have taken a release from its token's cap. Audit it once its answer is decided (or now,
    // when the body never arrived and no handler will run).
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished || state.audited) return;
      if (state.decided || !req.raw.complete) record(req, reply, true);
    });
    done();
  });

  app.addHook('onSend', (req, reply, payload, done) => {
    // A request that began before shutdown still closes its socket, so close() need not wait for keep-alive.
    if (draining) reply.header('connection', 'close');
    const state = req.modelseal;
    if (state) {
      state.decided = true;
      if (reply.raw.destroyed || req.raw.socket?.destroyed) record(req, reply, true);
    }
    done(null, payload);
  });

  app.setErrorHandler((err, req, reply) => {
    const wire = toWireError(err);
    if (req.modelseal) req.modelseal.reason = wire.code;
    if (wire.code === 'payload_too_large') {
      reply.header('connection', 'close');
      drainAndClose(req.raw, { maxBytes: config.bodyDrainLimit, timeoutMs: config.requestTimeoutMs });
    }
    // A Redis outage is logged once by RedisState and counted in modelseal_redis_errors_total, not per request.
    if (wire.code === 'internal_error' || (wire.code === 'unavailable' && !(err instanceof SharedStateUnavailable))) req.log.error({ code: (err as { code?: string }).code, msg: (err as Error).message }, 'release failed');
    return sendError(reply, wire);
  });
  app.setNotFoundHandler((req, reply) => {
    if (req.modelseal) req.modelseal.reason = 'not_found';
    return sendError(reply, new WireError('not_found', `${req.method} ${req.url.split('?')[0]!.slice(0, 64)}`));
  });

  app.addHook('onResponse', (req, reply, done) => {
    record(req, reply, false);
    done();
  });
  app.addHook('onClose', async () => {
    writeSummaries(gate.sweep(Date.now(), true));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    const notReady = await options.readiness?.();
    if (notReady !== undefined) throw new WireError('unavailable', notReady, { retryAfter: 1 });
    try {
      await store.list();
    } catch (cause) {
      throw new WireError('unavailable', 'the keystore cannot be read', { cause });
    }
    return { status: 'ready', keys: snapshot.size };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  // Clients of protocol 1 would skip the sealing check without a word: tell them to upgrade.
  app.post('/v1/release', async () => {
    throw new WireError('outdated_client', 'this key server speaks key-release protocol 2 (POST /v2/release); update the modelseal loader and reseal models with modelseal 0.2 or later');
  });

  app.post<{ Body: ReleaseRequest }>(RELEASE_PATH, { schema: { body: releaseSchema }, bodyLimit: config.bodyLimit }, async (req): Promise<ReleaseResponse> => {
    const state = req.modelseal!;
    const { modelId, keyId, sealing, epk } = req.body;
    state.audit.modelId = modelId;
    state.audit.keyId = keyId;
    const { name, policy } = policies(modelId);

    await limit('address', name, policy.ratePerAddress, state.clientGroup);

    const auth = req.headers.authorization;
    const match = typeof auth === 'string' ? /^Bearer +([A-Za-z0-9_.~+/-]+=*) *$/i.exec(auth) : null;
    if (!match) throw new WireError('invalid_token', 'send Authorization: Bearer <session token>');
    const session: Session = await sessions.verify(match[1]!);
    state.audit.sub = session.sub;
    state.audit.jti = session.jti;
    state.verified = true;

    await limit('subject', name, policy.ratePerSubject, session.sub ?? session.jti ?? 'anonymous');

    if (!session.models.some((p) => matchesPattern(p, modelId))) throw new WireError('forbidden_model', `the token's models claim does not include ${modelId}`);
    if (policy.origins !== null) {
      const origin = req.headers.origin;
      if (origin === undefined || !policy.origins.includes(origin)) throw new WireError('origin_not_allowed', origin === undefined ? 'the request has no Origin header' : `origin ${origin.slice(0, 100)} is not allowed for ${modelId}`);
    }

    const record = await snapshot.record(modelId, keyId, sealing);
    if (!record) throw new WireError('unknown_key', `${modelId} ${keyId}`);
    if (record.state === 'revoked') throw new WireError('key_revoked', `${modelId} ${keyId}: reseal the model with the active key version`);
    const nowMs = Date.now();
    const keyExpiry = record.expiresAt === undefined ? Infinity : Date.parse(record.expiresAt);
    if (keyExpiry <= nowMs) throw new WireError('key_expired', `${modelId} ${keyId}`);
    // Every session holds the content key, so a sealing is genuine only if the publisher recorded it.
    if (!record.sealings.includes(sealing)) throw new WireError('not_published', `${modelId} ${keyId} has no published sealing ${sealing}: only files sealed with this keystore (\`modelseal seal\`) are released`);

    const client = await importClientKey(epk);
    if (session.jkt !== undefined && session.jkt !== (await client.thumbprint())) throw new WireError('invalid_token', 'the token is bound to another key (cnf.jkt)');

    if (policy.releasesPerToken > 0) {
      if (session.jti === undefined) throw new WireError('invalid_token', `model ${modelId} caps releases per token: the token needs a jti`);
      const ok = await counter.take(session.jti, policy.releasesPerToken, session.exp * 1000 + config.tokens.clockSkewSeconds * 1000);
      if (!ok) throw new WireError('release_limit', `at most ${policy.releasesPerToken} per token`);
      state.counted = true;
    }

    const contentKey = await snapshot.contentKey(modelId, keyId);
    if (!contentKey) throw new WireError('unknown_key', `${modelId} ${keyId}`);
    // The token bound includes the clock skew, so a token accepted within the skew never yields an already-expired release.
    const expMs = Math.min(nowMs + config.releaseTtlSeconds * 1000, (session.exp + config.tokens.clockSkewSeconds) * 1000, keyExpiry);
    const exp = Math.floor(expMs / 1000);
    const lease = offlineLease(req.body.offline, policy, nowMs, keyExpiry);
    if (lease !== undefined) state.audit.lease = new Date(lease * 1000).toISOString();
    const key = await wrapContentKey(contentKey, client, { modelId, keyId, sealing, exp, lease }, config.wrapAlgorithm, serverKeys);
    return { key, expiresAt: new Date(exp * 1000).toISOString(), ...(lease === undefined ? {} : { leaseExpiresAt: state.audit.lease }) };
  });

  const reload = async (): Promise<boolean> => {
    const changed = await snapshot.refresh();
    await sessions.reload();
    if (changed) {
      metrics.reloads.inc();
      logger.info({ keys: snapshot.size }, 'keystore reloaded');
    }
    return changed;
  };

  const drain = () => {
    draining = true;
  };

  const auditSweep = () => writeSummaries(gate.sweep(Date.now()));

  return { app, reload, drain, auditSweep, metrics, audit };
}

