// A progress bar on stderr for long work: only on a terminal, only for large models, never with --json.

import cliProgress from 'cli-progress';

/** Models above this many weight bytes get a progress bar. */
export const PROGRESS_THRESHOLD = 8 * 1024 * 1024;

/** Reports bytes done; a no-op when the bar is off. */
export interface Progress {
  update(done: number): void;
  stop(): void;
}

/** A progress bar for `total` bytes, or a silent one when stderr is piped, the work is small, or --json is set. */
export function createProgress(label: string, total: number, options: { json?: boolean } = {}): Progress {
  const forced = process.env['MODELSEAL_PROGRESS'] === '1';
  // MODELSEAL_PROGRESS=1 forces the bar on a pipe (tests, CI logs); --json always keeps stderr quiet.
  if (options.json || (!forced && (!process.stderr.isTTY || total <= PROGRESS_THRESHOLD))) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `modelseal: ${label} [{bar}] {percentage}% | {mb}/{totalMb} MiB`,
      hideCursor: true,
      clearOnComplete: true,
      noTTYOutput: forced,
      notTTYSchedule: 1000,
    },
    cliProgress.Presets.shades_classic,
  );
  const mb = (n: number) => (n / 1048576).toFixed(1);
  bar.start(total, 0, { mb: mb(0), totalMb: mb(total) });
  return {
    update(done) {
      bar.update(done, { mb: mb(done) });
    },
    stop() {
      bar.stop();
    },
  };
}
