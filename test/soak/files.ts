// The file soak: N seeded cases of mutated sealed files and forged manifests, each through every
// reader, every outcome counted per reader and per code. Shared by `npm run soak` and the CI slice.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileKeyStore, mintDevToken } from '../../keyserver/index.js';
import { BIN } from '../helpers/bin.js';
import { startServer } from '../keyserver/helpers.js';
import { buildCorpus } from './corpus.js';
import { makeCase, type SoakCase } from './mutate.js';
import { READERS, readCase, type Outcome, type ReaderName } from './readers.js';

/** Options of runFileSoak. */
export interface FileSoakOptions {
  seed: string;
  /** Cases to generate (each goes through every in-process reader). */
  cases: number;
  /** How many of them also go through the built CLI as a child process (spread evenly). */
  processCases: number;
  /** Cases in flight at once. */
  concurrency: number;
  /** Per-case, per-reader limit; a reader without an outcome by then is a hang. */
  timeoutMs: number;
  /** Run only these case numbers (to reproduce). */
  only?: number[];
  /** Run cases [from, to) of `cases` (one worker process's share). */
  range?: [number, number];
  log?: (line: string) => void;
}

/** One case that ended in (c). */
export interface SoakFailure {
  index: number;
  reader: ReaderName | 'process';
  code: string;
  detail: string;
  steps: string[];
}

/** Counts of a file soak. */
export interface FileSoakReport {
  seed: string;
  cases: number;
  /** reader → outcome code (`ok` for success) → count. */
  counts: Record<string, Record<string, number>>;
  /** Cases whose steps all kept the meaning (success allowed) and those the spec says must open. */
  mayOpen: number;
  mustOpen: number;
  /** Cases per first step kind, for a sense of the mix. */
  models: Record<string, number>;
  failures: SoakFailure[];
  ms: number;
  /** Total milliseconds spent in each reader. */
  readerMs: Record<string, number>;
}

