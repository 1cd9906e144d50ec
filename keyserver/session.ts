// Session tokens: jose jwtVerify against each configured key with its own algorithm allow-list.
// The token's `alg` picks the keys that may verify it, so an HS256 token never meets a JWKS public
// key (the algorithm-confusion attack) and `none` never meets anything.

import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import type { KeyStoreReader } from '../keystore/file-store.js';
import type { KeyServerConfig, TokenKeyConfig } from './config.js';
import { WireError } from './errors.js';
import { fromBase64url } from '../format/bytes.js';
import { ModelsealError } from '../format/errors.js';
import { JKT_PATTERN, MAX_CLAIM_LENGTH } from '../format/ids.js';
import { readRegularText } from '../keystore/regular-file.js';

/** The claims the key server uses from a verified session token. */
export interface Session {
  sub: string | undefined;
  jti: string | undefined;
  /** Token expiry (seconds since the epoch). */
  exp: number;
  /** Model ids or `*` patterns the token may unlock. */
  models: string[];
  /** RFC 7638 thumbprint the client's epk must have (RFC 7800 `cnf.jkt`), when the token is sender-bound. */
  jkt: string | undefined;
}

interface Verifier {
  algorithms: string[];
  /** A JWKS resolver, or one imported HMAC key per allowed algorithm (imported once: ~90 µs saved per token). */
  key: JWTVerifyGetKey | Map<string, CryptoKey>;
  /** jwtVerify options per token `alg` (built once per reload, not per token). */
  options: Map<string, JWTVerifyOptions>;
}

async function hmacKeys(secret: Uint8Array, algorithms: string[]): Promise<Map<string, CryptoKey>> {
  const keys = new Map<string, CryptoKey>();
  for (const alg of algorithms) {
    keys.set(alg, await crypto.subtle.importKey('raw', secret as BufferSource, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']));
  }
  return keys;
}

/** Verifies bearer tokens for the key server; `reload()` re-reads secrets and JWKS files. */
export class SessionVerifier {
  readonly #config: KeyServerConfig['tokens'];
  readonly #store: KeyStoreReader;
  #verifiers: Verifier[] = [];
  /** Remote JWKS sets survive reloads so their cache does (recreating one would refetch). */
  readonly #remote = new Map<string, JWTVerifyGetKey>();

  private constructor(config: KeyServerConfig['tokens'], store: KeyStoreReader) {
    this.#config = config;
    this.#store = store;
  }

  /** Builds the verifier and loads every key once (fails fast on a missing JWKS file). */
  static async create(config: KeyServerConfig['tokens'], store: KeyStoreReader): Promise<SessionVerifier> {
    const v = new SessionVerifier(config, store);
    await v.reload();
    return v;
  }

  /** Re-reads the store secret and JWKS files (remote JWKS sets refresh themselves). */
  async reload(): Promise<void> {
    this.#verifiers = await Promise.all(this.#config.keys.map((k) => this.#load(k)));
  }

  async #load(k: TokenKeyConfig): Promise<Verifier> {
    const algorithms = k.algorithms ?? (k.type === 'store-secret' || k.type === 'secret' ? ['HS256'] : ['EdDSA', 'ES256']);
    const hmac = k.type === 'store-secret' || k.type === 'secret';
    const options = new Map<string, JWTVerifyOptions>();
    for (const alg of algorithms) {
      options.set(alg, {
        // A JWKS may hold keys of several algorithms; an HMAC key is one CryptoKey per algorithm.
        algorithms: hmac ? [alg] : algorithms,
        issuer: this.#config.issuer,
        audience: this.#config.audience,
        clockTolerance: this.#config.clockSkewSeconds,
        requiredClaims: ['exp'],
      });
    }
    switch (k.type) {
      case 'store-secret':
        return { algorithms, options, key: await hmacKeys(await this.#store.tokenSecret(), algorithms) };
      case 'secret':
        return { algorithms, options, key: await hmacKeys(fromBase64url(k.secret), algorithms) };
      case 'jwks-file': {
        let jwks;
        try {
          jwks = JSON.parse(await readRegularText(k.path));
        } catch (cause) {
          throw new ModelsealError('config_invalid', `cannot read JWKS file ${k.path}: ${(cause as Error).message}`, { cause, file: k.path });
        }
        try {
          return { algorithms, options, key: createLocalJWKSet(jwks) };
        } catch (cause) {
          throw new ModelsealError('config_invalid', `JWKS file ${k.path} is not a JWK Set ({"keys": [...]})`, { cause, file: k.path });
        }
      }
      case 'jwks-url': {
        let set = this.#remote.get(k.url);
        if (!set) {
          set = createRemoteJWKSet(new URL(k.url), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 5_000 });
          this.#remote.set(k.url, set);
        }
        return { algorithms, options, key: set };
      }
    }
  }

  /** Verifies a compact JWT and returns its session claims; throws WireError invalid_token / token_expired. */
  async verify(token: string): Promise<Session> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new WireError('invalid_token', 'not a signed JWT');
    }
    const candidates = this.#verifiers.filter((v) => alg !== undefined && v.algorithms.includes(alg));
    if (candidates.length === 0) throw new WireError('invalid_token', `algorithm ${JSON.stringify(String(alg)).slice(0, 24)} is not accepted`);
    let last: unknown;
    let verified: JWTPayload | undefined;
    for (const v of candidates) {
      try {
        const options = v.options.get(alg!)!;
        const { payload } = typeof v.key === 'function' ? await jwtVerify(token, v.key, options) : await jwtVerify(token, v.key.get(alg!)!, options);
        verified = payload;
        break;
      } catch (err) {
        last = err;
        if (err instanceof WireError) throw err;
        // A claim failure is final; only a signature or key-lookup failure tries the next key.
        if (err instanceof errors.JWTClaimValidationFailed || err instanceof errors.JWTExpired || err instanceof errors.JWTInvalid) break;
      }
    }
    // Claim shapes are checked outside the loop: a bug there must not read as a JWKS outage (503).
    if (verified) return this.#session(verified);
    throw tokenError(last, this.#config);
  }

  #session(p: JWTPayload): Session {
    const now = Math.floor(Date.now() / 1000);
    const exp = p.exp as number;
    const max = this.#config.maxLifetimeSeconds;
    if (max > 0 && exp - (typeof p.iat === 'number' ? Math.min(p.iat, now) : now) > max + this.#config.clockSkewSeconds) {
      throw new WireError('invalid_token', `token lifetime exceeds ${max} s`);
    }
    const models = p['models'];
    if (!Array.isArray(models) || models.length === 0 || models.length > 100 || models.some((m) => typeof m !== 'string' || m.length === 0 || m.length > 128)) {
      throw new WireError('invalid_token', 'the models claim must be a list of model ids or patterns');
    }
    const cnf: unknown = p['cnf'];
    let jkt: string | undefined;
    if (cnf !== undefined) {
      if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new WireError('invalid_token', 'the cnf claim must be an object ({"jkt": "<thumbprint>"})');
      const j = (cnf as { jkt?: unknown }).jkt;
      if (typeof j !== 'string' || !JKT_PATTERN.test(j)) throw new WireError('invalid_token', 'cnf.jkt must be a SHA-256 JWK thumbprint in base64url');
      jkt = j;
    }
    // jose checks only the registered claims it is asked to compare; a signed `sub: null` or `jti: 5`
    // reaches us, and is the token's fault (401), not the server's.
    const sub: unknown = p.sub;
    const jti: unknown = p.jti;
    if (jti !== undefined && (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_CLAIM_LENGTH)) throw new WireError('invalid_token', `the jti claim must be a string of 1 to ${MAX_CLAIM_LENGTH} characters`);
    if (sub !== undefined && (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_CLAIM_LENGTH)) throw new WireError('invalid_token', `the sub claim must be a string of 1 to ${MAX_CLAIM_LENGTH} characters`);
    return { sub: sub as string | undefined, jti: jti as string | undefined, exp, models: models as string[], jkt };
  }
}

