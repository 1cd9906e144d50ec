// The page script of the offline-lease test (test/loader/offline.test.ts), bundled by esbuild with
// the loader and @tensorflow/tfjs. It loads models and reads (and, for the hostile cases, edits)
// what the loader stored in Cache Storage and IndexedDB, the way a user with devtools could.

import * as tf from '@tensorflow/tfjs';
import { clearOffline, OFFLINE_CACHE, OFFLINE_DATABASE, openSealedFileStream, openSealedFiles, sealedModel } from '../../loader/index.js';
import { openHeader, openShard, parseManifestBytes } from '../../format/index.js';
import { errorOf, fingerprint, loadPlain as loadPlainWith, sha256, type ModelFingerprint } from './page-common.js';

/** A load's outcome: the loaded model's fingerprint, or the error. */
export type Outcome = { ok: ModelFingerprint } | { error: { code: string | undefined; message: string } };

async function load(url: string, options: { token: string; keyServer: string; offline?: boolean; streamWeights?: boolean; sealing?: string }): Promise<Outcome> {
  await tf.setBackend('cpu');
  try {
    return { ok: await fingerprint(tf, await tf.loadGraphModel(sealedModel(url, options))) };
  } catch (err) {
    return { error: errorOf(err) };
  }
}

type FilesOptions = { token: string; keyServer: string; offline?: boolean; paths?: string[] };

/** openSealedFiles: each file's SHA-256 (hex), by path, or the error. */
async function loadFiles(url: string, options: FilesOptions): Promise<{ ok: Record<string, string> } | { error: { code: string | undefined; message: string } }> {
  try {
    const files = await openSealedFiles(url, options);
    const out: Record<string, string> = {};
    for (const [path, bytes] of files) out[path] = await sha256(bytes);
    return { ok: out };
  } catch (err) {
    return { error: errorOf(err) };
  }
}

/** openSealedFileStream read to its end: the file's SHA-256 (hex), or the error. */
async function streamFile(url: string, path: string, options: FilesOptions): Promise<{ ok: string } | { error: { code: string | undefined; message: string } }> {
  try {
    // Read with a reader: Response(stream).arrayBuffer() would replace the stream's error with its own.
    const reader = (await openSealedFileStream(url, path, options)).getReader();
    const pieces: BlobPart[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) pieces.push(r.value as Uint8Array<ArrayBuffer>);
    return { ok: await sha256(await new Blob(pieces).arrayBuffer()) };
  } catch (err) {
    return { error: errorOf(err) };
  }
}

/** openSealedFileStream, cancelled after its first piece. */
async function cancelStream(url: string, path: string, options: FilesOptions): Promise<number> {
  const reader = (await openSealedFileStream(url, path, options)).getReader();
  const first = await reader.read();
  await reader.cancel('enough');
  return first.value?.length ?? 0;
}

