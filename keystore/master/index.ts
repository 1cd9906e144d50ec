// Opening a master key from its URI: `file:` (default, the store's master.key), `pkcs11:` (RFC 7512),
// and the cloud providers (`aws-kms:`, `vault-transit:`, `gcp-kms:`), each loaded only when used.

import { ModelsealError } from '../../format/errors.js';
import { redactUri } from './redact.js';

export { redactUri } from './redact.js';
import type { MasterKeyContext, MasterKeyProvider } from './types.js';

export type { MasterKeyContext, MasterKeyProvider } from './types.js';

/** The master key a store uses when none is configured: the store's own master.key file. */
export const DEFAULT_MASTER_KEY_URI = 'file:master.key';

// Cloud providers live in their own modules so their SDKs load only for stores that use them.
const LAZY: Record<string, string> = {
  'aws-kms': './aws-kms.js',
  'vault-transit': './vault-transit.js',
  'gcp-kms': './gcp-kms.js',
};

const SCHEMES = ['file', 'pkcs11', ...Object.keys(LAZY)];


/** The scheme of a master-key URI (`file`, `pkcs11`, …); `config_invalid` when it has none or an unknown one. */
export function masterKeyScheme(uri: string): string {
  if (typeof uri !== 'string' || uri.trim() === '') throw new ModelsealError('config_invalid', 'the master key URI is empty: use file:PATH, pkcs11:…, aws-kms:…, vault-transit:… or gcp-kms:…');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
  if (/[\s\u0000-\u001f]/.test(uri)) throw new ModelsealError('config_invalid', `the master key URI ${JSON.stringify(redactUri(uri))} contains spaces or control characters: percent-encode them`);
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(uri);
  const scheme = m?.[1]?.toLowerCase();
  if (!scheme || !SCHEMES.includes(scheme)) {
    throw new ModelsealError('config_invalid', `the master key URI ${JSON.stringify(redactUri(uri))} has ${scheme ? `an unknown scheme "${scheme}"` : 'no scheme'}: use one of ${SCHEMES.map((s) => `${s}:`).join(', ')}`);
  }
  return scheme;
}

/**
 * Opens the master key a URI names. Secrets (PINs, tokens) come from `ctx.env` or files the URI
 * points to, never from the URI itself.
 * @example const master = await openMasterKey('pkcs11:token=modelseal;object=master?module-path=/usr/lib/softhsm/libsofthsm2.so', { storeDir, env: process.env });
 */
export async function openMasterKey(uri: string, ctx: MasterKeyContext): Promise<MasterKeyProvider> {
  const scheme = masterKeyScheme(uri);
  if (scheme === 'file') {
    // Loaded here, not at the top: the CLI checks --master-key at parse time, and `--help` must not load jose.
    const { openFileMasterKey } = await import('./file.js');
    return openFileMasterKey(uri, ctx);
  }
  if (scheme === 'pkcs11') {
    const { createMasterKey } = await import('./pkcs11.js');
    return createMasterKey(uri, ctx);
  }
  const spec = LAZY[scheme]!;
  let mod: { createMasterKey?: (uri: string, ctx: MasterKeyContext) => Promise<MasterKeyProvider> };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (cause) {
    const e = cause as NodeJS.ErrnoException;
    // Only this module being absent means the provider is not built in; anything else is its own error.
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(spec.slice(2, -3))) {
      throw new ModelsealError('config_invalid', `master key ${JSON.stringify(redactUri(uri))}: the ${scheme}: provider is not part of this modelseal build; use file: or pkcs11:, or upgrade modelseal`, { cause });
    }
    throw cause;
  }
  if (typeof mod.createMasterKey !== 'function') throw new ModelsealError('config_invalid', `master key ${JSON.stringify(redactUri(uri))}: the ${scheme}: provider module has no createMasterKey`);
  return mod.createMasterKey(uri, ctx);
}
