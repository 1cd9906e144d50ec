// Offline leases (docs/LOADER.md "Offline leases"): the sealed files (ciphertext only) in Cache
// Storage and the content key as a non-extractable CryptoKey in IndexedDB, until the lease the key
// server granted ends. Plaintext never reaches either store. The lease is enforced here, in the
// client: THREAT_MODEL.md says what that does and does not buy.

import { isModelsealError, ModelsealError, withNote } from '../format/errors.js';
import type { SealedManifest } from '../format/manifest.js';
import { abortReason } from './abort.js';
import type { FetchFunction } from './options.js';
import { isNode } from './runtime.js';

/** The Cache Storage cache holding the sealed files of offline leases. */
export const OFFLINE_CACHE = 'modelseal-offline';
/** The IndexedDB database (one object store, `leases`, keyed by manifest URL) holding the leased keys. */
export const OFFLINE_DATABASE = 'modelseal-offline';
const STORE = 'leases';
const DB_VERSION = 1;

/** What IndexedDB holds per manifest URL. */
interface LeaseRecord {
  url: string;
  modelId: string;
  keyId: string;
  sealing: string;
  /** End of the lease, seconds since the epoch (the JWE header `lease`). */
  lease: number;
  /** The content key: an HMAC-SHA-512 CryptoKey, non-extractable (structured clone keeps that). */
  key: CryptoKey;
  /** Every URL this lease keeps in the cache (manifest, header file, shards). */
  files: string[];
}

/** Refuses where the two stores do not exist (Node, pages outside a secure context). */
function checkSupport(): void {
  if (isNode()) {
    throw new ModelsealError('offline_unavailable', 'options.offline needs a browser\'s Cache Storage and IndexedDB, which Node does not have: load without offline (every load then asks the key server)');
  }
  if (typeof caches === 'undefined' || typeof indexedDB === 'undefined') {
    throw new ModelsealError('offline_unavailable', 'options.offline needs Cache Storage and IndexedDB, which this page does not have (browsers give Cache Storage only to secure contexts: serve the app over https or from localhost)');
  }
}

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new DOMException('transaction aborted', 'AbortError'));
  });
}

/**
 * Opens the database. Without `create`, a database that does not exist yet is not made (the
 * upgrade is aborted, which removes the new database again): a load whose policy grants no lease
 * leaves no trace in IndexedDB.
 */
function openDatabase(create: boolean): Promise<IDBDatabase | undefined> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(OFFLINE_DATABASE, DB_VERSION);
    let aborted = false;
    request.onupgradeneeded = () => {
      if (!create) {
        aborted = true;
        request.transaction?.abort();
        return;
      }
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE, { keyPath: 'url' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => (aborted ? resolve(undefined) : reject(request.error));
    request.onblocked = () => reject(new DOMException('the offline database is held open by an older version of this app in another tab', 'InvalidStateError'));
  });
}

async function withStore<T>(mode: IDBTransactionMode, create: boolean, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T | undefined> {
  const db = await openDatabase(create);
  if (!db) return undefined;
  try {
    const tx = db.transaction(STORE, mode);
    const result = done(run(tx.objectStore(STORE)));
    await committed(tx);
    return await result;
  } finally {
    db.close();
  }
}

function storageError(what: string, cause: unknown): ModelsealError {
  // A database at a higher version (a later modelseal, then a rollback of the app) cannot be opened by this one.
  const fix = (cause as DOMException | undefined)?.name === 'VersionError'
    ? 'the offline database was made by another version of modelseal: clearOffline() with no URL deletes it (every offline copy), then loads lease again'
    : 'check that the site may store data (not blocked, quota left), or load without offline';
  return new ModelsealError('offline_unavailable', `the browser's offline storage failed while ${what}: ${(cause as Error)?.message ?? String(cause)}; ${fix}`, { cause });
}

/** Deletes the whole offline database, whatever its version or shape. */
function deleteDatabase(): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(OFFLINE_DATABASE);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}

function isLeaseRecord(v: unknown): v is LeaseRecord {
  const r = v as Partial<LeaseRecord> | null;
  return typeof r === 'object' && r !== null && typeof r.url === 'string' && typeof r.modelId === 'string' && typeof r.keyId === 'string'
    && typeof r.sealing === 'string' && Number.isSafeInteger(r.lease) && Array.isArray(r.files) && r.files.every((f) => typeof f === 'string')
    && typeof CryptoKey !== 'undefined' && r.key instanceof CryptoKey && r.key.type === 'secret' && r.key.algorithm.name === 'HMAC';
}

