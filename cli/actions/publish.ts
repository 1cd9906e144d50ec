// What `modelseal keys publish` does (defined in cli/commands/publish.ts): record an existing sealing
// in the keystore after checking every file, so the key server releases its key (recovery when a
// record was lost).

import { note, printJson } from '../output.js';
import { openStore } from '../store.js';
import { collectVerify } from './verify.js';

/** `keys publish <model.json>`: verify every file, then record the sealing. */
export async function keysPublish(manifestPath: string, opts: { store?: string; masterKey?: string; json?: boolean }): Promise<void> {
  const summary = await collectVerify(manifestPath, { ...(opts.store === undefined ? {} : { store: opts.store }), ...(opts.masterKey === undefined ? {} : { masterKey: opts.masterKey }), json: opts.json ?? false, requirePublished: false });
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  const added = await store.publish(summary.modelId, summary.keyId, summary.sealing);
  if (opts.json) printJson({ modelId: summary.modelId, keyId: summary.keyId, sealing: summary.sealing, added });
  note(added
    ? `published sealing ${summary.sealing} of ${summary.modelId} (key ${summary.keyId}): the key server releases its key from now on`
    : `sealing ${summary.sealing} of ${summary.modelId} (key ${summary.keyId}) was already published`);
}
