// Shared plumbing of the remote master-key providers (AWS KMS, Vault Transit, Google Cloud KMS):
// lazy optional imports, stable ids, URI options, time bounds and the two outage/wrong-key errors.

import { createHash } from 'node:crypto';
import { ModelsealError } from '../../format/errors.js';

/** How long one provider call may take, retries included, unless the URI's `timeout` says otherwise. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** The error for an optional package that is not installed, naming what to install. */
export function missingDependency(pkg: string, feature: string, cause?: unknown): ModelsealError {
  return new ModelsealError(
    'missing_dependency',
    `${feature} needs the optional package ${pkg}, which is not installed: run \`npm install ${pkg}\` next to modelseal`,
    { cause },
  );
}

/**
 * Runs `load` (an `import()` of `pkg`) and turns "package not found" into `missing_dependency`.
 * Other failures (a broken install) pass through unchanged so their cause stays visible.
 */
export async function importOptional<T>(pkg: string, feature: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((err as Error).message).includes(pkg)) {
      throw missingDependency(pkg, feature, err);
    }
    throw err;
  }
}

/** A short public id for a remote key: the same key name always gives the same id. */
export function remoteKeyId(scheme: string, keyName: string): string {
  return createHash('sha256').update('modelseal master key id\0').update(`${scheme}:${keyName}`).digest('hex').slice(0, 16);
}

/** Splits `scheme:rest?query` into the part before `?` and its query options (only `allowed` ones). */
export function splitUri(uri: string, scheme: string, allowed: readonly string[]): { body: string; options: Map<string, string> } {
  const prefix = `${scheme}:`;
  if (!uri.startsWith(prefix)) throw configInvalid(uri, `it must start with "${prefix}"`);
  const rest = uri.slice(prefix.length);
  const q = rest.indexOf('?');
  const body = q === -1 ? rest : rest.slice(0, q);
  const options = new Map<string, string>();
  if (q !== -1) {
    for (const [name, value] of new URLSearchParams(rest.slice(q + 1))) {
      if (!allowed.includes(name)) {
        throw configInvalid(uri, `unknown option "${name}" (${scheme}: takes ${allowed.map((a) => `?${a}=`).join(', ')})`);
      }
      if (options.has(name)) throw configInvalid(uri, `option "${name}" is given twice`);
      options.set(name, value);
    }
  }
  return { body, options };
}

/** The `timeout` option in milliseconds (1 ms to 5 minutes), or the default. */
export function timeoutOption(uri: string, options: Map<string, string>): number {
  const raw = options.get('timeout');
  if (raw === undefined) return DEFAULT_TIMEOUT_MS;
  const ms = Number(raw);
  if (!/^[0-9]+$/.test(raw) || ms < 1 || ms > 300_000) throw configInvalid(uri, 'timeout must be a whole number of milliseconds between 1 and 300000');
  return ms;
}

/** The `seal-only` option: `true` marks a CI's URI, which generates and wraps but never unwraps. */
export function sealOnlyOption(uri: string, options: Map<string, string>): boolean {
  const raw = options.get('seal-only');
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw configInvalid(uri, 'seal-only must be true or false');
}

/** The refusal of a seal-only URI asked to unwrap (made here, before any call to the service). */
export function sealOnlyRefusal(uri: string): ModelsealError {
  return new ModelsealError(
    'master_key_missing',
    `${uri} is seal-only (?seal-only=true): it seals new key versions but unwraps none; the key server uses the URI without seal-only and its own credentials`,
  );
}

/** An `http:`/`https:` URL option (an endpoint), checked and without a trailing slash. */
export function urlOption(uri: string, name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configInvalid(uri, `${name} must be an http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw configInvalid(uri, `${name} must be an http:// or https:// URL`);
  if (url.username || url.password) throw configInvalid(uri, `${name} must not carry credentials`);
  return url.href.replace(/\/+$/, '');
}

/** `?a=1&b=2` of the options that are set (for a provider's public URI), or ''. */
export function query(pairs: [string, string | undefined][]): string {
  const set = pairs.filter((p): p is [string, string] => p[1] !== undefined);
  return set.length === 0 ? '' : `?${set.map(([k, v]) => `${k}=${v}`).join('&')}`;
}

/** `config_invalid` for a master-key URI, saying what is wrong with it. */
export function configInvalid(uri: string, reason: string): ModelsealError {
  return new ModelsealError('config_invalid', `master key URI "${uri}" is invalid: ${reason}`);
}

/** `master_key_unavailable`: the service could not be used now (outage, timeout, throttling, permission). */
export function unavailable(uri: string, what: string, detail: string, cause?: unknown): ModelsealError {
  return new ModelsealError('master_key_unavailable', `master key ${uri}: ${what} failed: ${detail}`, safeCause(cause));
}

/**
 * Keeps only the name, code and message of a client error. SDK errors can carry the whole request
 * (google-auth's GaxiosError holds its `config`, body included: a plaintext content key on Encrypt),
 * and a logger that prints `cause` would write it out.
 */
function safeCause(cause: unknown): { cause?: unknown } {
  if (cause === undefined) return {};
  const e = cause as { name?: unknown; code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const plain = new Error(String(e.message ?? cause).slice(0, 500));
  plain.name = typeof e.name === 'string' ? e.name : 'Error';
  const code = e.code ?? e.cause?.code;
  if (typeof code === 'string' || typeof code === 'number') Object.assign(plain, { code });
  return { cause: plain };
}

/** `master_key_wrong`: the service says this wrapped key was not made by this key with this model id and key id. */
export function wrongKey(uri: string, detail: string, cause?: unknown): ModelsealError {
  return new ModelsealError(
    'master_key_wrong',
    `master key ${uri} cannot unwrap this content key: ${detail} (another master key wrapped it, the record was moved to another model or key id, or it was altered)`,
    safeCause(cause),
  );
}

/** A content key as the providers expect it: exactly 32 bytes. */
export function checkContentKey(uri: string, key: Uint8Array, what: string): Uint8Array {
  if (key.length !== 32) {
    throw new ModelsealError('master_key_wrong', `master key ${uri}: ${what} returned ${key.length} bytes, expected a 32-byte content key`);
  }
  return key;
}

/** Base64 (standard alphabet, padded) of bytes, as Vault and Google's JSON APIs expect. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Bytes of a standard-alphabet base64 string; undefined when it is not one. */
export function fromBase64(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64'));
}
