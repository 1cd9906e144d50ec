// Reading a sealed model from disk and decrypting it with the key from the local keystore:
// the shared path of `verify`, `open` and `inspect`.

import { dirname, resolve } from 'node:path';
import { importInputKey } from '../format/chunked.js';
import { ModelsealError } from '../format/errors.js';
import { MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, parseManifestBytes, type SealedManifest } from '../format/manifest.js';
import { inlineHeader, openHeader, openSealing, openShard, type OpenedHeader, type OpenedSealing, type ShardLayout } from '../format/open.js';
import type { FileKeyStore, KeyRecord } from '../keystore/file-store.js';
import { CliError } from './errors.js';
import { nodeChunkCipher } from '../node/index.js';
import { readAtMost, readWholeFile } from './safe-read.js';

/** A sealed manifest read from disk, with the folder its files live in. */
export interface SealedFiles {
  path: string;
  dir: string;
  manifest: SealedManifest;
}

/** Reads and validates a sealed model.json. */
export async function readSealedManifest(manifestPath: string): Promise<SealedFiles> {
  const path = resolve(manifestPath);
  // A sealed manifest is small; refuse a huge file (or a FIFO, a device) before reading it into memory.
  const tooLarge = () => new ModelsealError('manifest_invalid', `${path} is larger than ${MAX_MANIFEST_BYTES} bytes: it is not a sealed model.json`, { file: path });
  const bytes = await readWholeFile(path, 'read sealed manifest', MAX_MANIFEST_BYTES, tooLarge);
  try {
    return { path, dir: dirname(path), manifest: parseManifestBytes(bytes) };
  } catch (err) {
    if (err instanceof ModelsealError) throw new ModelsealError(err.code, `${path}: ${err.message}`, { cause: err.cause, file: path });
    throw err;
  }
}

/** The content key of the manifest's key version, imported for decryption. */
export interface UnlockedKey {
  record: KeyRecord;
  key: CryptoKey;
}

/**
 * Looks up the manifest's key version in the store; throws `key_not_found` when absent and
 * `not_published` when the store has no record of the manifest's sealing (the key server would
 * refuse it too).
 */
export async function unlock(store: FileKeyStore, manifest: SealedManifest, options: { requirePublished?: boolean } = {}): Promise<UnlockedKey> {
  const entry = await store.get(manifest.modelId, manifest.keyId);
  if (!entry) {
    throw new CliError('key_not_found', `the keystore ${store.dir} has no key ${manifest.keyId} for model ${manifest.modelId}`, {
      hint: 'point --store or MODELSEAL_HOME at the keystore that sealed this model; `modelseal keys list` shows what a store holds',
    });
  }
  if ((options.requirePublished ?? true) && !entry.record.sealings.includes(manifest.sealing)) {
    entry.key.fill(0);
    throw new CliError('not_published', `the keystore ${store.dir} has no record of sealing ${manifest.sealing} for ${manifest.modelId} ${manifest.keyId}: \`modelseal seal\` with this store did not make these files, so the key server will refuse to release their key`, {
      hint: 'seal the original model again with this store; if you sealed these files yourself and the record was lost, `modelseal keys publish <model.json>` records them after checking every file',
    });
  }
  try {
    return { record: entry.record, key: await importInputKey(entry.key) };
  } finally {
    entry.key.fill(0);
  }
}

/** Reads the sealed header (inline or file) and decrypts and checks it. */
export async function openSealedHeader(files: SealedFiles, key: CryptoKey, read: ReadSealedFile = diskReader(files)): Promise<OpenedHeader> {
  const bytes = inlineHeader(files.manifest) ?? (await read((files.manifest.header as { path: string }).path, 'sealed header'));
  return openHeader(files.manifest, bytes, key, { cipher: nodeChunkCipher });
}

/** Reads the sealed header and decrypts and checks it, of either kind (a TF.js model or files). */
export async function openSealedAny(files: SealedFiles, key: CryptoKey, read: ReadSealedFile = diskReader(files)): Promise<OpenedSealing> {
  const bytes = inlineHeader(files.manifest) ?? (await read((files.manifest.header as { path: string }).path, 'sealed header'));
  return openSealing(files.manifest, bytes, key, { cipher: nodeChunkCipher });
}

/** Reads one sealed file by its path relative to model.json (the disk by default; benches pass memory). */
export type ReadSealedFile = (path: string, what: string) => Promise<Uint8Array>;

/**
 * Reads sealed files from the folder of model.json, mapping file-system errors to coded ones:
 * regular files only, and at most the size the manifest declares plus one byte (so trailing data
 * is still seen, and /dev/zero or a growing file cannot fill memory).
 */
export function diskReader(files: SealedFiles): ReadSealedFile {
  const declared = new Map<string, number>(files.manifest.shards.map((s) => [s.path, s.size]));
  if ('path' in files.manifest.header) declared.set(files.manifest.header.path, files.manifest.header.size);
  const fallback = Math.max(MAX_HEADER_BYTES, ...declared.values());
  return async (path, what) => readAtMost(resolve(files.dir, path), `read ${what}`, (declared.get(path) ?? fallback) + 1);
}

/**
 * Decrypts every shard and hands each shard's plaintext chunks to `onShard`, in order. The next
 * shard is read and its key derived (a WebCrypto round trip) while the current one is decrypted,
 * so at most two shards are held in memory.
 */
export async function openSealedShards(
  files: SealedFiles,
  opened: ShardLayout,
  key: CryptoKey,
  onShard: (index: number, chunks: ArrayBuffer[]) => Promise<void> | void,
  read: ReadSealedFile = diskReader(files),
): Promise<void> {
  const plans = opened.shards;
  const start = (index: number): Promise<ArrayBuffer[]> | undefined => {
    const plan = plans[index];
    if (!plan) return undefined;
    const work = read(plan.path, `shard ${index + 1} of ${plans.length}`).then((sealed) => openShard(files.manifest, opened, index, sealed, key, { cipher: nodeChunkCipher }));
    // Marked handled now: a failure is reported when its turn comes, or dropped after an earlier one.
    work.catch(() => undefined);
    return work;
  };
  let next = start(0);
  for (let index = 0; index < plans.length; index++) {
    const current = next!;
    next = start(index + 1);
    await onShard(index, await current);
  }
}
