// `modelseal keys list|rotate|revoke|publish|rewrap|new-master-key|new-sealing-key|new-token-secret`: the definitions;
// the work is in cli/actions/keys.ts, loaded when a subcommand runs.

import { Command } from 'commander';
import type { StoreOptions } from '../actions/keys.js';
import { masterKeyOption, parseDuration, parseId, parseMasterKey, storeOption } from '../options.js';
import { publish } from './publish.js';

const actions = () => import('../actions/keys.js');

const list = new Command('list')
  .description('list model ids, key versions and their states')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--json', 'print the key versions as JSON on stdout')
  .action(async (opts: StoreOptions & { json?: boolean }) => (await actions()).keysList(opts));

const rotate = new Command('rotate')
  .description('create a new active key version; the previous active one becomes retired (still released for files sealed with it)')
  .argument('<modelId>', 'the model id', parseId)
  .option('--retire-after <duration>', 'the retired version expires after this long, e.g. 30d, 12h', parseDuration)
  .option('--create', 'allow a model the store does not know yet (its first key), and a new store')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--json', 'print the new key version as JSON on stdout')
  .action(async (modelId: string, opts: StoreOptions & { json?: boolean; retireAfter?: number; create?: boolean }) => (await actions()).keysRotate(modelId, opts));

const revoke = new Command('revoke')
  .description('revoke one key version (--key-id) or every version of a model (--all): the key server stops releasing it')
  .argument('<modelId>', 'the model id', parseId)
  .option('--key-id <id>', 'the key version to revoke', parseId)
  .option('--all', 'revoke every version of the model')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--json', 'print the revoked versions as JSON on stdout')
  .action(async (modelId: string, opts: StoreOptions & { json?: boolean; keyId?: string; all?: boolean }) => (await actions()).keysRevoke(modelId, opts));

const newTokenSecret = new Command('new-token-secret')
  .description('replace token.secret with a new random secret (repairs a lost one; development tokens signed with the old one stop working)')
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .action(async (opts: StoreOptions) => (await actions()).keysNewTokenSecret(opts));

const rewrap = new Command('rewrap')
  .description('move every content key to another master key (content keys and sealed files stay the same); also master-key rotation')
  .requiredOption('--to <uri>', 'the new master key URI (file:PATH, pkcs11:…, …)', (text: string) => parseMasterKey(text, '--to'))
  .addOption(storeOption())
  .addOption(masterKeyOption('the current'))
  .option('--json', 'print the result as JSON on stdout')
  .action(async (opts: StoreOptions & { to: string; json?: boolean }) => (await actions()).keysRewrap(opts));

const newMasterKey = new Command('new-master-key')
  .description('write a new random symmetric master key file (0600; never replaces a file), for `keys rewrap --to file:PATH`')
  .argument('<path>', 'the new file')
  .action(async (path: string) => (await actions()).keysNewMasterKey(path));

const newSealingKey = new Command('new-sealing-key')
  .description('write a new sealing key pair for the CI route: the private JWK stays with the key server, CI gets the public one (seals, never unwraps)')
  .argument('<private.jwk>', 'the private half (0600): the key server\'s master key, file:PATH')
  .argument('<public.jwk>', 'the public half: CI\'s --master-key file:PATH')
  .option('--json', 'print the key id and paths as JSON on stdout')
  .action(async (priv: string, pub: string, opts: { json?: boolean }) => (await actions()).keysNewSealingKey(priv, pub, opts));

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