function scratchRoot(): string {
  // tmpfs when there is one: the CLI readers write and fsync a few small files per case.
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** Runs the file soak and returns its counts; never throws for a product failure (they are in `failures`). */
export async function runFileSoak(options: FileSoakOptions): Promise<FileSoakReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const root = await mkdtemp(join(scratchRoot(), 'modelseal-soak-'));
  const storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  const corpus = await buildCorpus(store, options.seed);
  const server = await startServer(storeDir, { reloadIntervalMs: 0 });
  const token = await mintDevToken({ store, models: ['*'], ttl: '12h', sub: 'soak' });
  const ctx = { storeDir, server, token, scratch: join(root, 'scratch'), bin: BIN, timeoutMs: options.timeoutMs };

  const report: FileSoakReport = { seed: options.seed, cases: 0, counts: {}, mayOpen: 0, mustOpen: 0, models: {}, failures: [], ms: 0, readerMs: {} };
  for (const r of READERS) report.counts[r] = {};
  const inFlight = new Set<number>();
  const onUnhandled = (reason: unknown) => {
    // Attributed to every case in flight when it surfaced (the one at fault is among them).
    for (const index of inFlight.size ? inFlight : [-1]) {
      report.failures.push({ index, reader: 'process', code: 'unhandled rejection', detail: String((reason as Error)?.stack ?? reason).slice(0, 2000), steps: [] });
    }
  };
  process.on('unhandledRejection', onUnhandled);

  const [from, to] = options.range ?? [0, options.cases];
  const indices = options.only ?? Array.from({ length: to - from }, (_, i) => from + i);
  const stride = options.processCases > 0 ? Math.max(1, Math.floor(indices.length / options.processCases)) : Infinity;
  let next = 0;
  let done = 0;
  const worker = async (slot: number) => {
    while (next < indices.length) {
      const at = next++;
      const index = indices[at]!;
      let c: SoakCase;
      try {
        c = makeCase(options.seed, index, corpus);
      } catch (err) {
        report.failures.push({ index, reader: 'process', code: 'harness error (case generation)', detail: String((err as Error)?.stack ?? err), steps: [] });
        continue;
      }
      inFlight.add(index);
      let outcomes: Outcome[];
      try {
        outcomes = await readCase(c, ctx, `w${slot}`, options.only !== undefined || (at % stride === 0 && at / stride < options.processCases));
      } catch (err) {
        // The harness itself failed on this case (writing files, say): count it, never hide it.
        outcomes = [{ reader: 'loader', kind: 'failure', code: 'harness error', detail: String((err as Error)?.stack ?? err) }];
      } finally {
        inFlight.delete(index);
      }
      report.cases++;
      report.models[c.model.plain.modelId] = (report.models[c.model.plain.modelId] ?? 0) + 1;
      if (c.mayOpen) report.mayOpen++;
      if (c.mustOpen) report.mustOpen++;
      for (const o of outcomes) {
        const key = o.kind === 'failure' ? `FAIL ${o.code}` : o.code;
        report.counts[o.reader]![key] = (report.counts[o.reader]![key] ?? 0) + 1;
        report.readerMs[o.reader] = (report.readerMs[o.reader] ?? 0) + (o.ms ?? 0);
        if (o.code === 'ok-unexpected' && o.reader === 'loader') log(`  review case ${index}: opened with the sealed bytes though the oracle expected a refusal — ${c.steps.join('; ')}`);
        if (o.kind === 'failure') {
          report.failures.push({ index, reader: o.reader, code: o.code, detail: o.detail ?? '', steps: c.steps });
          log(`  FAIL case ${index} ${o.reader}: ${o.code} — ${c.steps.join('; ')} — ${(o.detail ?? '').split('\n')[0]!.slice(0, 300)}`);
        }
      }
      if (options.only) log(`case ${index}: ${c.steps.join('; ')} (mayOpen ${c.mayOpen}, mustOpen ${c.mustOpen})\n  ${outcomes.map((o) => `${o.reader}: ${o.kind} ${o.code}${o.detail ? ` (${o.detail.split('\n')[0]})` : ''}`).join('\n  ')}`);
      if (++done % 5000 === 0) log(`${options.range ? `[${from}, ${to}) ` : ''}${done} cases, ${report.failures.length} failures, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, (_, k) => worker(k)));
    // Give a late rejection of the last cases its chance to surface.
    await new Promise((r) => setTimeout(r, 200));
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await server.close();
    await rm(root, { recursive: true, force: true, maxRetries: 5 }).catch((err: Error) => log(`could not remove ${root}: ${err.message}`));
  }
  report.ms = Date.now() - started;
  return report;
}

/** Adds the counts of several worker processes' reports (`ms` is the caller's wall time). */
export function mergeFileReports(reports: FileSoakReport[], ms: number): FileSoakReport {
  const out: FileSoakReport = { seed: reports[0]!.seed, cases: 0, counts: {}, mayOpen: 0, mustOpen: 0, models: {}, failures: [], ms, readerMs: {} };
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  };
  for (const r of reports) {
    out.cases += r.cases;
    out.mayOpen += r.mayOpen;
    out.mustOpen += r.mustOpen;
    add(out.models, r.models);
    add(out.readerMs, r.readerMs);
    for (const [reader, counts] of Object.entries(r.counts)) add((out.counts[reader] ??= {}), counts);
    out.failures.push(...r.failures);
  }
  out.failures.sort((a, b) => a.index - b.index);
  return out;
}

/** The counts as a table: one row per outcome code, one column per reader. */
export function formatFileReport(r: FileSoakReport): string {
  const readers = READERS.filter((x) => Object.keys(r.counts[x] ?? {}).length > 0);
  const codes = [...new Set(readers.flatMap((x) => Object.keys(r.counts[x]!)))].sort((a, b) => (a === 'ok' ? -1 : b === 'ok' ? 1 : a.localeCompare(b)));
  const width = Math.max(14, ...codes.map((c) => c.length)) + 2;
  const lines = [
    `file soak: seed ${r.seed}, ${r.cases} cases in ${(r.ms / 1000).toFixed(1)} s (${r.mayOpen} meaning kept, ${r.mustOpen} must open); models ${Object.entries(r.models).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `${'outcome'.padEnd(width)}${readers.map((x) => x.padStart(12)).join('')}`,
  ];
  for (const code of codes) lines.push(`${code.padEnd(width)}${readers.map((x) => String(r.counts[x]![code] ?? 0).padStart(12)).join('')}`);
  const totals = readers.map((x) => Object.values(r.counts[x]!).reduce((a, b) => a + b, 0));
  lines.push(`${'total'.padEnd(width)}${totals.map((n) => String(n).padStart(12)).join('')}`);
  lines.push(`${'mean ms/case'.padEnd(width)}${readers.map((x, i) => ((r.readerMs[x] ?? 0) / Math.max(1, totals[i]!)).toFixed(2).padStart(12)).join('')}`);
  lines.push(`failures (c): ${r.failures.length}`);
  for (const f of r.failures.slice(0, 30)) {
    lines.push(`  case ${f.index} ${f.reader}: ${f.code} — ${f.steps.join('; ')}\n    ${f.detail.split('\n').slice(0, 6).join('\n    ')}\n    reproduce: npm run soak -- --seed ${r.seed} --case ${f.index}`);
  }
  return lines.join('\n');
}
