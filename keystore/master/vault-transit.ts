// Master key in HashiCorp Vault's Transit engine: `vault-transit:<mount>/<key>` with
// `?address=`/`VAULT_ADDR`, `VAULT_TOKEN` or `?token-file=`, optional `?namespace=`/`VAULT_NAMESPACE`
// `?timeout=` and `?seal-only=true` (docs/OPERATIONS.md). Plain HTTP API through fetch: no Vault SDK.
//
// wrap = encrypt and unwrap = decrypt, both with `associated_data` = the aad (AEAD key types such as
// the default aes256-gcm96). generate = 32 random bytes here, then encrypt: Vault's datakey endpoint
// takes no associated_data, so its keys could not be bound to their model id and key id. A CI token
// with only `update` on <mount>/encrypt/<key> can therefore add key versions but not decrypt any.

import { randomBytes } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { readRegularText } from '../regular-file.js';
import type { MasterKeyContext, MasterKeyProvider } from './types.js';
import { checkContentKey, configInvalid, fromBase64, query, remoteKeyId, sealOnlyOption, sealOnlyRefusal, splitUri, timeoutOption, toBase64, unavailable, urlOption, wrongKey } from './remote.js';

const SCHEME = 'vault-transit';
const SEGMENT = /^[A-Za-z0-9_.-]+$/;
// Vault's answers to a decrypt whose ciphertext, key or associated data do not match.
const WRONG = /message authentication failed|invalid ciphertext|unable to decrypt|ciphertext.*(?:too short|invalid)/i;

interface Answer {
  status: number;
  body: { data?: Record<string, unknown>; errors?: unknown[] } & Record<string, unknown>;
}

