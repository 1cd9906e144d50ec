// The key server process around the pure app: opens the store and audit log, listens, polls the
// keystore for changes, and closes in order (stop accepting, finish in-flight, flush the audit log).

import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { resolve } from 'node:path';
import { ModelsealError } from '../format/errors.js';
import { openMasterKey } from '../keystore/master/index.js';
import { FileKeyStore, type KeyStoreReader } from '../keystore/file-store.js';
import { resolveConfig, type KeyServerConfig, type KeyServerConfigInput } from './config.js';
import { buildApp, type KeyServerApp } from './app.js';
import { AuditLog } from './audit.js';
import type { ReleaseCounter } from './counter.js';
import type { RequestLimiter } from './limiter.js';
import { KeyServerMetrics } from './metrics.js';
import type { RedisState } from './redis.js';

/** Options of createKeyServer. */
export interface KeyServerOptions {
  /** Keystore folder, or any KeyStoreReader. */
  store: string | KeyStoreReader;
  /** Settings over the defaults (no environment is read here; the CLI uses loadConfig). */
  config?: KeyServerConfigInput;
  /** Overrides the release counter (default: Redis when `config.redis` is set, else memory). */
  counter?: ReleaseCounter;
  /** Overrides the rate limiter (default: Redis when `config.redis` is set, else memory). */
  limiter?: RequestLimiter;
  logger?: Logger;
}

/** A running (or ready to run) key server. */
export interface KeyServer {
  /** The Fastify instance (use `app.inject` for in-process requests). */
  app: FastifyInstance;
  config: KeyServerConfig;
  metrics: KeyServerMetrics;
  audit: AuditLog;
  /** Starts listening; resolves the base URL, e.g. http://127.0.0.1:8787. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /** Stops accepting, finishes in-flight requests, stops polling and flushes the audit log. */
  close(): Promise<void>;
  /** Re-reads the keystore and token keys now; true when the keystore changed. */
  reload(): Promise<boolean>;
}

async function openFolder(dir: string, masterKey: string | undefined): Promise<FileKeyStore> {
  const master = masterKey === undefined ? undefined : await openMasterKey(masterKey, { storeDir: resolve(dir), env: process.env });
  try {
    return (await FileKeyStore.open(dir, master ? { master } : {})).store;
  } catch (err) {
    await master?.close?.();
    throw err;
  }
}

/** Why the store's master key is unusable now (for /readyz), or undefined when it works or cannot tell. */
async function masterReadiness(store: KeyStoreReader): Promise<string | undefined> {
  if (!(store instanceof FileKeyStore) || !store.master.check) return undefined;
  try {
    await store.master.check();
    return undefined;
  } catch {
    return `the master key ${store.master.uri} is unavailable`;
  }
}

/** What a key server holds open: closed in this order (after the app) by close(), or on a failed start. */
interface Parts {
  store: KeyStoreReader;
  /** A store opened here (from a folder) is closed here; a store passed in belongs to the caller. */
  ownStore: boolean;
  audit: AuditLog;
  metrics: KeyServerMetrics;
  redis: RedisState | undefined;
}

async function closeParts(p: Parts): Promise<void> {
  await p.redis?.close();
  await p.audit.close();
  if (p.ownStore && p.store instanceof FileKeyStore) await p.store.close();
}

/** Opens the audit log and, when configured, Redis (loaded only then: the client costs ~0.2 s to import). */
async function openShared(p: Parts, config: KeyServerConfig, logger: Logger, auditPath: string | null): Promise<void> {
  await p.audit.ready().catch((cause: Error) => {
    throw new ModelsealError('config_invalid', `cannot open the audit log ${auditPath}: ${cause.message}; fix its folder's permissions or set auditLog`, { cause, file: auditPath ?? undefined });
  });
  if (config.redis === undefined) return;
  const { RedisState } = await import('./redis.js');
  p.redis = await RedisState.open({
    url: config.redis,
    keyPrefix: config.redisKeyPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    logger,
    onError: (kind) => p.metrics.redisErrors.inc({ kind }),
  });
}

