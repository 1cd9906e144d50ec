// `modelseal/vite`: seals TF.js models into the bundle output at build time, then scans the
// written output and fails the build when plaintext model files are in it (docs/BUILD.md).
// Vite is an optional peer dependency: only its types are imported.

import { relative, resolve } from 'node:path';
import type { Plugin, ResolvedConfig } from 'vite';
import { checkBuildGuardOptions, guardOutput, sealIntoOutput, skippedWarnings, type BuildGuardOptions, type BuildModel } from '../cli/build-guard.js';

/** One model to seal into the build output (`out` is relative to Vite's outDir). */
export type ModelsealViteModel = BuildModel;
/** Options of the `modelseal()` Vite plugin; paths are relative to Vite's root. */
export type ModelsealViteOptions = BuildGuardOptions;

/**
 * The modelseal Vite plugin: seals `models` into the build output and fails the build when the
 * written output holds plaintext model files.
 * @example
 * // vite.config.ts
 * import { modelseal } from 'modelseal/vite';
 * export default { plugins: [modelseal({ models: [{ model: 'models/face/model.json', modelId: 'face', out: 'models/face' }] })] };
 */
export function modelseal(options: ModelsealViteOptions = {}): Plugin {
  checkBuildGuardOptions(options, 'modelseal()');
  let config: ResolvedConfig | undefined;
  let outDir = '';
  let written = false;
  let sealed = 0;
  return {
    name: 'modelseal',
    apply: 'build',
    configResolved(resolved) {
      config = resolved;
      outDir = resolve(resolved.root, resolved.build.outDir);
    },
    writeBundle: {
      order: 'post',
      sequential: true,
      async handler() {
        sealed = (await sealIntoOutput(options, config?.root ?? process.cwd(), outDir)).length;
        written = true;
      },
    },
    closeBundle: {
      order: 'post',
      sequential: true,
      async handler() {
        // After every plugin's writeBundle, so files other plugins copied are scanned too.
        if (!written || options.scan === false) return;
        written = false;
        const root = config?.root ?? process.cwd();
        let report;
        try {
          report = await guardOutput(options, root, outDir);
        } catch (err) {
          // In `vite build --watch` an error thrown here ends the watcher without printing it
          // (Rolldown, Vite 8.4): log it and keep watching, as esbuild's watch mode does.
          if (!config?.build.watch) throw err;
          config.logger.error(`modelseal: ${(err as Error).message}`);
          return;
        }
        for (const line of skippedWarnings(report, outDir)) config?.logger.warn(line);
        config?.logger.info(`modelseal: sealed ${sealed} model${sealed === 1 ? '' : 's'}; scanned ${report.files} files in ${relative(root, outDir) || outDir}: no plaintext model files`);
      },
    },
  };
}

export default modelseal;
