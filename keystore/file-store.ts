// The embedded default keystore: a folder with a master key and content keys wrapped under it.
// Layout (docs/OPERATIONS.md): master.key (0600), keys.json (0600), token.secret (0600), audit.log.

import { randomBytes } from 'node:crypto';
import { lstat, readlink, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fromBase64url, toBase64url } from '../format/bytes.js';
import { DIGEST_PATTERN, ID_PATTERN } from '../format/manifest.js';
import { ID_RULE } from '../format/ids.js';
import { isModelsealError, ModelsealError } from '../format/errors.js';
import { parseStrictJson, StrictJsonError } from '../format/json.js';
import { createStoreFolder, createStoreSecrets, createTokenSecret } from './create.js';
import { newMasterKeyText, parseMasterKeyText } from './master/file.js';
import { readRegularText } from './regular-file.js';
import { lockStore, writeWhileHeld } from './lock.js';
import type { MasterKeyProvider } from './master/types.js';

/** Lifecycle of a key version: `active` seals and releases, `retired` only releases, `revoked` does neither. */
export type KeyState = 'active' | 'retired' | 'revoked';

/** Public facts about one key version (no key material). */
export interface KeyRecord {
  modelId: string;
  keyId: string;
  state: KeyState;
  createdAt: string;
  revokedAt?: string;
  /** After this time the version is no longer released. */
  expiresAt?: string;
  /** The sealings made with this version (each a manifest's `sealing` digest); only these are released. */
  sealings: string[];
}

/** A key version with its content key. */
export interface ContentKey {
  record: KeyRecord;
  /** The 32-byte input key. Secret: never log or send it unwrapped. */
  key: Uint8Array;
}

export type { MasterKeyProvider } from './master/types.js';

/** What the key server needs from any keystore (the local folder now, shared stores later). */
export interface KeyStoreReader {
  /** All key versions, newest last. */
  list(): Promise<KeyRecord[]>;
  /** The key version, or undefined when the store has no such version. */
  get(modelId: string, keyId: string): Promise<ContentKey | undefined>;
  /** The HMAC secret for development session tokens. */
  tokenSecret(): Promise<Uint8Array>;
  /** One read of the store whose keys can be unwrapped later from that read, whatever becomes of the store (optional; the server keeps its last good one). */
  view?(): Promise<KeyStoreView>;
}

/** The key versions of one read of a keystore, and their content keys from that same read. */
export interface KeyStoreView {
  records: KeyRecord[];
  get(modelId: string, keyId: string): Promise<ContentKey | undefined>;
}

const STORE_VERSION = 'modelseal-keystore/1';
/** Largest keys.json read: far above any real store (a key version with a thousand sealings is ~50 KB). */
const KEYS_FILE_BYTES = 256 * 1024 * 1024;

interface StoredKey extends KeyRecord {
  wrapped: string;
}

interface StoreDocument {
  version: typeof STORE_VERSION;
  masterKeyId: string;
  keys: StoredKey[];
}

function wrapAad(modelId: string, keyId: string): Uint8Array {
  return new TextEncoder().encode(`${STORE_VERSION}\0${modelId}\0${keyId}`);
}

