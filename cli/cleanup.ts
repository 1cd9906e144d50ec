// Temp paths to remove if the process is interrupted (SIGINT) before a command finishes.

import { rmSync } from 'node:fs';

const pending = new Set<string>();

/** Registers a temp path for removal on interrupt; returns a function that unregisters it. */
export function removeOnInterrupt(path: string): () => void {
  pending.add(path);
  return () => pending.delete(path);
}

/** Removes every registered temp path, synchronously (called from the SIGINT handler). */
export function cleanupNow(): void {
  for (const path of pending) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Best effort on the way out; the folder name starts with '.' and says it is a modelseal temp.
    }
  }
  pending.clear();
}
