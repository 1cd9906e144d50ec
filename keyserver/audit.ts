// The audit log: one JSON line per release and per denial. It never receives key material: the
// entry type has no field for it, and callers pass ids only.

import { closeSync, constants, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { makeDirsSync } from '../keystore/make-dir.js';

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
  /**
   * `release`, `denied`, `aborted` (the connection closed before the response was written), or
   * `suppressed` (a summary: `suppressed` lines of this client were left out since `since`).
   */
  outcome: 'release' | 'denied' | 'aborted' | 'suppressed';
  /** Wire error code for a denial. */
  reason: string | undefined;
  /** HTTP status sent (or, for `aborted`, decided); undefined when no answer was decided. */
  status: number | undefined;
  /** True when the request took one release from the token's `releasesPerToken` cap. */
  counted?: boolean;
  /** A release that carries an offline lease: its expiry (ISO 8601). */
  lease?: string;
  /** Summary lines: how many lines were left out. */
  suppressed?: number;
  /** Summary lines: ISO 8601 start of the window the count covers. */
  since?: string;
}

/** Default longest logged text field, in characters (before the truncation marker). */
export const DEFAULT_AUDIT_FIELD_MAX = 256;

// C0 and C1 controls, DEL, line and paragraph separators, and bidi overrides: JSON.stringify leaves
// most of them as they are, and they can hide or reorder text in a terminal or log viewer.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A request-supplied text made safe for one audit field: cut to `max` characters with a marker, controls escaped as `\uXXXX`. */
export function boundField(value: string, max: number): string {
  // Cut first, so an escape is never split and the marker counts what the client sent.
  const cut = value.length <= max ? value : value.slice(0, max);
  const text = cut.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut === value ? text : `${text}…[truncated, ${value.length} chars]`;
}

/**
 * Makes the audit log's folder and checks, without blocking, that the file opens for appending:
 * pino's own `mkdir` is Node's recursive mkdir, which loops forever on a path it cannot create
 * (`/proc/self/x/audit.log`), and its blocking open of a FIFO with no reader never returns (and
 * then SIGTERM cannot stop the server). A FIFO with no reader fails here with ENXIO.
 */
function openableForAppend(path: string): void {
  makeDirsSync(dirname(path), 0o700);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw new Error('it is a FIFO that nothing reads (a blocking open would hang the server): start its reader first, or log to a file', { cause: err });
    throw err;
  }
  closeSync(fd);
}

/** Appends audit lines to a file through pino's destination (each line written before `write` returns). */
export class AuditLog {
  readonly path: string | null;
  readonly #dest: ReturnType<typeof pino.destination> | undefined;
  readonly #opened: Promise<void>;
  readonly #fieldMax: number;
  /** A write failed: sonic-boom may then never call back a flush or emit 'close' on end(). */
  #failed = false;

  /**
   * Opens (appends to) `path`; null gives a log that drops everything. A write failure later (disk
   * full) goes to `onError` (default: a line on stderr) instead of crashing the server. Text fields
   * longer than `fieldMaxLength` characters are cut (see boundField).
   */
  constructor(path: string | null, options: { onError?: (err: Error) => void; fieldMaxLength?: number } = {}) {
    this.path = path;
    this.#fieldMax = options.fieldMaxLength ?? DEFAULT_AUDIT_FIELD_MAX;
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
      openableForAppend(path);
      dest = pino.destination({ dest: path, sync: true, mkdir: false, mode: 0o600 } as Parameters<typeof pino.destination>[0]);
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
    dest.on('error', (err: Error) => {
      this.#failed = true;
      onError(err);
    });
  }

  /** Resolves once the file is open; rejects when it cannot be opened. */
  ready(): Promise<void> {
    return this.#opened;
  }

  /** Writes one line. */
  write(entry: AuditEntry): void {
    if (!this.#dest) return;
    const line: Record<string, unknown> = { time: entry.time ?? new Date().toISOString() };
    for (const k of ['modelId', 'keyId', 'sub', 'jti', 'client', 'origin', 'outcome', 'reason', 'status'] as const) {
      const v = entry[k];
      // Every field may come from the request (headers, token claims, X-Forwarded-For): bound them all.
      line[k] = typeof v === 'string' ? boundField(v, this.#fieldMax) : (v ?? null);
    }
    if (entry.counted !== undefined) line['counted'] = entry.counted;
    if (entry.lease !== undefined) line['lease'] = entry.lease;
    if (entry.suppressed !== undefined) line['suppressed'] = entry.suppressed;
    if (entry.since !== undefined) line['since'] = entry.since;
    // One JSON object per line, written through pino's destination (no level or pid noise).
    this.#dest.write(`${JSON.stringify(line)}\n`);
  }

  /** Writes buffered lines to the file now. */
  async flush(): Promise<void> {
    const dest = this.#dest;
    if (!dest || this.#failed) return;
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
    // After a failed write (disk full) end() may never close the file: a server with a full disk
    // hung on its way out, deaf to SIGTERM. Destroy it; the lines that failed are lost anyway.
    if (this.#failed || !(await this.#opened.then(() => true, () => false))) {
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
