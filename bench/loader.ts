// Loader benchmark: the same real models loaded plainly (stock tf.io.http) and sealed (sealedModel),
// alternating, in the same run, in Node and in Chromium; prints sealed/plain ratios of end-to-end
// load time and of peak memory, then where a sealed load's time goes, step by step (loader/trace.ts,
// in extra traced rounds so the timed rounds run untraced). Never asserts: it reports.
//
// Run: npx tsx bench/loader.ts [--rounds N] [--quick] [--only node|chromium] [--models a,b] [--no-breakdown]
// (BENCH_DEBUG=1 logs every measured load and the page's requests.)
// The static file server and the key server run in child processes of their own (bench/lib/sealed-sets.ts),
// so their work does not count against the loader in the measured process.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printBreakdown, type Traced } from './lib/breakdown.js';
import { gc, measureNode as measureLoad, median, pairedRounds, procCpuMs, rendererPids, withPeakRss, type Sample } from './lib/measure.js';
import type { SealedModelOptions } from '../loader/index.js';
import { startBenchServers, type BenchServers } from './lib/sealed-sets.js';
import { freshPageSamples, openBenchPage, type PageTarget } from './lib/bench-page.js';
import { cryptoAloneLine, cryptoAloneMs } from './lib/crypto-alone.js';
import { downloadFloorLine, downloadFloorMs } from './lib/download-floor.js';
import { watchMachine } from './lib/machine.js';
import { freshProcessSamples } from './lib/fresh-process.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Every real graph model of 2–30 MB in @vladmandic/human's models/, smallest first. */
const GRAPH_MODELS = ['handlandmark-lite', 'iris', 'handtrack', 'centernet', 'movenet-lightning', 'faceres'];
const SYNTHETIC = 'synthetic-40mb';
const FRESH_TFJS = join(here, 'lib/fresh-tfjs.ts');

// ---------------------------------------------------------------------------------------------
// Fixtures.

/** A ~40 MB graph model: ten chained 1000×1000 float32 MatMuls in five 8 MB weight files. */
function syntheticGraphModel(): { modelJson: Record<string, unknown>; weightFiles: Uint8Array[]; names: string[] } {
  const n = 1000;
  const layers = 10;
  const f32 = (name: string) => ({ name, op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: String(n) }, { size: String(n) }] } } } } });
  const nodes: unknown[] = [{ name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '1' }, { size: String(n) }] } } } }];
  let input = 'x';
  const weights: unknown[] = [];
  const weightFiles: Uint8Array[] = [];
  const names: string[] = [];
  let seed = 42;
  for (let i = 0; i < layers; i++) {
    nodes.push(f32(`w${i}`));
    nodes.push({ name: `y${i}`, op: 'MatMul', input: [input, `w${i}`], attr: { T: { type: 'DT_FLOAT' }, transpose_a: { b: false }, transpose_b: { b: false } } });
    input = `y${i}`;
    weights.push({ name: `w${i}`, shape: [n, n], dtype: 'float32' });
    const values = new Float32Array(n * n);
    for (let j = 0; j < values.length; j++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      values[j] = (seed / 2147483648 - 0.5) / 16;
    }
    // Two weights per file, five 8 MB files: the stock tf.io.http handler awaits every response
    // before reading any body, which deadlocks Chromium's six HTTP/1.1 connections per host when a
    // model has more than six large files (seen here with ten 4 MB files).
    if (i % 2 === 0) {
      weightFiles.push(new Uint8Array(values.buffer));
      names.push(`group1-shard${i / 2 + 1}of${layers / 2}.bin`);
    } else {
      const both = new Uint8Array(values.byteLength * 2);
      both.set(weightFiles.pop()!);
      both.set(new Uint8Array(values.buffer), values.byteLength);
      weightFiles.push(both);
    }
  }
  const modelJson = {
    format: 'graph-model', generatedBy: 'modelseal bench', convertedBy: 'modelseal bench',
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: names, weights }],
  };
  return { modelJson, weightFiles, names };
}

