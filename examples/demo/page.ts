// Builds the demo page (examples/web) into examples/web/dist/ with esbuild, only when a source is newer
// than the last build: esbuild's metafile lists every file the bundle read (the page's sources, the
// loader, the format, tfjs), so a change to any of them, and only that, triggers a rebuild.

import { build } from 'esbuild';
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
const WEB = join(ROOT, 'examples', 'web');
/** Where the built page goes (git-ignored; not part of the npm package). */
export const PAGE_DIR = join(WEB, 'dist');
/** The sample picture the page runs the model on, from @vladmandic/human (MIT). */
const SAMPLE = join(ROOT, 'node_modules', '@vladmandic', 'human', 'assets', 'samples.jpg');
const META = join(PAGE_DIR, 'meta.json');

/** The files the page is served from, relative to PAGE_DIR. */
export const PAGE_FILES = ['index.html', 'main.js', 'main.js.LEGAL.txt', 'sample.jpg'];

async function mtime(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.mtimeMs;
}

/** True when a page file is missing or any input of the last build changed after it. */
async function stale(): Promise<boolean> {
  const built = await mtime(META);
  if (built === undefined) return true;
  for (const f of PAGE_FILES) if ((await mtime(join(PAGE_DIR, f))) === undefined) return true;
  let inputs: string[];
  try {
    inputs = JSON.parse(await readFile(META, 'utf8')) as string[];
  } catch {
    return true;
  }
  for (const input of inputs) {
    const t = await mtime(join(ROOT, input));
    if (t === undefined || t > built) return true;
  }
  return false;
}

/** Writes through a temp name and a rename, so two demos starting at once never serve a torn file. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Bundles the page when stale; returns true when it built, false when the last build was current. */
export async function buildPage(): Promise<boolean> {
  if (!(await stale())) return false;
  await mkdir(PAGE_DIR, { recursive: true });
  const result = await build({
    entryPoints: [join(WEB, 'src', 'main.ts')],
    outfile: join(PAGE_DIR, 'main.js'),
    absWorkingDir: ROOT,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'linked',
    logLevel: 'warning',
    metafile: true,
    write: false,
  });
  for (const file of result.outputFiles) {
    await mkdir(dirname(file.path), { recursive: true });
    await writeAtomic(file.path, file.contents);
  }
  const copied = [[join(WEB, 'index.html'), 'index.html'], [SAMPLE, 'sample.jpg']] as const;
  for (const [from, to] of copied) {
    const tmp = join(PAGE_DIR, `${to}.${process.pid}.tmp`);
    await copyFile(from, tmp);
    await rename(tmp, join(PAGE_DIR, to));
  }
  // The metafile names inputs relative to absWorkingDir ("(disabled):fs" is a browser stub, no file);
  // the copied files and this builder count as inputs too.
  const inputs = [...Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('(disabled):')), 'examples/web/index.html', 'examples/demo/page.ts'];
  await writeAtomic(META, JSON.stringify(inputs));
  return true;
}
