// Master keys kept in files: the symmetric `master.key` (today's default, AES-256-GCM) and the
// asymmetric sealing key (ECDH-ES+A256KW JWE via jose): the key server holds the private JWK, CI
// holds only the public one, which wraps new content keys but can unwrap none (docs/OPERATIONS.md).

import { createHash, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { FlattenedEncrypt, calculateJwkThumbprint, exportJWK, flattenedDecrypt, generateKeyPair, importJWK, type JWK } from 'jose';
import { fromBase64url, toBase64url } from '../../format/bytes.js';
import { ModelsealError } from '../../format/errors.js';
import { readRegularText } from '../regular-file.js';
import { createFileExclusive } from '../atomic.js';
import type { MasterKeyContext, MasterKeyProvider } from './types.js';

/** First bytes of a symmetric master key file; 32 bytes in base64url follow. */
export const MASTER_PREFIX = 'modelseal-master-key/1:';
const SEALING_KIND = 'modelseal-sealing-key/1';
const SEALING_ALG = 'ECDH-ES+A256KW';
const SEALING_ENC = 'A256GCM';

/** The local symmetric master key: AES-256-GCM, key id and model id bound as associated data. */
export class FileMasterKey implements MasterKeyProvider {
  readonly id: string;
  readonly uri: string;
  readonly #key: Promise<CryptoKey>;

  constructor(raw: Uint8Array, uri = 'file:master.key') {
    // The id formula is fixed: stores written before master keys became URIs record it.
    this.id = createHash('sha256').update('modelseal master key id\0').update(raw).digest('hex').slice(0, 16);
    this.uri = uri;
    this.#key = crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  }

  async wrap(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const iv = randomBytes(12);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad as BufferSource }, await this.#key, plain as BufferSource));
    const out = new Uint8Array(12 + ct.length);
    out.set(iv);
    out.set(ct, 12);
    return out;
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const iv = wrapped.subarray(0, 12);
    try {
      return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: aad as BufferSource }, await this.#key, wrapped.subarray(12) as BufferSource));
    } catch (cause) {
      throw new ModelsealError('master_key_wrong', `the master key ${this.uri} cannot unwrap this key: it is another master key, or the wrapped key was altered`, { cause });
    }
  }
}

/** Parses the text of a master.key file; a damaged file is `master_key_wrong` (never replaced). */
export function parseMasterKeyText(text: string, path: string, uri?: string): FileMasterKey {
  const body = text.trim();
  let raw: Uint8Array | undefined;
  if (body.startsWith(MASTER_PREFIX)) {
    try {
      raw = fromBase64url(body.slice(MASTER_PREFIX.length));
    } catch {
      raw = undefined;
    }
  }
  if (!raw || raw.length !== 32) {
    throw new ModelsealError('master_key_wrong', `the master key file ${path} is damaged (expected "${MASTER_PREFIX}" and 32 bytes in base64url): restore it from your backup`, { file: path });
  }
  return new FileMasterKey(raw, uri);
}

/** The text of a new random symmetric master key file. */
export function newMasterKeyText(): string {
  return `${MASTER_PREFIX}${toBase64url(randomBytes(32))}\n`;
}

/**
 * An asymmetric sealing key (P-256, JWE ECDH-ES+A256KW with A256GCM, the AAD in the JWE's
 * authenticated data). Opened from the public JWK it wraps and generates but refuses to unwrap.
 */
export class SealingKey implements MasterKeyProvider {
  readonly id: string;
  readonly uri: string;
  readonly sealOnly: boolean;
  readonly #public: CryptoKey;
  readonly #private: CryptoKey | undefined;

  private constructor(id: string, uri: string, pub: CryptoKey, priv: CryptoKey | undefined) {
    this.id = id;
    this.uri = uri;
    this.#public = pub;
    this.#private = priv;
    this.sealOnly = priv === undefined;
  }

  /** Opens a sealing key from its JWK (private: full use; public: wrap and generate only). */
  static async fromJwk(jwk: JWK, uri: string, path: string): Promise<SealingKey> {
    const bad = (why: string) => new ModelsealError('config_invalid', `the sealing key ${path} is not usable: ${why}; make one with \`modelseal keys new-sealing-key\``, { file: path });
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw bad('expected an EC P-256 JWK');
    const pubJwk: JWK = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
    let pub: CryptoKey;
    let priv: CryptoKey | undefined;
    try {
      pub = (await importJWK(pubJwk, SEALING_ALG)) as CryptoKey;
      priv = typeof jwk.d === 'string' ? ((await importJWK({ ...pubJwk, d: jwk.d }, SEALING_ALG)) as CryptoKey) : undefined;
    } catch (cause) {
      throw Object.assign(bad((cause as Error).message), { cause });
    }
    // Both halves give one id (from the public key), so keys.json's masterKeyId matches either.
    const id = `s${createHash('sha256').update('modelseal sealing key id\0').update(await calculateJwkThumbprint(pubJwk, 'sha256')).digest('hex').slice(0, 15)}`;
    return new SealingKey(id, uri, pub, priv);
  }

