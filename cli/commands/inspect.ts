// `modelseal inspect <sealed model.json>`: the definition; the work is in cli/actions/inspect.ts.

import { Command } from 'commander';
import type { InspectCommandOptions } from '../actions/inspect.js';
import { masterKeyOption, storeOption } from '../options.js';

/** The `inspect` command. */
export const inspectCommand = new Command('inspect')
  .description('show a sealed model\'s public facts, and its private ones (kind; format, weights, dtypes; or the file list) when the key is in the store')
  .argument('<model.json>', 'the sealed model.json')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--json', 'print the facts as JSON on stdout')
  .action(async (manifestPath: string, opts: InspectCommandOptions) => {
    const { collectInspect, printInspect } = await import('../actions/inspect.js');
    printInspect(await collectInspect(manifestPath, opts), opts);
  });
