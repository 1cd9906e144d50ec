// The key server as a pure Fastify app: routes, schemas and policy from a config and a keystore.
// No port, no signals, no timers: server.ts adds those. Tests can drive it with app.inject().
// The parts live beside it: release.ts (the route), policy.ts, request-audit.ts (hooks, audit,
// metrics), rate-limits.ts, cors.ts, error-handler.ts, routes.ts (health, readiness, metrics).

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { ModelsealError } from '../format/errors.js';
import type { KeyStoreReader } from '../keystore/file-store.js';
import type { KeyServerConfig } from './config.js';
import { SessionVerifier } from './session.js';
import { ServerEphemeralKeys } from './wrap.js';
import { MemoryReleaseCounter, type ReleaseCounter } from './counter.js';
import { MemoryRequestLimiter, type RequestLimiter } from './limiter.js';
import { AuditLog } from './audit.js';
import { KeyServerMetrics } from './metrics.js';
import { KeySnapshot } from './snapshot.js';
import { cachedPolicies } from './policy.js';
import { rateLimits } from './rate-limits.js';
import { registerCors } from './cors.js';
import { sendError, setErrorHandlers, toWireError } from './error-handler.js';
import { RequestAudit, addRequestHooks, addResponseHeaders, setResponseHeaders } from './request-audit.js';
import { addOutdatedRelease, addStatusRoutes, V1_RELEASE_PATH } from './routes.js';
import { RELEASE_PATH, addReleaseRoute } from './release.js';

export { RELEASE_PATH, type ReleaseRequest, type ReleaseResponse } from './release.js';

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

/** The server's ECDH key pairs; reuse rests on a jose parameter jose calls test-only, so refuse to start where it does not hold. */
async function serverKeysFor(config: KeyServerConfig): Promise<ServerEphemeralKeys> {
  const serverKeys = new ServerEphemeralKeys(config.serverKeyReuseSeconds * 1000);
  const reuseBroken = await serverKeys.selfTest(config.wrapAlgorithm);
  if (reuseBroken !== undefined) throw new ModelsealError('config_invalid', `serverKeyReuseSeconds ${config.serverKeyReuseSeconds} needs the jose version modelseal pins (${reuseBroken}); set serverKeyReuseSeconds to 0 (a fresh server key per release)`);
  return serverKeys;
}

/** The Fastify instance with the server's limits and deadlines, before any route. */
function newFastify(config: KeyServerConfig, logger: Logger): FastifyInstance {
  let app: FastifyInstance;
  try {
    app = fastifyWithLimits(config, logger);
  } catch (cause) {
    // The one setting Fastify parses itself (proxy-addr, on construction): addresses and CIDRs.
    if (typeof config.trustProxy !== 'object') throw cause;
    throw new ModelsealError('config_invalid', `config trustProxy ${JSON.stringify(config.trustProxy).slice(0, 200)} is not valid (${(cause as Error).message}): give true, false, a hop count, or the addresses or CIDRs of your proxies, such as "10.0.0.0/8"`, { cause });
  }
  // Only JSON bodies: without this, text/plain would parse and fail later as a 400 instead of a 415.
  app.removeContentTypeParser('text/plain');
  // Per-request state (request-state.ts), set by the onRequest hook.
  app.decorateRequest('modelseal', undefined);
  return app;
}

function fastifyWithLimits(config: KeyServerConfig, logger: Logger): FastifyInstance {
  return Fastify({
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
    // Errors Fastify meets before routing (a bad percent escape in the URL): the same JSON error body
    // and headers as every answer, not Fastify's default body, which echoed the raw URL.
    frameworkErrors: (error, _req, reply) => {
      setResponseHeaders(reply);
      void sendError(reply, toWireError(error));
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  }) as unknown as FastifyInstance;
}

/**
 * Builds the key server app from a resolved config and a keystore.
 * @example const { app } = await buildApp({ config: resolveConfig({}), store }); await app.inject({ url: '/healthz' });
 */
export async function buildApp(options: AppOptions): Promise<KeyServerApp> {
  const { config, store } = options;
  const logger = options.logger ?? pino({ level: config.logLevel, base: { name: 'modelseal-keyserver' } }, pino.destination(2));
  const audit = options.audit ?? new AuditLog(null);
  const metrics = options.metrics ?? new KeyServerMetrics();
  const snapshot = new KeySnapshot(store, { cacheMs: config.masterKeyCacheSeconds * 1000 });
  const serverKeys = await serverKeysFor(config);
  const sessions = await SessionVerifier.create(config.tokens, store);
  await snapshot.refresh();

  const app = newFastify(config, logger);
  const requestAudit = new RequestAudit(RELEASE_PATH, config, audit, metrics);
  addResponseHeaders(app);
  await registerCors(app, config, new Set([RELEASE_PATH, V1_RELEASE_PATH]));
  const { drain } = addRequestHooks(app, config, requestAudit);
  setErrorHandlers(app, config);
  addStatusRoutes(app, { snapshot, metrics, readiness: options.readiness });
  addOutdatedRelease(app);
  addReleaseRoute(app, {
    config,
    sessions,
    snapshot,
    serverKeys,
    counter: options.counter ?? new MemoryReleaseCounter(),
    limit: rateLimits(options.limiter ?? new MemoryRequestLimiter(), config, metrics),
    policies: cachedPolicies(config),
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
  return { app, reload, drain, auditSweep: () => requestAudit.sweep(), metrics, audit };
}