/** Runs `fn` on the leases store, without creating the database when it does not exist. */
async function withLeases<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T | undefined> {
  const names = (await indexedDB.databases()).map((d) => d.name);
  if (!names.includes(OFFLINE_DATABASE)) return undefined;
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(OFFLINE_DATABASE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  try {
    const request = fn(db.transaction('leases', mode).objectStore('leases'));
    return await new Promise<T>((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  } finally {
    db.close();
  }
}

interface StoredRecord {
  url: string;
  modelId: string;
  keyId: string;
  sealing: string;
  lease: number;
  files: string[];
  key: CryptoKey;
}

/** Every lease record, with what its key is (never its bytes: it has none to give). */
async function records(): Promise<Array<Omit<StoredRecord, 'key'> & { key: { type: string; extractable: boolean; algorithm: string; usages: string[] } }>> {
  const all = ((await withLeases('readonly', (s) => s.getAll() as IDBRequest<StoredRecord[]>)) ?? []);
  return all.map((r) => ({ ...r, key: { type: r.key.type, extractable: r.key.extractable, algorithm: `${r.key.algorithm.name}/${(r.key.algorithm as HmacKeyAlgorithm).hash?.name}`, usages: [...r.key.usages] } }));
}

/** Tries to export the stored key of `url` in every format; returns the error names. */
async function exportStored(url: string): Promise<string[]> {
  const record = await withLeases('readonly', (s) => s.get(url) as IDBRequest<StoredRecord | undefined>);
  if (!record) throw new Error(`no lease record for ${url}`);
  const out: string[] = [];
  for (const format of ['raw', 'jwk'] as const) {
    try {
      await crypto.subtle.exportKey(format, record.key);
      out.push(`${format}: exported`);
    } catch (err) {
      out.push(`${format}: ${(err as Error).name}`);
    }
  }
  return out;
}

/** What the offline cache holds: each URL with the SHA-256 of its body. */
async function cacheEntries(): Promise<Array<{ url: string; sha256: string }>> {
  if (!(await caches.has(OFFLINE_CACHE))) return [];
  const cache = await caches.open(OFFLINE_CACHE);
  const out = [];
  for (const request of await cache.keys()) {
    const response = await cache.match(request);
    out.push({ url: request.url, sha256: await sha256(await response!.arrayBuffer()) });
  }
  return out.sort((a, b) => a.url.localeCompare(b.url));
}

async function storage(): Promise<{ caches: string[]; databases: string[] }> {
  return { caches: await caches.keys(), databases: (await indexedDB.databases()).map((d) => d.name ?? '') };
}

/** A user's edit: set the lease end of a record. */
async function setLease(url: string, lease: number): Promise<void> {
  const record = await withLeases('readonly', (s) => s.get(url) as IDBRequest<StoredRecord>);
  await withLeases('readwrite', (s) => s.put({ ...record!, lease }));
}

const savedRecords = new Map<string, StoredRecord>();

/** A user's edit: put the key of `from`'s lease into `to`'s record (restoreRecord undoes it). */
async function swapKey(from: string, to: string): Promise<void> {
  const a = await withLeases('readonly', (s) => s.get(from) as IDBRequest<StoredRecord>);
  const b = await withLeases('readonly', (s) => s.get(to) as IDBRequest<StoredRecord>);
  savedRecords.set(to, b!);
  await withLeases('readwrite', (s) => s.put({ ...b!, key: a!.key }));
}

/** Puts back the record swapKey changed. */
async function restoreRecord(url: string): Promise<void> {
  await withLeases('readwrite', (s) => s.put(savedRecords.get(url)!));
}

/** A user's edit: replace the cached body of `url` with the cached body of `from`. */
async function swapCached(url: string, from: string): Promise<void> {
  const cache = await caches.open(OFFLINE_CACHE);
  const original = await cache.match(url);
  saved.set(url, await original!.arrayBuffer());
  await cache.put(url, new Response(await (await cache.match(from))!.arrayBuffer()));
}

const saved = new Map<string, ArrayBuffer>();

/** A user's edit: replace the cached body of `url` with `body`. */
async function putCached(url: string, body: string): Promise<void> {
  const cache = await caches.open(OFFLINE_CACHE);
  await cache.put(url, new Response(body));
}
async function restoreCached(url: string): Promise<void> {
  const cache = await caches.open(OFFLINE_CACHE);
  await cache.put(url, new Response(saved.get(url)!));
}

/**
 * What any script on the page can do with the stored key, without exporting it: decrypt the cached
 * header and the first shard (the documented limit of non-extractable keys).
 */
async function decryptWithStoredKey(url: string): Promise<{ weightsManifest: number; shard0: { length: number; sha256: string } }> {
  const record = await withLeases('readonly', (s) => s.get(url) as IDBRequest<StoredRecord>);
  const cache = await caches.open(OFFLINE_CACHE);
  const bytes = async (u: string) => new Uint8Array(await (await cache.match(u))!.arrayBuffer());
  const manifest = parseManifestBytes(await bytes(url));
  if (!('path' in manifest.header)) throw new Error('expected a header file');
  const opened = await openHeader(manifest, await bytes(new URL(manifest.header.path, url).href), record!.key);
  const chunks = await openShard(manifest, opened, 0, await bytes(new URL(manifest.shards[0]!.path, url).href), record!.key);
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(new Uint8Array(c), at);
    at += c.byteLength;
  }
  return { weightsManifest: opened.model.weightsManifest.length, shard0: { length: total, sha256: await sha256(all) } };
}

const loadPlain = (url: string) => loadPlainWith(tf, url);

/** What a later modelseal (or another script) might leave: the offline database at a higher version, without its store. */
function bumpDatabase(version: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(OFFLINE_DATABASE, version);
    r.onupgradeneeded = () => { if (r.result.objectStoreNames.contains('leases')) r.result.deleteObjectStore('leases'); };
    r.onsuccess = () => { r.result.close(); resolve(); };
    r.onerror = () => reject(r.error);
  });
}

const offlineTest = { loadPlain, load, loadFiles, streamFile, cancelStream, records, exportStored, cacheEntries, storage, setLease, swapKey, restoreRecord, swapCached, putCached, restoreCached, decryptWithStoredKey, bumpDatabase, clearOffline: (url?: string) => clearOffline(url) };
/** What the page exposes as globalThis.offlineTest (the test imports this type only). */
export type OfflineTest = typeof offlineTest;

Object.assign(globalThis, { offlineTest });
