// ONNX Runtime and transformers.js benchmark: the same models created plainly (the runtime given the
// bytes fetched from the static server) and sealed (openSealedFiles through the key server, then
// createOnnxSession / useSealedFiles), alternating, in one run; prints sealed/plain ratios of the
// time until the session (or pipeline) is ready, and of peak memory. Never asserts: it reports.
//
// Run: npx tsx bench/onnx.ts [--rounds N] [--quick] [--only node|chromium] [--no-breakdown]
// The static file server and the key server run in child processes of their own (bench/lib/sealed-sets.ts),
// so their work does not count.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printBreakdown, type Traced } from './lib/breakdown.js';
import { measureNode, measureRenderer, median, pairedRounds, ratioLine, type Sample } from './lib/measure.js';
import { startBenchServers, type BenchServers } from './lib/sealed-sets.js';
import { freshPageSamples, openBenchPage, type PageTarget } from './lib/bench-page.js';
import { cryptoAloneLine, cryptoAloneMs } from './lib/crypto-alone.js';
import { downloadFloorLine, downloadFloorMs, type DownloadFloor } from './lib/download-floor.js';
import { watchMachine } from './lib/machine.js';
import { freshProcessSamples } from './lib/fresh-process.js';
import { fetchSet } from './lib/fetch-set.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..');
const FRESH_ONNX = join(here, 'lib/fresh-onnx.ts');
const FRESH_TRANSFORMERS = join(here, 'lib/fresh-transformers.ts');

