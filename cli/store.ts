// Opening the keystore from the CLI: --store, else $MODELSEAL_HOME, else ./.modelseal.

import { isModelsealError } from '../format/errors.js';
import { configFromEnv, resolveConfig } from '../keyserver/config.js';
import { defaultStoreDir, FileKeyStore } from '../keystore/file-store.js';
import { openMasterKey } from '../keystore/master/index.js';
import { onStaleLockReclaimed } from '../keystore/lock.js';
import { CliError } from './errors.js';
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

onStaleLockReclaimed(note);

/** True when MODELSEAL_NO_CREATE forbids every command to create a keystore (CI with a mounted store). */
export function storeCreationForbidden(): boolean {
  const v = process.env['MODELSEAL_NO_CREATE'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** The master key URI a command uses: --master-key, else $MODELSEAL_MASTER_KEY, else undefined (master.key). */
export function masterKeyUri(explicit: string | undefined): string | undefined {
  const env = process.env['MODELSEAL_MASTER_KEY'];
  return explicit ?? (env === undefined || env === '' ? undefined : env);
}

/**
 * Opens the keystore; with `create`, makes it on first use and says so on stderr, unless
 * MODELSEAL_NO_CREATE is set. `refusal` names the flag that turned creation off, for the message.
 */
export async function openStore(explicit: string | undefined, options: { create?: boolean; refusal?: string; masterKey?: string | undefined } = {}): Promise<FileKeyStore> {
  const dir = defaultStoreDir(explicit);
  const forbidden = storeCreationForbidden();
  const create = (options.create ?? false) && !forbidden;
  try {
    const onWrite = redisNotifier();
    const uri = masterKeyUri(options.masterKey);
    const master = uri === undefined ? undefined : await openMasterKey(uri, { storeDir: dir, env: process.env });
    const { store, created } = await FileKeyStore.open(dir, { create, ...(master ? { master } : {}), ...(onWrite ? { onWrite } : {}) }).catch(async (err: unknown) => {
      await master?.close?.();
      throw err;
    });
    if (created) note(`created keystore at ${store.dir} (${master ? `content keys wrapped by ${master.uri}` : 'keep master.key secret and backed up'})`);
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
