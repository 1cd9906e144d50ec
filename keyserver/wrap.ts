// Wrapping a content key to a client's ephemeral public key as a compact JWE (jose does all the JOSE).

import { CompactEncrypt, calculateJwkThumbprint, compactDecrypt, decodeProtectedHeader, type JWK } from 'jose';
import { WireError } from './errors.js';

/** A validated client ephemeral public key. */
export interface ClientKey {
  /** The public JWK reduced to its required members. */
  jwk: JWK;
  /** RFC 7638 SHA-256 thumbprint, compared with a token's `cnf.jkt` (computed only when asked). */
  thumbprint(): Promise<string>;
  key: CryptoKey;
}

/** SEC 1 prefix of an uncompressed EC point (x ‖ y follow). */
const UNCOMPRESSED = Buffer.from([4]);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const CURVES: Record<string, { kty: string; y: boolean; length: number }> = {
  'P-256': { kty: 'EC', y: true, length: 32 },
  X25519: { kty: 'OKP', y: false, length: 32 },
};

function coordinate(name: string, v: unknown, bytes: number): string {
  const chars = Math.ceil((bytes * 4) / 3);
  if (typeof v !== 'string' || v.length !== chars || !/^[A-Za-z0-9_-]+$/.test(v)) {
    throw new WireError('malformed_request', `epk.${name} must be ${bytes} bytes in base64url (${chars} characters)`);
  }
  return v;
}

/** Checks and imports an ephemeral public JWK (P-256 or X25519) for ECDH-ES; throws WireError malformed_request. */
export async function importClientKey(epk: Record<string, unknown>): Promise<ClientKey> {
  for (const m of PRIVATE_MEMBERS) {
    if (m in epk) throw new WireError('malformed_request', `epk must be a public key: remove the private member "${m}"`);
  }
  const crv = epk['crv'];
  const spec = typeof crv === 'string' && Object.hasOwn(CURVES, crv) ? CURVES[crv] : undefined;
  if (!spec) throw new WireError('malformed_request', 'epk.crv must be P-256 or X25519');
  if (epk['kty'] !== spec.kty) throw new WireError('malformed_request', `epk.kty must be ${spec.kty} for ${String(crv)}`);
  const jwk: JWK = { kty: spec.kty, crv: crv as string, x: coordinate('x', epk['x'], spec.length) };
  if (spec.y) jwk.y = coordinate('y', epk['y'], spec.length);
  else if (epk['y'] !== undefined) throw new WireError('malformed_request', `epk for ${String(crv)} has no y member`);
  let key: CryptoKey;
  try {
    // The raw point (the JWK's coordinates, already checked above) imports in ~60 % of the CPU of
    // a JWK import; WebCrypto's raw import checks that an EC point lies on the curve just the same.
    const raw = spec.y ? Buffer.concat([UNCOMPRESSED, Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]) : Buffer.from(jwk.x!, 'base64url');
    key = await crypto.subtle.importKey('raw', raw, spec.kty === 'EC' ? { name: 'ECDH', namedCurve: jwk.crv! } : { name: jwk.crv! }, true, []);
  } catch (cause) {
    throw new WireError('malformed_request', 'epk is not a valid public key (point not on the curve?)', { cause });
  }
  return { jwk, key, thumbprint: () => calculateJwkThumbprint(jwk, 'sha256') };
}

/** The JWE protected header fields the key server adds. */
export interface ReleaseHeader {
  modelId: string;
  keyId: string;
  /** The sealing the release vouches for (the manifest's `sealing`). */
  sealing: string;
  /** Expiry of the release, seconds since the epoch. */
  exp: number;
  /** Expiry of the offline lease, seconds since the epoch; absent when none is granted. */
  lease?: number;
}

/**
 * Opt-in reuse of the server's ECDH-ES key pair (config `serverKeyReuseSeconds`; default 0: jose
 * makes a fresh pair per release, its documented behaviour). Reuse hands jose our key through the
 * `epk` key-management parameter, which jose marks "for testing and vector validation only": the
 * package.json pins jose to one minor version for it, and `selfTest()` refuses to start a server
 * whose jose ignores or refuses it. Each shared secret still differs (every client sends a fresh
 * key), and this process holds the content keys anyway, so a short reuse exposes nothing its
 * memory does not already hold; it saves one key generation per release (bench/keyserver.ts).
 */
