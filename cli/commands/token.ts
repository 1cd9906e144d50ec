// `modelseal token`: the definition; minting is in cli/actions/token.ts, loaded when the command runs.

import { Command, InvalidArgumentError, Option } from 'commander';
import type { TokenCommandOptions } from '../actions/token.js';
import { JKT_PATTERN, MAX_CLAIM_LENGTH, MODEL_PATTERN } from '../../format/ids.js';
import { masterKeyOption, parseDuration, storeOption } from '../options.js';

function collectModel(value: string, previous: string[] = []): string[] {
  // A model id, or a pattern with * wildcards (face-*), as the `models` claim allows.
  if (!MODEL_PATTERN.test(value)) throw new InvalidArgumentError('use a model id (letters, digits, ".", "_", "-") or a pattern with * such as face-*.');
  return [...previous, value];
}

function parseThumbprint(value: string): string {
  if (!JKT_PATTERN.test(value)) throw new InvalidArgumentError('expected an RFC 7638 SHA-256 JWK thumbprint: 43 characters of canonical base64url (a SHA-256 digest; the last one is one of AEIMQUYcgkosw048).');
  return value;
}

function parseSubject(value: string): string {
  // The key server's rule for the sub claim (keyserver/session.ts): a token outside it is refused.
  if (value.length === 0 || value.length > MAX_CLAIM_LENGTH) throw new InvalidArgumentError(`the subject must be 1 to ${MAX_CLAIM_LENGTH} characters (the key server refuses any other sub).`);
  return value;
}

/** The `token` command: prints an HS256 session token (for development, demos and tests) on stdout. */
export const tokenCommand = new Command('token')
  .description('mint a development session token for the embedded key server (production tokens come from your app backend)')
  .requiredOption('--model <id>', 'model id or pattern the token may unlock (repeatable)', collectModel)
  .addOption(new Option('--ttl <duration>', 'token lifetime, e.g. 90s, 5m, 1h').argParser(parseDuration).default(300_000, '5m'))
  .option('--sub <name>', 'token subject (the session or user; rate limits count per subject)', parseSubject)
  .option('--jkt <thumbprint>', 'bind the token to one client key: RFC 7638 thumbprint of its public JWK (cnf.jkt)', parseThumbprint)
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .addHelpText('after', '\nexample: TOKEN=$(modelseal token --model face --ttl 5m --sub alice)')
  .action(async (opts: TokenCommandOptions) => {
    const { runToken } = await import('../actions/token.js');
    await runToken(opts);
  });
