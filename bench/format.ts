// Seal and verify throughput of a ~50 MB model, as a ratio to a plain node:crypto AES-256-GCM pass
// over the same bytes in the same process (target ≥ 0.7, goal 0.9). In memory: the cost of the
// format and the cipher, not of the disk. Prints numbers; asserts nothing.

import { createCipheriv, createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { importInputKey, webCryptoChunkCipher, type ChunkCipherFactory } from '../format/chunked.js';
import { inlineHeader, openHeader, openShard } from '../format/open.js';
import { sealModel, type SealedModel } from '../format/seal.js';
import { nodeChunkCipher } from '../node/index.js';
import { openSealedHeader, openSealedShards } from '../cli/sealed-model.js';

const TOTAL = 50 * 1024 * 1024;
const FILE = 4 * 1024 * 1024;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);

// A synthetic graph model: 4 MiB weight files of random bytes (like a converter's output).
const weightFiles: Uint8Array[] = [];
for (let left = TOTAL; left > 0; left -= FILE) weightFiles.push(randomFillSync(new Uint8Array(Math.min(FILE, left))));
const modelJson = {
  format: 'graph-model',
  modelTopology: { node: [] },
  weightsManifest: [{ paths: weightFiles.map((_, i) => `group1-shard${i + 1}.bin`), weights: weightFiles.map((f, i) => ({ name: `w${i}`, shape: [f.length / 4], dtype: 'float32' })) }],
};
const contentKey = new Uint8Array(randomBytes(32));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function once(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

// The plain pass: one AES-256-GCM encryption (or decryption) over all the weight bytes, fed in the
// same 4 MiB pieces, outputs allocated by node:crypto as in the sealed path.
const key = randomBytes(32);
const iv = randomBytes(12);
let rawCiphertext: Buffer[] = [];
let rawTag = Buffer.alloc(16);
function rawEncrypt(): void {
  const c = createCipheriv('aes-256-gcm', key, iv);
  rawCiphertext = weightFiles.map((f) => c.update(f));
  c.final();
  rawTag = c.getAuthTag();
}
function rawDecrypt(): void {
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAuthTag(rawTag);
  for (const part of rawCiphertext) d.update(part);
  d.final();
}

async function seal(cipher: ChunkCipherFactory): Promise<SealedModel> {
  return sealModel({ modelJson, weightFiles }, { modelId: 'bench', keyId: 'k1', contentKey, cipher });
}

/**
 * The CLI's seal path: each shard is handed over as soon as it is sealed, as the pieces node:crypto
 * returned (onShard), which the CLI writes in order; the bench leaves the disk out as the other rows
 * do. Like the plain pass, it keeps the cipher's output buffers as they are.
 */
async function sealCli(): Promise<void> {
  await sealModel({ modelJson, weightFiles }, { modelId: 'bench', keyId: 'k1', contentKey, cipher: nodeChunkCipher, concurrency: 1, onShard: () => undefined });
}

/** Format-level verify: header, then every shard in turn (the path the WebCrypto-only loader shares). */
async function verify(sealed: SealedModel, cipher: ChunkCipherFactory): Promise<void> {
  const inputKey = await importInputKey(contentKey);
  const files = new Map(sealed.files.map((f) => [f.path, f.bytes]));
  const opened = await openHeader(sealed.manifest, inlineHeader(sealed.manifest) ?? files.get('header.sealed')!, inputKey, { cipher });
  for (const plan of opened.shards) await openShard(sealed.manifest, opened, plan.index, files.get(plan.path)!, inputKey, { cipher });
}

/** The CLI's verify path (cli/sealed-model.ts, node:crypto, next shard prepared ahead), files from memory. */
async function verifyCli(sealed: SealedModel): Promise<void> {
  const inputKey = await importInputKey(contentKey);
  const bytes = new Map(sealed.files.map((f) => [f.path, f.bytes]));
  const files = { path: 'model.json', dir: '.', manifest: sealed.manifest };
  const read = async (path: string) => bytes.get(path)!;
  const opened = await openSealedHeader(files, inputKey, read);
  await openSealedShards(files, opened, inputKey, () => undefined, read);
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * The machine is shared, so the plain pass and the measured path run back to back in each round
 * and the ratio is taken per round; the median round is reported, with the lowest and highest.
 * Each timed call starts after a full GC (untimed), as in bench/loader.ts: otherwise one path pays
 * for collecting the other's garbage. Without it, V8's incremental marking, started by the plain
 * pass's 52 MB of dead output, ran during the sealed path and cost it ~4 ms a round (--trace-gc).
 */
async function compare(plain: () => void, measured: () => Promise<unknown>): Promise<Compared> {
  plain();
  await measured(); // warm-up
  const ms: number[] = [];
  const plainMs: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    gc();
    gc();
    const p = await once(plain);
    gc();
    gc();
    const m = await once(measured);
    plainMs.push(p);
    ms.push(m);
    ratios.push(p / m);
  }
  return { ms: median(ms), plainMs: median(plainMs), ratio: median(ratios), low: Math.min(...ratios), high: Math.max(...ratios) };
}

interface Compared {
  ms: number;
  plainMs: number;
  ratio: number;
  low: number;
  high: number;
}

rawEncrypt();
const mbps = (ms: number) => (TOTAL / 1e6 / (ms / 1000)).toFixed(0);
const rows: Array<[string, Compared]> = [];
for (const [name, cipher] of [['node:crypto', nodeChunkCipher], ['WebCrypto', webCryptoChunkCipher]] as const) {
  let sealed: SealedModel | undefined;
  rows.push([`seal   (${name})`, await compare(rawEncrypt, async () => { sealed = await seal(cipher); })]);
  if (cipher === nodeChunkCipher) rows.push(['seal   (CLI path)', await compare(rawEncrypt, sealCli)]);
  rows.push([`verify (${name})`, await compare(rawDecrypt, () => verify(sealed!, cipher))]);
  if (cipher === nodeChunkCipher) rows.push(['verify (CLI path)', await compare(rawDecrypt, () => verifyCli(sealed!))]);
}

console.log(`format: ${(TOTAL / 1048576).toFixed(0)} MiB model, 256 KiB chunks, 4 MiB shards; median of ${RUNS} per-round ratios [lowest–highest], each round timing the plain pass and the sealed path back to back, each after a full GC`);
for (const [label, r] of rows) {
  console.log(`  ${label.padEnd(22)} ${mbps(r.ms).padStart(6)} MB/s  plain ${mbps(r.plainMs).padStart(6)} MB/s  ratio ${r.ratio.toFixed(2)} [${r.low.toFixed(2)}–${r.high.toFixed(2)}] (target 0.70, goal 0.90)`);
}
