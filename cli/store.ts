// Opening the keystore from the CLI: --store, else $MODELSEAL_HOME, else ./.modelseal.

import { configFromEnv, resolveConfig } from '../keyserver/config.js';
import { defaultStoreDir, FileKeyStore } from '../keyserver/keystore.js';
import { note } from './output.js';

/**
 * With MODELSEAL_REDIS_URL set, a hook that tells the key servers on that Redis to re-read the
 * keystore after each write (so a revocation reaches every replica at once); else undefined.
 */
function redisNotifier(): (() => Promise<void>) | undefined {
  let config;
  try {
    const env = configFromEnv();
    if (env.redis === undefined) return undefined;
    config = resolveConfig({ redis: env.redis, redisKeyPrefix: env.redisKeyPrefix });
  } catch (err) {
    note(`warning: MODELSEAL_REDIS_URL is ignored: ${(err as Error).message}`);
    return undefined;
  }
  const url = config.redis!;
  const keyPrefix = config.redisKeyPrefix;
  return async () => {
    // Loaded only here: the Redis client costs ~0.2 s to import, which no other command should pay.
    const { notifyKeystoreChange } = await import('../keyserver/redis.js');
    if (!(await notifyKeystoreChange({ url, keyPrefix, commandTimeoutMs: 2000 }))) {
      note('warning: could not notify the key servers over Redis (MODELSEAL_REDIS_URL); they see the change at their next poll (reloadIntervalMs)');
    }
  };
}

/** Opens the keystore; with `create`, makes it on first use and says so on stderr. */
export async function openStore(explicit: string | undefined, options: { create?: boolean } = {}): Promise<FileKeyStore> {
  const dir = defaultStoreDir(explicit);
  const onWrite = redisNotifier();
  const { store, created } = await FileKeyStore.open(dir, { create: options.create ?? false, ...(onWrite ? { onWrite } : {}) });
  if (created) note(`created keystore at ${store.dir} (keep master.key secret and backed up)`);
  return store;
}