export class ServerEphemeralKeys {
  readonly #reuseMs: number;
  readonly #pairs = new Map<string, { key: Promise<CryptoKey>; until: number }>();

  constructor(reuseMs: number) {
    this.#reuseMs = reuseMs;
  }

  /** True when a key pair is reused (reuseMs > 0). */
  get reusing(): boolean {
    return this.#reuseMs > 0;
  }

  /** The private key to use for a client key on `crv`, or undefined for a fresh one per release. */
  get(crv: string): Promise<CryptoKey> | undefined {
    if (this.#reuseMs <= 0) return undefined;
    const now = Date.now();
    let entry = this.#pairs.get(crv);
    if (!entry || entry.until <= now) {
      const algorithm = crv === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: crv };
      // Extractable so jose can export the public half into the JWE header.
      const key = (crypto.subtle.generateKey(algorithm, true, ['deriveBits']) as Promise<CryptoKeyPair>).then((p) => p.privateKey);
      entry = { key, until: now + this.#reuseMs };
      this.#pairs.set(crv, entry);
      key.catch(() => this.#pairs.delete(crv));
    }
    return entry.key;
  }

  /**
   * With reuse on: wraps a throwaway key to a throwaway client on every supported curve and
   * resolves why it failed when jose did not put our public key in `epk` or cannot decrypt it
   * (a jose that dropped the test-only parameter), else undefined. Without reuse: undefined.
   */
  async selfTest(alg: 'ECDH-ES+A256KW' | 'ECDH-ES'): Promise<string | undefined> {
    if (!this.reusing) return undefined;
    for (const crv of Object.keys(CURVES)) {
      try {
        const algorithm = crv === 'X25519' ? { name: 'X25519' } : { name: 'ECDH', namedCurve: crv };
        const pair = (await crypto.subtle.generateKey(algorithm, true, ['deriveBits'])) as CryptoKeyPair;
        const { kty, crv: c, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
        const client = await importClientKey({ kty, crv: c, x, ...(y === undefined ? {} : { y }) });
        const secret = crypto.getRandomValues(new Uint8Array(32));
        const jwe = await wrapContentKey(secret, client, { modelId: 'self-test', keyId: 'self-test', sealing: 'self-test', exp: 0 }, alg, this);
        const ours = await crypto.subtle.exportKey('jwk', await this.get(crv)!);
        const epk = decodeProtectedHeader(jwe).epk as JWK | undefined;
        if (epk?.x !== ours.x || epk?.y !== ours.y) return `jose ${crv}: the JWE's epk is not the reused key`;
        const { plaintext } = await compactDecrypt(jwe, pair.privateKey);
        if (plaintext.length !== 32 || plaintext.some((b, i) => b !== secret[i])) return `jose ${crv}: the JWE does not decrypt to the wrapped key`;
      } catch (err) {
        return `jose ${crv}: ${(err as Error).message}`;
      }
    }
    return undefined;
  }
}

/** Encrypts the content key to the client key: compact JWE, `alg` ECDH-ES(+A256KW), `enc` A256GCM. */
export async function wrapContentKey(contentKey: Uint8Array, client: ClientKey, header: ReleaseHeader, alg: 'ECDH-ES+A256KW' | 'ECDH-ES', serverKeys?: ServerEphemeralKeys): Promise<string> {
  const epk = serverKeys?.get(client.jwk.crv!);
  try {
    const jwe = new CompactEncrypt(contentKey).setProtectedHeader({ alg, enc: 'A256GCM', cty: 'modelseal-content-key', modelId: header.modelId, keyId: header.keyId, sealing: header.sealing, exp: header.exp, ...(header.lease === undefined ? {} : { lease: header.lease }) });
    // Test-only in jose's types (see ServerEphemeralKeys): used only when the operator opts in.
    if (epk) jwe.setKeyManagementParameters({ epk: await epk });
    return await jwe.encrypt(client.key);
  } catch (cause) {
    // A key that imports but yields no usable shared secret (e.g. a low-order X25519 point).
    throw new WireError('malformed_request', 'epk is not a usable public key', { cause });
  }
}
