// The sealed path's crypto with the download, without a key release: what a Node bench prints beside
// each model as the floor its ratios can reach while the crypto runs on the thread that also reads
// the network. The crypto alone (crypto-alone.ts) has the thread to itself; here each piece the
// network delivers is copied and decrypted between socket reads, which hides the crypto only where
// the download leaves the thread waiting (measured: docs/BENCH-LOG.md, 2026-12-03 16:40). Node
// only: it writes a file under the static server's root.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ChunkedDecryptor, encryptChunked, importInputKey, type ChunkCipherFactory } from '../../format/chunked.js';
import { gc, median } from './measure.js';

/** What `downloadFloorMs` measures, paired round by round: one file's download, read whole, and the same download opened as it arrives. */
export interface DownloadFloor {
  plainMs: number;
  sealedMs: number;
}

/**
 * Writes `bytes` of zeros sealed as one file under a random key to `<www>/floor/<name>.sealed`
 * (the content does not change the crypto's speed), then measures, in
 * `rounds` alternating pairs after a warm-up with a full collection before each, two downloads of
 * that file from `<files>/floor/<name>.sealed`: read whole (`arrayBuffer()`, as a plain load reads
 * its files), and read piece by piece, each piece pushed into a ChunkedDecryptor with `cipher`
 * (WebCrypto when undefined; 4 chunk calls in flight, chunk digests computed) as a sealed load does
 * once it has its key. Same bytes, same request: the difference is the crypto between socket reads.
 */
export async function downloadFloorMs(www: string, files: string, name: string, bytes: number, cipher: ChunkCipherFactory | undefined, rounds: number): Promise<DownloadFloor> {
  const key = await importInputKey(globalThis.crypto.getRandomValues(new Uint8Array(32)));
  const context = new TextEncoder().encode('bench: download floor');
  const cipherOption = cipher ? { cipher } : {};
  await mkdir(join(www, 'floor'), { recursive: true });
  await writeFile(join(www, 'floor', `${name}.sealed`), await encryptChunked(key, new Uint8Array(bytes), context, cipherOption));
  const url = `${files}/floor/${name}.sealed`;
  const plain = async () => {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    await response.arrayBuffer();
  };
  const sealed = async () => {
    const response = await fetch(url);
    if (!response.ok || !response.body) throw new Error(`${url}: HTTP ${response.status}`);
    const decryptor = new ChunkedDecryptor(key, context, { ...cipherOption, plaintextLength: bytes, concurrency: 4, checkDigest: () => undefined });
    const reader = response.body.getReader();
    for (let piece = await reader.read(); !piece.done; piece = await reader.read()) await decryptor.push(piece.value);
    await decryptor.finish();
  };
  const timed = async (run: () => Promise<unknown>) => {
    gc();
    const t0 = performance.now();
    await run();
    return performance.now() - t0;
  };
  await timed(plain);
  await timed(sealed);
  const plainMs: number[] = [];
  const sealedMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 ? ['plain', 'sealed'] : ['sealed', 'plain']) {
      if (kind === 'plain') plainMs.push(await timed(plain));
      else sealedMs.push(await timed(sealed));
    }
  }
  return { plainMs: median(plainMs), sealedMs: median(sealedMs) };
}

/** The report line: `prefix` (env, name, size, mode), both downloads, and the ratio their difference alone would give against `plainTotalMs`. */
export function downloadFloorLine(prefix: string, floor: DownloadFloor, plainTotalMs: number, plainLabel: string): string {
  const extra = floor.sealedMs - floor.plainMs;
  return `${prefix} download floor  the model's size sealed, downloaded ${floor.plainMs.toFixed(1).padStart(5)} ms, opened as it arrives (no release) ${floor.sealedMs.toFixed(1).padStart(5)} ms: ${extra >= 0 ? '+' : ''}${extra.toFixed(1)} ms = ${(extra / plainTotalMs).toFixed(2)} of ${plainLabel}'s ${plainTotalMs.toFixed(0)} ms: ratio ${(1 + extra / plainTotalMs).toFixed(2)} were it the sealed path's only extra cost`;
}