async function readRecord(url: string): Promise<unknown> {
  try {
    return await withStore('readonly', false, (s) => s.get(url) as IDBRequest<unknown>);
  } catch (cause) {
    throw storageError('reading the offline lease', cause);
  }
}

/** Removes a lease record and its cached files (missing ones are fine). */
async function removeLease(url: string, files: string[]): Promise<void> {
  await withStore('readwrite', false, (s) => s.delete(url));
  if (files.length > 0 && (await caches.has(OFFLINE_CACHE))) {
    const cache = await caches.open(OFFLINE_CACHE);
    await Promise.all(files.map((f) => cache.delete(f)));
  }
}

/** A Response for a file the offline copy lacks: the loader reports it as `file_unavailable`. */
function missing(): Response {
  return new Response(null, { status: 504, statusText: 'Not in the offline cache' });
}

/**
 * Runs one load with offline leases on (`enabled`: a session from the lease store) or off
 * (undefined). A failed load's copy is discarded and its error explained (`lease_expired` after a
 * lease that ended); committing the copy on success is the load's own step. A stored copy that is
 * stale (the app pins another model, key or sealing) or damaged is dropped, and the load runs once
 * more online, asking for a new lease.
 */
export async function withOfflineSession<T>(enabled: boolean, url: string, fetch: FetchFunction, run: (offline: OfflineSession | undefined) => Promise<T>): Promise<T> {
  if (!enabled) return run(undefined);
  const offline = await OfflineSession.start(url, fetch);
  try {
    return await run(offline);
  } catch (err) {
    await offline.discard().catch(() => undefined);
    const why = offline.mode === 'cached' ? copyFailure(err) : undefined;
    if (why === undefined) throw offline.explain(err);
    // Not the host's fault: drop the copy and load online once. A stale copy fails on the cached
    // manifest's pins, before any progress past 0; after a damaged one, progress holds where it
    // was until the online load passes it (Progress never goes back).
    await offline.drop().catch(() => undefined);
    const online = await OfflineSession.start(url, fetch);
    try {
      return await run(online);
    } catch (retryErr) {
      await online.discard().catch(() => undefined);
      // Offline (the reason for a lease): the damage is the news, not the network.
      if (why === 'damaged' && isModelsealError(retryErr) && NETWORK_CODES.has(retryErr.code)) {
        throw withNote(err as ModelsealError, `this load read the browser's offline copy of ${url}, which is damaged: it was removed, and loading the model online instead failed too (${retryErr.code}: ${retryErr.message}); load again once online`);
      }
      throw online.explain(retryErr);
    }
  }
}

/** Why a load from the stored copy failed for the copy's sake (`stale` or `damaged`), or undefined. */
function copyFailure(err: unknown): 'stale' | 'damaged' | undefined {
  if (!(err instanceof ModelsealError)) return undefined;
  // The app pins a model, key or sealing the copy is not (it resealed and pins the new one).
  if (err.code === 'unexpected_model') return 'stale';
  return DAMAGED_COPY.has(err.code) ? 'damaged' : undefined;
}

// Codes of a load that could not get what it needed from the network (the file host, the key
// server, the app's token backend): what a device offline meets.
const NETWORK_CODES = new Set(['key_server_unreachable', 'file_unavailable', 'timeout', 'key_server_error', 'token_unavailable']);

// Codes by which the stored copy itself fails (a browser's storage altered or damaged on disk).
const DAMAGED_COPY = new Set(['tampered', 'truncated', 'trailing_data', 'misplaced_shard', 'wrong_key', 'manifest_invalid', 'header_invalid']);

/**
 * One load with `offline: true`. In `cached` mode it serves the model files from Cache Storage (one
 * the copy lacks from the file host) and gives the stored key (no request to the key server); in
 * `online` mode it loads as usual, asks for a lease, and keeps copies of the sealed files it
 * fetched, which `commit` stores once the lease is granted.
 */
export class OfflineSession {
  readonly url: string;
  readonly mode: 'cached' | 'online';
  /** The fetch for model files (never the key server's). */
  readonly fetch: FetchFunction;
  readonly #record: LeaseRecord | undefined;
  /** End of a lease that had expired when this load began (seconds), for the error if renewal fails. */
  readonly #expired: number | undefined;
  readonly #puts: Array<Promise<string | undefined>> = [];
  #lease: number | undefined;
  #decide!: (lease: number | undefined) => void;
  readonly #decision = new Promise<number | undefined>((resolve) => (this.#decide = resolve));