async function prepare(root: string, storeDir: string): Promise<Record<string, number>> {
  const { FileKeyStore } = await import('../keystore/file-store.js');
  const { copyHumanModel, sealInto, writePlain } = await import('../test/loader/fixtures.js');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  const sizes: Record<string, number> = {};
  for (const name of GRAPH_MODELS) {
    const model = await copyHumanModel(name, join(root, 'www/plain', name));
    await sealInto(store, name, model, join(root, 'www/sealed', name));
    sizes[name] = model.weightFiles.reduce((a, f) => a + f.length, 0);
  }
  const synthetic = syntheticGraphModel();
  await writePlain(join(root, 'www/plain', SYNTHETIC), synthetic as never);
  await sealInto(store, SYNTHETIC, synthetic as never, join(root, 'www/sealed', SYNTHETIC));
  sizes[SYNTHETIC] = synthetic.weightFiles.reduce((a, f) => a + f.length, 0);
  return sizes;
}

// ---------------------------------------------------------------------------------------------
// Measuring.

const dispose = (model: { dispose(): void }) => model.dispose();

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const roundsArg = args.indexOf('--rounds');
  const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 2 : 7;

  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const { sealedModel } = await import('../loader/index.js');
  const { mintDevToken } = await import('../keyserver/index.js');
  const { webCryptoChunkCipher } = await import('../format/chunked.js');
  const { trace } = await import('../loader/trace.js');
  const breakdown = !args.includes('--no-breakdown');
  const machine = await watchMachine();
  /** A handler whose load() is timed: the rest of the load is tfjs's own work. */
  const timedHandler = (handler: { load?: () => Promise<unknown> }, t0: number, out: { loaded: number }) => ({
    load: async () => {
      const artifacts = await handler.load!();
      out.loaded = performance.now() - t0;
      return artifacts;
    },
  });
  const traceNode = async (load: (out: { loaded: number }, t0: number) => Promise<{ dispose(): void }>, sealed: boolean): Promise<Traced> => {
    gc();
    const events: Traced['events'] = [];
    const t0 = performance.now();
    if (sealed) trace.sink = (step, start, end) => events.push([step, start - t0, end - t0]);
    const out = { loaded: 0 };
    try {
      const model = await load(out, t0);
      const total = performance.now() - t0;
      model.dispose();
      return { events, loaded: out.loaded, total };
    } finally {
      trace.sink = undefined;
    }
  };

  const root = await mkdtemp(join(tmpdir(), 'modelseal-bench-loader-'));
  const storeDir = join(root, 'store');
  let servers: BenchServers | undefined;
  try {
    const sizes = await prepare(root, storeDir);
    servers = await startBenchServers(root, storeDir);
    const { files, keyServer } = servers;
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '1h' });
    const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
    const models = args.includes('--models') ? args[args.indexOf('--models') + 1]!.split(',') : quick ? ['faceres', SYNTHETIC] : [...GRAPH_MODELS, SYNTHETIC];
    const rows: string[] = [];
    const breakdowns: string[] = [];
    // The ratio is taken per round (the plain and sealed loads of a round run back to back, so they
    // see the same machine), and the median round is reported with the spread of all rounds: on
    // these shared 2-core VMs a ratio of medians mixes rounds from different moments.
    const row = (env: string, name: string, mode: string, plain: Sample[], sealed: Sample[]) => {
      const [pt, st] = [median(plain.map((s) => s.ms)), median(sealed.map((s) => s.ms))];
      const [pm, sm] = [median(plain.map((s) => s.peak)), median(sealed.map((s) => s.peak))];
      const [pc, sc] = [median(plain.map((s) => s.cpu ?? NaN)), median(sealed.map((s) => s.cpu ?? NaN))];
      const cpuRatios = plain.map((p, i) => (sealed[i]!.cpu ?? NaN) / (p.cpu ?? NaN));
      const timeRatios = plain.map((p, i) => sealed[i]!.ms / p.ms);
      const peakRatios = plain.map((p, i) => sealed[i]!.peak / p.peak);
      const mb = (b: number) => (b / 1048576).toFixed(1);
      const spread = (r: number[]) => `${Math.min(...r).toFixed(2)}–${Math.max(...r).toFixed(2)}`;
      const line = `${env.padEnd(8)} ${name.padEnd(18)} ${(sizes[name]! / 1048576).toFixed(1).padStart(5)} MB ${mode.padEnd(13)} time plain ${pt.toFixed(0).padStart(5)} ms sealed ${st.toFixed(0).padStart(5)} ms ratio ${median(timeRatios).toFixed(2)} (${spread(timeRatios)}) | cpu plain ${pc.toFixed(0).padStart(5)} ms sealed ${sc.toFixed(0).padStart(5)} ms ratio ${median(cpuRatios).toFixed(2)} (${spread(cpuRatios)}) | peak plain ${mb(pm).padStart(6)} MB sealed ${mb(sm).padStart(6)} MB ratio ${median(peakRatios).toFixed(2)}`;
      rows.push(line);
      console.log(line);
      return pt;
    };
    // The sealed path's crypto alone (bench/lib/crypto-alone.ts: decrypt + SHA-256 of the model's
    // size, no network, on the loading thread) against the plain load: the ratio it alone would give.
    const floorRow = (env: string, name: string, cryptoMs: number, plainMs: number) => {
      const line = cryptoAloneLine(`${env.padEnd(8)} ${name.padEnd(18)} ${(sizes[name]! / 1048576).toFixed(1).padStart(5)} MB`, cryptoMs, plainMs, 'plain weightData');
      rows.push(line);
      console.log(line);
    };
    const nodeCipher = await (await import('../loader/default-cipher.js')).defaultCipher();

    // Node.
    for (const name of only === 'chromium' ? [] : models) {
      let plainWeightData = NaN;
      for (const streamWeights of [false, true]) {
        // Round 0 warms up caches, JIT and connections; it is not counted.
        const { plain, sealed } = await pairedRounds(rounds,
          () => measureLoad(() => tf.loadGraphModel(`${files}/plain/${name}/model.json`, { streamWeights }), dispose),
          () => measureLoad(() => tf.loadGraphModel(sealedModel(`${files}/sealed/${name}/model.json`, { token, keyServer, streamWeights })), dispose));
        const plainMs = row('node', name, streamWeights ? 'streamWeights' : 'weightData', plain, sealed);
        if (!streamWeights) plainWeightData = plainMs;
      }
      floorRow('node', name, await cryptoAloneMs(sizes[name]!, nodeCipher), plainWeightData);
      // The same crypto between the socket reads of a real download (no release), against the plain load.
      const floor = await downloadFloorMs(join(root, 'www'), files, name, sizes[name]!, nodeCipher, Math.max(rounds, 9));
      const floorLine = downloadFloorLine(`${'node'.padEnd(8)} ${name.padEnd(18)} ${(sizes[name]! / 1048576).toFixed(1).padStart(5)} MB`, floor, plainWeightData, 'plain weightData');
      rows.push(floorLine);
      console.log(floorLine);
      // The same load with WebCrypto forced (option `cipher`); the rows above use the Node default, node:crypto.
      const plainLoad = () => measureLoad(() => tf.loadGraphModel(`${files}/plain/${name}/model.json`), dispose);
      const sealedLoad = (options: Omit<SealedModelOptions, 'token' | 'keyServer'>) => () => measureLoad(() => tf.loadGraphModel(sealedModel(`${files}/sealed/${name}/model.json`, { token, keyServer, ...options })), dispose);
      const webCrypto = await pairedRounds(rounds, plainLoad, sealedLoad({ cipher: webCryptoChunkCipher }));
      row('node', name, 'WebCrypto', webCrypto.plain, webCrypto.sealed);
      // The default load with the app's own copy of the manifest (options.manifest): no manifest download.
      const manifest = await (await fetch(`${files}/sealed/${name}/model.json`)).text();
      const given = await pairedRounds(rounds, plainLoad, sealedLoad({ manifest }));
      row('node', name, 'manifest given', given.plain, given.sealed);
      // The rows above share this process, whose V8 heap + ArrayBuffers they sample every 2 ms: the
      // default load again, each in a new process that reads its own peak RSS (fresh-process.ts).
      const freshNode = await freshProcessSamples(FRESH_TFJS, rounds, { files, name, token, keyServer });
      row('node', name, 'fresh process', freshNode.plain, freshNode.sealed);
      if (breakdown) {
        // Traced rounds of the default load (weightData, node:crypto), after the timed ones.
        const sealedTraces: Traced[] = [];
        const plainTraces: Traced[] = [];
        for (let r = 0; r < rounds; r++) {
          plainTraces.push(await traceNode((out, t0) => tf.loadGraphModel(timedHandler(tf.io.http(`${files}/plain/${name}/model.json`), t0, out) as never), false));
          sealedTraces.push(await traceNode((out, t0) => tf.loadGraphModel(timedHandler(sealedModel(`${files}/sealed/${name}/model.json`, { token, keyServer }), t0, out) as never), true));
        }
        breakdowns.push(...printBreakdown('node', name, sealedTraces, plainTraces));
      }
    }

    // Chromium.
    if (only !== 'node') {
      const { build } = await import('esbuild');
      const pageSource = `
        import * as tf from '@tensorflow/tfjs';
        import { sealedModel } from '../loader/index.js';
        import { trace } from '../loader/trace.js';
        import { cryptoAloneMs } from './lib/crypto-alone.js';
        async function load(url, sealed, options) {
          await tf.setBackend('cpu');
          const t0 = performance.now();
          const model = await tf.loadGraphModel(sealed ? sealedModel(url, options) : url, sealed ? {} : { streamWeights: options.streamWeights });
          const ms = performance.now() - t0;
          model.dispose();
          return ms;
        }
        async function traced(url, sealed, options) {
          await tf.setBackend('cpu');
          const events = [];
          const out = { loaded: 0 };
          const t0 = performance.now();
          if (sealed) trace.sink = (step, start, end) => events.push([step, start - t0, end - t0]);
          try {
            const inner = sealed ? sealedModel(url, options) : tf.io.http(url);
            const model = await tf.loadGraphModel({ load: async () => { const a = await inner.load(); out.loaded = performance.now() - t0; return a; } });
            const total = performance.now() - t0;
            model.dispose();
            return { events, loaded: out.loaded, total };
          } finally {
            trace.sink = undefined;
          }
        }
        globalThis.benchLoad = load;
        globalThis.benchTraced = traced;
        globalThis.benchCryptoAlone = (bytes) => cryptoAloneMs(bytes, undefined);
      `;
      const built = await build({ stdin: { contents: pageSource, resolveDir: here, loader: 'ts' }, bundle: true, write: false, platform: 'browser', format: 'iife', target: 'es2022', minify: true, logLevel: 'silent' });
      const script = built.outputFiles[0]!.text;
      // The page is served by a tiny in-process server (openBenchPage); the model files come from the child (CORS on).
      const bench = await openBenchPage({ '/index.html': '<!doctype html><script src="/bench.js"></script>', '/bench.js': script }, 'benchLoad');
      try {
        const { page, cdp } = bench;
        // `manifest`: the app's own copy of the sealed model.json (options.manifest), for the `manifest given` row.
        const loadIn = (target: PageTarget, url: string, sealed: boolean, streamWeights: boolean, manifest?: string) => target.page.evaluate(
          ({ url, sealed, options }) => (globalThis as unknown as { benchLoad(u: string, s: boolean, o: unknown): Promise<number> }).benchLoad(url, sealed, options),
          { url, sealed, options: { token, keyServer, streamWeights, ...(manifest === undefined ? {} : { manifest }) } },
        );
        const measure = (url: string, sealed: boolean, streamWeights: boolean, manifest?: string) => measureIn({ page, cdp }, url, sealed, streamWeights, manifest);
        const measureIn = async ({ page, cdp }: PageTarget, url: string, sealed: boolean, streamWeights: boolean, manifest?: string): Promise<Sample> => {
          await cdp.send('HeapProfiler.collectGarbage');
          const pids = await rendererPids();
          const cpuBase = new Map<number, number>();
          for (const pid of pids) cpuBase.set(pid, await procCpuMs(pid));
          if (process.env['BENCH_DEBUG']) console.error('measure', url, sealed, streamWeights, pids);
          const { value: ms, peak } = await withPeakRss(pids, () => loadIn({ page, cdp }, url, sealed, streamWeights, manifest));
          let cpu = 0;
          for (const pid of pids) cpu += (await procCpuMs(pid)) - cpuBase.get(pid)!;
          return { ms, peak, cpu };
        };
        for (const name of models) {
          let plainWeightData = NaN;
          for (const streamWeights of [false, true]) {
            const { plain, sealed } = await pairedRounds(rounds,
              () => measure(`${files}/plain/${name}/model.json`, false, streamWeights),
              () => measure(`${files}/sealed/${name}/model.json`, true, streamWeights));
            const plainMs = row('chromium', name, streamWeights ? 'streamWeights' : 'weightData', plain, sealed);
            if (!streamWeights) plainWeightData = plainMs;
          }
          const manifest = await (await fetch(`${files}/sealed/${name}/model.json`)).text();
          const given = await pairedRounds(rounds,
            () => measure(`${files}/plain/${name}/model.json`, false, false),
            () => measure(`${files}/sealed/${name}/model.json`, true, false, manifest));
          row('chromium', name, 'manifest given', given.plain, given.sealed);
          // The rounds above share one page, whose earlier loads (plain streamWeights ones peak near
          // 100 MB) decide how much of a load's memory is newly committed: the same load measured in
          // a new browser context each time, after four warm-up loads ending with the other kind.
          const url = (s: boolean) => `${files}/${s ? 'sealed' : 'plain'}/${name}/model.json`;
          const freshChromium = await freshPageSamples(bench, rounds, (t, s) => loadIn(t, url(s), s, false), (t, s) => measureIn(t, url(s), s, false));
          row('chromium', name, 'fresh page', freshChromium.plain, freshChromium.sealed);
          const cryptoMs = await page.evaluate((bytes) => (globalThis as unknown as { benchCryptoAlone(b: number): Promise<number> }).benchCryptoAlone(bytes), sizes[name]!);
          floorRow('chromium', name, cryptoMs, plainWeightData);
          if (breakdown) {
            const sealedTraces: Traced[] = [];
            const plainTraces: Traced[] = [];
            const run = async (url: string, sealed: boolean): Promise<Traced> => {
              await cdp.send('HeapProfiler.collectGarbage');
              return page.evaluate(
                ({ url, sealed, options }) => (globalThis as unknown as { benchTraced(u: string, s: boolean, o: unknown): Promise<Traced> }).benchTraced(url, sealed, options),
                { url, sealed, options: { token, keyServer } },
              );
            };
            for (let r = 0; r < rounds; r++) {
              plainTraces.push(await run(`${files}/plain/${name}/model.json`, false));
              sealedTraces.push(await run(`${files}/sealed/${name}/model.json`, true));
            }
            breakdowns.push(...printBreakdown('chromium', name, sealedTraces, plainTraces));
          }
        }
      } finally {
        await bench.close();
      }
    }
    if (rows.length > 0) console.log(`\n${rows.join('\n')}`);
    console.log(`\nloader bench: ${rounds} alternating rounds after one warm-up; times and peaks are medians, ratios the median of the per-round ratios (min–max in brackets); peak = memory above the pre-load baseline`);
    console.log('  node: V8 heapUsed + arrayBuffers sampled every 2 ms; chromium: renderer peak RSS (VmHWM after clear_refs)');
    console.log('  node fresh process: weightData, each load in a new Node process after four warm-up loads (ending with the other kind), at most 5 rounds; peak = that process\'s peak RSS (VmHWM after clear_refs): every allocator, garbage included until freed; read its peak, not its times (a process four loads old)');
    console.log('  manifest given: weightData with options.manifest (the app\'s own copy of the sealed model.json): no manifest download, so the release, header and shards start at once; its own paired rounds');
    console.log('  cpu: CPU time of every thread of the loading process (node: process.cpuUsage; chromium: the renderer\'s, /proc schedstat), not the servers\'');
    console.log('  node cipher: weightData rows use the Node default (node:crypto), streamWeights and WebCrypto rows WebCrypto; chromium: WebCrypto');
    console.log('  chromium fresh page: weightData, each load in a new browser context after four warm-up loads (ending with the other kind), at most 5 rounds; read its peak (the other rows share one page, whose earlier loads change what a load newly commits), not its times (a renderer four loads old)');
    console.log('  crypto alone: opening the model\'s size of sealed chunks (AES-256-GCM, SHA-256 per chunk, chunk digest) on the loading thread, no network, median of 5, with the weightData rows\' cipher; the ratio it alone would give bounds how close a sealed load can come to plain unless the crypto overlaps a wait');
    console.log('  download floor (Node): one sealed file of the model\'s size from the same static server, downloaded whole (arrayBuffer) against downloaded and opened as its pieces arrive (the crypto between socket reads, no key release), paired rounds, medians; their difference against the plain load is the ratio that work alone would give');
    console.log(await machine());
  } finally {
    servers?.close();
    await rm(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
