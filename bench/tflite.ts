// MediaPipe Tasks and LiteRT.js in Chromium: the time until a FaceDetector (createFromOptions) or a
// compiled model (loadAndCompile) exists, sealed against plain, in one run. Plain = the runtime
// fetching the same .tflite from the same static server by URL (modelAssetPath, loadAndCompile(url));
// sealed = openSealedFileStream (key release, download, decryption) and the runtime reading its
// reader. Models: BlazeFace short range (229 KB) and full range (1.1 MB) from @mediapipe/face_detection;
// MediaPipe gets the short-range one with the metadata it needs (test/runtimes/mediapipe-fixtures.ts).
// The runtimes' wasm is loaded once, before any round. Never asserts: it reports.
//
// Run: npx tsx bench/tflite.ts [--rounds N] [--quick]

import { readFile } from 'node:fs/promises';
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
  const rounds = roundsArg >= 0 ? Number(args[roundsArg + 1]) : quick ? 2 : 9;

  const { FACE_MODEL, faceModelForTasks, filesOf } = await import('../test/runtimes/mediapipe-fixtures.js');
  const file = 'model.tflite';
  const served = await startSealedSets('tflite', {
    'face-short-tasks': new Map([[file, await faceModelForTasks()]]),
    'face-short': new Map([[file, new Uint8Array(await readFile(FACE_MODEL))]]),
    'face-full': new Map([[file, new Uint8Array(await readFile(join(dirname(FACE_MODEL), 'face_detection_full_range.tflite')))]]),
  }, { 'face-short-tasks': file, 'face-short': file, 'face-full': file });
  const { files, keyServer, token, bytes } = served;
  try {
    const { bundle } = await import('../test/helpers/bundle.js');
    const bench = await openBenchPage({
      '/index.html': '<!doctype html><script type="module" src="/bench.js"></script>',
      '/bench.js': await bundle(join(here, 'lib/tflite-page.ts'), { format: 'esm', minify: true }),
      ...(await filesOf(join(ROOT, 'node_modules/@mediapipe/tasks-vision/wasm'), /^vision_wasm_(nosimd_)?internal\.(js|wasm)$/, '/mediapipe/')),
      ...(await filesOf(join(ROOT, 'node_modules/@litertjs/core/wasm'), /^litert_wasm_(compat_)?internal\.(js|wasm)$/, '/litert/')),
    }, 'benchTflite');
    try {
      const { page, cdp } = bench;
      type Bench = { benchTflite(runtime: string, sealed: boolean, url: string, path: string, token: string, keyServer: string): Promise<number> };
      const measure = async (runtime: string, sealed: boolean, name: string): Promise<Sample> => {
        await cdp.send('HeapProfiler.collectGarbage');
        const a = { runtime, sealed, url: sealed ? `${files}/sealed/${name}/model.json` : `${files}/plain/${name}/${file}`, path: file, token, keyServer };
        return measureRenderer(() => page.evaluate((x) => (globalThis as unknown as Bench).benchTflite(x.runtime, x.sealed, x.url, x.path, x.token, x.keyServer), a));
      };
      for (const [runtime, name] of [['mediapipe', 'face-short-tasks'], ['litert', 'face-short'], ['litert', 'face-full']] as const) {
        const plain: Sample[] = [];
        const sealed: Sample[] = [];
        for (let r = 0; r < rounds + 1; r++) {
          // Round 0 warms up the JIT and the connections; it is not counted.
          const p = await measure(runtime, false, name);
          const s = await measure(runtime, true, name);
          if (r > 0) {
            plain.push(p);
            sealed.push(s);
          }
        }
        const size = `${(bytes.get(name)! / 1024).toFixed(0)} KB`.padStart(8);
        console.log(ratioLine(`chromium ${runtime.padEnd(9)} ${name.padEnd(16)} ${size} create`, plain, sealed));
      }
    } finally {
      await bench.close();
    }
    console.log(`\ntflite bench: ${rounds} alternating rounds after one warm-up; times and peaks are medians, ratios the median of the per-round ratios (min–max in brackets)`);
    console.log('  plain = the runtime fetching the .tflite by URL from the static server; sealed = openSealedFileStream (key release, download, decryption) + the runtime reading its reader');
    console.log('  peak: renderer peak RSS above its pre-load RSS (VmHWM after clear_refs); CPU (MediaPipe delegate CPU, LiteRT.js accelerator wasm)');
  } finally {
    await served.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
