// The release's two rate limits (per client address, per token subject), counted separately per
// policy entry. Only rate limits may fail open while Redis is unreachable, and only by choice
// (rateLimitFailOpen); the release cap never does.

import type { KeyServerConfig } from './config.js';
import { SharedStateUnavailable } from './counter.js';
import { WireError } from './errors.js';
import type { RequestLimiter } from './limiter.js';
import type { KeyServerMetrics } from './metrics.js';

/** Counts one request against a limit; throws `rate_limited` (with Retry-After) beyond `max`. */
export type Limit = (kind: 'address' | 'subject', policyName: string, max: number, key: string) => Promise<void>;

/** The Limit of an app: `limiter` counts, `config` gives the window and the fail-open choice. */
export function rateLimits(limiter: RequestLimiter, config: KeyServerConfig, metrics: KeyServerMetrics): Limit {
  return async (kind, policyName, max, key) => {
    let r;
    try {
      r = await limiter.hit(`${kind}:${policyName}`, key, max, config.rateWindowMs);
    } catch (err) {
      if (!(err instanceof SharedStateUnavailable) || !config.rateLimitFailOpen) throw err;
      metrics.rateLimitFailOpen.inc({ kind });
      return;
    }
    if (!r.allowed) throw new WireError('rate_limited', kind === 'address' ? 'too many requests from this address' : 'too many releases for this session', { retryAfter: Math.max(1, Math.ceil(r.msBeforeNext / 1000)) });
  };
}
