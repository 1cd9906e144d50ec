// What the `keys` subcommands of modelseal do (defined in cli/commands/keys.ts): key versions in the local keystore
// (never key material).

import { dirname, resolve } from 'node:path';
import { createFileExclusive } from '../../keystore/atomic.js';
import { newMasterKeyText, writeSealingKeyPair } from '../../keystore/master/file.js';
import { openMasterKey } from '../../keystore/master/index.js';
import type { KeyRecord } from '../../keystore/file-store.js';
import { replaceTokenSecret } from '../../keystore/create.js';
import { CliError, fsError, usageError } from '../errors.js';
import { note, printJson, printLine } from '../output.js';
import { openStore } from '../store.js';

/** Options every keystore subcommand takes. */
export interface StoreOptions {
  store?: string;
  masterKey?: string;
}

/** Formats key records as an aligned table. */
export function keyTable(records: KeyRecord[]): string[] {
  const rows = [['MODEL', 'KEY', 'STATE', 'CREATED', 'REVOKED', 'EXPIRES'], ...records.map((r) => [r.modelId, r.keyId, r.state, r.createdAt, r.revokedAt ?? '-', r.expiresAt ?? '-'])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** `keys list`. */
export async function keysList(opts: StoreOptions & { json?: boolean }): Promise<void> {
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  const records = await store.list();
  if (opts.json) printJson({ store: store.dir, keys: records });
  else if (records.length === 0) note(`the keystore ${store.dir} holds no keys yet: \`modelseal seal\` creates one per model`);
  else for (const line of keyTable(records)) printLine(line);
}

/** `keys rotate`. */
export async function keysRotate(modelId: string, opts: StoreOptions & { json?: boolean; retireAfter?: number; create?: boolean }): Promise<void> {
  const store = await openStore(opts.store, { masterKey: opts.masterKey, create: opts.create ?? false });
  // A typo in the model id must not quietly start a new model; versions are never deleted, so this check holds.
  if (!opts.create && !(await store.list()).some((k) => k.modelId === modelId)) {
    throw new CliError('key_not_found', `the keystore ${store.dir} has no model ${modelId}`, { hint: 'check the id with `modelseal keys list`, or pass --create to make the first key of a new model' });
  }
  const before = (await store.list()).filter((k) => k.modelId === modelId && k.state === 'active');
  const retireExpiresAt = opts.retireAfter === undefined ? undefined : new Date(Date.now() + opts.retireAfter);
  const entry = await store.rotate(modelId, retireExpiresAt ? { retireExpiresAt } : {});
  entry.key.fill(0);
  const retired = before.map((k) => k.keyId);
  if (opts.json) printJson({ ...entry.record, retired, ...(retireExpiresAt && retired.length > 0 ? { retiredExpiresAt: retireExpiresAt.toISOString() } : {}) });
  note(`created key ${entry.record.keyId} for model ${modelId}${retired.length > 0 ? `; ${retired.join(', ')} is now retired${retireExpiresAt ? ` and expires at ${retireExpiresAt.toISOString()}` : ' (still released until revoked)'}` : ''}`);
  note('reseal the model (`modelseal seal … --model-id ' + modelId + '`) to use the new key');
}

/** `keys revoke`. */
export async function keysRevoke(modelId: string, opts: StoreOptions & { json?: boolean; keyId?: string; all?: boolean }): Promise<void> {
  // Revoking every version breaks every page of the model: never the default.
  if (opts.keyId === undefined && !opts.all) throw usageError('keys revoke needs --key-id <id> (one version) or --all (every version of the model)', 'run `modelseal keys list` to see the versions');
  if (opts.keyId !== undefined && opts.all) throw usageError('pass --key-id or --all, not both', 'run `modelseal keys revoke --help` for usage');
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  const changed = await store.revoke(modelId, opts.keyId);
  if (opts.json) printJson({ revoked: changed });
  if (changed.length === 0) note(`nothing to do: ${opts.keyId ?? 'every key version'} of ${modelId} was already revoked`);
  else note(`revoked ${changed.map((k) => k.keyId).join(', ')} of model ${modelId}: the key server no longer releases ${changed.length === 1 ? 'it' : 'them'}`);
  if (changed.length > 0 && !(await store.list()).some((k) => k.modelId === modelId && k.state !== 'revoked')) {
    note(`model ${modelId} has no key version left that the key server releases: every page loading it now fails with key_denied until you seal it again (\`modelseal seal … --model-id ${modelId}\` makes a new version)`);
  }
}

/** `keys new-token-secret`. */
export async function keysNewTokenSecret(opts: StoreOptions): Promise<void> {
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  await replaceTokenSecret(store.dir);
  note(`wrote a new token secret to ${store.dir}/token.secret; send SIGHUP to a running key server, and mint development tokens again`);
}

/** `keys rewrap`. */
export async function keysRewrap(opts: StoreOptions & { to: string; json?: boolean }): Promise<void> {
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  const from = { id: store.master.id, uri: store.master.uri };
  const target = await openMasterKey(opts.to, { storeDir: store.dir, env: process.env });
  let moved: number;
  try {
    moved = await store.rewrap(target);
  } finally {
    await store.close().catch(() => undefined);
  }
  if (opts.json) printJson({ store: store.dir, moved, from, to: { id: target.id, uri: target.uri } });
  note(`rewrapped ${moved} content key${moved === 1 ? '' : 's'} from ${from.uri} to ${target.uri}: from now on open this store with --master-key ${target.uri} (or MODELSEAL_MASTER_KEY) and restart the key servers with it; keep the old master key until they run on the new one`);
}

/** `keys new-master-key`. */
export async function keysNewMasterKey(path: string): Promise<void> {
  if (path.trim() === '') throw new CliError('usage', 'keys new-master-key needs the path of the new file, got an empty one (an unset variable?)');
  const created = await createFileExclusive(resolve(path), newMasterKeyText(), 0o600).catch((err: unknown) => {
    // The error would name the temp file beside the target; name the target and its folder instead.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, 'write the new master key', resolve(path));
    throw new CliError('io_error', `cannot write the new master key ${resolve(path)}: the folder ${dirname(resolve(path))} does not exist`, { cause: err, file: resolve(path), hint: 'create the folder first (private to you: mkdir -m 700), or choose another path' });
  });
  if (!created) throw new CliError('output_exists', `${path} already exists: a master key is never replaced`, { hint: 'choose another path' });
  note(`wrote a new master key to ${resolve(path)}: back it up, then \`modelseal keys rewrap --to file:${resolve(path)}\``);
}

/** `keys new-sealing-key`. */
export async function keysNewSealingKey(priv: string, pub: string, opts: { json?: boolean }): Promise<void> {
  // One path for both halves would write the private key, then fail on the public one beside it.
  if (resolve(priv) === resolve(pub)) throw usageError(`the private and the public half would both be ${resolve(pub)}`, 'pass two paths, e.g. `modelseal keys new-sealing-key sealing.private.jwk sealing.public.jwk`');
  const { id } = await writeSealingKeyPair(resolve(priv), resolve(pub));
  if (opts.json) printJson({ id, private: resolve(priv), public: resolve(pub) });
  note(`wrote sealing key ${id}: move the store to it with \`modelseal keys rewrap --to file:${resolve(priv)}\`, serve with --master-key file:${resolve(priv)}, and give CI only ${resolve(pub)}`);
}
