// transformers.js in Chromium: pipeline('feature-extraction') ready time, sealed against plain, in
// one run (Node is in bench/onnx.ts). The web build with its own onnxruntime-web (wasm served from
// this bench's page server); the model folders are the ones the tests build
// (test/runtimes/onnx-models.ts): the tiny folder of the tests and a 9 MB one (a wide embedding
// table in onnx/model.onnx_data). No transformers.js model folder ships in an npm package this
// machine can install, so there is no real model here. Never asserts: it reports.
//
// Run: npx tsx bench/transformers.ts [--rounds N] [--quick]
// The static file server and the key server run in child processes of their own, so their work does
// not count against the page (they share the machine's two cores with Chromium all the same).

import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureRenderer, ratioLine, type Sample } from './lib/measure.js';
import { startSealedSets } from './lib/sealed-sets.js';
import { openBenchPage } from './lib/bench-page.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const roundsArg = args.indexOf('--rounds');
  const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 2 : 7;

  const { tinyTransformersFolder } = await import('../test/runtimes/onnx-models.js');
  const served = await startSealedSets('transformers', {
    'tiny': tinyTransformersFolder({ externalData: true }),
    'transformers-9mb': tinyTransformersFolder({ externalData: true, hidden: 131072 }),
  });
  const { files, keyServer, token, bytes: sets } = served;
  try {
    const { bundle } = await import('../test/helpers/bundle.js');
    const script = await bundle(join(here, 'lib/transformers-page.ts'), { format: 'esm', minify: true });
    // The onnxruntime-web copy transformers.js itself resolves (it pins its own version).
    const ortDist = dirname(createRequire(createRequire(join(ROOT, 'package.json')).resolve('@huggingface/transformers')).resolve('onnxruntime-web'));
    const pageFiles: Record<string, Uint8Array | string> = { '/index.html': '<!doctype html><script type="module" src="/bench.js"></script>', '/bench.js': script };
    for (const f of await readdir(ortDist)) if (/^ort-wasm-simd-threaded\.asyncify\.(wasm|mjs)$/.test(f)) pageFiles[`/tfort/${f}`] = new Uint8Array(await readFile(join(ortDist, f)));
    const bench = await openBenchPage(pageFiles, 'benchTransformers');
    try {
      const { page, cdp } = bench;
      type Bench = { benchTransformers(mode: string, host: string, modelId: string, url: string, token: string, keyServer: string): Promise<number> };
      const measure = async (mode: 'first' | 'cached' | 'sealed' | 'offline', modelId: string, name: string): Promise<Sample> => {
        await cdp.send('HeapProfiler.collectGarbage');
        const args = { mode, host: `${files}/`, modelId, url: `${files}/sealed/${name}/model.json`, token, keyServer };
        return measureRenderer(() => page.evaluate((a) => (globalThis as unknown as Bench).benchTransformers(a.mode, a.host, a.modelId, a.url, a.token, a.keyServer), args));
      };
      for (const name of sets.keys()) {
        const first: Sample[] = [];
        const cached: Sample[] = [];
        const sealed: Sample[] = [];
        const offline: Sample[] = [];
        // An online load with offline: true stores the lease (its copy and key) the offline rows read.
        await measure('offline', `sealed-bench/${name}-lease`, name);
        for (let r = 0; r < rounds + 1; r++) {
          // Round 0 warms up the runtime's wasm, the JIT and the connections; it is not counted.
          const f = await measure('first', `plain/${name}`, name);
          const c = await measure('cached', `plain/${name}`, name);
          // A fresh model id per round, so nothing transformers.js keeps by id is reused.
          const s = await measure('sealed', `sealed-bench/${name}-${r}`, name);
          const o = await measure('offline', `sealed-bench/${name}-offline-${r}`, name);
          if (r > 0) {
            first.push(f);
            cached.push(c);
            sealed.push(s);
            offline.push(o);
          }
        }
        const bytes = sets.get(name)!;
        const size = (bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`).padStart(8);
        console.log(ratioLine(`chromium ${name.padEnd(17)} ${size} pipeline() first `, first, sealed));
        console.log(ratioLine(`chromium ${name.padEnd(17)} ${size} pipeline() cached`, cached, sealed));
        console.log(ratioLine(`chromium ${name.padEnd(17)} ${size} offline vs cached`, cached, offline));
      }
    } finally {
      await bench.close();
    }
    console.log(`\ntransformers bench: ${rounds} rounds (first, cached, sealed, offline in turn) after one warm-up; times and peaks are medians, ratios the median of the per-round ratios (min–max in brackets)`);
    console.log('  plain "first" = pipeline() from the static server with Cache Storage emptied first (fills the cache); "cached" = the same from the Cache Storage copy; sealed = openSealedFiles (key release, download, decryption) + useSealedFiles + pipeline()');
    console.log('  "offline vs cached": sealed with offline: true within an offline lease (the ciphertext from Cache Storage, the stored key, no request; decryption as online) against the plain cached load');
    console.log('  peak: renderer peak RSS above its pre-load RSS (VmHWM after clear_refs); transformers.js web build, onnxruntime-web wasm, one thread');
  } finally {
    await served.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