/** Opens everything the app needs and builds it; on failure closes what was opened. */
async function start(options: KeyServerOptions, config: KeyServerConfig, logger: Logger): Promise<{ parts: Parts; built: KeyServerApp }> {
  const store = typeof options.store === 'string' ? await openFolder(options.store, config.masterKey) : options.store;
  const auditPath = config.auditLog === undefined ? (store instanceof FileKeyStore ? store.auditPath : null) : config.auditLog;
  const metrics = new KeyServerMetrics();
  // A failed audit write (disk full) is counted each time and logged at most once a minute: one
  // stderr line per request flooded the log while releases went on.
  let lastAuditError = -Infinity;
  const onAuditError = (err: Error) => {
    metrics.auditErrors.inc();
    if (Date.now() - lastAuditError < 60_000) return;
    lastAuditError = Date.now();
    logger.error({ msg: err.message, path: auditPath }, 'audit log write failed; releases go on without their audit lines (modelseal_audit_write_errors_total counts them)');
  };
  const parts: Parts = { store, ownStore: typeof options.store === 'string', audit: new AuditLog(auditPath, { fieldMaxLength: config.auditFieldMaxLength, onError: onAuditError }), metrics, redis: undefined };
  try {
    await openShared(parts, config, logger, auditPath);
    const shared = parts.redis;
    const built = await buildApp({
      config,
      store,
      audit: parts.audit,
      metrics: parts.metrics,
      ...(options.counter ?? shared ? { counter: options.counter ?? shared!.counter } : {}),
      ...(options.limiter ?? shared ? { limiter: options.limiter ?? shared!.limiter } : {}),
      readiness: async () => (shared ? await shared.check() : undefined) ?? (await masterReadiness(store)),
      logger,
    });
    return { parts, built };
  } catch (err) {
    // Each part on its own, so one that fails to close does not keep the others open.
    await parts.redis?.close().catch(() => undefined);
    await parts.audit.close().catch(() => undefined);
    if (parts.ownStore && store instanceof FileKeyStore) await store.close().catch(() => undefined);
    throw err;
  }
}

/**
 * The keystore poll: writes due audit summaries and reloads. A change notice that arrives during a
 * reload may describe a write that reload missed, so it reads again after.
 */
function poller(built: KeyServerApp): () => Promise<void> {
  let polling = false;
  let again = false;
  return async () => {
    if (polling) {
      again = true;
      return;
    }
    polling = true;
    try {
      do {
        again = false;
        try {
          // A client that went quiet after a flood gets its audit summary line now, not at its next request.
          built.auditSweep();
          await built.reload();
        } catch (err) {
          built.app.log.warn({ msg: (err as Error).message }, 'keystore reload failed; keeping the last good state');
        }
      } while (again);
    } finally {
      polling = false;
    }
  };
}

/** The base URL of a listening server, e.g. http://127.0.0.1:8787 or http://[::1]:8787. */
function baseUrl(app: FastifyInstance, address: string): string {
  const a = app.server.address();
  if (!a || typeof a !== 'object') return address;
  const host = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]` : a.address;
  return `http://${host}:${a.port}`;
}

/**
 * Creates a key server over a keystore. Bad config throws ModelsealError `config_invalid`.
 * @example
 * const server = await createKeyServer({ store: '.modelseal' });
 * const url = await server.listen({ host: '127.0.0.1', port: 0 });
 * // … POST `${url}/v2/release` …
 * await server.close();
 */
export async function createKeyServer(options: KeyServerOptions): Promise<KeyServer> {
  const config = resolveConfig(options.config as Record<string, unknown> | undefined);
  // One operational log for the app and the Redis connection (buildApp's default, made here to share it).
  const logger = options.logger ?? pino({ level: config.logLevel, base: { name: 'modelseal-keyserver' } }, pino.destination(2));
  const { parts, built } = await start(options, config, logger);
  const { app } = built;
  const poll = poller(built);
  let timer: NodeJS.Timeout | undefined;
  let closed: Promise<void> | undefined;
  // Keystore change notices (the CLI publishes one after each write when MODELSEAL_REDIS_URL is set)
  // make every replica re-read at once; the poll stays as the fallback.
  await parts.redis?.onKeystoreChange(() => {
    parts.metrics.notices.inc();
    void poll();
  });

  return {
    app,
    config,
    metrics: parts.metrics,
    audit: parts.audit,
    reload: () => built.reload(),
    async listen(opts = {}) {
      // Node closes a connection beyond the limit as soon as it is accepted ('drop').
      app.server.maxConnections = config.maxConnections;
      if (app.server.listenerCount('drop') === 0) app.server.on('drop', () => parts.metrics.dropped.inc());
      const address = await app.listen({ host: opts.host ?? config.host, port: opts.port ?? config.port });
      if (config.reloadIntervalMs > 0 && !timer) {
        timer = setInterval(() => void poll(), config.reloadIntervalMs);
        timer.unref();
      }
      return baseUrl(app, address);
    },
    close() {
      closed ??= (async () => {
        if (timer) clearInterval(timer);
        built.drain();
        await app.close();
        await closeParts(parts);
      })();
      return closed;
    },
  };
}
