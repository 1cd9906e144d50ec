// Rate limits (requests per key per window) behind one small interface: in memory for one process
// (rate-limiter-flexible's RateLimiterMemory), or on Redis for replicas and workers (redis.ts).

import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { SharedStateUnavailable } from './counter.js';

/** The answer of one counted request. */
export interface LimitResult {
  /** False when this request is beyond `max` for the window. */
  allowed: boolean;
  /** Milliseconds until the window ends (a hint for Retry-After). */
  msBeforeNext: number;
}

/**
 * Counts requests per key in fixed windows. `bucket` names one limit (kind and policy entry);
 * implementations throw SharedStateUnavailable when their store cannot be reached.
 */
export interface RequestLimiter {
  hit(bucket: string, key: string, max: number, windowMs: number): Promise<LimitResult>;
}

/** Builds one rate-limiter-flexible limiter per bucket and maps its answers to LimitResult. */
export abstract class FlexibleLimiter implements RequestLimiter {
  readonly #limiters = new Map<string, RateLimiterAbstract>();

  protected abstract create(bucket: string, max: number, windowMs: number): RateLimiterAbstract;

  async hit(bucket: string, key: string, max: number, windowMs: number): Promise<LimitResult> {
    const id = `${bucket}\0${max}\0${windowMs}`;
    let limiter = this.#limiters.get(id);
    if (!limiter) {
      limiter = this.create(bucket, max, windowMs);
      this.#limiters.set(id, limiter);
    }
    try {
      const res = await limiter.consume(key, 1);
      return { allowed: true, msBeforeNext: res.msBeforeNext };
    } catch (err) {
      // rate-limiter-flexible rejects with a RateLimiterRes when the limit is reached, and with an
      // Error when its store failed.
      if (err instanceof RateLimiterRes) return { allowed: false, msBeforeNext: err.msBeforeNext };
      throw err instanceof SharedStateUnavailable ? err : new SharedStateUnavailable('the rate-limit store cannot be reached', { cause: err });
    }
  }
}

/** The in-memory limiter: exact for one process, counted separately by every process. */
export class MemoryRequestLimiter extends FlexibleLimiter {
  protected create(bucket: string, max: number, windowMs: number): RateLimiterAbstract {
    return new RateLimiterMemory({ keyPrefix: bucket, points: max, duration: windowMs / 1000 });
  }
}