/** The store folder the CLI and server use: `--store`, else $MODELSEAL_HOME, else ./.modelseal. */
export function defaultStoreDir(explicit?: string): string {
  // An empty MODELSEAL_HOME is unset, not the working folder.
  return resolve(explicit ?? (process.env['MODELSEAL_HOME'] || '.modelseal'));
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * The local keystore folder. Readers see whole snapshots (atomic renames); writers take a lock
 * file so two processes never lose each other's changes.
 */
export class FileKeyStore implements KeyStoreReader {
  readonly dir: string;
  #master: MasterKeyProvider;
  /** Called after each write of keys.json (the CLI uses it to notify key servers over Redis). */
  onWrite: (() => unknown) | undefined;
  #cache: { mtimeMs: number; size: number; doc: StoreDocument } | undefined;

  private constructor(dir: string, master: MasterKeyProvider) {
    this.dir = dir;
    this.#master = master;
  }

  /** Path of the keys document. */
  get keysPath(): string {
    return join(this.dir, 'keys.json');
  }

  /** Path of the audit log the key server appends to. */
  get auditPath(): string {
    return join(this.dir, 'audit.log');
  }

  /**
   * Opens the store at `dir`. With `create`, makes the folder, master key and token secret when
   * absent and reports `created: true`. A missing or wrong master key is an error, never replaced.
   */
  static async open(dir: string, options: { create?: boolean; master?: MasterKeyProvider; onWrite?: () => unknown } = {}): Promise<{ store: FileKeyStore; created: boolean }> {
    const root = resolve(dir);
    let created = false;
    let exists = true;
    try {
      const s = await stat(root);
      if (!s.isDirectory()) throw new ModelsealError('keystore_invalid', `keystore path ${root} is not a folder`, { file: root });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      exists = false;
    }
    if (!exists) {
      if (!options.create) {
        throw new ModelsealError('key_not_found', `no keystore at ${root}: seal a model first, or point --store / MODELSEAL_HOME at the right folder`, { file: root });
      }
      // With the file master key, `created` means this process made master.key (below), not just the folder.
      if (createStoreFolder(root) && options.master) created = true;
    }
    // A store on an external master key has no master.key: only the token secret is made here.
    if (options.master && options.create) await createTokenSecret(root);
    const masterPath = join(root, 'master.key');
    let master = options.master;
    if (!master) {
      let text: string | undefined;
      try {
        text = await readRegularText(masterPath);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (text === undefined) {
        const keysExist = await stat(join(root, 'keys.json')).then(() => true, () => false);
        if (keysExist || !options.create) {
          throw new ModelsealError('master_key_missing', `the master key ${masterPath} is missing${keysExist ? ' but the store holds wrapped keys' : ''}: restore it from your backup; modelseal never makes a new one over existing keys`, { file: masterPath });
        }
        const masterText = newMasterKeyText();
        if (await createStoreSecrets(root, masterText, `${toBase64url(randomBytes(32))}\n`)) {
          created = true;
          master = parseMasterKeyText(masterText, masterPath);
        } else {
          // Another process created the store first: use its master key, never a second one.
          text = await readRegularText(masterPath);
        }
      }
      if (text !== undefined) master = parseMasterKeyText(text, masterPath);
    }
    if (!master) throw new Error('internal: no master key');
    const store = new FileKeyStore(root, master);
    store.onWrite = options.onWrite;
    const doc = await store.#read();
    if (doc.keys.length > 0 && doc.masterKeyId !== master.id) {
      const which = options.master ? master.uri : masterPath;
      throw new ModelsealError('master_key_wrong', `the master key ${which} is not the one that wrapped the keys in ${store.keysPath} (id ${master.id}, expected ${doc.masterKeyId}): use the right master key (--master-key / MODELSEAL_MASTER_KEY), or restore it`, { file: options.master ? store.keysPath : masterPath });
    }
    return { store, created };
  }

  async #read(): Promise<StoreDocument> {
    let s;
    try {
      s = await stat(this.keysPath);
    } catch (err) {
      if (isNotFound(err)) {
        // A link to a file that is not there (an unmounted volume) is not an empty store: one
        // would otherwise start over, with new keys under old ids.
        const target = await readlink(this.keysPath).catch(() => undefined);
        if (target !== undefined) throw new ModelsealError('io_error', `${this.keysPath} is a symbolic link to ${target}, which does not exist: mount or restore it (the keystore never starts over while keys.json is there)`, { file: this.keysPath });
        return { version: STORE_VERSION, masterKeyId: this.#master.id, keys: [] };
      }
      throw err;
    }
    if (this.#cache && this.#cache.mtimeMs === s.mtimeMs && this.#cache.size === s.size) return this.#cache.doc;
    const text = await readRegularText(this.keysPath, KEYS_FILE_BYTES);
    const doc = parseStore(text, this.keysPath);
    this.#cache = { mtimeMs: s.mtimeMs, size: s.size, doc };
    return doc;
  }

  /** All key versions (no key material), in creation order. */
  async list(): Promise<KeyRecord[]> {
    return (await this.#read()).keys.map(publicRecord);
  }

  /** A key version with its unwrapped content key, or undefined. */
  async get(modelId: string, keyId: string): Promise<ContentKey | undefined> {
    return this.#getFrom(await this.#read(), modelId, keyId);
  }

  /** This read of keys.json: its records, and its keys unwrapped from it even once the file is damaged or gone (the server's last good state). */
  async view(): Promise<KeyStoreView> {
    const doc = await this.#read();
    return { records: doc.keys.map(publicRecord), get: (modelId, keyId) => this.#getFrom(doc, modelId, keyId) };
  }

  async #getFrom(doc: StoreDocument, modelId: string, keyId: string): Promise<ContentKey | undefined> {
    const entry = doc.keys.find((k) => k.modelId === modelId && k.keyId === keyId);
    return entry ? { record: publicRecord(entry), key: await this.#unwrap(entry) } : undefined;
  }

  /** The active key version of a model, or undefined. */
  async active(modelId: string): Promise<ContentKey | undefined> {
    const entry = (await this.#read()).keys.find((k) => k.modelId === modelId && k.state === 'active');
    return entry ? { record: publicRecord(entry), key: await this.#unwrap(entry) } : undefined;
  }

  /** The HMAC secret for development tokens (`modelseal token`, the embedded server). */
  async tokenSecret(): Promise<Uint8Array> {
    const path = join(this.dir, 'token.secret');
    let text: string;
    try {
      text = await readRegularText(path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      throw new ModelsealError('keystore_invalid', `${path} is missing: restore it, or create a new one with \`modelseal keys new-token-secret\``, { file: path });
    }
    try {
      const raw = fromBase64url(text.trim());
      if (raw.length < 32) throw new Error('short');
      return raw;
    } catch {
      throw new ModelsealError('keystore_invalid', `${path} is damaged: expected 32 or more bytes in base64url`, { file: path });
    }
  }

  /**
   * Creates a new active key version for `modelId`; the previous active version becomes `retired`
   * (still released for files sealed with it), with `retireExpiresAt` as its expiry when given.
   */
  async rotate(modelId: string, options: { retireExpiresAt?: Date } = {}): Promise<ContentKey> {
    if (!ID_PATTERN.test(modelId)) {
      throw new ModelsealError('usage', `model id ${JSON.stringify(modelId)} must be ${ID_RULE}`);
    }
    return this.#update(async (doc) => {
      const versions = doc.keys.filter((k) => k.modelId === modelId);
      // BigInt: a hand-written k99999999999999999999 must not become k1e+20 (not an id) or repeat one.
      const next = versions.reduce((n, k) => { const d = /^k(\d+)$/.exec(k.keyId)?.[1]; return d !== undefined && BigInt(d) > n ? BigInt(d) : n; }, 0n) + 1n;
      for (const k of versions) {
        if (k.state === 'active') {
          k.state = 'retired';
          if (options.retireExpiresAt) k.expiresAt = options.retireExpiresAt.toISOString();
        }
      }
      const keyId = `k${next}`;
      if (!ID_PATTERN.test(keyId)) throw new ModelsealError('usage', `the next key id of ${modelId} would be ${keyId.slice(0, 40)}…, longer than an id may be (${ID_RULE}); the versions in ${this.keysPath} are numbered by hand past what rotate can follow`);
      const record: KeyRecord = { modelId, keyId, state: 'active', createdAt: new Date().toISOString(), sealings: [] };
      const aad = wrapAad(modelId, keyId);
      // A provider that can generate (a KMS data key, a public sealing key) needs no right to unwrap.
      let made: { key: Uint8Array; wrapped: Uint8Array };
      if (this.#master.generate) made = await this.#master.generate(aad);
      else {
        const key = new Uint8Array(randomBytes(32));
        made = { key, wrapped: await this.#master.wrap(key, aad) };
      }
      doc.keys.push({ ...record, wrapped: toBase64url(made.wrapped) });
      return { record, key: made.key };
    });
  }

  /**
   * Records a sealing (a manifest's `sealing` digest) for a key version, so the key server releases
   * the key for it. Returns false when it was already recorded. Refuses unknown and revoked versions.
   */
  async publish(modelId: string, keyId: string, sealing: string): Promise<boolean> {
    if (!DIGEST_PATTERN.test(sealing)) throw new TypeError('a sealing is a SHA-256 digest in unpadded base64url');
    return this.#update(async (doc) => {
      const entry = doc.keys.find((k) => k.modelId === modelId && k.keyId === keyId);
      if (!entry) throw new ModelsealError('key_not_found', `no key ${keyId} for model ${JSON.stringify(modelId)} in ${this.dir}: see \`modelseal keys list\``);
      if (entry.state === 'revoked') throw new ModelsealError('key_revoked', `key ${keyId} of model ${modelId} is revoked: seal with the active key version instead`);
      entry.sealings ??= [];
      if (entry.sealings.includes(sealing)) return false;
      entry.sealings.push(sealing);
      return true;
    });
  }

  /** Revokes one key version, or every version of the model when `keyId` is omitted. Returns what changed. */
  async revoke(modelId: string, keyId?: string): Promise<KeyRecord[]> {
    return this.#update(async (doc) => {
      const targets = doc.keys.filter((k) => k.modelId === modelId && (keyId === undefined || k.keyId === keyId));
      if (targets.length === 0) {
        throw new ModelsealError('key_not_found', `no key ${keyId === undefined ? 'versions' : keyId} for model ${JSON.stringify(modelId)} in ${this.dir}: see \`modelseal keys list\``);
      }
      const now = new Date().toISOString();
      const changed: KeyRecord[] = [];
      for (const k of targets) {
        if (k.state === 'revoked') continue;
        k.state = 'revoked';
        k.revokedAt = now;
        changed.push(publicRecord(k));
      }
      return changed;
    });
  }

  async #unwrap(entry: StoredKey): Promise<Uint8Array> {
    try {
      return await this.#master.unwrap(fromBase64url(entry.wrapped), wrapAad(entry.modelId, entry.keyId));
    } catch (cause) {
      // An outage or a public-only key says so; everything else is a wrong key or altered bytes.
      if (isModelsealError(cause, 'master_key_unavailable') || isModelsealError(cause, 'master_key_missing') || isModelsealError(cause, 'missing_dependency')) throw cause;
      throw new ModelsealError('master_key_wrong', `cannot unwrap key ${entry.keyId} of model ${entry.modelId}: the master key does not match, or ${this.keysPath} was altered`, { cause, file: this.keysPath });
    }
  }

  /** The master key this store was opened with (id and redacted URI are public; no key material). */
  get master(): MasterKeyProvider {
    return this.#master;
  }

  /**
   * Moves every content key to another master key without changing any content key: each is
   * unwrapped with the current master key and wrapped with `target`, and keys.json is replaced in
   * one atomic rename under the store lock, so a crash leaves the old document or the new one.
   * Afterwards this store uses `target`. Returns how many keys moved.
   */
  async rewrap(target: MasterKeyProvider): Promise<number> {
    if (target.id === this.#master.id) throw new ModelsealError('usage', `the store is already wrapped by ${target.uri} (id ${target.id}): nothing to rewrap`);
    // Wrapping to a key this process cannot unwrap with could lock the store out for good.
    if (target.sealOnly) throw new ModelsealError('usage', `${target.uri} is the public half of a sealing key: rewrap to the private half (the key server's file), then give CI the public half`);
    let moved = 0;
    await this.#update(async (doc) => {
      for (const entry of doc.keys) {
        const aad = wrapAad(entry.modelId, entry.keyId);
        const key = await this.#unwrap(entry);
        try {
          const wrapped = await target.wrap(key, aad);
          // Never write a wrapping that does not come back.
          const back = await target.unwrap(wrapped, aad);
          if (toBase64url(back) !== toBase64url(key)) throw new ModelsealError('master_key_wrong', `${target.uri} did not unwrap what it wrapped: the store is unchanged`);
          back.fill(0);
          entry.wrapped = toBase64url(wrapped);
        } finally {
          key.fill(0);
        }
        moved++;
      }
    }, target);
    this.#master = target;
    return moved;
  }

  /** Closes the master key's sessions (HSM, KMS clients). */
  async close(): Promise<void> {
    await this.#master.close?.();
  }

  /** Read-modify-write under a cross-process lock, written atomically. */
  async #update<T>(change: (doc: StoreDocument) => Promise<T>, nextMaster: MasterKeyProvider = this.#master): Promise<T> {
    let written = false;
    const release = await lockStore(this.dir);
    try {
      this.#cache = undefined;
      const base = await lstat(this.keysPath).catch((err: unknown) => { if (isNotFound(err)) return null; throw err; });
      if (base?.isSymbolicLink()) {
        throw new ModelsealError('io_error', `${this.keysPath} is a symbolic link to ${await readlink(this.keysPath)}: a write replaces keys.json whole, which would replace the link and leave its target stale; run the command on the folder that holds the file (--store)`, { file: this.keysPath });
      }
      const doc = structuredClone(await this.#read());
      if (doc.keys.length > 0 && doc.masterKeyId !== this.#master.id) {
        throw new ModelsealError('master_key_wrong', `the master key is not the one that wrapped ${this.keysPath}`);
      }
      doc.masterKeyId = this.#master.id;
      const before = JSON.stringify(doc);
      const result = await change(doc);
      doc.masterKeyId = nextMaster.id;
      // Nothing changed (a revoke of a revoked version, a sealing already published): no write, no notice.
      if (JSON.stringify(doc) === before && base !== null) return result;
      await writeWhileHeld(release, this.keysPath, `${JSON.stringify(doc, null, 2)}\n`, base);
      this.#cache = undefined;
      written = true;
      return result;
    } finally {
      await release();
      // The write is done whatever the hook does: a failed notice only delays servers to their next poll.
      if (written) await Promise.resolve().then(this.onWrite).catch(() => undefined);
    }
  }
}

function publicRecord(k: StoredKey): KeyRecord {
  const record: KeyRecord = { modelId: k.modelId, keyId: k.keyId, state: k.state, createdAt: k.createdAt, sealings: [...(k.sealings ?? [])] };
  if (k.revokedAt) record.revokedAt = k.revokedAt;
  if (k.expiresAt) record.expiresAt = k.expiresAt;
  return record;
}

function parseStore(text: string, path: string): StoreDocument {
  const bad = (problem: string) => new ModelsealError('keystore_invalid', `${path} is damaged: ${problem}; restore it from a backup`, { file: path });
  let doc: unknown;
  try {
    // Strict: a duplicate member (a bad hand merge) would otherwise be read as its last copy, and
    // a duplicate "keys" as an empty store that the next write makes final.
    doc = parseStrictJson(text, { integersOnly: false });
  } catch (err) {
    throw bad(err instanceof StrictJsonError ? err.message : 'not JSON');
  }
  const d = doc as Partial<StoreDocument>;
  if (typeof doc !== 'object' || doc === null || d.version !== STORE_VERSION) throw bad(`version is not ${STORE_VERSION}`);
  if (typeof d.masterKeyId !== 'string' || !Array.isArray(d.keys)) throw bad('masterKeyId or keys missing');
  const seen = new Set<string>();
  for (const [i, k] of d.keys.entries()) {
    if (typeof k !== 'object' || k === null || typeof k.modelId !== 'string' || typeof k.keyId !== 'string' || typeof k.wrapped !== 'string' || !['active', 'retired', 'revoked'].includes(k.state)) {
      throw bad(`key entry ${i} lacks modelId, keyId, state or wrapped`);
    }
    const which = `key entry ${i} (${k.modelId.slice(0, 40)} ${k.keyId.slice(0, 40)})`;
    const problem = entryProblem(k);
    if (problem) throw bad(`${which}: ${problem}`);
    const id = `${k.modelId}\0${k.keyId}`;
    if (seen.has(id)) throw bad(`${which} appears twice`);
    seen.add(id);
  }
  return d as StoreDocument;
}

/** What is wrong with a key entry's fields, or undefined (the types of the four required ones are checked by the caller). */
function entryProblem(k: StoredKey): string | undefined {
  if (!ID_PATTERN.test(k.modelId) || !ID_PATTERN.test(k.keyId)) return `the model id or key id is not valid (${ID_RULE})`;
  if (!/^[A-Za-z0-9_-]+$/.test(k.wrapped)) return 'wrapped is not base64url';
  if (!isDate(k.createdAt)) return 'createdAt is not a date';
  // An expiry that is not a date would read as never expiring: refused, not guessed.
  for (const field of ['revokedAt', 'expiresAt'] as const) if (k[field] !== undefined && !isDate(k[field])) return `${field} is not a date`;
  // Stores written before sealing records existed have none: their sealings must be published.
  if (k.sealings !== undefined && (!Array.isArray(k.sealings) || k.sealings.some((d) => typeof d !== 'string' || !DIGEST_PATTERN.test(d)))) return 'its sealings are not a list of digests';
  return undefined;
}

/** An ISO 8601 date-time as this store writes them (Date#toISOString), or any string Date.parse reads. */
function isDate(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && !Number.isNaN(Date.parse(value));
}
