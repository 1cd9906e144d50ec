// `modelseal scan <dir…>`: the definition; the work (the build guard) is in cli/actions/scan.ts.

import { Command } from 'commander';
import type { ScanCommandOptions } from '../actions/scan.js';

/** The `scan` command. */
export const scanCommand = new Command('scan')
  .description('find plaintext model files (TF.js, ONNX, TFLite, safetensors, GGUF) in a build output; exit 1 if any')
  .argument('<dir...>', 'build output folders (or files) to scan')
  .option('--ignore <pattern>', 'gitignore-style pattern to leave out, as in .modelsealignore (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
  .option('--json', 'print the report as JSON on stdout')
  .action(async (paths: string[], opts: ScanCommandOptions) => {
    const { collectScan, printScan } = await import('../actions/scan.js');
    printScan(await collectScan(paths, opts), opts);
  });
