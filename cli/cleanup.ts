// What to undo if the process is interrupted (SIGINT, SIGTERM, a closed stdout) before a command
// finishes: temp paths and cleanup steps, run synchronously on the way out.

import { rmSync } from 'node:fs';
import { tempFilesInFlight } from '../keystore/atomic.js';

const pending = new Set<() => void>();

/** Registers a synchronous cleanup step for an interrupt; returns a function that unregisters it. */
export function onInterrupt(step: () => void): () => void {
  pending.add(step);
  return () => pending.delete(step);
}

/** Runs every registered cleanup step and removes keystore temp files being written, synchronously. */
export function cleanupNow(): void {
  for (const step of pending) {
    try {
      step();
    } catch {
      // Best effort on the way out; temp names start with '.' and say they are modelseal's.
    }
  }
  pending.clear();
  for (const tmp of tempFilesInFlight()) rmSync(tmp, { force: true });
}