  async wrap(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const jwe = await new FlattenedEncrypt(plain).setProtectedHeader({ alg: SEALING_ALG, enc: SEALING_ENC, kid: this.id }).setAdditionalAuthenticatedData(aad).encrypt(this.#public);
    return new TextEncoder().encode(JSON.stringify(jwe));
  }

  async generate(aad: Uint8Array): Promise<{ key: Uint8Array; wrapped: Uint8Array }> {
    const key = new Uint8Array(randomBytes(32));
    return { key, wrapped: await this.wrap(key, aad) };
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (!this.#private) {
      throw new ModelsealError('master_key_missing', `${this.uri} is the public half of a sealing key: it seals new key versions but unwraps none; the key server holds the private half`);
    }
    try {
      const jwe = JSON.parse(new TextDecoder().decode(wrapped)) as Parameters<typeof flattenedDecrypt>[0];
      const out = await flattenedDecrypt(jwe, this.#private, { keyManagementAlgorithms: [SEALING_ALG], contentEncryptionAlgorithms: [SEALING_ENC] });
      // jose authenticates the JWE's own aad; it must also be the one this key version expects.
      if (!out.additionalAuthenticatedData || toBase64url(out.additionalAuthenticatedData) !== toBase64url(aad)) throw new Error('the wrapped key belongs to another key version');
      return out.plaintext;
    } catch (cause) {
      throw new ModelsealError('master_key_wrong', `the sealing key ${this.uri} cannot unwrap this key: it is another key, or the wrapped key was altered`, { cause });
    }
  }
}

/** Makes a new sealing key pair: the private JWK (key server) and the public JWK (CI). */
export async function newSealingKeyPair(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey } = await generateKeyPair(SEALING_ALG, { crv: 'P-256', extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: privateJwk.x!, y: privateJwk.y! };
  return { privateJwk: { ...privateJwk, alg: SEALING_ALG, use: 'enc' }, publicJwk: { ...publicJwk, alg: SEALING_ALG, use: 'enc' } };
}

/** Writes a new sealing key pair to two new files (0600 private, 0644 public); refuses to replace either. */
export async function writeSealingKeyPair(privatePath: string, publicPath: string): Promise<{ id: string }> {
  const { privateJwk, publicJwk } = await newSealingKeyPair();
  const text = (jwk: JWK) => `${JSON.stringify({ kind: SEALING_KIND, ...jwk }, null, 2)}\n`;
  if (!(await createFileExclusive(privatePath, text(privateJwk), 0o600))) {
    throw new ModelsealError('output_exists', `${privatePath} already exists: a sealing key is never replaced; choose another path`, { file: privatePath });
  }
  // Without its public half a new private half serves nobody: when that write fails, remove it.
  let written: boolean;
  try {
    written = await createFileExclusive(publicPath, text(publicJwk), 0o644);
  } catch (err) {
    await rm(privatePath, { force: true }).catch(() => undefined);
    throw err;
  }
  if (!written) {
    await rm(privatePath, { force: true }).catch(() => undefined);
    throw new ModelsealError('output_exists', `${publicPath} already exists: choose another path (nothing was written)`, { file: publicPath });
  }
  return { id: (await SealingKey.fromJwk(publicJwk, `file:${publicPath}`, publicPath)).id };
}

/**
 * Opens `file:PATH` (relative to the store): a `modelseal-master-key/1:` file, or a sealing key
 * JWK (private or public half). A missing file is `master_key_missing`.
 */
export async function openFileMasterKey(uri: string, ctx: MasterKeyContext): Promise<MasterKeyProvider> {
  const rest = uri.slice('file:'.length);
  let path: string;
  try {
    path = decodeURIComponent(rest.startsWith('//') ? new URL(uri).pathname : rest);
  } catch {
    throw new ModelsealError('config_invalid', `master key ${JSON.stringify(uri)}: the path is not valid percent-encoding`);
  }
  if (path === '') throw new ModelsealError('config_invalid', 'master key "file:" needs a path, e.g. file:master.key (relative to the store) or file:/etc/modelseal/master.key');
  const full = isAbsolute(path) ? path : join(ctx.storeDir, path);
  let text: string;
  try {
    text = await readRegularText(full);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelsealError('master_key_missing', `the master key ${full} (${uri}) is missing: restore it from your backup, or make one with \`modelseal keys new-master-key\``, { cause, file: full });
    }
    throw new ModelsealError('io_error', `cannot read the master key ${full}: ${(cause as Error).message}`, { cause, file: full });
  }
  const body = text.trim();
  if (body.startsWith('{')) {
    let jwk: JWK & { kind?: string };
    try {
      jwk = JSON.parse(body) as JWK & { kind?: string };
    } catch (cause) {
      throw new ModelsealError('config_invalid', `the sealing key ${full} is not JSON: restore it from your backup`, { cause, file: full });
    }
    const { kind: _kind, ...key } = jwk;
    return SealingKey.fromJwk(key, uri, full);
  }
  return parseMasterKeyText(text, full, uri);
}
