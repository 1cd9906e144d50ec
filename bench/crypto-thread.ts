// Where Chromium's WebCrypto does its work, and what moving the chunk decrypts to a Web Worker
// would cost: 8 MB of AES-256-GCM decrypt + SHA-256 in 256 KiB chunks, 4 in flight (the loader's
// default), on the page's main thread, and through one dedicated worker (each chunk posted and its
// plaintext and digest transferred back; the ciphertext buffer moved (transferred as it is), sliced
// then transferred, or copied by postMessage). Alternating rounds
// in one page; prints medians and ratios against the main thread. Never asserts: it reports.
//
// Run: npx tsx bench/crypto-thread.ts [--rounds N]
// "in-call" is main-thread time spent inside the calls that start the work (subtle.decrypt and
// subtle.digest on the main thread; slice and postMessage for the worker).

import { openBenchPage } from './lib/bench-page.js';

const args = process.argv.slice(2);
const rounds = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 9;

// The page's script, as a string: the worker is started from a Blob of its own source.
const PAGE = `
const workerSource = "onmessage = async (e) => { const m = e.data; if (m.key) { self.k = m.key; return; }" +
  " const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: m.iv }, self.k, m.data);" +
  " const digest = await crypto.subtle.digest('SHA-256', plain);" +
  " postMessage({ id: m.id, plain, digest }, [plain, digest]); };";
async function setup() {
  const worker = new Worker(URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' })));
  const key = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), 'AES-GCM', false, ['encrypt', 'decrypt']);
  worker.postMessage({ key });
  const iv = new Uint8Array(12);
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new Uint8Array(256 * 1024)));
  const pending = new Map();
  let next = 0;
  worker.onmessage = (e) => { const done = pending.get(e.data.id); pending.delete(e.data.id); done(); };
  const one = {
    main: async () => { const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, key, sealed); await crypto.subtle.digest('SHA-256', plain); },
    transfer: () => new Promise((done) => { const id = next++; pending.set(id, done); const data = sealed.slice(); worker.postMessage({ id, iv, data }, [data.buffer]); }),
    // The ciphertext buffer itself transferred (no copy), as a loader could with its own chunk buffers.
    moved: () => new Promise((done) => { const id = next++; pending.set(id, done); const data = spare.pop(); worker.postMessage({ id, iv, data }, [data.buffer]); }),
    copy: () => new Promise((done) => { const id = next++; pending.set(id, done); worker.postMessage({ id, iv, data: sealed }); }),
  };
  let spare = [];
  return async (kind) => {
    spare = Array.from({ length: 32 }, () => sealed.slice());
    let inCall = 0;
    const t0 = performance.now();
    const inFlight = [];
    for (let i = 0; i < 32; i++) {
      const a = performance.now();
      inFlight.push(one[kind]());
      inCall += performance.now() - a;
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    return { wall: performance.now() - t0, inCall };
  };
}
globalThis.cryptoThread = setup();
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const bench = await openBenchPage({ '/index.html': `<!doctype html><script>${PAGE}</script>` }, 'cryptoThread');
  try {
    const kinds = ['main', 'moved', 'transfer', 'copy'] as const;
    const samples: Record<string, { wall: number[]; inCall: number[] }> = Object.fromEntries(kinds.map((k) => [k, { wall: [], inCall: [] }]));
    for (let r = 0; r < rounds + 1; r++) {
      for (const kind of kinds) {
        const s = await bench.page.evaluate(async (k) => (await (globalThis as unknown as { cryptoThread: Promise<(k: string) => Promise<{ wall: number; inCall: number }>> }).cryptoThread)(k), kind);
        if (r > 0) {
          samples[kind]!.wall.push(s.wall);
          samples[kind]!.inCall.push(s.inCall);
        }
      }
    }
    const base = samples['main']!;
    console.log(`crypto-thread bench: 8 MB decrypt + digest in 256 KiB chunks, 4 in flight; ${rounds} alternating rounds after one warm-up, medians`);
    for (const kind of kinds) {
      const s = samples[kind]!;
      console.log(`chromium ${kind.padEnd(9)} wall ${median(s.wall).toFixed(1).padStart(6)} ms (${(median(s.wall) / median(base.wall)).toFixed(2)}× main) | main-thread in-call ${median(s.inCall).toFixed(1).padStart(6)} ms (${(median(s.inCall) / median(base.inCall)).toFixed(2)}× main)`);
    }
  } finally {
    await bench.close();
  }
}

await main();