/** The sets: real models (Silero VAD, 1.2 MB; PP-OCRv4's detector and recogniser, 4.7 and 10.8 MB), a 24 MB external-data model in three files, a transformers.js folder. */
async function prepare(root: string, storeDir: string): Promise<Map<string, { paths: string[]; bytes: number }>> {
  const { externalDataModel, tinyTransformersFolder } = await import('../test/runtimes/onnx-models.js');
  const { ppocrFiles, PPOCR_MODELS, sileroFiles, SILERO_MODELS, sealPath } = await import('../test/runtimes/fixtures.js');
  const { FileKeyStore } = await import('../keystore/file-store.js');
  await FileKeyStore.open(storeDir, { create: true });
  const sets: Record<string, Map<string, Uint8Array>> = {
    'silero-vad': await sileroFiles(SILERO_MODELS.silero16k),
    'ppocr-det': await ppocrFiles('det'),
    'ppocr-rec': await ppocrFiles('rec'),
    'external-24mb': externalDataModel({ k: 2048, n: 2048, m: 1024 }).files,
    'transformers-9mb': tinyTransformersFolder({ externalData: true, hidden: 131072 }),
  };
  // ONNX models are sealed in the file form (the CLI finds the external data), the folder as a folder.
  const entries: Record<string, string> = { 'silero-vad': SILERO_MODELS.silero16k, 'ppocr-det': PPOCR_MODELS.det.file, 'ppocr-rec': PPOCR_MODELS.rec.file, 'external-24mb': 'model.onnx' };
  const info = new Map<string, { paths: string[]; bytes: number }>();
  for (const [name, files] of Object.entries(sets)) {
    for (const [path, bytes] of files) {
      const full = join(root, 'www/plain', name, path);
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, bytes);
    }
    sealPath(join(root, 'www/plain', name, entries[name] ?? ''), join(root, 'www/sealed', name), name, storeDir);
    info.set(name, { paths: [...files.keys()].sort(), bytes: [...files.values()].reduce((n, b) => n + b.byteLength, 0) });
  }
  return info;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const machine = await watchMachine();
  const quick = args.includes('--quick');
  const roundsArg = args.indexOf('--rounds');
  const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 2 : 7;
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

  const root = await mkdtemp(join(tmpdir(), 'modelseal-bench-onnx-'));
  const storeDir = join(root, 'store');
  let servers: BenchServers | undefined;
  const rows: string[] = [];
  const row = (env: string, name: string, mode: string, mb: number, plain: Sample[], sealed: Sample[]) => {
    const line = ratioLine(`${env.padEnd(8)} ${name.padEnd(18)} ${mb.toFixed(1).padStart(5)} MB ${mode.padEnd(18)}`, plain, sealed);
    rows.push(line);
    console.log(line);
  };
  try {
    const sets = await prepare(root, storeDir);
    servers = await startBenchServers(root, storeDir);
    const { files, keyServer } = servers;
    const { mintDevToken } = await import('../keyserver/index.js');
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '1h' });
    const { createOnnxSession, onnxModelFromFiles, openSealedFiles } = await import('../loader/index.js');
    const options = { token, keyServer };
    const onnxSets = ['silero-vad', 'ppocr-det', 'ppocr-rec', 'external-24mb'];
    const { trace } = await import('../loader/trace.js');
    const breakdown = !args.includes('--no-breakdown');
    const mbOf = (name: string) => sets.get(name)!.bytes / 1048576;
    // The pins an app takes from its build (`modelseal seal --json`): here, from the public manifest.
    const pinsOf = async (name: string) => {
      const { modelId, keyId, sealing } = (await (await fetch(`${files}/sealed/${name}/model.json`)).json()) as { modelId: string; keyId: string; sealing: string };
      return { modelId, keyId, sealing };
    };
    // The sealed path's crypto alone (bench/lib/crypto-alone.ts: decrypt + SHA-256 of the set's size,
    // no network, on the loading thread) against the plain create: the ratio it alone would give.
    const cryptoRow = (env: string, name: string, label: string, cryptoMs: number, plain: Sample[]) => {
      const plainMs = median(plain.map((s) => s.ms));
      const line = cryptoAloneLine(`${env.padEnd(8)} ${name.padEnd(18)} ${mbOf(name).toFixed(1).padStart(5)} MB ${label.padEnd(18)}`, cryptoMs, plainMs, 'plain');
      rows.push(line);
      console.log(line);
    };

    if (only !== 'chromium') {
      const ortWeb = await import('onnxruntime-web');
      ortWeb.env.wasm.numThreads = 1;
      const ortNode = await import('onnxruntime-node');
      const nodeCipher = await (await import('../loader/default-cipher.js')).defaultCipher();
      const nodeCrypto = new Map<string, number>();
      for (const name of onnxSets) nodeCrypto.set(name, await cryptoAloneMs(sets.get(name)!.bytes, nodeCipher));
      const floors = new Map<string, DownloadFloor>();
      for (const [label, ort] of [['ort-web', ortWeb], ['ort-node', ortNode]] as const) {
        for (const name of onnxSets) {
          const plain: Sample[] = [];
          const sealed: Sample[] = [];
          const pinnedSealed: Sample[] = [];
          type Session = { release(): Promise<void> };
          // onnxruntime-web's rounds also load with every pin set (modelId, keyId, sealing,
          // keyServer), so the release goes out beside the manifest's download.
          const pinned = label === 'ort-web' ? { ...options, ...(await pinsOf(name)) } : undefined;
          // And with the app's own copy of the manifest (options.manifest): no manifest download.
          const given = label === 'ort-web' ? { ...options, manifest: await (await fetch(`${files}/sealed/${name}/model.json`)).text() } : undefined;
          const givenSealed: Sample[] = [];
          const sealedCreate = (opts: typeof options) => async () => (await createOnnxSession(ort, await openSealedFiles(`${files}/sealed/${name}/model.json`, opts))) as unknown as Session;
          for (let r = 0; r < rounds + 1; r++) {
            // Round 0 warms up the runtime, JIT and connections; it is not counted.
            const p = await measureNode(async () => {
              const input = onnxModelFromFiles(await fetchSet(`${files}/plain/${name}`, sets.get(name)!.paths));
              return (await ort.InferenceSession.create(input.model, input.options)) as unknown as Session;
            }, (s) => s.release());
            const s = await measureNode(sealedCreate(options), (x) => x.release());
            const q = pinned ? await measureNode(sealedCreate(pinned), (x) => x.release()) : undefined;
            const g = given ? await measureNode(sealedCreate(given), (x) => x.release()) : undefined;
            if (r > 0) {
              plain.push(p);
              sealed.push(s);
              if (q) pinnedSealed.push(q);
              if (g) givenSealed.push(g);
            }
          }
          row('node', name, `${label} create`, mbOf(name), plain, sealed);
          if (pinned) row('node', name, `${label} pinned`, mbOf(name), plain, pinnedSealed);
          if (given) row('node', name, `${label} manifest given`, mbOf(name), plain, givenSealed);
          cryptoRow('node', name, `${label} create`, nodeCrypto.get(name)!, plain);
          // The same crypto between the socket reads of a real download (no release): measured once
          // per set, after its first runtime's rows, and set against each runtime's plain create.
          if (!floors.has(name)) floors.set(name, await downloadFloorMs(join(root, 'www'), files, name, sets.get(name)!.bytes, nodeCipher, Math.max(rounds, 9)));
          const floorLine = downloadFloorLine(`${'node'.padEnd(8)} ${name.padEnd(18)} ${mbOf(name).toFixed(1).padStart(5)} MB ${`${label} create`.padEnd(18)}`, floors.get(name)!, median(plain.map((x) => x.ms)), 'plain');
          rows.push(floorLine);
          console.log(floorLine);
          // The same creates, each in a new process that reads its own peak RSS (fresh-process.ts):
          // the rows above sample only V8 heap + ArrayBuffers, so not onnxruntime-node's native heap.
          const fresh = await freshProcessSamples(FRESH_ONNX, rounds, { runtime: label, files, name, paths: sets.get(name)!.paths, token, keyServer });
          row('node', name, `${label} fresh proc`, mbOf(name), fresh.plain, fresh.sealed);
          if (breakdown) {
            // Traced rounds after the timed ones (loader/trace.ts): where openSealedFiles's time goes.
            const traced = async (sealedRun: boolean): Promise<Traced> => {
              const events: Traced['events'] = [];
              const t0 = performance.now();
              if (sealedRun) trace.sink = (step, start, end) => events.push([step, start - t0, end - t0]);
              try {
                const set = sealedRun ? await openSealedFiles(`${files}/sealed/${name}/model.json`, options) : await fetchSet(`${files}/plain/${name}`, sets.get(name)!.paths);
                const loaded = performance.now() - t0;
                trace.sink = undefined;
                const session = (await createOnnxSession(ort, set)) as unknown as Session;
                const total = performance.now() - t0;
                await session.release();
                return { events, loaded, total };
              } finally {
                trace.sink = undefined;
              }
            };
            const sealedTraces: Traced[] = [];
            const plainTraces: Traced[] = [];
            for (let r = 0; r < rounds; r++) {
              plainTraces.push(await traced(false));
              sealedTraces.push(await traced(true));
            }
            printBreakdown('node', `${name} ${label}`, sealedTraces, plainTraces, { runtime: 'InferenceSession.create', load: 'openSealedFiles', plainLoad: 'fetch of the files' });
          }
        }
      }

      // transformers.js pipeline() ready (onnxruntime-node underneath), against two plain loads:
      // the first load of an app (from the static server into transformers.js's file cache, a fresh
      // cache folder each round: in Node it cannot load a remote .onnx without a cache) and a warm
      // one (the folder on local disk, which onnxruntime-node reads itself: the strictest baseline).
      const { env, pipeline } = await import('@huggingface/transformers');
      const { usePlainHost } = await import('../test/runtimes/transformers-run.js');
      const { useSealedFiles } = await import('../loader/index.js');
      const saved = { ...env };
      type Extractor = { dispose(): Promise<unknown> };
      const ready = (id: string) => async () => (await pipeline('feature-extraction', id, { dtype: 'fp32' })) as unknown as Extractor;
      const done = (x: Extractor) => x.dispose().then(() => undefined);
      const firstLoad: Sample[] = [];
      const warm: Sample[] = [];
      const sealed: Sample[] = [];
      for (let r = 0; r < rounds + 1; r++) {
        Object.assign(env, saved, { cacheDir: join(root, `tfjs-cache-${r}`) });
        usePlainHost(env, `${files}/`, { fs: true });
        const f = await measureNode(ready('plain/transformers-9mb'), done);
        Object.assign(env, saved, { localModelPath: join(root, 'www/plain'), allowRemoteModels: false, allowLocalModels: true, useBrowserCache: false, useFSCache: false, useCustomCache: false });
        const w = await measureNode(ready('transformers-9mb'), done);
        Object.assign(env, saved);
        const s = await measureNode(async () => {
          // A fresh model id per round, so nothing transformers.js memoised by id is reused.
          const handle = useSealedFiles(env as never, `sealed/tiny-${r}`, await openSealedFiles(`${files}/sealed/transformers-9mb/model.json`, options));
          const extractor = await ready(`sealed/tiny-${r}`)();
          handle.release();
          return extractor;
        }, done);
        if (r > 0) {
          firstLoad.push(f);
          warm.push(w);
          sealed.push(s);
        }
      }
      Object.assign(env, saved);
      row('node', 'transformers-9mb', 'pipeline() first', mbOf('transformers-9mb'), firstLoad, sealed);
      row('node', 'transformers-9mb', 'pipeline() disk', mbOf('transformers-9mb'), warm, sealed);
      const fresh = await freshProcessSamples(FRESH_TRANSFORMERS, rounds, { files, name: 'transformers-9mb', cacheRoot: root, token, keyServer });
      row('node', 'transformers-9mb', 'first, fresh proc', mbOf('transformers-9mb'), fresh.plain, fresh.sealed);
    }

    if (only !== 'node') {
      const { bundle } = await import('../test/helpers/bundle.js');
      const script = await bundle(join(here, 'lib/onnx-page.ts'), { format: 'esm', minify: true });
      const ortDist = join(ROOT, 'node_modules/onnxruntime-web/dist');
      const pageFiles: Record<string, Uint8Array | string> = { '/index.html': '<!doctype html><script type="module" src="/bench.js"></script>', '/bench.js': script };
      for (const f of await readdir(ortDist)) if (/^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/.test(f)) pageFiles[`/ort/${f}`] = new Uint8Array(await readFile(join(ortDist, f)));
      const bench = await openBenchPage(pageFiles, 'benchOnnx');
      try {
        const { page, cdp } = bench;
        type Entry = 'benchOnnx' | 'benchFiles';
        type Bench = Record<Entry, (sealed: boolean, url: string, paths: string[], token: string, keyServer: string) => Promise<number>>;
        const create = (target: PageTarget, sealedRun: boolean, name: string, entry: Entry = 'benchOnnx'): Promise<number> => {
          const url = sealedRun ? `${files}/sealed/${name}/model.json` : `${files}/plain/${name}`;
          return target.page.evaluate(({ entry, sealedRun, url, paths, token, keyServer }) => (globalThis as unknown as Bench)[entry](sealedRun, url, paths, token, keyServer), { entry, sealedRun, url, paths: sets.get(name)!.paths, token, keyServer });
        };
        const measureIn = async (target: PageTarget, sealedRun: boolean, name: string, entry: Entry = 'benchOnnx'): Promise<Sample> => {
          await target.cdp.send('HeapProfiler.collectGarbage');
          return measureRenderer(() => create(target, sealedRun, name, entry));
        };
        const measure = (sealedRun: boolean, name: string) => measureIn({ page, cdp }, sealedRun, name);
        for (const name of onnxSets) {
          const { plain, sealed } = await pairedRounds(rounds, () => measure(false, name), () => measure(true, name));
          row('chromium', name, 'ort-web create', mbOf(name), plain, sealed);
          // The rounds above share one page, whose earlier creates decide how much of a create's
          // memory is newly committed: each create again in a new browser context, after four
          // warm-up creates ending with the other kind (as bench/loader.ts's fresh page row).
          const fresh = await freshPageSamples(bench, rounds, (t, s) => create(t, s, name), (t, s) => measureIn(t, s, name));
          row('chromium', name, 'ort-web fresh page', mbOf(name), fresh.plain, fresh.sealed);
          // The files alone (fetched, or openSealedFiles), no runtime: the loader's own time and
          // peak, which a create's peak buries under the runtime's (a plain create's alone spans
          // 0–55 MB from one round to the next in one fresh page for Silero VAD: BENCH-LOG.md).
          const filesOnly = await pairedRounds(rounds, () => measureIn({ page, cdp }, false, name, 'benchFiles'), () => measureIn({ page, cdp }, true, name, 'benchFiles'));
          row('chromium', name, 'files only', mbOf(name), filesOnly.plain, filesOnly.sealed);
          const cryptoMs = await page.evaluate((bytes) => (globalThis as unknown as { benchCryptoAlone(b: number): Promise<number> }).benchCryptoAlone(bytes), sets.get(name)!.bytes);
          cryptoRow('chromium', name, 'ort-web create', cryptoMs, plain);
        }
      } finally {
        await bench.close();
      }
    }
    if (rows.length > 0) console.log(`\n${rows.join('\n')}`);
    console.log(`\nonnx bench: ${rounds} alternating rounds after one warm-up; times and peaks are medians, ratios the median of the per-round ratios (min–max in brackets)`);
    console.log('  plain = the same runtime given the same bytes from the same static server (transformers.js: "first" = from the static server into a fresh file cache, "disk" = the folder on local disk); sealed = openSealedFiles (key release, download, decryption, digests) + createOnnxSession / useSealedFiles');
    console.log('  pinned = sealed with modelId, keyId, sealing and keyServer set: the release starts beside the manifest\'s download (measured in the same rounds, after the sealed load)');
    console.log('  node peak: V8 heapUsed + arrayBuffers sampled every 2 ms (onnxruntime-node\'s native memory is not seen); chromium: renderer peak RSS (VmHWM after clear_refs)');
    console.log('  manifest given = sealed with options.manifest (the app\'s copy of model.json): no manifest download, so the release, header and shards start at once (measured in the same rounds, after the pinned load)');
    console.log('  chromium files only: the same rounds without the runtime: fetch of the files (plain) against openSealedFiles (sealed), the bytes dropped after; the loader\'s own time and peak');
    console.log('  chromium fresh page: each create in a new browser context after four warm-up creates (ending with the other kind), at most 5 rounds; read its peak, not its times');
    console.log('  node fresh proc: each create (transformers.js: first pipeline()) in a new Node process after four warm-ups (ending with the other kind), at most 5 rounds; peak = that process\'s peak RSS (VmHWM after clear_refs), native heaps included; read its peak, not its times');
    console.log('  crypto alone: opening the set\'s size of sealed chunks (AES-256-GCM, SHA-256 per chunk, chunk digest) on the loading thread, no network, median of 5 (node:crypto in Node, WebCrypto in Chromium)');
    console.log('  download floor (Node): one sealed file of the set\'s size from the same static server, downloaded whole (arrayBuffer) against downloaded and opened as its pieces arrive (the crypto between socket reads, no key release), paired rounds, medians; their difference against the plain create is the ratio that work alone would give');
    console.log('  goals (issue 12): time ≤ 1.1× in Node, ≤ 1.25× in Chromium; peak memory ≤ 1.2×');
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
