// Development session tokens: what an app backend would mint, signed with the store's token.secret.

import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { FileKeyStore, type KeyStoreReader } from '../keystore/file-store.js';

/** Options of mintDevToken. */
export interface MintOptions {
  /** Keystore folder or reader whose token.secret signs the token. */
  store?: string | KeyStoreReader;
  /** HMAC secret (32+ bytes) instead of a store. */
  secret?: Uint8Array;
  /** Model ids or `*` patterns the token may unlock (the `models` claim). */
  models: string[];
  /** Lifetime: seconds, or a jose time span such as '5m' (default '5m'). */
  ttl?: string | number;
  sub?: string;
  /** Token id that counts releases; a random UUID by default. */
  jti?: string;
  /** RFC 7638 thumbprint binding the token to one client key (`cnf.jkt`). */
  cnfJkt?: string;
  issuer?: string;
  audience?: string;
  /** Not-before, seconds since the epoch (for tests of `nbf`). */
  notBefore?: number;
}

/**
 * Mints an HS256 session token for development and tests (production tokens come from the app backend).
 * @example const token = await mintDevToken({ store: '.modelseal', models: ['face'], ttl: '5m' });
 */
export async function mintDevToken(options: MintOptions): Promise<string> {
  if (!Array.isArray(options.models) || options.models.length === 0 || options.models.some((m) => typeof m !== 'string' || m === '')) {
    throw new TypeError('mintDevToken: models must be a non-empty list of model ids');
  }
  let secret = options.secret;
  if (!secret) {
    if (options.store === undefined) throw new TypeError('mintDevToken: give store or secret');
    const reader = typeof options.store === 'string' ? (await FileKeyStore.open(options.store)).store : options.store;
    secret = await reader.tokenSecret();
  }
  const ttl = options.ttl ?? '5m';
  const payload: Record<string, unknown> = { models: options.models };
  if (options.cnfJkt !== undefined) payload['cnf'] = { jkt: options.cnfJkt };
  const jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setIssuer(options.issuer ?? 'modelseal-dev')
    .setAudience(options.audience ?? 'modelseal')
    .setJti(options.jti ?? randomUUID())
    .setExpirationTime(typeof ttl === 'number' ? Math.floor(Date.now() / 1000) + ttl : ttl);
  if (options.sub !== undefined) jwt.setSubject(options.sub);
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  return jwt.sign(secret);
}
