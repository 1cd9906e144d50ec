// The audit log: one JSON line per release and per denial. It never receives key material: the
// entry type has no field for it, and callers pass ids only.

import { pino } from 'pino';

/** One audit line. */
export interface AuditEntry {
  /** ISO 8601 time of the response. */
  time?: string;
  modelId: string | undefined;
  keyId: string | undefined;
  sub: string | undefined;
  jti: string | undefined;
  /** Client address (after trustProxy). */
  client: string;
  origin: string | undefined;
  outcome: 'release' | 'denied';
  /** Wire error code for a denial. */
  reason: string | undefined;
  status: number;
}

/** Appends audit lines to a file through pino's destination (each line written before `write` returns). */
export class AuditLog {
  readonly path: string | null;
  readonly #dest: ReturnType<typeof pino.destination> | undefined;
  readonly #opened: Promise<void>;

  /**
   * Opens (appends to) `path`; null gives a log that drops everything. A write failure later (disk
   * full) goes to `onError` (default: a line on stderr) instead of crashing the server.
   */
  constructor(path: string | null, options: { onError?: (err: Error) => void } = {}) {
    this.path = path;
    if (path === null) {
      this.#opened = Promise.resolve();
      return;
    }
    // Synchronous writes: a line is in the file once `write` returns, so a crash loses no audit line,
    // and a reopen (SIGHUP) racing an in-flight asynchronous write cannot leave the destination
    // unable to close (sonic-boom 4 drops an `end()` that arrives while such a reopen is pending).
    // One short line per release costs a few microseconds.
    const onError = options.onError ?? ((err: Error) => process.stderr.write(`modelseal: audit log ${path}: ${err.message}\n`));
    let dest: ReturnType<typeof pino.destination>;
    try {
      dest = pino.destination({ dest: path, sync: true, mkdir: true, mode: 0o600 } as Parameters<typeof pino.destination>[0]);
    } catch (err) {
      // Synchronous mode opens the file in the constructor and throws when it cannot.
      this.#opened = Promise.reject(err as Error);
      this.#opened.catch(() => undefined);
      return;
    }
    this.#dest = dest;
    this.#opened = new Promise<void>((resolve) => {
      dest.once('ready', () => resolve());
    });
    dest.on('error', (err: Error) => onError(err));
  }

  /** Resolves once the file is open; rejects when it cannot be opened. */
  ready(): Promise<void> {
    return this.#opened;
  }

  /** Writes one line. */
  write(entry: AuditEntry): void {
    if (!this.#dest) return;
    const line: Record<string, unknown> = { time: entry.time ?? new Date().toISOString() };
    for (const k of ['modelId', 'keyId', 'sub', 'jti', 'client', 'origin', 'outcome', 'reason', 'status'] as const) line[k] = entry[k] ?? null;
    // One JSON object per line, written through pino's destination (no level or pid noise).
    this.#dest.write(`${JSON.stringify(line)}\n`);
  }

  /** Writes buffered lines to the file now. */
  async flush(): Promise<void> {
    const dest = this.#dest;
    if (!dest) return;
    await this.#opened;
    await new Promise<void>((resolve) => {
      dest.flush(() => resolve());
    });
  }

  /** Reopens the file at `path` (after logrotate moved it away); serve does this on SIGHUP. */
  reopen(): void {
    try {
      this.#dest?.reopen();
    } catch {
      // The folder is gone or unwritable: sonic-boom reports it through 'error' (onError) and keeps
      // writing to the old file; the next SIGHUP retries.
    }
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    const dest = this.#dest;
    if (!dest) return;
    if (!(await this.#opened.then(() => true, () => false))) {
      dest.destroy();
      return;
    }
    await this.flush();
    await new Promise<void>((resolve) => {
      dest.once('close', () => resolve());
      dest.end();
    });
  }
}
