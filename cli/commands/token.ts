// `modelseal token`: mints a development session token with the store's token.secret.

import { Command, InvalidArgumentError, Option } from 'commander';
import { mintDevToken } from '../../keyserver/mint.js';
import { parseDuration, parseMasterKey } from '../options.js';
import { printLine } from '../output.js';
import { JKT_PATTERN, MODEL_PATTERN } from '../../format/ids.js';
import { MASTER_KEY_HELP, openStore } from '../store.js';

function collectModel(value: string, previous: string[] = []): string[] {
  // A model id, or a pattern with * wildcards (face-*), as the `models` claim allows.
  if (!MODEL_PATTERN.test(value)) throw new InvalidArgumentError('use a model id (letters, digits, ".", "_", "-") or a pattern with * such as face-*.');
  return [...previous, value];
}

function parseThumbprint(value: string): string {
  if (!JKT_PATTERN.test(value)) throw new InvalidArgumentError('expected an RFC 7638 SHA-256 JWK thumbprint: 43 base64url characters.');
  return value;
}

/** The `token` command: prints an HS256 session token (for development, demos and tests) on stdout. */
export const tokenCommand = new Command('token')
  .description('mint a development session token for the embedded key server (production tokens come from your app backend)')
  .requiredOption('--model <id>', 'model id or pattern the token may unlock (repeatable)', collectModel)
  .addOption(new Option('--ttl <duration>', 'token lifetime, e.g. 90s, 5m, 1h').argParser(parseDuration).default(300_000, '5m'))
  .option('--sub <name>', 'token subject (the session or user; rate limits count per subject)')
  .option('--jkt <thumbprint>', 'bind the token to one client key: RFC 7638 thumbprint of its public JWK (cnf.jkt)', parseThumbprint)
  .option('--store <dir>', 'keystore folder (default: $MODELSEAL_HOME, else ./.modelseal)')
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .addHelpText('after', '\nexample: TOKEN=$(modelseal token --model face --ttl 5m --sub alice)')
  .action(async (opts: { model: string[]; ttl: number; sub?: string; jkt?: string; store?: string; masterKey?: string }) => {
    const store = await openStore(opts.store, { masterKey: opts.masterKey, create: true });
    const token = await mintDevToken({
      store,
      models: opts.model,
      ttl: Math.max(1, Math.round(opts.ttl / 1000)),
      ...(opts.sub !== undefined ? { sub: opts.sub } : {}),
      ...(opts.jkt !== undefined ? { cnfJkt: opts.jkt } : {}),
    });
    printLine(token);
  });
