// `modelseal open <sealed model.json> --out <dir>`: the definition; the work is in cli/actions/open.ts.

import { Command } from 'commander';
import type { OpenCommandOptions } from '../actions/open.js';
import { masterKeyOption, storeOption } from '../options.js';

/** The `open` command. */
export const openCommand = new Command('open')
  .description('decrypt a sealed model back into its original files (a TF.js model.json and weight files, or every sealed file), byte for byte')
  .argument('<model.json>', 'the sealed model.json')
  .requiredOption('--out <dir>', 'output folder (created; must be absent or empty unless --force)')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--force', 'replace a non-empty --out folder (atomically)')
  .option('--json', 'print a machine-readable summary on stdout')
  .action(async (manifestPath: string, opts: OpenCommandOptions) => {
    const { collectOpen, printOpen } = await import('../actions/open.js');
    printOpen(await collectOpen(manifestPath, opts), opts);
  });