/** Opens a `vault-transit:` master key; the token comes from ctx.env or a token file, never the URI. */
export async function createMasterKey(uri: string, ctx: MasterKeyContext): Promise<MasterKeyProvider> {
  const { body, options } = splitUri(uri, SCHEME, ['address', 'namespace', 'token-file', 'timeout', 'seal-only']);
  const parts = body.split('/');
  if (parts.length < 2 || !parts.every((p) => SEGMENT.test(p))) throw configInvalid(uri, 'expected vault-transit:MOUNT/KEY, for example vault-transit:transit/modelseal');
  const key = parts.pop()!;
  const mount = parts.join('/');
  const addressRaw = options.get('address') ?? ctx.env['VAULT_ADDR'];
  if (!addressRaw) throw configInvalid(uri, 'no Vault address: add ?address=https://vault.example:8200 or set VAULT_ADDR');
  const address = urlOption(uri, 'address', addressRaw);
  const namespace = options.get('namespace') ?? ctx.env['VAULT_NAMESPACE'];
  const tokenFileRaw = options.get('token-file');
  const tokenFile = tokenFileRaw === undefined ? undefined : isAbsolute(tokenFileRaw) ? tokenFileRaw : resolve(ctx.storeDir, tokenFileRaw);
  if (!ctx.env['VAULT_TOKEN'] && !tokenFile) throw configInvalid(uri, 'no Vault token: set VAULT_TOKEN, or add ?token-file=PATH (for example a Vault Agent sink)');
  const timeoutMs = timeoutOption(uri, options);
  const sealOnly = sealOnlyOption(uri, options);
  const doFetch = ctx.fetch ?? globalThis.fetch;
  const publicUri = `${SCHEME}:${mount}/${key}${query([['address', address], ['namespace', namespace], ['seal-only', sealOnly ? 'true' : undefined]])}`;

  async function token(what: string): Promise<string> {
    // An explicit token-file wins over VAULT_TOKEN, as the more specific setting.
    if (!tokenFile) return ctx.env['VAULT_TOKEN']!;
    try {
      // Read on every call: Vault Agent rewrites its sink file when it renews the token.
      const t = (await readRegularText(tokenFile)).trim();
      if (t) return t;
    } catch (cause) {
      throw unavailable(publicUri, what, `cannot read the Vault token file ${tokenFile}`, cause);
    }
    throw unavailable(publicUri, what, `the Vault token file ${tokenFile} is empty`);
  }

  async function post(what: string, path: string, payload: unknown): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-vault-token': await token(what), 'x-vault-request': 'true' };
    if (namespace) headers['x-vault-namespace'] = namespace;
    try {
      const res = await doFetch(`${address}/v1/${path}`, { method: 'POST', headers, body: JSON.stringify(payload), signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
      const text = await res.text();
      let parsed: unknown = {};
      try {
        parsed = text ? JSON.parse(text) : {};
      } catch {
        // A proxy's HTML error page: keep the status, report no Vault errors.
      }
      return { status: res.status, body: parsed !== null && typeof parsed === 'object' ? (parsed as Answer['body']) : {} };
    } catch (err) {
      const name = (err as Error).name;
      const detail = name === 'TimeoutError' || name === 'AbortError'
        ? `no answer within ${timeoutMs} ms (raise ?timeout= if Vault is slow from here)`
        : `cannot reach Vault at ${address} (${describeNetworkError(err)})`;
      throw unavailable(publicUri, what, detail, err);
    }
  }

  // `op` is the Transit operation (encrypt, decrypt); errors name the capability the token lacks.
  async function transit(op: 'encrypt' | 'decrypt', payload: Record<string, string>): Promise<Record<string, unknown>> {
    const path = `${mount}/${op}/${key}`;
    const what = `Vault ${op}`;
    const { status, body: b } = await post(what, path, payload);
    if (status === 200 && b.data && typeof b.data === 'object') return b.data;
    const errors = vaultErrors(b);
    if (status === 403) {
      return Promise.reject(unavailable(publicUri, what, `permission denied: the Vault token needs the "update" capability on ${path} (or it expired)`));
    }
    if (status === 400 && op === 'decrypt' && WRONG.test(errors)) return Promise.reject(wrongKey(publicUri, `Vault answered "${errors}"`));
    if (status === 400 && /encryption key not found/i.test(errors)) {
      return Promise.reject(unavailable(publicUri, what, `Vault has no Transit key "${key}" at mount "${mount}"`));
    }
    if (status === 503) return Promise.reject(unavailable(publicUri, what, `Vault is unavailable (HTTP 503${errors ? `: ${errors}` : ''}; sealed or in maintenance?)`));
    return Promise.reject(unavailable(publicUri, what, `HTTP ${status}${errors ? `: ${errors}` : ''}`));
  }

  async function encrypt(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const data = await transit('encrypt', { plaintext: toBase64(plain), associated_data: toBase64(aad) });
    const ct = data['ciphertext'];
    if (typeof ct !== 'string' || !ct.startsWith('vault:v')) throw unavailable(publicUri, 'Vault encrypt', 'the answer has no vault:v… ciphertext');
    return new TextEncoder().encode(ct);
  }

  return {
    id: remoteKeyId(SCHEME, `${mount}/${key}`),
    uri: publicUri,
    sealOnly,
    async wrap(plain, aad) {
      checkContentKey(publicUri, plain, 'wrap');
      return encrypt(plain, aad);
    },
    async unwrap(wrapped, aad) {
      if (sealOnly) throw sealOnlyRefusal(publicUri);
      const ct = new TextDecoder('utf-8', { fatal: false }).decode(wrapped);
      if (!/^vault:v[0-9]+:[A-Za-z0-9+/=]+$/.test(ct)) throw wrongKey(publicUri, 'the wrapped key is not a Vault Transit ciphertext');
      const data = await transit('decrypt', { ciphertext: ct, associated_data: toBase64(aad) });
      const plain = fromBase64(data['plaintext']);
      if (!plain) throw unavailable(publicUri, 'Vault decrypt', 'the answer has no base64 plaintext');
      return checkContentKey(publicUri, plain, 'Vault decrypt');
    },
    async generate(aad) {
      const k = new Uint8Array(randomBytes(32));
      return { key: k, wrapped: await encrypt(k, aad) };
    },
    async check() {
      // capabilities-self is in Vault's default policy: it proves Vault answers, is unsealed and
      // takes the token, and says whether the token may use this key at all.
      const paths = [`${mount}/decrypt/${key}`, `${mount}/encrypt/${key}`];
      const { status, body: b } = await post('Vault capabilities-self', 'sys/capabilities-self', { paths });
      if (status === 403) throw unavailable(publicUri, 'Vault capabilities-self', 'the Vault token was refused (expired or revoked?)');
      if (status !== 200) throw unavailable(publicUri, 'Vault capabilities-self', `HTTP ${status}${vaultErrors(b) ? `: ${vaultErrors(b)}` : ''}`);
      const source = b.data && typeof b.data === 'object' ? b.data : b;
      const usable = paths.some((p) => {
        const caps = source[p];
        return Array.isArray(caps) && (caps.includes('update') || caps.includes('root'));
      });
      if (!usable) throw unavailable(publicUri, 'Vault capabilities-self', `the Vault token has no "update" capability on ${paths.join(' or ')}`);
    },
  };
}

function vaultErrors(body: Answer['body']): string {
  const list = Array.isArray(body.errors) ? body.errors : [];
  return list.map((e) => String(e).replace(/\s+/g, ' ').trim()).join('; ').slice(0, 300);
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
