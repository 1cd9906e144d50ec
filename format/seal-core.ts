// The sealing core shared by both forms (a TF.js model, format/seal.ts; any files,
// format/seal-files.ts): one payload cut into shards, a header that commits to every shard's chunk
// digest, the public manifest, then the shards encrypted in order (docs/FORMAT.md §Sealing).

import { toBase64url, utf8 } from './bytes.js';
import { assertChunkLength, DEFAULT_CHUNK_LENGTH, encryptChunked, encryptChunkedParts, importInputKey, plaintextChunkDigest, prepareFile, sealedLength, type ChunkCipherFactory } from './chunked.js';
import { headerContext, shardContext, type ContextBase } from './context.js';
import { ModelsealError } from './errors.js';
import { ID_RULE } from './ids.js';
import { shardPlaintextLengths } from './layout.js';
import { DEFAULT_SHARD_LENGTH, FORMAT_VERSION, ID_PATTERN, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, type SealedManifest } from './manifest.js';
import { sha256 } from './webcrypto.js';

/** How to seal. `contentKey` is the 32-byte input key of this key version. */
export interface SealOptions {
  modelId: string;
  keyId: string;
  contentKey: Uint8Array;
  keyServer?: string;
  chunkLength?: number;
  /** Plaintext bytes per shard; rounded up to a multiple of the chunk length. Default 4 MiB. */
  shardLength?: number;
  /** Keep the header inline in model.json, in its own file, or decide by size (default). */
  headerMode?: 'inline' | 'file' | 'auto';
  cipher?: ChunkCipherFactory;
  concurrency?: number;
  /**
   * Test vectors only: the source of the sealingId (16 bytes, drawn first) and of every salt
   * (24 bytes each: the header's, then each shard's in order). Default: crypto.getRandomValues.
   * A fixed source makes sealing deterministic and must never be used for real models.
   */
  random?: (length: number) => Uint8Array;
  /**
   * Hands each sealed shard over as soon as it is sealed, as pieces to write in order, instead of
   * keeping it in the result: memory holds one sealed shard, and no byte is copied to join pieces.
   */
  onShard?: (file: SealedParts) => Promise<void> | void;
  /** Called with plaintext bytes sealed so far and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** One sealed file to write next to model.json. */
export interface SealedFile {
  path: string;
  bytes: Uint8Array;
}

/** One sealed file as pieces whose concatenation is the file (`size` bytes in all). */
export interface SealedParts {
  path: string;
  parts: Uint8Array[];
  size: number;
}

/** The result of sealing: the public manifest and the files it names (without the shards when `onShard` took them). */
export interface SealedModel {
  manifest: SealedManifest;
  files: SealedFile[];
}

/** Headers up to this many sealed bytes go inline in model.json in `auto` mode. */
const INLINE_HEADER_LIMIT = 48 * 1024;

/** The chunk and shard lengths a sealing will use, after checking the options a caller passed. */
export function sealingLengths(options: SealOptions): { chunkLength: number; shardLength: number } {
  if (!ID_PATTERN.test(options.modelId)) throw new TypeError(`model id ${JSON.stringify(options.modelId)} must be ${ID_RULE}`);
  if (!ID_PATTERN.test(options.keyId)) throw new TypeError(`key id ${JSON.stringify(options.keyId)} is not a valid id`);
  const chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
  assertChunkLength(chunkLength);
  const requested = options.shardLength ?? DEFAULT_SHARD_LENGTH;
  if (!Number.isSafeInteger(requested) || requested < 1) throw new TypeError(`shard length must be a positive integer, got ${requested}`);
  return { chunkLength, shardLength: Math.ceil(requested / chunkLength) * chunkLength };
}

/** What one form of sealing brings to the core. */
export interface Payload {
  /** Payload length in bytes. */
  totalBytes: number;
  /** A reader for one pass over the payload: each call returns the next `length` bytes. */
  reader(): (length: number) => Promise<Uint8Array> | Uint8Array;
  /** The header document, given the sealingId and every shard's chunk digest. */
  header(sealingId: string, shardDigests: string[]): object;
  /** What a too-large header says is too large ("model.json", "the file list"). */
  headerName: string;
  /**
   * Whether the second pass checks each shard against its digest from the first: a source that
   * may change in between (files on disk) would otherwise make shards every reader refuses.
   */
  recheck: boolean;
}

/** Seals a payload: header, manifest, then each shard (see the file comment). */
export async function sealPayload(payload: Payload, options: SealOptions, lengths: { chunkLength: number; shardLength: number }): Promise<SealedModel> {
  const { chunkLength, shardLength } = lengths;
  const shardLengths = shardPlaintextLengths(payload.totalBytes, shardLength);
  const count = shardLengths.length;
  const inputKey = await importInputKey(options.contentKey);
  const base: ContextBase = { modelId: options.modelId, keyId: options.keyId, chunkLength, shardLength };
  const random = options.random ?? ((length: number) => globalThis.crypto.getRandomValues(new Uint8Array(length)));
  const sealingId = toBase64url(random(16));
  // Pass 1: the header commits to every shard's content (its chunk digest), so that even someone
  // who holds the content key cannot make other shards that pass for this sealing.
  const shardDigests: string[] = [];
  const first = payload.reader();
  for (const length of shardLengths) shardDigests.push(toBase64url(await plaintextChunkDigest(await first(length), chunkLength)));
  const headerPlain = utf8(JSON.stringify(payload.header(sealingId, shardDigests)));
  const headerDigest = await sha256(headerPlain);
  const cipherOptions = { chunkLength, cipher: options.cipher, concurrency: options.concurrency };
  const sealedHeader = await encryptChunked(inputKey, headerPlain, headerContext(base), { ...cipherOptions, salt: random(24) });
  if (sealedHeader.length > MAX_HEADER_BYTES) {
    throw new ModelsealError('model_invalid', `${payload.headerName} is too large to seal: its sealed header would be ${sealedHeader.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`);
  }
  if (sealedLength(headerPlain.length, chunkLength) !== sealedHeader.length) throw new Error('internal: header length');

  const width = String(count).length;
  const shardPath = (index: number) => `shard-${String(index + 1).padStart(width, '0')}-of-${count}.sealed`;
  // Every size is known before any shard is sealed, so the manifest is complete now and a model
  // no reader would accept is refused before the work, not at load time.
  const shards: SealedManifest['shards'] = shardLengths.map((length, index) => ({ path: shardPath(index), size: sealedLength(length, chunkLength) }));
  const mode = options.headerMode ?? 'auto';
  const inline = mode === 'inline' || (mode === 'auto' && sealedHeader.length <= INLINE_HEADER_LIMIT);
  const manifest: SealedManifest = {
    modelseal: FORMAT_VERSION,
    modelId: options.modelId,
    keyId: options.keyId,
    ...(options.keyServer === undefined ? {} : { keyServer: options.keyServer }),
    chunkLength,
    shardLength,
    sealing: toBase64url(headerDigest),
    header: inline ? { data: toBase64url(sealedHeader) } : { path: 'header.sealed', size: sealedHeader.length },
    shards,
  };
  // Measured as the CLI writes it (indented), the larger of the usual forms.
  const manifestBytes = utf8(JSON.stringify(manifest, null, 2)).length + 1;
  if (manifestBytes > MAX_MANIFEST_BYTES) {
    throw new ModelsealError('model_invalid', `the sealed model.json would be ${manifestBytes} bytes (${count} shards${inline ? ', header inline' : ''}), over the ${MAX_MANIFEST_BYTES}-byte limit readers enforce: use a larger shard size${inline ? ', or put the header in its own file' : ''}`);
  }

  // Pass 2: read and seal shard by shard; memory holds one shard's plaintext and ciphertext.
  // Shard i+1's key schedule runs while shard i's chunks encrypt; salts are still drawn in order.
  const prepare = (index: number) => {
    const context = shardContext(base, { index, count, plaintextLength: shardLengths[index]!, headerDigest });
    const prepared = prepareFile(inputKey, context, { cipher: options.cipher, salt: random(24) });
    prepared.catch(() => undefined); // awaited in turn below
    return { context, prepared };
  };
  const files: SealedFile[] = [];
  const second = payload.reader();
  let done = 0;
  options.onProgress?.(0, payload.totalBytes);
  let ahead = count > 0 ? prepare(0) : undefined;
  for (let index = 0; index < count; index++) {
    const plaintextLength = shardLengths[index]!;
    const plain = await second(plaintextLength);
    const { context, prepared } = ahead!;
    const shardOptions = { ...cipherOptions, prepared: await prepared };
    ahead = index + 1 < count ? prepare(index + 1) : undefined;
    if (payload.recheck && toBase64url(await plaintextChunkDigest(plain, chunkLength)) !== shardDigests[index]) {
      // Every reader would refuse this shard as not_published: refuse it now, with the reason.
      throw new ModelsealError('model_invalid', `the files changed while they were being sealed (shard ${index + 1} of ${count} differs from the first read): seal again once nothing writes them`);
    }
    const path = shardPath(index);
    let size: number;
    if (options.onShard) {
      const parts = await encryptChunkedParts(inputKey, plain, context, shardOptions);
      size = parts.reduce((n, p) => n + p.length, 0);
      await options.onShard({ path, parts, size });
    } else {
      const bytes = await encryptChunked(inputKey, plain, context, shardOptions);
      size = bytes.length;
      files.push({ path, bytes });
    }
    if (size !== shards[index]!.size) throw new Error('internal: shard length');
    done += plaintextLength;
    options.onProgress?.(done, payload.totalBytes);
  }
  if (!inline) files.unshift({ path: 'header.sealed', bytes: sealedHeader });
  return { manifest, files };
}
