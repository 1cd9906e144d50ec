// `modelseal scan` throughput on a generated build folder (5,000 small files in 100 folders, four
// 32 MiB binaries, five planted model files), as a ratio to two plain passes over the same tree in
// the same process: (1) readdir + lstat of every file, (2) that plus open, read the same 4 KiB head,
// close. Warm page cache (the files were just written). Prints numbers; asserts nothing on time.

import { randomFillSync } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { scanBuild } from '../guard/index.js';
import { HEAD_BYTES } from '../guard/signatures.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
const SMALL = 5000;
const LARGE = 4;
const LARGE_BYTES = 32 * 1024 * 1024;

const root = mkdtempSync(join(tmpdir(), 'modelseal-bench-scan-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

// The tree: app chunks, images and JSON of 1-32 KiB in 100 folders; four large binaries that no
// manifest lists (not findings); one TF.js model (model.json + shard), an ONNX, a GGUF, a safetensors.
let totalBytes = 0;
const put = (rel: string, data: Uint8Array | string): void => {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), data);
  totalBytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
};
for (let i = 0; i < SMALL; i++) {
  const size = 1024 + ((i * 7919) % (31 * 1024));
  const kind = i % 4;
  const rel = `assets/d${i % 100}/f${i}.${['js', 'png', 'json', 'css'][kind]}`;
  if (kind === 2) put(rel, JSON.stringify({ id: i, text: 'x'.repeat(size) }));
  else if (kind === 1) put(rel, randomFillSync(new Uint8Array(size)));
  else put(rel, `/* chunk ${i} */ export const a${i} = ${JSON.stringify('y'.repeat(size))};\n`);
}
for (let i = 0; i < LARGE; i++) put(`media/big${i}.bin`, randomFillSync(new Uint8Array(LARGE_BYTES)));
const human = join(import.meta.dirname, '../node_modules/@vladmandic/human/models');
mkdirSync(join(root, 'public/face'), { recursive: true });
copyFileSync(join(human, 'blazeface.json'), join(root, 'public/face/model.json'));
copyFileSync(join(human, 'blazeface.bin'), join(root, 'public/face/blazeface.bin'));
put('models/net.onnx', new Uint8Array([0x08, 0x08, 0x12, 0x07, ...Buffer.from('pytorch'), 0x3a, 0x04, 0x0a, 0x02, 0x0a, 0x00, 0x42, 0x02, 0x10, 0x11]));
const gguf = new Uint8Array(1024);
gguf.set(Buffer.from('GGUF'));
gguf[4] = 3;
put('models/llm.gguf', gguf);
const header = Buffer.from('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
const st = new Uint8Array(8 + header.length + 4);
new DataView(st.buffer).setUint32(0, header.length, true);
st.set(header, 8);
put('models/w.safetensors', st);
const files = SMALL + LARGE + 2 + 3;

async function walkStat(dir: string, onFile?: (path: string) => Promise<void>): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(entries.map(async (e) => {
    const full = join(dir, e.name);
    if (e.isDirectory()) return walkStat(full, onFile);
    await lstat(full);
    if (onFile) await onFile(full);
  }));
}

const head = new Uint8Array(HEAD_BYTES);
async function readHead(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.read(head, 0, head.length, 0);
  } finally {
    await handle.close();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const plainStat = () => walkStat(root);
const plainHeads = () => walkStat(root, readHead);
let findings = 0;
const scan = async () => {
  findings = (await scanBuild([root])).findings.length;
};
await plainStat();
await plainHeads();
await scan(); // warm-up
const rows = { scan: [] as number[], stat: [] as number[], heads: [] as number[], rStat: [] as number[], rHeads: [] as number[] };
for (let i = 0; i < RUNS; i++) {
  const s = await time(plainStat);
  const h = await time(plainHeads);
  const m = await time(scan);
  rows.stat.push(s);
  rows.heads.push(h);
  rows.scan.push(m);
  rows.rStat.push(s / m);
  rows.rHeads.push(h / m);
}

const per = (ms: number) => `${(files / (ms / 1000)).toFixed(0).padStart(7)} files/s ${(totalBytes / 1e6 / (ms / 1000)).toFixed(0).padStart(7)} MB/s`;
const range = (r: number[]) => `${median(r).toFixed(2)} [${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}]`;
console.log(`scan: ${files} files, ${(totalBytes / 1e6).toFixed(0)} MB (${SMALL} of 1-32 KiB, ${LARGE} of 32 MiB, 5 planted model files); median of ${RUNS} rounds, warm cache; MB/s = tree bytes covered per second; ratio = plain time / scan time (above 1: the scan is faster)`);
console.log(`  modelseal scan               ${per(median(rows.scan))}  (${median(rows.scan).toFixed(0)} ms, ${findings} findings)`);
console.log(`  plain readdir + lstat        ${per(median(rows.stat))}  scan ratio ${range(rows.rStat)}`);
console.log(`  plain readdir + lstat + head ${per(median(rows.heads))}  scan ratio ${range(rows.rHeads)}`);
if (findings !== 5) {
  console.log(`  unexpected: ${findings} findings, planted 5`);
  process.exitCode = 1;
}