/** A claim value for a message: JSON, cut short (the payload's signature verified, but it is still input). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function timeOf(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) && Math.abs(seconds) < 1e11 ? new Date(seconds * 1000).toISOString() : shown(seconds);
}

/** The detail of a failed claim check: what the token has and what this server expects (no secrets involved). */
function claimDetail(err: errors.JWTClaimValidationFailed, tokens: KeyServerConfig['tokens']): string {
  const payload = err.payload as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  if (err.reason === 'missing') return `the token has no ${err.claim} claim`;
  switch (err.claim) {
    case 'iss':
      return `the token's issuer (iss) is ${shown(payload['iss'])}; this key server accepts ${tokens.issuer.map((i) => shown(i)).join(' or ')}`;
    case 'aud':
      return `the token's audience (aud) is ${shown(payload['aud'])}; this key server accepts ${tokens.audience.map((a) => shown(a)).join(' or ')}`;
    case 'nbf':
      return typeof payload['nbf'] === 'number'
        ? `the token is not valid before ${timeOf(payload['nbf'])} (nbf), ${payload['nbf'] - now} s after the key server's clock (clock skew allowed: ${tokens.clockSkewSeconds} s)`
        : 'the nbf claim must be a number';
    default:
      return `${err.claim} claim check failed (${err.reason})`;
  }
}

function tokenError(err: unknown, tokens: KeyServerConfig['tokens']): WireError {
  if (err instanceof errors.JWTExpired) {
    const exp = (err.payload as Record<string, unknown>)['exp'];
    const ago = typeof exp === 'number' ? Math.floor(Date.now() / 1000) - exp : undefined;
    return new WireError('token_expired', `its exp ${timeOf(exp)} is ${ago ?? '?'} s before the key server's clock (clock skew allowed: ${tokens.clockSkewSeconds} s)`, { cause: err });
  }
  if (err instanceof errors.JWTClaimValidationFailed) return new WireError('invalid_token', claimDetail(err, tokens), { cause: err });
  if (err instanceof errors.JWSSignatureVerificationFailed) return new WireError('invalid_token', 'signature does not verify', { cause: err });
  if (err instanceof errors.JWKSNoMatchingKey) return new WireError('invalid_token', 'no key in the JWKS matches the token', { cause: err });
  if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError) || err.code === 'ERR_JWKS_INVALID') {
    // The remote JWKS cannot be fetched or parsed: the server's problem, not the token's.
    return new WireError('unavailable', 'the token verification keys (JWKS) cannot be fetched', { cause: err });
  }
  return new WireError('invalid_token', 'malformed token', { cause: err });
}
