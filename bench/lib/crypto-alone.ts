// The sealed path's crypto alone, without the network: what a bench prints beside each model's
// ratios as the floor those ratios can reach while the crypto runs on the loading thread. No Node
// imports: Chromium benches bundle it into their page.

import { ChunkedDecryptor, DEFAULT_CHUNK_LENGTH, encryptChunked, FILE_HEAD_LENGTH, importInputKey, TAG_LENGTH, type ChunkCipherFactory } from '../../format/chunked.js';
import { median } from './median.js';

/**
 * Median ms, over `rounds` runs after a warm-up, of opening `bytes` of plaintext sealed as one file
 * (key commitment, AES-256-GCM per chunk, SHA-256 per chunk and the file's chunk digest, 4 chunk
 * calls in flight, pushed one chunk-sized buffer at a time as the loader does) with `cipher`
 * (WebCrypto when undefined). A sealed load does this work on top of a plain one.
 */
export async function cryptoAloneMs(bytes: number, cipher: ChunkCipherFactory | undefined, rounds = 5): Promise<number> {
  const options = cipher ? { cipher } : {};
  const key = await importInputKey(globalThis.crypto.getRandomValues(new Uint8Array(32)));
  const context = new TextEncoder().encode('bench: crypto alone');
  // The content does not change the crypto's speed; zeros keep the set-up cheap.
  const sealed = await encryptChunked(key, new Uint8Array(bytes), context, options);
  const step = DEFAULT_CHUNK_LENGTH + TAG_LENGTH;
  const times: number[] = [];
  for (let r = 0; r <= rounds; r++) {
    const t0 = performance.now();
    const decryptor = new ChunkedDecryptor(key, context, { ...options, plaintextLength: bytes, concurrency: 4, checkDigest: () => undefined });
    await decryptor.push(sealed.subarray(0, FILE_HEAD_LENGTH));
    for (let at = FILE_HEAD_LENGTH; at < sealed.length; at += step) await decryptor.push(sealed.subarray(at, Math.min(at + step, sealed.length)));
    await decryptor.finish();
    if (r > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

/** The report line: `prefix` (env, name, size, mode), the crypto alone, and the ratio it alone would give against `plainMs`. */
export function cryptoAloneLine(prefix: string, cryptoMs: number, plainMs: number, plainLabel: string): string {
  return `${prefix} crypto alone ${cryptoMs.toFixed(1).padStart(6)} ms = ${(cryptoMs / plainMs).toFixed(2)} of ${plainLabel}'s ${plainMs.toFixed(0)} ms: ratio ${(1 + cryptoMs / plainMs).toFixed(2)} were it the sealed path's only extra cost`;
}
