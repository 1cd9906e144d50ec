// Internal step timings of sealed loads, for bench/loader.ts: not exported from the package. Off
// (no sink) costs one property read per step; the bench sets a sink to see where a load's time goes.

/** Receives one step: its name and its start and end (performance.now() milliseconds). */
export type TraceSink = (step: string, start: number, end: number) => void;

/** The current sink; undefined (the default) turns tracing off. */
export const trace: { sink: TraceSink | undefined } = { sink: undefined };

/** The current time when tracing is on, else 0 (no clock read). */
export function traceStart(): number {
  return trace.sink ? performance.now() : 0;
}

/** Records `step` from `start` (traceStart()'s value) to now, when tracing is on. */
export function traceEnd(step: string, start: number): void {
  const sink = trace.sink;
  if (sink) sink(step, start, performance.now());
}

/** Awaits `work`, recording it as `step` when tracing is on. */
export async function traced<T>(step: string, work: () => Promise<T>): Promise<T> {
  if (!trace.sink) return work();
  const start = performance.now();
  try {
    return await work();
  } finally {
    traceEnd(step, start);
  }
}
