// The per-step breakdown of sealed loads (loader/trace.ts events), printed by bench/loader.ts and
// bench/onnx.ts: when each step first started, last ended, and how long it was busy.

import { median } from './measure.js';

/** One traced load: its steps (ms from the load's start) and where the loader's part ended (the rest is the runtime's). */
export interface Traced {
  events: Array<[step: string, start: number, end: number]>;
  /** When the handler's load() resolved (the rest of the load is tfjs building the model). */
  loaded: number;
  total: number;
}

/** The order the breakdown prints steps in (the order a load reaches them). */
export const STEPS: Array<[step: string, what: string]> = [
  ['manifest', 'GET + parse model.json'],
  ['keypair', 'ephemeral ECDH key pair, JWK, thumbprint'],
  ['token', 'token provider'],
  ['release.request', 'POST /v2/release until the response'],
  ['release.body', 'read the answer'],
  ['unwrap', 'JWE compactDecrypt'],
  ['import', 'content key import'],
  ['release', 'key release in all'],
  ['header.fetch', 'GET the header file (inline: decode), beside the release'],
  ['header.open', 'header commitment, decrypt, digest, checks (after the key)'],
  ['shard.response', 'shard GET until the response'],
  ['shard.body', 'shard body read (+ decrypt backpressure)'],
  ['decrypt', 'AES-GCM per chunk'],
  ['digest', 'SHA-256 per chunk'],
  ['shard.finish', 'last decrypts + digest check'],
  ['artifacts', 'ModelArtifacts assembly'],
  ['weights', 'waiting for the shards after the header is open'],
  ['load', 'handler load() in all (TF.js)'],
];

/** Prints the median of each step's first start, last end and busy time (sum of its durations). */
export function printBreakdown(env: string, name: string, sealed: Traced[], plain: Traced[], names = { runtime: 'tfjs', load: 'load()', plainLoad: 'tf.io.http load()' }): string[] {
  const lines: string[] = [];
  const fmt = (v: number) => v.toFixed(1).padStart(6);
  lines.push(`${env} ${name}: sealed load, median of ${sealed.length} traced loads, ms from the load's start (first start – last end, busy = sum of durations, n = calls per load)`);
  for (const [step, what] of STEPS) {
    const per = sealed.map((t) => t.events.filter((e) => e[0] === step));
    if (per.every((e) => e.length === 0)) continue;
    const start = median(per.map((e) => Math.min(...e.map((x) => x[1]))));
    const end = median(per.map((e) => Math.max(...e.map((x) => x[2]))));
    const busy = median(per.map((e) => e.reduce((n, x) => n + x[2] - x[1], 0)));
    const n = median(per.map((e) => e.length));
    lines.push(`  ${step.padEnd(16)} ${fmt(start)} – ${fmt(end)}  busy ${fmt(busy)}  n ${String(n).padStart(3)}  ${what}`);
  }
  const sLoaded = median(sealed.map((t) => t.loaded));
  const sTotal = median(sealed.map((t) => t.total));
  const pLoaded = median(plain.map((t) => t.loaded));
  const pTotal = median(plain.map((t) => t.total));
  lines.push(`  ${names.runtime} after ${names.load}: sealed ${fmt(sTotal - sLoaded)} ms (total ${fmt(sTotal)}) | plain: ${names.plainLoad} ${fmt(pLoaded)} ms, ${names.runtime} after it ${fmt(pTotal - pLoaded)} ms (total ${fmt(pTotal)})`);
  for (const line of lines) console.log(line);
  return lines;
}

