// Aborting a load: the caller's AbortSignal, and the load's own controller that also stops the
// other downloads on the first failure.

import { abortedError, ModelsealError } from '../format/errors.js';

// The `aborted` error for a signal that fired: one builder for the format and the loader.
export { abortedError };

/** What a fetch-like call throws when its signal already fired: the signal's reason, as fetch does. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('aborted', 'AbortError');
}

/** Links the caller's signal to a controller that also stops the load on its own first failure. */
export function linkedController(outer: AbortSignal | undefined): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  if (!outer) return { controller, unlink: () => undefined };
  const onAbort = () => controller.abort(outer.reason);
  if (outer.aborted) onAbort();
  else outer.addEventListener('abort', onAbort, { once: true });
  return { controller, unlink: () => outer.removeEventListener('abort', onAbort) };
}

/**
 * The error for a shard that was not started because the load already stopped: the caller's
 * abort, or the first failure of another file (which the load reports instead).
 */
export function stoppedError(outer: AbortSignal | undefined, url: string): ModelsealError {
  return outer?.aborted ? abortedError(outer, url) : new ModelsealError('aborted', 'stopped after another file failed');
}
