// `modelseal verify <sealed model.json>`: the definition; the work is in cli/actions/verify.ts.

import { Command } from 'commander';
import type { VerifyCommandOptions } from '../actions/verify.js';
import { masterKeyOption, storeOption } from '../options.js';

/** The `verify` command. */
export const verifyCommand = new Command('verify')
  .description('decrypt and check every file of a sealed model without writing plaintext (exit 0 when intact)')
  .argument('<model.json>', 'the sealed model.json')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--json', 'print the verdict as JSON on stdout ({"ok": false, "error": …} on failure)')
  .action(async (manifestPath: string, opts: VerifyCommandOptions) => {
    const { runVerify } = await import('../actions/verify.js');
    await runVerify(manifestPath, opts);
  });
