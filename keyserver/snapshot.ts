// The server's view of the keystore: key records refreshed by polling (or SIGHUP), and unwrapped
// content keys cached per version for a bounded time (masterKeyCacheSeconds), so releases keep
// working while the master key (an HSM, a KMS) is briefly unreachable. Keys are unwrapped from
// the last good read of the store, so a keys.json damaged or removed since keeps releasing what it held.

import type { KeyRecord, KeyStoreReader, KeyStoreView } from '../keystore/file-store.js';

/** Key records plus a content-key cache, refreshed from a KeyStoreReader. */
export class KeySnapshot {
  readonly #store: KeyStoreReader;
  #records = new Map<string, KeyRecord>();
  #signature = '';
  readonly #keys = new Map<string, { key: Promise<Uint8Array | undefined>; until: number }>();
  /** The last good read, which unwraps the keys. */
  #view: KeyStoreView = { records: [], get: async () => undefined };
  readonly #cacheMs: number;

  /** `cacheMs`: how long an unwrapped key is kept (default 300 s); 0 unwraps on every release. */
  constructor(store: KeyStoreReader, options: { cacheMs?: number } = {}) {
    this.#store = store;
    this.#cacheMs = options.cacheMs ?? 300_000;
  }

  /**
   * Re-reads the store; returns true when anything changed (then the key cache is dropped). Throws,
   * keeping the last good state, when the store cannot be read or lists no key version after it
   * listed some (keys.json removed or emptied: no modelseal command removes a version).
   */
  async refresh(): Promise<boolean> {
    const view: KeyStoreView = this.#store.view ? await this.#store.view() : { records: await this.#store.list(), get: (m, k) => this.#store.get(m, k) };
    this.#refuseLoss(view.records);
    const signature = JSON.stringify(view.records);
    if (signature === this.#signature) return false;
    const records = new Map<string, KeyRecord>();
    for (const r of view.records) records.set(`${r.modelId}\0${r.keyId}`, r);
    this.#records = records;
    this.#view = view;
    this.#signature = signature;
    // Any change drops the cache (a rewrap or a restored keys.json may change what a key id means).
    this.#keys.clear();
    return true;
  }

  /** Throws when the store cannot be read now, or has lost every key version it had (what /readyz reports). */
  async check(): Promise<void> {
    this.#refuseLoss(await this.#store.list());
  }

  #refuseLoss(records: KeyRecord[]): void {
    if (records.length === 0 && this.#records.size > 0) {
      throw new Error(`the keystore lists no key versions any more, after ${this.#records.size} (keys.json removed or emptied?): restore it`);
    }
  }

  /**
   * The record of a key version, re-reading the store once when the version is unknown (a new
   * rotation) or does not list `sealing` (a sealing published since the last poll).
   */
  async record(modelId: string, keyId: string, sealing?: string): Promise<KeyRecord | undefined> {
    const id = `${modelId}\0${keyId}`;
    const r = this.#records.get(id);
    if (r && (sealing === undefined || r.sealings.includes(sealing))) return r;
    await this.refresh();
    return this.#records.get(id);
  }

  /** The content key of a known version (cached for at most `cacheMs`; never logged). */
  async contentKey(modelId: string, keyId: string): Promise<Uint8Array | undefined> {
    const id = `${modelId}\0${keyId}\0${this.#records.get(`${modelId}\0${keyId}`)?.createdAt ?? ''}`;
    const now = Date.now();
    const hit = this.#keys.get(id);
    if (hit && hit.until > now) return hit.key;
    const p = this.#view.get(modelId, keyId).then((k) => k?.key);
    if (this.#cacheMs > 0) {
      const entry = { key: p, until: now + this.#cacheMs };
      this.#keys.set(id, entry);
      // A failed unwrap (an outage) is not cached: the next release tries the master key again.
      p.catch(() => {
        if (this.#keys.get(id) === entry) this.#keys.delete(id);
      });
    } else if (hit) this.#keys.delete(id);
    return p;
  }

  /** Number of key versions known. */
  get size(): number {
    return this.#records.size;
  }
}
