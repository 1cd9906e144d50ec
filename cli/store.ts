// Opening the keystore from the CLI: --store, else $MODELSEAL_HOME, else ./.modelseal.

import { isModelsealError } from '../format/errors.js';
import { defaultStoreDir, FileKeyStore } from '../keyserver/keystore.js';
import { onStaleLockReclaimed } from '../keyserver/store-lock.js';
import { CliError } from './errors.js';
import { note } from './output.js';

onStaleLockReclaimed(note);

/** True when MODELSEAL_NO_CREATE forbids every command to create a keystore (CI with a mounted store). */
export function storeCreationForbidden(): boolean {
  const v = process.env['MODELSEAL_NO_CREATE'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * Opens the keystore; with `create`, makes it on first use and says so on stderr, unless
 * MODELSEAL_NO_CREATE is set. `refusal` names the flag that turned creation off, for the message.
 */
export async function openStore(explicit: string | undefined, options: { create?: boolean; refusal?: string } = {}): Promise<FileKeyStore> {
  const dir = defaultStoreDir(explicit);
  const forbidden = storeCreationForbidden();
  const create = (options.create ?? false) && !forbidden;
  try {
    const { store, created } = await FileKeyStore.open(dir, { create });
    if (created) note(`created keystore at ${store.dir} (keep master.key secret and backed up)`);
    return store;
  } catch (err) {
    const refusedBy = forbidden && options.create ? 'MODELSEAL_NO_CREATE' : options.create === false && options.refusal ? options.refusal : undefined;
    if (refusedBy && isModelsealError(err, 'key_not_found')) {
      throw new CliError('key_not_found', `no keystore at ${dir}, and ${refusedBy} forbids creating one`, {
        cause: err,
        file: dir,
        hint: 'mount the real keystore there (master.key, keys.json, token.secret), or point --store / MODELSEAL_HOME at it',
      });
    }
    throw err;
  }
}
