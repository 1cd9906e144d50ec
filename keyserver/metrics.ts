// Prometheus metrics, one registry per server so several servers can run in one process (tests).

import { Counter, Histogram, Registry } from 'prom-client';

/** The key server's metrics. */
export class KeyServerMetrics {
  readonly registry = new Registry();
  readonly releases = new Counter({ name: 'modelseal_releases_total', help: 'Key releases by model', labelNames: ['model'] as const, registers: [this.registry] });
  readonly denials = new Counter({ name: 'modelseal_denials_total', help: 'Refused release requests by reason (wire error code)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'modelseal_release_duration_seconds',
    help: 'Release request latency (all outcomes)',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly counted = new Counter({
    name: 'modelseal_releases_counted_total',
    help: "Releases taken from a token's releasesPerToken cap, by what became of the request (release, denied, aborted)",
    labelNames: ['model', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly aborted = new Counter({ name: 'modelseal_requests_aborted_total', help: 'Release requests whose connection closed before the response was written', registers: [this.registry] });
  readonly auditSuppressed = new Counter({ name: 'modelseal_audit_suppressed_total', help: 'Audit lines of requests without a verified token left out by the per-client limit (summarised in the log)', registers: [this.registry] });
  readonly dropped = new Counter({ name: 'modelseal_connections_dropped_total', help: 'Connections closed at once because maxConnections were open', registers: [this.registry] });
  readonly auditErrors = new Counter({ name: 'modelseal_audit_write_errors_total', help: 'Audit lines that could not be written (disk full, file gone): the release was answered without its line', registers: [this.registry] });
  readonly reloads = new Counter({ name: 'modelseal_keystore_reloads_total', help: 'Keystore reloads that saw a change', registers: [this.registry] });
  readonly notices = new Counter({ name: 'modelseal_keystore_notices_total', help: 'Keystore change notices received over Redis (each triggers a reload)', registers: [this.registry] });
  readonly redisErrors = new Counter({ name: 'modelseal_redis_errors_total', help: 'Redis errors: lost connections and failed reconnection attempts (connection), failed or timed-out commands (command)', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly rateLimitFailOpen = new Counter({ name: 'modelseal_rate_limit_fail_open_total', help: 'Requests let through without a rate-limit check because Redis was unreachable (rateLimitFailOpen)', labelNames: ['kind'] as const, registers: [this.registry] });
}
