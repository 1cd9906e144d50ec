// `npm run soak`: the full seeded soak (docs/TESTING.md). Not part of `npm test`; the CI slice is
// test/soak/soak.test.ts. Exits 1 on any failure, printing the seed and case number to reproduce.
//
//   npm run soak                                   # 100,000 file cases, 10,000 HTTP requests, seed 1
//   npm run soak -- --seed 7 --cases 2000 --requests 1000
//   npm run soak -- --seed 7 --case 1234           # replay one case, every reader, verbosely
//   npm run soak -- --files-only | --http-only

import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { formatFileReport, mergeFileReports, runFileSoak, type FileSoakReport } from './files.js';
import { formatHttpReport, runHttpSoak } from './http.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    cases: { type: 'string', default: '100000' },
    'process-cases': { type: 'string', default: '200' },
    requests: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '4' },
    workers: { type: 'string', default: '2' },
    range: { type: 'string' },
    'timeout-ms': { type: 'string', default: '10000' },
    case: { type: 'string', multiple: true },
    'files-only': { type: 'boolean', default: false },
    'http-only': { type: 'boolean', default: false },
  },
});

const log = (line: string) => process.stdout.write(`${line}\n`);
let failed = false;

/** One worker process: runs its range and sends its report to the parent. */
async function runRange(range: [number, number], processCases: number): Promise<FileSoakReport> {
  return runFileSoak({
    seed: values.seed, cases: Number(values.cases), range, processCases,
    concurrency: Number(values.concurrency), timeoutMs: Number(values['timeout-ms']), log,
  });
}

if (values.range) {
  const [from, to] = values.range.split(':').map(Number) as [number, number];
  const report = await runRange([from, to], Number(values['process-cases']));
  process.send!(report);
  process.exit(0);
}

if (!values['http-only']) {
  const only = values.case?.map(Number);
  const started = Date.now();
  let report: FileSoakReport;
  if (only) {
    report = await runFileSoak({ seed: values.seed, cases: Number(values.cases), processCases: 0, concurrency: 1, timeoutMs: Number(values['timeout-ms']), only, log });
  } else {
    // The cases split into equal ranges, one worker process each (this file again, with --range).
    const cases = Number(values.cases);
    const workers = Math.max(1, Number(values.workers));
    const processCases = Math.ceil(Number(values['process-cases']) / workers);
    log(`file soak: seed ${values.seed}, ${cases} cases in ${workers} worker processes of ${values.concurrency} cases in flight`);
    const parts = await Promise.all(Array.from({ length: workers }, (_, k) => {
      const from = Math.floor((cases * k) / workers);
      const to = Math.floor((cases * (k + 1)) / workers);
      return new Promise<FileSoakReport>((resolve, reject) => {
        const child = fork(process.argv[1]!, [...process.argv.slice(2).filter((a) => !a.startsWith('--range')), `--range=${from}:${to}`, `--process-cases=${processCases}`], { stdio: 'inherit' });
        let got: FileSoakReport | undefined;
        child.on('message', (m) => (got = m as FileSoakReport));
        child.on('exit', (code) => (got ? resolve(got) : reject(new Error(`soak worker [${from}, ${to}) exited with ${code} and no report`))));
      });
    }));
    report = mergeFileReports(parts, Date.now() - started);
  }
  log(formatFileReport(report));
  failed ||= report.failures.length > 0;
}

if (!values['files-only'] && !values.case) {
  const report = await runHttpSoak({ seed: values.seed, requests: Number(values.requests), log });
  log(formatHttpReport(report));
  failed ||= report.failures.length > 0;
}

log(failed ? `soak FAILED (seed ${values.seed})` : `soak passed (seed ${values.seed})`);
process.exit(failed ? 1 : 0);
