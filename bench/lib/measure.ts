// Measuring helpers for the benchmarks (bench/run.ts runs bench/*.ts only, not this folder): medians,
// Node peak memory sampled around a load, and the peak RSS of this process's Chromium renderers.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One measured load. */
export interface Sample {
  ms: number;
  /** Peak memory above the pre-load baseline, bytes. */
  peak: number;
  /**
   * CPU time the load used in the measured process (every thread), ms: far less sensitive than
   * wall time to other work on a shared machine, but blind to time spent waiting on the network.
   */
  cpu?: number;
}

import { median } from './median.js';

export { median };

setFlagsFromString('--expose-gc');
/** A full garbage collection (V8's gc, exposed once here for every bench). */
export const gc = runInNewContext('gc') as () => void;

/** Node memory that a load adds: V8 heap plus ArrayBuffer backing stores (wasm memories included), sampled every 2 ms. */
export async function measureNode<T>(load: () => Promise<T>, dispose: (value: T) => Promise<void> | void): Promise<Sample> {
  gc();
  gc();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const base = used();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 2);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await load();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  peak = Math.max(peak, used());
  clearInterval(timer);
  await dispose(value);
  return { ms, peak: peak - base, cpu: (cpu.user + cpu.system) / 1000 };
}

/** The paired rounds of a row: a warm-up round (not counted), then `rounds` rounds of `plain` then `sealed`. */
export async function pairedRounds(rounds: number, plain: () => Promise<Sample>, sealed: () => Promise<Sample>): Promise<{ plain: Sample[]; sealed: Sample[] }> {
  const out = { plain: [] as Sample[], sealed: [] as Sample[] };
  for (let r = 0; r < rounds + 1; r++) {
    const p = await plain();
    const s = await sealed();
    if (r > 0) {
      out.plain.push(p);
      out.sealed.push(s);
    }
  }
  return out;
}

/** How many rounds the fresh page and fresh process rows take at most (each round starts a renderer or a process per kind). */
export const FRESH_ROUNDS = 5;

/** The warm-up loads before a fresh page's or a fresh process's measured load: four, ending with the other kind. */
export function warmUpOrder(sealed: boolean): boolean[] {
  return [sealed, !sealed, sealed, !sealed];
}

/** Pids of the renderer processes of the Chromium this process started. */
export async function rendererPids(): Promise<number[]> {
  const parents = new Map<number, number>();
  const renderers: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
      if ((await readFile(`/proc/${entry}/cmdline`, 'utf8')).includes('--type=renderer')) renderers.push(Number(entry));
    } catch {
      // the process went away
    }
  }
  const ours = (pid: number) => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === process.pid) return true;
    return false;
  };
  return renderers.filter(ours);
}

/** CPU time of every thread of a process so far, ms (schedstat: nanoseconds on the CPU). */
export async function procCpuMs(pid: number): Promise<number> {
  let ns = 0;
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const stat = await readFile(`/proc/${pid}/task/${task}/schedstat`, 'utf8').catch(() => '0');
    ns += Number(stat.split(' ')[0]);
  }
  return ns / 1e6;
}

/** A field of /proc/PID/status in kB. */
export async function procKb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
}

/**
 * Runs `run` and returns its value with the highest peak RSS any of `pids` reached during it above
 * that process's RSS before, in bytes: each process's VmHWM is reset through clear_refs first.
 */
export async function withPeakRss<T>(pids: number[], run: () => Promise<T>): Promise<{ value: T; peak: number }> {
  const base = new Map<number, number>();
  for (const pid of pids) {
    base.set(pid, await procKb(pid, 'VmRSS'));
    await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
  }
  const value = await run();
  let peak = 0;
  for (const pid of pids) peak = Math.max(peak, ((await procKb(pid, 'VmHWM')) - base.get(pid)!) * 1024);
  return { value, peak };
}

/** Runs `load` in a page and returns its time and the renderers' peak RSS above the pre-load RSS. */
export async function measureRenderer(load: () => Promise<number>): Promise<Sample> {
  const { value: ms, peak } = await withPeakRss(await rendererPids(), load);
  return { ms, peak };
}

/** One report line: medians, and the median per-round ratio with its spread. */
export function ratioLine(label: string, plain: Sample[], sealed: Sample[]): string {
  const [pt, st] = [median(plain.map((s) => s.ms)), median(sealed.map((s) => s.ms))];
  const [pm, sm] = [median(plain.map((s) => s.peak)), median(sealed.map((s) => s.peak))];
  const timeRatios = plain.map((p, i) => sealed[i]!.ms / p.ms);
  const peakRatios = plain.map((p, i) => sealed[i]!.peak / Math.max(1, p.peak));
  const mb = (b: number) => (b / 1048576).toFixed(1);
  const spread = (r: number[]) => `${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}`;
  const withCpu = [...plain, ...sealed].every((s) => s.cpu !== undefined);
  const cpuRatios = plain.map((p, i) => sealed[i]!.cpu! / p.cpu!);
  const cpu = withCpu ? ` | cpu plain ${median(plain.map((s) => s.cpu!)).toFixed(0).padStart(5)} ms sealed ${median(sealed.map((s) => s.cpu!)).toFixed(0).padStart(5)} ms ratio ${median(cpuRatios).toFixed(2)} (${spread(cpuRatios)})` : '';
  return `${label} time plain ${pt.toFixed(0).padStart(5)} ms sealed ${st.toFixed(0).padStart(5)} ms ratio ${median(timeRatios).toFixed(2)} (${spread(timeRatios)})${cpu} | peak plain ${mb(pm).padStart(6)} MB sealed ${mb(sm).padStart(6)} MB ratio ${median(peakRatios).toFixed(2)}`;
}
