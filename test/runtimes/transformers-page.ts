// The page script of the Chromium transformers.js test, bundled by esbuild with transformers.js's web
// build (4.x, or 3.x and 2.x through aliases) and the loader. The runtime's wasm comes from the test's
// static server (WASM_PATHS, defined at bundling: the `wasmPaths` value that version's
// onnxruntime-web takes, with paths relative to the page), never from a CDN.
import { env, pipeline, RawImage } from '@huggingface/transformers';
import { openSealedFiles } from '../../loader/index.js';
import { classifyWith, embed, generate, runSealed, usePlainHost, type RawImageClass } from './transformers-run.js';

declare const WASM_PATHS: string | Record<string, string>;
const absolute = (path: string) => new URL(path, location.href).href;
const wasm = env.backends.onnx.wasm!;
wasm.numThreads = 1;
wasm.wasmPaths = (typeof WASM_PATHS === 'string' ? absolute(WASM_PATHS) : Object.fromEntries(Object.entries(WASM_PATHS).map(([k, v]) => [k, absolute(v)]))) as typeof wasm.wasmPaths;

const RUNS = { embed, generate, classify: classifyWith(RawImage as unknown as RawImageClass) };
type Task = keyof typeof RUNS;

/** What the test calls through page.evaluate. */
const transformersTest = {
  /** The transformers.js version this page was bundled with. */
  version: (): string => env.version,
  /** Runs the plain folder `name` from `host`: embeddings, or with `task` 'generate' the generated texts, 'classify' the image labels. */
  async plain(host: string, name: string, task: Task = 'embed'): Promise<unknown[]> {
    usePlainHost(env, host, { browser: true });
    return RUNS[task](pipeline, `plain/${name}`, 'wasm');
  },
  /** The same run on the sealed folder at `url`, through openSealedFiles and useSealedFiles. */
  async sealed(url: string, token: string, keyServer: string, name: string, task: Task = 'embed'): Promise<unknown[]> {
    const files = await openSealedFiles(url, { token, keyServer });
    return runSealed(env, pipeline, `sealed-org/${name}`, files, RUNS[task], 'wasm');
  },
  async storage(): Promise<{ caches: string[]; entries: string[]; databases: string[] }> {
    const names = await caches.keys();
    const entries: string[] = [];
    for (const name of names) for (const request of await (await caches.open(name)).keys()) entries.push(request.url);
    const databases = (await indexedDB.databases()).map((d) => d.name ?? '');
    return { caches: names, entries, databases };
  },
};
(globalThis as unknown as { transformersTest: typeof transformersTest }).transformersTest = transformersTest;
