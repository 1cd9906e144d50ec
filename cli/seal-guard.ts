// `seal` refuses to write its output into a folder that also holds the plaintext model it seals
// (`--out public/model` with the model under public/): copying that folder to a host would ship
// the plaintext next to the sealed files. docs/CLI.md §Output beside the plaintext.

import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { CliError } from './errors.js';

/**
 * Folder names that static hosts and build tools publish whole. A folder holding both the output
 * and the model is refused when it, or one of its parents inside the project, has one of these
 * names; above the project (a folder with package.json or .git) nothing is published whole.
 */
export const PUBLISHED_FOLDER_NAMES = ['public', 'static', 'dist', 'build', 'out', 'www', 'wwwroot', 'htdocs', 'public_html', 'site', '_site'];

const inside = (child: string, parent: string): boolean => {
  const back = relative(parent, child);
  return back === '' || (!back.startsWith(`..${sep}`) && back !== '..' && !back.startsWith(sep) && !/^[A-Za-z]:/.test(back));
};

// The real path of `p`, or of its nearest existing parent joined with the rest (--out may not exist yet).
async function realish(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : resolve(await realish(parent), basename(abs));
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/**
 * Throws `plaintext_exposed` when the sealed output would sit in a published folder together with
 * the plaintext model (unless `allowInsideSource`): the output inside the model's folder, the model
 * inside the output, or both under a folder named like a web root (PUBLISHED_FOLDER_NAMES).
 */
export async function refuseOutputBesidePlaintext(modelPath: string, opts: { out: string; allowInsideSource?: boolean }): Promise<void> {
  if (opts.allowInsideSource) return;
  const modelDir = dirname(await realish(modelPath));
  const out = await realish(opts.out);
  const refuse = (why: string, folder: string): never => {
    throw new CliError('plaintext_exposed', `refusing to write the sealed output ${out} ${why}`, {
      file: out,
      hint: `write --out outside ${folder} (e.g. sealed/<model>) and keep the plaintext model out of what you publish, or pass --allow-inside-source if ${folder} is never published`,
    });
  };
  if (inside(out, modelDir)) refuse(`inside ${modelDir}, the folder of the plaintext model ${modelPath}`, modelDir);
  if (inside(modelDir, out)) refuse(`around the plaintext model ${modelPath}`, out);
  // The smallest folder holding both, then its parents up to the project root.
  let common = out;
  while (!inside(modelDir, common)) common = dirname(common);
  for (let dir = common; ; dir = dirname(dir)) {
    if (await exists(resolve(dir, 'package.json')) || await exists(resolve(dir, '.git'))) break;
    if (PUBLISHED_FOLDER_NAMES.includes(basename(dir).toLowerCase())) {
      refuse(`in ${dir}, which also holds the plaintext model ${modelPath}: a published folder named "${basename(dir)}" would ship both`, dir);
    }
    if (dirname(dir) === dir) break;
  }
}
