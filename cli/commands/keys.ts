// `modelseal keys list|rotate|revoke`: key versions in the local keystore (never key material).

import { resolve } from 'node:path';
import { Command } from 'commander';
import { createFileExclusive } from '../../keystore/atomic.js';
import { newMasterKeyText, writeSealingKeyPair } from '../../keystore/master/file.js';
import { openMasterKey } from '../../keystore/master/index.js';
import type { KeyRecord } from '../../keystore/file-store.js';
import { replaceTokenSecret } from '../../keystore/create.js';
import { CliError, usageError } from '../errors.js';
import { note, printJson, printLine } from '../output.js';
import { parseDuration, parseId, parseMasterKey } from '../options.js';
import { MASTER_KEY_HELP, openStore } from '../store.js';
import { publish } from './publish.js';

const STORE_HELP = 'keystore folder (default: $MODELSEAL_HOME, else ./.modelseal)';

/** Formats key records as an aligned table. */
export function keyTable(records: KeyRecord[]): string[] {
  const rows = [['MODEL', 'KEY', 'STATE', 'CREATED', 'REVOKED', 'EXPIRES'], ...records.map((r) => [r.modelId, r.keyId, r.state, r.createdAt, r.revokedAt ?? '-', r.expiresAt ?? '-'])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

const list = new Command('list')
  .description('list model ids, key versions and their states')
  .option('--store <dir>', STORE_HELP)
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .option('--json', 'print the key versions as JSON on stdout')
  .action(async (opts: { store?: string; masterKey?: string; json?: boolean }) => {
    const store = await openStore(opts.store, { masterKey: opts.masterKey });
    const records = await store.list();
    if (opts.json) printJson({ store: store.dir, keys: records });
    else if (records.length === 0) note(`the keystore ${store.dir} holds no keys yet: \`modelseal seal\` creates one per model`);
    else for (const line of keyTable(records)) printLine(line);
  });

const rotate = new Command('rotate')
  .description('create a new active key version; the previous active one becomes retired (still released for files sealed with it)')
  .argument('<modelId>', 'the model id', parseId)
  .option('--retire-after <duration>', 'the retired version expires after this long, e.g. 30d, 12h', parseDuration)
  .option('--create', 'allow a model the store does not know yet (its first key), and a new store')
  .option('--store <dir>', STORE_HELP)
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .option('--json', 'print the new key version as JSON on stdout')
  .action(async (modelId: string, opts: { store?: string; masterKey?: string; json?: boolean; retireAfter?: number; create?: boolean }) => {
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
  });

const revoke = new Command('revoke')
  .description('revoke one key version (--key-id) or every version of a model (--all): the key server stops releasing it')
  .argument('<modelId>', 'the model id', parseId)
  .option('--key-id <id>', 'the key version to revoke', parseId)
  .option('--all', 'revoke every version of the model')
  .option('--store <dir>', STORE_HELP)
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .option('--json', 'print the revoked versions as JSON on stdout')
  .action(async (modelId: string, opts: { store?: string; masterKey?: string; json?: boolean; keyId?: string; all?: boolean }) => {
    // Revoking every version breaks every page of the model: never the default.
    if (opts.keyId === undefined && !opts.all) throw usageError('keys revoke needs --key-id <id> (one version) or --all (every version of the model)', 'run `modelseal keys list` to see the versions');
    if (opts.keyId !== undefined && opts.all) throw usageError('pass --key-id or --all, not both', 'run `modelseal keys revoke --help` for usage');
    const store = await openStore(opts.store, { masterKey: opts.masterKey });
    const changed = await store.revoke(modelId, opts.keyId);
    if (opts.json) printJson({ revoked: changed });
    if (changed.length === 0) note(`nothing to do: ${opts.keyId ?? 'every key version'} of ${modelId} was already revoked`);
    else note(`revoked ${changed.map((k) => k.keyId).join(', ')} of model ${modelId}: the key server no longer releases ${changed.length === 1 ? 'it' : 'them'}`);
  });

const newTokenSecret = new Command('new-token-secret')
  .description('replace token.secret with a new random secret (repairs a lost one; development tokens signed with the old one stop working)')
  .option('--store <dir>', STORE_HELP)
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .action(async (opts: { store?: string; masterKey?: string }) => {
    const store = await openStore(opts.store, { masterKey: opts.masterKey });
    await replaceTokenSecret(store.dir);
    note(`wrote a new token secret to ${store.dir}/token.secret; send SIGHUP to a running key server, and mint development tokens again`);
  });

const rewrap = new Command('rewrap')
  .description('move every content key to another master key (content keys and sealed files stay the same); also master-key rotation')
  .requiredOption('--to <uri>', 'the new master key URI (file:PATH, pkcs11:…, …)', parseMasterKey)
  .option('--store <dir>', STORE_HELP)
  .option('--master-key <uri>', `the current ${MASTER_KEY_HELP}`, parseMasterKey)
  .option('--json', 'print the result as JSON on stdout')
  .action(async (opts: { store?: string; masterKey?: string; to: string; json?: boolean }) => {
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
  });

const newMasterKey = new Command('new-master-key')
  .description('write a new random symmetric master key file (0600; never replaces a file), for `keys rewrap --to file:PATH`')
  .argument('<path>', 'the new file')
  .action(async (path: string) => {
    if (!(await createFileExclusive(resolve(path), newMasterKeyText(), 0o600))) throw new CliError('output_exists', `${path} already exists: a master key is never replaced`, { hint: 'choose another path' });
    note(`wrote a new master key to ${resolve(path)}: back it up, then \`modelseal keys rewrap --to file:${resolve(path)}\``);
  });

const newSealingKey = new Command('new-sealing-key')
  .description('write a new sealing key pair for the CI route: the private JWK stays with the key server, CI gets the public one (seals, never unwraps)')
  .argument('<private.jwk>', 'the private half (0600): the key server\'s master key, file:PATH')
  .argument('<public.jwk>', 'the public half: CI\'s --master-key file:PATH')
  .option('--json', 'print the key id and paths as JSON on stdout')
  .action(async (priv: string, pub: string, opts: { json?: boolean }) => {
    const { id } = await writeSealingKeyPair(resolve(priv), resolve(pub));
    if (opts.json) printJson({ id, private: resolve(priv), public: resolve(pub) });
    note(`wrote sealing key ${id}: move the store to it with \`modelseal keys rewrap --to file:${resolve(priv)}\`, serve with --master-key file:${resolve(priv)}, and give CI only ${resolve(pub)}`);
  });

/** The `keys` command group. */
export const keysCommand = new Command('keys')
  .description('list, rotate, revoke key versions and publish sealings in the local keystore')
  .addCommand(list)
  .addCommand(rotate)
  .addCommand(revoke)
  .addCommand(publish)
  .addCommand(rewrap)
  .addCommand(newMasterKey)
  .addCommand(newSealingKey)
  .addCommand(newTokenSecret);
