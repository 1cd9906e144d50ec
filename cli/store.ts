// Opening the keystore from the CLI: --store, else $MODELSEAL_HOME, else ./.modelseal.

import { defaultStoreDir, FileKeyStore } from '../keyserver/keystore.js';
import { note } from './output.js';

/** Opens the keystore; with `create`, makes it on first use and says so on stderr. */
export async function openStore(explicit: string | undefined, options: { create?: boolean } = {}): Promise<FileKeyStore> {
  const dir = defaultStoreDir(explicit);
  const { store, created } = await FileKeyStore.open(dir, { create: options.create ?? false });
  if (created) note(`created keystore at ${store.dir} (keep master.key secret and backed up)`);
  return store;
}
