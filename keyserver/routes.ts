// The small endpoints: liveness, readiness, Prometheus metrics, and the protocol-1 release path
// that tells old clients to upgrade.

import type { FastifyInstance } from 'fastify';
import { WireError } from './errors.js';
import type { KeyServerMetrics } from './metrics.js';
import type { KeySnapshot } from './snapshot.js';

/** The old protocol-1 release path (answered 410 outdated_client). */
export const V1_RELEASE_PATH = '/v1/release';

/** What the status routes read. */
export interface StatusDeps {
  snapshot: KeySnapshot;
  metrics: KeyServerMetrics;
  /** Why a shared store the app depends on is not ready, or undefined when it is. */
  readiness: (() => Promise<string | undefined>) | undefined;
}

/** Adds GET /healthz, /readyz and /metrics. */
export function addStatusRoutes(app: FastifyInstance, deps: StatusDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    const notReady = await deps.readiness?.();
    if (notReady !== undefined) throw new WireError('unavailable', notReady, { retryAfter: 1 });
    try {
      await deps.snapshot.check();
    } catch (cause) {
      throw new WireError('unavailable', 'the keystore cannot be read', { cause });
    }
    return { status: 'ready', keys: deps.snapshot.size };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
}

/** Adds POST /v1/release: clients of protocol 1 would skip the sealing check without a word, so tell them to upgrade. */
export function addOutdatedRelease(app: FastifyInstance): void {
  app.post(V1_RELEASE_PATH, async () => {
    throw new WireError('outdated_client', 'this key server speaks key-release protocol 2 (POST /v2/release); update the modelseal loader and reseal models with modelseal 0.2 or later');
  });
}
