// How quiet a bench run was: the load average and the CPU time the host gave to other guests
// (steal, from /proc/stat) while it ran. The ratios move between runs of the same code; a run with
// much steal, or a high load average from other jobs, is one to rerun before reading a goal from it.
import { readFile } from 'node:fs/promises';

/** The machine's cumulative CPU ticks: all, and stolen by the host. */
interface CpuTicks {
  total: number;
  steal: number;
}

async function cpuTicks(): Promise<CpuTicks | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    // cpu user nice system idle iowait irq softirq steal (guest time is already in user)
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) return undefined;
    return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7]! };
  } catch {
    return undefined; // not Linux
  }
}

/** The 1, 5 and 15 minute load averages, as /proc/loadavg gives them ('unknown' off Linux). */
export async function loadAverage(): Promise<string> {
  return readFile('/proc/loadavg', 'utf8').then((l) => l.split(' ').slice(0, 3).join(' '), () => 'unknown');
}

/** Starts watching the machine; the function returned gives the report line for the run so far. */
export async function watchMachine(): Promise<() => Promise<string>> {
  const [start, loadBefore] = [await cpuTicks(), await loadAverage()];
  return async () => {
    const end = await cpuTicks();
    const steal = start && end && end.total > start.total ? `${((100 * (end.steal - start.steal)) / (end.total - start.total)).toFixed(1)} %` : 'unknown';
    return `  machine: load average ${loadBefore} before the run, ${await loadAverage()} after; CPU steal during the run ${steal} of all CPU time (the host running other guests: with more than a few %, rerun before reading a goal)`;
  };
}
