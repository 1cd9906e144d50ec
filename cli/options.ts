// Option definitions shared by several commands, and parsers for option values. The parsers throw
// commander's InvalidArgumentError, which the program turns into a usage error (exit 2) naming the
// option. Imported by every command definition, so it stays light: no keystore, no server.

import { InvalidArgumentError, Option } from 'commander';
import { MAX_CHUNK_LENGTH, MIN_CHUNK_LENGTH } from '../format/chunked.js';
import { checkKeyServerUrl, ID_PATTERN } from '../format/manifest.js';
import { ID_RULE } from '../format/ids.js';
import { masterKeyScheme, redactUri } from '../keystore/master/index.js';
import { CliError } from './errors.js';

// KB/MB/GB are binary too: TF.js's converter calls its 4194304-byte shards "4MB", and so do users.
const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** Parses a byte count: `4194304`, `4MiB`, `4MB`, `512KiB`, `1GiB` (binary units; K/KB/M/MB/G/GB mean the same). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) throw new InvalidArgumentError('expected a byte count such as 4194304, 4MiB or 512KiB.');
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError('expected a positive byte count.');
  return value;
}

/** Parses --shard-size: a byte count of at least one chunk. */
export function parseShardSize(text: string): number {
  const value = parseSize(text);
  if (value < MIN_CHUNK_LENGTH) throw new InvalidArgumentError(`a shard holds at least ${MIN_CHUNK_LENGTH} bytes.`);
  return value;
}

/** Parses --chunk-size: from 1KiB to 16MiB. */
export function parseChunkSize(text: string): number {
  const value = parseSize(text);
  if (value < MIN_CHUNK_LENGTH || value > MAX_CHUNK_LENGTH) throw new InvalidArgumentError(`the chunk size must be from 1KiB to 16MiB (default 256KiB).`);
  return value;
}

/** Parses a model id or key id: 1 to 128 of A-Z a-z 0-9 . _ -, starting with a letter or digit. */
export function parseId(text: string): string {
  if (!ID_PATTERN.test(text)) throw new InvalidArgumentError(`use ${ID_RULE}.`);
  return text;
}

/** Parses an http(s) URL (the key server recorded in the manifest), by the rule every manifest reader applies. */
export function parseUrl(text: string): string {
  // A writer must not produce what readers refuse (FORMAT.md): the manifest's own check.
  return checkKeyServerUrl(text, '', (_field, problem) => new InvalidArgumentError(`expected a key-server URL such as https://keys.example.com: it ${problem} (lower-case scheme).`));
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a duration such as 90s, 30m, 12h, 30d, 2w into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+)\s*([smhdw])\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError('expected a duration such as 90s, 30m, 12h, 30d or 2w.');
  const ms = Number(m[1]) * DURATION_UNITS[m[2]!]!;
  // A Date holds at most 8.64e15 ms from 1970: keep the end a date can say (about 100 years from now).
  if (!Number.isSafeInteger(ms) || ms > 100 * 365 * DURATION_UNITS['d']!) throw new InvalidArgumentError('expected a duration of at most 100 years (36500d).');
  return ms;
}

/**
 * Parses --master-key: a URI with a known scheme and no secret in it (PINs come from a file or the
 * environment). Throws a usage error of its own, not commander's, which would echo the argument.
 */
export function parseMasterKey(text: string, flag = '--master-key'): string {
  if (/[?&;]pin-value=/i.test(text)) {
    throw new CliError('usage', `${flag} ${JSON.stringify(redactUri(text))}: never put a PIN on the command line`, { hint: 'use pin-source=file:/path/to/pin in the URI, or set MODELSEAL_PKCS11_PIN' });
  }
  try {
    masterKeyScheme(text);
  } catch (err) {
    throw new CliError('usage', `${flag}: ${(err as Error).message}`, { hint: 'see docs/OPERATIONS.md, "Master keys"' });
  }
  return text;
}

/** Parses a TCP port: 0 (any free port) to 65535. */
export function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return n;
}

/** Help text of every command's --master-key option. */
export const MASTER_KEY_HELP = 'master key URI: file:PATH, pkcs11:…, aws-kms:…, vault-transit:…, gcp-kms:… (default: $MODELSEAL_MASTER_KEY, else the store\'s master.key)';

/** The `--store <dir>` option every keystore command takes. */
export function storeOption(): Option {
  // An empty value (`--store "$STORE"` with STORE unset) would name the working folder.
  return new Option('--store <dir>', 'keystore folder (default: $MODELSEAL_HOME, else ./.modelseal)').argParser((text: string) => {
    if (text.trim() === '') throw new InvalidArgumentError('the keystore folder must not be empty (an unset variable?); omit --store for the default.');
    return text;
  });
}

/** The `--master-key <uri>` option; `prefix` qualifies the help (`the current`, for rewrap). */
export function masterKeyOption(prefix?: string): Option {
  return new Option('--master-key <uri>', prefix === undefined ? MASTER_KEY_HELP : `${prefix} ${MASTER_KEY_HELP}`).argParser((text: string) => parseMasterKey(text));
}
