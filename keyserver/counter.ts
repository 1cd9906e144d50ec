// Releases per token (`jti`). In memory for one process; RedisReleaseCounter (redis.ts) implements
// the same interface when several replicas or workers must share the count.

/** Counts key releases per token id with a cap. */
export interface ReleaseCounter {
  /**
   * Counts one release for `id` unless it already has `cap`; false means the cap is reached. A
   * shared counter that cannot reach its store throws SharedStateUnavailable (never answers true).
   */
  take(id: string, cap: number, expiresAtMs: number): boolean | Promise<boolean>;
}

/** A shared store (Redis) cannot be reached, or refuses the commands: the key server answers 503 `unavailable`. */
export class SharedStateUnavailable extends Error {
  override readonly name = 'SharedStateUnavailable';
  /** True when the store answered but refused the command (an ACL, out of memory), not unreachable. */
  readonly refused: boolean;

  constructor(message: string, options?: { cause?: unknown; refused?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.refused = options?.refused ?? false;
  }
}

/** The in-memory counter: entries live until their token expires, then are swept. */
export class MemoryReleaseCounter implements ReleaseCounter {
  readonly #entries = new Map<string, { count: number; expiresAtMs: number }>();
  #sinceSweep = 0;

  take(id: string, cap: number, expiresAtMs: number): boolean {
    const now = Date.now();
    if (++this.#sinceSweep >= 4096) this.#sweep(now);
    let e = this.#entries.get(id);
    if (!e || e.expiresAtMs < now) {
      e = { count: 0, expiresAtMs };
      this.#entries.set(id, e);
    }
    if (e.count >= cap) return false;
    e.count++;
    e.expiresAtMs = Math.max(e.expiresAtMs, expiresAtMs);
    return true;
  }

  #sweep(now: number): void {
    this.#sinceSweep = 0;
    for (const [id, e] of this.#entries) if (e.expiresAtMs < now) this.#entries.delete(id);
  }
}
