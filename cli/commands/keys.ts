// `modelseal keys list|rotate|revoke`: key versions in the local keystore (never key material).

import { Command } from 'commander';
import type { KeyRecord } from '../../keyserver/keystore.js';
import { replaceTokenSecret } from '../../keyserver/store-create.js';
import { CliError, usageError } from '../errors.js';
import { note, printJson, printLine } from '../output.js';
import { parseDuration, parseId } from '../options.js';
import { openStore } from '../store.js';
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
  .option('--json', 'print the key versions as JSON on stdout')
  .action(async (opts: { store?: string; json?: boolean }) => {
    const store = await openStore(opts.store);
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
  .option('--json', 'print the new key version as JSON on stdout')
  .action(async (modelId: string, opts: { store?: string; json?: boolean; retireAfter?: number; create?: boolean }) => {
    const store = await openStore(opts.store, { create: opts.create ?? false });
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
  .option('--json', 'print the revoked versions as JSON on stdout')
  .action(async (modelId: string, opts: { store?: string; json?: boolean; keyId?: string; all?: boolean }) => {
    // Revoking every version breaks every page of the model: never the default.
    if (opts.keyId === undefined && !opts.all) throw usageError('keys revoke needs --key-id <id> (one version) or --all (every version of the model)', 'run `modelseal keys list` to see the versions');
    if (opts.keyId !== undefined && opts.all) throw usageError('pass --key-id or --all, not both', 'run `modelseal keys revoke --help` for usage');
    const store = await openStore(opts.store);
    const changed = await store.revoke(modelId, opts.keyId);
    if (opts.json) printJson({ revoked: changed });
    if (changed.length === 0) note(`nothing to do: ${opts.keyId ?? 'every key version'} of ${modelId} was already revoked`);
    else note(`revoked ${changed.map((k) => k.keyId).join(', ')} of model ${modelId}: the key server no longer releases ${changed.length === 1 ? 'it' : 'them'}`);
  });

const newTokenSecret = new Command('new-token-secret')
  .description('replace token.secret with a new random secret (repairs a lost one; development tokens signed with the old one stop working)')
  .option('--store <dir>', STORE_HELP)
  .action(async (opts: { store?: string }) => {
    const store = await openStore(opts.store);
    await replaceTokenSecret(store.dir);
    note(`wrote a new token secret to ${store.dir}/token.secret; send SIGHUP to a running key server, and mint development tokens again`);
  });

/** The `keys` command group. */
export const keysCommand = new Command('keys')
  .description('list, rotate, revoke key versions and publish sealings in the local keystore')
  .addCommand(list)
  .addCommand(rotate)
  .addCommand(revoke)
  .addCommand(publish)
  .addCommand(newTokenSecret);
