// `modelseal keys publish <sealed model.json>`: record an existing sealing in the keystore after
// checking every file, so the key server releases its key (recovery when a record was lost).

import { Command } from 'commander';
import { note, printJson } from '../output.js';
import { parseMasterKey } from '../options.js';
import { MASTER_KEY_HELP, openStore } from '../store.js';
import { collectVerify } from './verify.js';

/** The `keys publish` command. */
export const publish = new Command('publish')
  .description('check every file of a sealed model with the keystore, then record its sealing so the key server releases its key')
  .argument('<model.json>', 'the sealed model.json (its header and shards next to it)')
  .option('--store <dir>', 'keystore folder (default: $MODELSEAL_HOME, else ./.modelseal)')
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .option('--json', 'print what was recorded as JSON on stdout')
  .action(async (manifestPath: string, opts: { store?: string; masterKey?: string; json?: boolean }) => {
    const summary = await collectVerify(manifestPath, { ...(opts.store === undefined ? {} : { store: opts.store }), ...(opts.masterKey === undefined ? {} : { masterKey: opts.masterKey }), json: opts.json ?? false, requirePublished: false });
    const store = await openStore(opts.store, { masterKey: opts.masterKey });
    const added = await store.publish(summary.modelId, summary.keyId, summary.sealing);
    if (opts.json) printJson({ modelId: summary.modelId, keyId: summary.keyId, sealing: summary.sealing, added });
    note(added
      ? `published sealing ${summary.sealing} of ${summary.modelId} (key ${summary.keyId}): the key server releases its key from now on`
      : `sealing ${summary.sealing} of ${summary.modelId} (key ${summary.keyId}) was already published`);
  });