  private constructor(url: string, inner: FetchFunction, record: LeaseRecord | undefined, expired: number | undefined) {
    this.url = url;
    this.#record = record;
    this.#expired = expired;
    this.mode = record ? 'cached' : 'online';
    this.fetch = record ? (input, init) => this.#fromCache(inner, input, init) : (input, init) => this.#throughCache(inner, input, init);
  }

  /** Looks up the lease of `url` (absolute manifest URL); refuses in Node and outside secure contexts. */
  static async start(url: string, inner: FetchFunction): Promise<OfflineSession> {
    checkSupport();
    const found = await readRecord(url);
    if (found === undefined) return new OfflineSession(url, inner, undefined, undefined);
    if (!isLeaseRecord(found) || found.url !== url) {
      throw new ModelsealError('lease_invalid', `the offline lease stored for ${url} is not one modelseal wrote (a field is missing or of the wrong type): the browser's storage was altered; call clearOffline(url) and load online`, { file: url });
    }
    if (found.lease * 1000 <= Date.now()) {
      // An honest client drops the key once the lease ends; the next load must ask the key server.
      await removeLease(url, found.files).catch(() => undefined);
      return new OfflineSession(url, inner, undefined, found.lease);
    }
    const cache = await caches.open(OFFLINE_CACHE);
    const present = await Promise.all(found.files.map((f) => cache.match(f).then((r) => r !== undefined)));
    if (present.includes(false)) {
      // The browser evicted part of the copy (storage pressure): start over online.
      await removeLease(url, found.files).catch(() => undefined);
      return new OfflineSession(url, inner, undefined, undefined);
    }
    return new OfflineSession(url, inner, found, undefined);
  }

  /** The stored key when the lease covers this manifest; throws `lease_invalid` when it does not. */
  storedKey(manifest: SealedManifest): CryptoKey | undefined {
    const r = this.#record;
    if (!r) return undefined;
    if (r.modelId !== manifest.modelId || r.keyId !== manifest.keyId || r.sealing !== manifest.sealing) {
      throw new ModelsealError('lease_invalid', `the offline copy of ${this.url} is model ${manifest.modelId} key ${manifest.keyId} sealing ${manifest.sealing}, but its lease covers model ${r.modelId} key ${r.keyId} sealing ${r.sealing}: the browser's storage was altered; call clearOffline(url) and load online`, { file: this.url });
    }
    return r.key;
  }

  /** Told by the key release: the lease granted (seconds since the epoch), or undefined for none. */
  released(lease: number | undefined): void {
    this.#lease = lease !== undefined && lease * 1000 > Date.now() ? lease : undefined;
    this.#decide(this.#lease);
  }

