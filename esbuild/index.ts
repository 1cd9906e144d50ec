// `modelseal/esbuild`: the Vite plugin's job for esbuild. At the end of a build that wrote its
// output, seals `models` into the outdir and scans the outdir; plaintext model files fail the
// build. esbuild is an optional peer dependency: only its types are imported.

import { dirname, resolve } from 'node:path';
import type { Plugin } from 'esbuild';
import { checkBuildGuardOptions, guardOutput, sealIntoOutput, skippedWarnings, type BuildGuardOptions } from '../cli/build-guard.js';

/** Options of the esbuild plugin: `out` and `ignore` are relative to the outdir, other paths to absWorkingDir. */
export type ModelsealEsbuildOptions = BuildGuardOptions;

/**
 * The modelseal esbuild plugin: seals `models` into the outdir (or the outfile's folder) and fails
 * the build when that folder holds plaintext model files.
 * @example
 * import { build } from 'esbuild';
 * import { modelseal } from 'modelseal/esbuild';
 * await build({ entryPoints: ['src/main.ts'], bundle: true, outdir: 'dist', plugins: [modelseal({ models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }] })] });
 */
export function modelseal(options: ModelsealEsbuildOptions = {}): Plugin {
  checkBuildGuardOptions(options, 'modelseal()');
  return {
    name: 'modelseal',
    setup(build) {
      const initial = build.initialOptions;
      const root = initial.absWorkingDir ?? process.cwd();
      build.onEnd(async (result) => {
        if (result.errors.length > 0 || initial.write === false) return undefined;
        const outDir = initial.outdir ? resolve(root, initial.outdir) : initial.outfile ? dirname(resolve(root, initial.outfile)) : undefined;
        if (!outDir) return { errors: [{ text: 'modelseal: set outdir (or outfile) so the plugin knows which folder ships' }] };
        try {
          await sealIntoOutput(options, root, outDir);
          if (options.scan === false) return undefined;
          const report = await guardOutput(options, root, outDir);
          return { warnings: skippedWarnings(report, outDir).map((text) => ({ text })) };
        } catch (err) {
          return { errors: [{ text: (err as Error).message, detail: err }] };
        }
      });
    },
  };
}

export default modelseal;
