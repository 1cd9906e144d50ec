// Bounds the audit volume one client can cause without a valid token. Lines of requests that carried
// a verified token (releases, and denials after the token checked out) are never held back: they are
// the record operators need, and their volume is bounded by the token's own limits. Everything else
// (malformed bodies, bad tokens, address rate limits) is at most `perClient` lines per client per
// window; the rest is counted and summarised in one line when the window ends.

/** One summary: `suppressed` lines of `client` were left out between `since` and `until`. */
export interface AuditSuppression {
  client: string;
  suppressed: number;
  since: number;
  until: number;
}

/** Options of AuditGate. */
export interface AuditGateOptions {
  /** Lines per client per window; 0 turns the limit off. */
  perClient: number;
  windowMs: number;
  /** Clients tracked at once; beyond it, new clients share one budget (keeps memory bounded). */
  maxClients?: number;
}

/** The client name under which clients beyond `maxClients` share one budget. */
export const OTHER_CLIENTS = '(other clients)';

interface Window {
  start: number;
  lines: number;
  suppressed: number;
}

/** Per-client line budget for audit lines of requests without a verified token. */
export class AuditGate {
  readonly #perClient: number;
  readonly #windowMs: number;
  readonly #maxClients: number;
  readonly #windows = new Map<string, Window>();

  constructor(options: AuditGateOptions) {
    this.#perClient = options.perClient;
    this.#windowMs = options.windowMs;
    this.#maxClients = options.maxClients ?? 100_000;
  }

  /**
   * Counts one line for `client` (its address group); true when it may be written. A client whose
   * earlier window ended with lines left out gets that window's summary in `ended`.
   */
  admit(client: string, now: number): { write: boolean; ended: AuditSuppression | undefined } {
    if (this.#perClient === 0) return { write: true, ended: undefined };
    let key = client;
    let w = this.#windows.get(key);
    if (!w && this.#windows.size >= this.#maxClients) {
      key = OTHER_CLIENTS;
      w = this.#windows.get(key);
    }
    let ended: AuditSuppression | undefined;
    if (w && now - w.start >= this.#windowMs) {
      if (w.suppressed > 0) ended = { client: key, suppressed: w.suppressed, since: w.start, until: now };
      w = undefined;
    }
    if (!w) {
      w = { start: now, lines: 0, suppressed: 0 };
      this.#windows.set(key, w);
    }
    if (w.lines < this.#perClient) {
      w.lines++;
      return { write: true, ended };
    }
    w.suppressed++;
    return { write: false, ended };
  }

  /** Ends every window older than the window length (all of them with `all`) and returns their summaries. */
  sweep(now: number, all = false): AuditSuppression[] {
    const out: AuditSuppression[] = [];
    for (const [client, w] of this.#windows) {
      if (!all && now - w.start < this.#windowMs) continue;
      if (w.suppressed > 0) out.push({ client, suppressed: w.suppressed, since: w.start, until: now });
      this.#windows.delete(client);
    }
    return out;
  }

  /** Number of clients with an open window (for tests). */
  get size(): number {
    return this.#windows.size;
  }
}
