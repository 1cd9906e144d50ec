// The server's view of the keystore: key records refreshed by polling (or SIGHUP), and unwrapped
// content keys cached per version until the store changes.

import type { KeyRecord, KeyStoreReader } from './keystore.js';

/** Key records plus a content-key cache, refreshed from a KeyStoreReader. */
export class KeySnapshot {
  readonly #store: KeyStoreReader;
  #records = new Map<string, KeyRecord>();
  #signature = '';
  readonly #keys = new Map<string, Promise<Uint8Array | undefined>>();

  constructor(store: KeyStoreReader) {
    this.#store = store;
  }

  /** Re-reads the store; returns true when anything changed (then the key cache is dropped). */
  async refresh(): Promise<boolean> {
    const list = await this.#store.list();
    const signature = JSON.stringify(list);
    if (signature === this.#signature) return false;
    const records = new Map<string, KeyRecord>();
    for (const r of list) records.set(`${r.modelId}\0${r.keyId}`, r);
    this.#records = records;
    this.#signature = signature;
    this.#keys.clear();
    return true;
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

  /** The content key of a known version (cached; never logged). */
  async contentKey(modelId: string, keyId: string): Promise<Uint8Array | undefined> {
    const id = `${modelId}\0${keyId}`;
    let p = this.#keys.get(id);
    if (!p) {
      p = this.#store.get(modelId, keyId).then((k) => k?.key);
      this.#keys.set(id, p);
      p.catch(() => this.#keys.delete(id));
    }
    return p;
  }

  /** Number of key versions known. */
  get size(): number {
    return this.#records.size;
  }
}
