// One load measured in a new Node process: the process's peak RSS during the load (VmHWM after
// clear_refs), so it sees every allocator (V8, ArrayBuffers, a native runtime's heap) and every
// byte committed before a collection frees it, which the in-process rows sample only as V8 heap +
// ArrayBuffers every 2 ms. A new process per figure, so no earlier load's allocator state counts.
// Both sides are here: the bench calls freshProcessSamples, the child script calls runFreshChild.
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FRESH_ROUNDS, warmUpOrder, withPeakRss, type Sample } from './measure.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);
// glibc keeps freed memory for reuse, so after the warm-ups a load would commit almost nothing new
// (measured: 0.2 MB for iris). With these, every malloc of 64 KiB or more (each ArrayBuffer backing
// store that size) is its own mapping, returned when freed, so the peak counts what was allocated
// at once, not what the allocator kept from earlier loads.
const RETURN_FREED_MEMORY = { MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '0' };

/** What a child is asked to load: its own job fields, plus whether this figure is the sealed load. */
export interface FreshJob {
  sealed: boolean;
  [field: string]: unknown;
}

/**
 * Runs `child` (a bench/lib/fresh-*.ts script) in a new Node process for one figure: four warm-up
 * loads ending with the other kind (the Chromium fresh page rows' order), then the measured load.
 */
async function measureFreshProcess(child: string, job: FreshJob): Promise<Sample> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', child, JSON.stringify(job)], { cwd: ROOT, maxBuffer: 1 << 20, env: { ...process.env, ...RETURN_FREED_MEMORY } });
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as Sample;
}

/** The fresh process rows' samples: per round (at most FRESH_ROUNDS), a plain then a sealed figure, each in its own process. */
export async function freshProcessSamples(child: string, rounds: number, job: Omit<FreshJob, 'sealed'>): Promise<{ plain: Sample[]; sealed: Sample[] }> {
  const out = { plain: [] as Sample[], sealed: [] as Sample[] };
  for (let r = 0; r < Math.min(rounds, FRESH_ROUNDS); r++) {
    out.plain.push(await measureFreshProcess(child, { ...job, sealed: false }));
    out.sealed.push(await measureFreshProcess(child, { ...job, sealed: true }));
  }
  return out;
}

/** In the child: the job the bench passed (its first argument). */
export function freshJob<J extends FreshJob>(): J {
  return JSON.parse(process.argv[2] ?? '{}') as J;
}

/** In the child: four warm-up loads (this kind, the other, this, the other), then prints the measured load's Sample. */
export async function runFreshChild<J extends FreshJob>(load: (job: J, sealed: boolean) => Promise<void>): Promise<void> {
  const job = freshJob<J>();
  for (const s of warmUpOrder(job.sealed)) await load(job, s);
  const gc = (globalThis as unknown as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the fresh child with --expose-gc');
  gc();
  gc();
  const cpu0 = process.cpuUsage();
  const { value: ms, peak } = await withPeakRss([process.pid], async () => {
    const t0 = performance.now();
    await load(job, job.sealed);
    return performance.now() - t0;
  });
  const cpu = process.cpuUsage(cpu0);
  const sample: Sample = { ms, peak, cpu: (cpu.user + cpu.system) / 1000 };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}
