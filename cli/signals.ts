// How the bin ends when it is told to: SIGINT and SIGTERM undo what is half-done and exit with
// 130 / 143; a stdout closed by its reader (`| head`) ends the command quietly instead of a trace.

import { cleanupNow } from './cleanup.js';
import { EXIT, printError } from './errors.js';

const SIGNALS = [['SIGINT', EXIT.interrupted], ['SIGTERM', EXIT.terminated]] as const;

function leave(signal: NodeJS.Signals, code: number): void {
  cleanupNow();
  // A progress bar hides the cursor; give it back before leaving.
  process.stderr.write(`${process.stderr.isTTY ? '\x1b[?25h' : ''}\nmodelseal: ${signal === 'SIGINT' ? 'interrupted' : 'terminated (SIGTERM)'}\n`);
  process.exit(code);
}

const handlers = SIGNALS.map(([signal, code]) => [signal, () => leave(signal, code)] as const);

/** Installs the bin's SIGINT/SIGTERM handlers and its handling of a closed stdout or stderr. */
export function installProcessHandlers(): void {
  for (const [signal, handler] of handlers) process.on(signal, handler);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    cleanupNow();
    // The reader went away: nothing left to tell it. Exit with the code the command has so far.
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
    process.exit(printError(err));
  });
  // Nowhere left to report a broken stderr; keep going and let the exit code speak.
  process.stderr.on('error', () => undefined);
}

/** Removes the bin's SIGINT/SIGTERM handlers, for commands that stop in order on their own (serve, demo). */
export function releaseSignals(which: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): void {
  for (const [signal, handler] of handlers) if (which.includes(signal)) process.removeListener(signal, handler);
}
