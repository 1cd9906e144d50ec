// Runs every bench/*.ts (except this file) in turn, each in its own process so one benchmark's
// heap and JIT state do not colour the next. Drop a new file into bench/ to add a benchmark.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.d.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
// A hung benchmark must not block the others; BENCH_TIMEOUT_S overrides the 10-minute limit.
const timeout = Number(process.env['BENCH_TIMEOUT_S'] ?? 600) * 1000;
let failed = 0;
for (const file of files) {
  process.stdout.write(`\n== bench/${file}\n`);
  // `node --import tsx` keeps each benchmark one process, so the timeout stops all of it.
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, file)], { stdio: 'inherit', timeout, killSignal: 'SIGKILL', cwd: join(here, '..') });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`bench/${file} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
