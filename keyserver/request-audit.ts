// The audit line and metrics of each release request, written once: from onResponse, or marked
// `aborted` when the connection closed before the response was written. Requests without a verified
// token pass the audit gate (audit-limits.ts) so one client cannot flood the log.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyServerConfig } from './config.js';
import type { AuditEntry, AuditLog } from './audit.js';
import { AuditGate, type AuditSuppression } from './audit-limits.js';
import type { KeyServerMetrics } from './metrics.js';
import { newRequestState } from './request-state.js';

/** Writes the audit line and metrics of each request to one route. */
export class RequestAudit {
  readonly #route: string;
  readonly #audit: AuditLog;
  readonly #metrics: KeyServerMetrics;
  readonly #gate: AuditGate;
  readonly #windowMs: number;
  #nextSweep = 0;
  readonly #releaseLatency;
  readonly #deniedLatency;

  constructor(route: string, config: KeyServerConfig, audit: AuditLog, metrics: KeyServerMetrics) {
    this.#route = route;
    this.#audit = audit;
    this.#metrics = metrics;
    this.#windowMs = config.auditUnverifiedWindowMs;
    this.#gate = new AuditGate({ perClient: config.auditUnverifiedPerAddress, windowMs: config.auditUnverifiedWindowMs });
    this.#releaseLatency = metrics.latency.labels({ outcome: 'release' });
    this.#deniedLatency = metrics.latency.labels({ outcome: 'denied' });
  }

  /** Records the request once (later calls do nothing); `aborted`: the connection closed first. */
  record(req: FastifyRequest, reply: FastifyReply, aborted: boolean): void {
    const s = req.modelseal;
    if (req.routeOptions.url !== this.#route || !s || s.audited) return;
    s.audited = true;
    const status = aborted && !s.decided ? undefined : reply.statusCode;
    const ok = status === 200;
    const reason = ok || status === undefined ? undefined : (s.reason ?? (status === 404 ? 'not_found' : 'malformed_request'));
    const outcome = aborted ? 'aborted' : ok ? 'release' : 'denied';
    this.#count(reply, s.audit.modelId ?? '', { aborted, ok, reason, counted: s.counted, outcome });
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
    if (s.verified || s.counted) this.#audit.write(entry);
    else this.#gated(s.clientGroup, entry);
  }

  /** Writes the summary lines of audit windows that have ended (all of them when `final`). */
  sweep(final = false): void {
    this.#summaries(this.#gate.sweep(Date.now(), final));
  }

  #count(reply: FastifyReply, model: string, r: { aborted: boolean; ok: boolean; reason: string | undefined; counted: boolean; outcome: string }): void {
    if (r.aborted) this.#metrics.aborted.inc();
    else {
      (r.ok ? this.#releaseLatency : this.#deniedLatency).observe(reply.elapsedTime / 1000);
      if (r.ok) this.#metrics.releases.inc({ model });
      else this.#metrics.denials.inc({ reason: r.reason });
    }
    if (r.counted) this.#metrics.counted.inc({ model, outcome: r.outcome });
  }

  #gated(client: string, entry: AuditEntry): void {
    const now = Date.now();
    if (now >= this.#nextSweep) {
      this.#nextSweep = now + Math.min(this.#windowMs, 1000);
      this.#summaries(this.#gate.sweep(now));
    }
    const { write, ended } = this.#gate.admit(client, now);
    if (ended) this.#summaries([ended]);
    if (write) this.#audit.write(entry);
    else this.#metrics.auditSuppressed.inc();
  }

  #summaries(list: AuditSuppression[]): void {
    for (const g of list) {
      this.#audit.write({ time: new Date(g.until).toISOString(), modelId: undefined, keyId: undefined, sub: undefined, jti: undefined, client: g.client, origin: undefined, outcome: 'suppressed', reason: undefined, status: undefined, suppressed: g.suppressed, since: new Date(g.since).toISOString() });
    }
  }
}

/**
 * Every answer is `Cache-Control: no-store` and `nosniff`. Added before the CORS plugin, whose own
 * onRequest hook answers preflights before any later hook runs (their 204s had neither header).
 */
export function addResponseHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', (_req, reply, done) => {
    setResponseHeaders(reply);
    done();
  });
}

/** The headers every answer carries (also set where Fastify answers before any hook: frameworkErrors). */
export function setResponseHeaders(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
  reply.header('x-content-type-options', 'nosniff');
}

/**
 * Adds the per-request hooks: the request state, and the audit line from
 * onResponse or from a closed connection. Returns `drain()`, which makes every later response carry
 * `Connection: close` so keep-alive sockets end during shutdown.
 */
export function addRequestHooks(app: FastifyInstance, config: KeyServerConfig, audit: RequestAudit): { drain(): void } {
  let draining = false;
  // The per-request hooks take `done` rather than being async: no promise and microtask per hook.
  app.addHook('onRequest', (req, reply, done) => {
    if (draining) reply.header('connection', 'close');
    const state = newRequestState(req, config.ipv6PrefixLength);
    req.modelseal = state;
    // A client that resets the connection gets no response, so onResponse never runs; the request may
    // still have taken a release from its token's cap. Audit it once its answer is decided (or now,
    // when the body never arrived and no handler will run).
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished || state.audited) return;
      if (state.decided || !req.raw.complete) audit.record(req, reply, true);
    });
    done();
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    // A request that began before shutdown still closes its socket, so close() need not wait for keep-alive.
    if (draining) reply.header('connection', 'close');
    const state = req.modelseal;
    if (state) {
      state.decided = true;
      if (reply.raw.destroyed || req.raw.socket?.destroyed) audit.record(req, reply, true);
    }
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    audit.record(req, reply, false);
    done();
  });
  app.addHook('onClose', async () => audit.sweep(true));
  return {
    drain: () => {
      draining = true;
    },
  };
}
