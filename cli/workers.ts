// `modelseal serve --workers N`: the node:cluster primary. It forks N workers that each run the key
// server on the same port (they share caps and limits through Redis), prints the URL once they all
// listen, forwards SIGHUP to every worker, and on SIGTERM/SIGINT lets every worker drain and exit.
// A worker that dies on its own is started again.

import cluster, { type Worker } from 'node:cluster';
import { EXIT } from './errors.js';
import { note, printLine } from './output.js';
import { releaseSignals } from './signals.js';

/** The message a worker sends the primary once it listens. */
export interface ListeningMessage {
  modelseal: 'listening';
  url: string;
}

/** In a worker: tells the primary that this worker listens at `url`. */
export function reportListening(url: string): void {
  const message: ListeningMessage = { modelseal: 'listening', url };
  process.send?.(message);
}

function isListening(m: unknown): m is ListeningMessage {
  return typeof m === 'object' && m !== null && (m as ListeningMessage).modelseal === 'listening';
}

/** Runs the primary until every worker has exited after SIGTERM or SIGINT; resolves the exit code. */
export async function runPrimary(count: number): Promise<number> {
  const workers = new Set<Worker>();
  let stopping: NodeJS.Signals | undefined;
  let code: number = EXIT.ok;
  let printed = false;
  const listening = new Set<number>();

  return new Promise<number>((resolve) => {
    let failedStarts = 0;
    const fork = () => {
      const w = cluster.fork();
      workers.add(w);
      const startedAt = Date.now();
      w.on('message', (m: unknown) => {
        if (!isListening(m)) return;
        listening.add(w.id);
        failedStarts = 0;
        note(`worker ${w.id} (pid ${w.process.pid}) listening`);
        if (!printed && listening.size >= count) {
          printed = true;
          printLine(m.url);
          note(`key server listening at ${m.url} with ${count} workers`);
        }
      });
      w.on('exit', (code, signal) => {
        workers.delete(w);
        listening.delete(w.id);
        if (stopping) {
          if (workers.size === 0) resolve(code);
          return;
        }
        // A worker that keeps failing at start (a bad keystore, a taken port) would loop for ever.
        if (Date.now() - startedAt < 2000 && ++failedStarts >= 3) {
          note(`error: workers keep exiting at start (last: ${signal ?? `exit code ${code}`}); stopping`);
          stopping = 'SIGTERM';
          code = EXIT.failure;
          for (const other of workers) other.process.kill('SIGTERM');
          if (workers.size === 0) resolve(code);
          return;
        }
        note(`worker ${w.id} exited (${signal ?? `exit code ${code}`}); starting another`);
        setTimeout(() => {
          if (!stopping) fork();
        }, 500).unref();
      });
    };
    for (let i = 0; i < count; i++) fork();

    // The bin's default SIGINT/SIGTERM handlers exit at once; the primary waits for its workers.
    releaseSignals();
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = signal;
      code = signal === 'SIGINT' ? EXIT.interrupted : EXIT.ok;
      note(`${signal}: stopping ${workers.size} workers (each finishes its in-flight requests and flushes the audit log)`);
      // SIGTERM, not cluster's disconnect: each worker drains the way a single server does.
      for (const w of workers) w.process.kill('SIGTERM');
      if (workers.size === 0) resolve(code);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      for (const w of workers) w.process.kill('SIGHUP');
    });
  });
}
