// How long the built bin takes to answer `--version`, `--help` and `seal --help`, as a ratio to
// `node -e 0` (Node's own start) measured in the same run. Medians of BENCH_RUNS runs, interleaved
// so that load on the machine colours every command alike. Prints numbers; asserts nothing on time.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './lib/measure.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 15);
const bin = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first`);

const cases: Array<{ name: string; args: string[] }> = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'modelseal --version', args: [bin, '--version'] },
  { name: 'modelseal --help', args: [bin, '--help'] },
  { name: 'modelseal seal --help', args: [bin, 'seal', '--help'] },
];

function once(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return ms;
}

const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
// One warm-up round fills the page cache, then the measured rounds.
for (const c of cases) once(c.args);
for (let i = 0; i < RUNS; i++) for (const c of cases) times.get(c.name)!.push(once(c.args));

const base = median(times.get('node -e 0')!);
console.log(`cli start, median of ${RUNS} runs (ratio to node -e 0 in the same run; goal: within 2x)`);
for (const c of cases) {
  const ms = median(times.get(c.name)!);
  console.log(`${c.name.padEnd(24)} ${ms.toFixed(1).padStart(7)} ms  ${(ms / base).toFixed(2)}x`);
}
