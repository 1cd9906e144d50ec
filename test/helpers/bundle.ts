// Bundles a browser entry (format/, loader/ or a test page script) with esbuild into one string,
// so browser tests run the same TypeScript the Node tests run, without writing files.
import { build } from 'esbuild';

/** How to bundle: ESM for `<script type="module">`, IIFE (optionally assigning a global) for a plain script. */
export interface BundleOptions {
  format?: 'esm' | 'iife';
  /** For IIFE: the global variable that receives the entry's exports. */
  globalName?: string;
  minify?: boolean;
  /** esbuild `define` replacements, e.g. { 'process.env.NODE_ENV': '"production"' }. */
  define?: Record<string, string>;
  /** esbuild `alias` replacements of package names, e.g. { '@huggingface/transformers': 'transformers-3' }. */
  alias?: Record<string, string>;
}

/** Bundles `entry` (a file path) for the browser platform and returns the JavaScript as a string. */
export async function bundle(entry: string, options: BundleOptions = {}): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: 'browser',
    target: 'es2022',
    format: options.format ?? 'esm',
    ...(options.globalName === undefined ? {} : { globalName: options.globalName }),
    minify: options.minify ?? false,
    define: options.define ?? {},
    alias: options.alias ?? {},
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}
