// Builds the demo into dist/demo/ (shipped in the npm package, so `modelseal demo` works from the
// tarball): the bundled page (esbuild, no framework), the sample picture, and the plain BlazeFace
// model from @vladmandic/human (MIT) that `modelseal demo` seals at start. Run by `npm run build`.
import { build } from 'esbuild';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'dist', 'demo');
const human = join(root, 'node_modules', '@vladmandic', 'human');

await mkdir(join(out, 'web'), { recursive: true });
await mkdir(join(out, 'model'), { recursive: true });
await build({
  entryPoints: [join(here, 'src', 'main.ts')],
  outfile: join(out, 'web', 'main.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(join(here, 'index.html'), join(out, 'web', 'index.html'));
await copyFile(join(human, 'assets', 'samples.jpg'), join(out, 'web', 'sample.jpg'));
await copyFile(join(human, 'models', 'blazeface.json'), join(out, 'model', 'model.json'));
await copyFile(join(human, 'models', 'blazeface.bin'), join(out, 'model', 'blazeface.bin'));
const license = await readFile(join(human, 'LICENSE'), 'utf8');
await writeFile(join(out, 'NOTICE.md'), [
  '# Third-party files in dist/demo',
  '',
  'model/ (BlazeFace, converted by Vladimir Mandic from Google MediaPipe) and web/sample.jpg come from',
  'the npm package @vladmandic/human, under this license:',
  '',
  '```',
  license.trim(),
  '```',
  '',
].join('\n'));