  /**
   * After a successful load. Online: stores the files, then the key (last, so a key never points at
   * missing files); within a lease: adds the files the copy lacked (#extend). Never throws: a copy
   * that cannot be stored is dropped and the load still succeeds.
   */
  async commit(manifest: SealedManifest, key: CryptoKey): Promise<void> {
    if (this.mode === 'cached') return this.#extend();
    if (this.#lease === undefined) return;
    try {
      const files = await this.#stored();
      const record: LeaseRecord = { url: this.url, modelId: manifest.modelId, keyId: manifest.keyId, sealing: manifest.sealing, lease: this.#lease, key, files };
      await withStore('readwrite', true, (s) => s.put(record));
    } catch {
      await this.discard().catch(() => undefined);
    }
  }

  /**
   * A load within the lease that read files the copy lacked (a larger selection than the one that
   * made the copy): adds them to the record, so they too load offline until the same lease end.
   * The key already decrypts every file of the sealing, so this keeps nothing it could not.
   */
  async #extend(): Promise<void> {
    if (this.#puts.length === 0) return;
    try {
      const added = await this.#stored();
      const record = this.#record!;
      await withStore('readwrite', false, (s) => s.put({ ...record, files: [...new Set([...record.files, ...added])] }));
    } catch {
      await this.discard().catch(() => undefined);
    }
  }

  /** The URLs this load copied into the cache; throws when one could not be stored (quota, eviction): then keep none. */
  async #stored(): Promise<string[]> {
    const stored = (await Promise.allSettled(this.#puts)).map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    const files = stored.filter((f): f is string => f !== undefined);
    if (stored.length !== files.length) throw new Error('a file of the offline copy could not be stored');
    return files;
  }

  /** After a failed load, or when no lease was granted: removes what this load put in the cache. */
  async discard(): Promise<void> {
    this.#decide(undefined);
    const files = (await Promise.allSettled(this.#puts)).flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
    if (files.length > 0) {
      const cache = await caches.open(OFFLINE_CACHE);
      await Promise.all(files.map((f) => cache.delete(f)));
    }
  }

  /**
   * A failure met after the load resolved (a stream's shard): removes this load's copies and, when
   * the stored copy is damaged, that copy too; resolves with the error to report.
   */
  async failedLate(err: unknown): Promise<unknown> {
    await this.discard().catch(() => undefined);
    if (this.mode !== 'cached' || copyFailure(err) !== 'damaged') return this.explain(err);
    await this.drop().catch(() => undefined);
    return withNote(err as ModelsealError, `this stream read the browser's offline copy of ${this.url}, which is damaged: it was removed, and the next load fetches the model online`);
  }

  /** Removes this session's lease record and its cached files. */
  async drop(): Promise<void> {
    if (this.#record) await removeLease(this.url, this.#record.files);
  }

  /**
   * The error to report for a failed load: after an expired lease, a network failure is
   * `lease_expired` (a damaged stored copy is handled by withOfflineSession).
   */
  explain(err: unknown): unknown {
    if (this.#expired === undefined || !(err instanceof ModelsealError)) return err;
    if (!NETWORK_CODES.has(err.code)) return err;
    return new ModelsealError('lease_expired', `the offline lease for ${this.url} ended at ${new Date(this.#expired * 1000).toISOString()} and could not be renewed: ${err.message}`, { cause: err, file: err.file ?? this.url });
  }

  /**
   * A file of the copy. One the copy lacks comes from the file host and is copied (a lease of
   * openSealedFiles with `paths`, or of openSealedFileStream, keeps only the shards its load read; a
   * later load that selects more reads the rest online, with the stored key, and #extend adds them).
   */
  async #fromCache(inner: FetchFunction, input: string, init: RequestInit | undefined): Promise<Response> {
    if (init?.signal?.aborted) throw abortReason(init.signal);
    const cache = await caches.open(OFFLINE_CACHE);
    const cached = await cache.match(input);
    if (cached) return cached;
    if (this.#record!.files.includes(input)) return missing();
    return this.#fetchAndCopy(inner, input, init, Promise.resolve(true));
  }

  /** Online: every file is copied, held until the release says whether there is a lease. */
  #throughCache(inner: FetchFunction, input: string, init: RequestInit | undefined): Promise<Response> {
    return this.#fetchAndCopy(inner, input, init, this.#decision.then((lease) => lease !== undefined));
  }

  /** Fetches a file and copies the ciphertext into the cache once `keep` says so (else drops the copy). */
  async #fetchAndCopy(inner: FetchFunction, input: string, init: RequestInit | undefined, keep: Promise<boolean>): Promise<Response> {
    const response = await inner(input, init);
    if (!response.ok || response.status !== 200) return response;
    const copy = response.clone();
    const put = keep.then(async (yes) => {
      if (!yes) {
        await copy.body?.cancel().catch(() => undefined);
        return undefined;
      }
      await (await caches.open(OFFLINE_CACHE)).put(input, copy);
      return input;
    });
    put.catch(() => undefined);
    this.#puts.push(put);
    return response;
  }
}

/**
 * Removes offline leases: the stored key and the cached sealed files of the model at `url`, or of
 * every model when `url` is omitted. Resolves once both are gone.
 * @example await clearOffline('https://cdn.example.com/face/model.json');
 */
export async function clearOffline(url?: string): Promise<void> {
  checkSupport();
  try {
    if (url === undefined) {
      // Deleted, not cleared: this also works on a database this version cannot open.
      await deleteDatabase();
      await caches.delete(OFFLINE_CACHE);
      return;
    }
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    const absolute = new URL(url, base).href;
    const found = await readRecord(absolute);
    const files = isLeaseRecord(found) ? found.files : [];
    // The manifest itself too, in case the record was unreadable but the copy is there.
    await removeLease(absolute, [...new Set([absolute, ...files])]);
  } catch (cause) {
    if (cause instanceof ModelsealError) throw cause;
    throw storageError('removing offline leases', cause);
  }
}
