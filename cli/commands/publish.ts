// `modelseal keys publish <sealed model.json>`: the definition; the work is in cli/actions/publish.ts.

import { Command } from 'commander';
import { masterKeyOption, storeOption } from '../options.js';

/** The `keys publish` command. */
export const publish = new Command('publish')
  .description('check every file of a sealed model with the keystore, then record its sealing so the key server releases its key')
  .argument('<model.json>', 'the sealed model.json (its header and shards next to it)')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--json', 'print what was recorded as JSON on stdout')
  .action(async (manifestPath: string, opts: { store?: string; masterKey?: string; json?: boolean }) => {
    const { keysPublish } = await import('../actions/publish.js');
    await keysPublish(manifestPath, opts);
  });
