import { fromBase64url, fromUtf8, toBase64url } from './bytes.js';
import type { ChunkCipherFactory } from './chunk-cipher.js';
import { joinChunks } from './chunk-decrypt.js';
import { plaintextLengthOf, sealedLength } from './chunk-lengths.js';
import { headerContext, shardContext, type ContextBase } from './context.js';
import { ModelsealError } from './errors.js';
import { isFilesHeaderJson, parseFilesHeaderJson, type FilesHeader } from './files-header.js';
import { parseHeaderJson, type ModelJson, type SealedHeader } from './header.js';
import { parseStrictJson, type StrictJsonError } from './json.js';
import { MAX_HEADER_BYTES, takeDecodedHeader, type SealedManifest } from './manifest.js';
import { shardPlaintextLengths } from './layout.js';
import { FileDecryptor, openFile } from './open-file.js';
import { sha256 } from './webcrypto.js';

/** Options for opening sealed files. */
export interface OpenOptions {
  cipher?: ChunkCipherFactory;
  /** Decrypt calls in flight per file (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** A decrypted, checked header and what it fixes about the shards. */
export interface OpenedHeader {
  header: SealedHeader;
  /** The original model.json, parsed from `header.modelJson`. */
  model: ModelJson;
  /** SHA-256 of the header plaintext (the manifest's `sealing`), bound into every shard's context. */
  digest: Uint8Array;
  /** One entry per shard, in order. */
  shards: ShardPlan[];
}

/** What a reader knows of one shard before fetching it. */
export interface ShardPlan {
  index: number;
  path: string;
  plaintextLength: number;
  sealedLength: number;
}

function contextBase(manifest: SealedManifest): ContextBase {
  return { modelId: manifest.modelId, keyId: manifest.keyId, chunkLength: manifest.chunkLength, shardLength: manifest.shardLength };
}

/** The header's sealed bytes when they are inline in the manifest, else undefined (fetch `header.path`). */
export function inlineHeader(manifest: SealedManifest): Uint8Array | undefined {
  return 'data' in manifest.header ? takeDecodedHeader(manifest.header) ?? fromBase64url(manifest.header.data) : undefined;
}

/** What a shard reader needs from an opened header, of either kind. */
export interface ShardLayout {
  /** SHA-256 of the header plaintext, bound into every shard's context. */
  digest: Uint8Array;
  shards: ShardPlan[];
  header: { shardDigests: string[] };
}

/** One file of a files-kind sealing, with where its bytes start in the payload. */
export interface FilePlan {
  path: string;
  bytes: number;
  /** Offset of its first byte in the payload (all files concatenated in header order). */
  offset: number;
}

/** A decrypted, checked files-kind header (docs/FORMAT.md §Generic form). */
export interface OpenedFiles extends ShardLayout {
  kind: 'files';
  header: FilesHeader;
  /** The files in payload order. */
  files: FilePlan[];
}

/** An opened header of either kind: a TF.js model, or files. */
export type OpenedSealing = (OpenedHeader & { kind: 'tfjs' }) | OpenedFiles;

/**
 * Decrypts and checks the header of either kind (its digest must be the manifest's `sealing`),
 * then checks the manifest's shard list against it (count and sizes). Throws `wrong_key` when the
 * key commitment fails and `not_published` when the header is not the one the sealing names.
 */
export async function openSealing(
  manifest: SealedManifest,
  sealedHeader: Uint8Array,
  contentKey: CryptoKey,
  options: OpenOptions = {},
): Promise<OpenedSealing> {
  const label = 'path' in manifest.header ? `header (${manifest.header.path})` : 'header (inline)';
  if ('path' in manifest.header && sealedHeader.length !== manifest.header.size) {
    const code = sealedHeader.length < manifest.header.size ? 'truncated' : 'trailing_data';
    throw new ModelsealError(code, `${label} is ${sealedHeader.length} bytes but the manifest says ${manifest.header.size}: fetch or upload the file again`, { file: label });
  }
  if (sealedHeader.length > MAX_HEADER_BYTES) throw new ModelsealError('header_invalid', `${label} is larger than ${MAX_HEADER_BYTES} bytes`, { file: label });
  const chunks = await openFile(contentKey, sealedHeader, headerContext(contextBase(manifest)), { ...options, chunkLength: manifest.chunkLength, label, role: 'header' });
  const plain = joinChunks(chunks);
  // The cipher's own SHA-256 when it has one (node:crypto's in Node: no thread-pool job on the way to the key).
  const digest = options.cipher ? new Uint8Array(await options.cipher.sha256(plain)) : await sha256(plain);
  // The key server vouches for `sealing`; a header that decrypts under the right key but has
  // another digest was made by someone else who holds the key.
  if (toBase64url(digest) !== manifest.sealing) {
    throw new ModelsealError('not_published', `${label} decrypts with this model's key but is not the sealing the manifest names (its digest differs from "sealing"): someone who holds the content key made it, or the manifest's "sealing" was altered; upload the files \`modelseal seal\` wrote, unchanged`, { file: label });
  }
  let text: string;
  try {
    text = fromUtf8(plain);
  } catch (cause) {
    throw new ModelsealError('header_invalid', `${label} decrypted but is not UTF-8`, { cause, file: label });
  }
  let json: unknown;
  try {
    json = parseStrictJson(text, { integersOnly: true });
  } catch (cause) {
    throw new ModelsealError('header_invalid', `${label} decrypted but is not a valid modelseal/2 header: ${(cause as StrictJsonError).message}`, { cause, file: label });
  }
  // The two kinds are told apart by their members: only the generic form has `kind`.
  if (isFilesHeaderJson(json)) {
    const header = parseFilesHeaderJson(json, label);
    const shards = planShards(manifest, header.totalBytes, header.shardDigests, label);
    let offset = 0;
    const files = header.files.map((f): FilePlan => {
      const plan = { path: f.path, bytes: f.bytes, offset };
      offset += f.bytes;
      return plan;
    });
    return { kind: 'files', header, files, digest, shards };
  }
  const { header, model } = parseHeaderJson(json, label);
  return { kind: 'tfjs', header, model, digest, shards: planShards(manifest, header.weightBytes, header.shardDigests, label) };
}

/** H8–H10: the manifest's shard list against the payload length and digests the header gives. */
function planShards(manifest: SealedManifest, totalBytes: number, shardDigests: string[], label: string): ShardPlan[] {
  const lengths = shardPlaintextLengths(totalBytes, manifest.shardLength);
  if (lengths.length !== manifest.shards.length) {
    throw new ModelsealError('manifest_invalid', `sealed manifest lists ${manifest.shards.length} shards but the header says ${lengths.length}: the manifest was altered or belongs to another sealing`);
  }
  if (shardDigests.length !== lengths.length) {
    throw new ModelsealError('header_invalid', `${label} decrypted but is not a valid modelseal/2 header: it lists ${shardDigests.length} shard digests for ${lengths.length} shards`, { file: label });
  }
  return lengths.map((plaintextLength, index): ShardPlan => {
    const ref = manifest.shards[index]!;
    const expected = sealedLength(plaintextLength, manifest.chunkLength);
    if (ref.size !== expected) {
      throw new ModelsealError('manifest_invalid', `sealed manifest says shard ${index + 1} (${ref.path}) is ${ref.size} bytes but the header implies ${expected}: the manifest was altered`, { file: ref.path });
    }
    return { index, path: ref.path, plaintextLength, sealedLength: expected };
  });
}

/**
 * Decrypts and checks the header of a TF.js sealing (see openSealing). A files-kind sealing fails
 * with `kind_mismatch`: it holds files, not a TF.js model (load it with openSealedFiles).
 */
export async function openHeader(
  manifest: SealedManifest,
  sealedHeader: Uint8Array,
  contentKey: CryptoKey,
  options: OpenOptions = {},
): Promise<OpenedHeader> {
  const opened = await openSealing(manifest, sealedHeader, contentKey, options);
  if (opened.kind === 'files') {
    const label = 'path' in manifest.header ? `header (${manifest.header.path})` : 'header (inline)';
    throw new ModelsealError('kind_mismatch', `${manifest.modelId} key ${manifest.keyId} is a sealing of ${opened.files.length} file${opened.files.length === 1 ? '' : 's'} (modelseal seal of a file or folder), not of a TensorFlow.js model: load it with openSealedFiles or openSealedFileStream, not sealedModel`, { file: label });
  }
  return opened;
}

/** The shard layout a reader knows before the header is open: see {@link manifestShardLayout}. */
export type ManifestShardLayout = Pick<ShardLayout, 'digest' | 'shards'>;

/**
 * The shard layout the manifest alone implies: each plaintext length from its shard's sealed size,
 * and the header digest from `sealing`. Lets a reader holding the content key check commitments
 * and decrypt shards while the header is still being fetched and opened; H6 and H10 then confirm
 * both (a header that disagrees fails the load). undefined when a size is no valid sealed length.
 */
export function manifestShardLayout(manifest: SealedManifest): ManifestShardLayout | undefined {
  const shards: ShardPlan[] = [];
  for (const [index, ref] of manifest.shards.entries()) {
    const plaintextLength = plaintextLengthOf(ref.size, manifest.chunkLength);
    if (plaintextLength === undefined) return undefined;
    shards.push({ index, path: ref.path, plaintextLength, sealedLength: ref.size });
  }
  return { digest: fromBase64url(manifest.sealing), shards };
}

function shardLabel(plan: ShardPlan, count: number): string {
  return `shard ${plan.index + 1} of ${count} (${plan.path})`;
}

/**
 * A streaming decryptor for one shard: push its bytes as they arrive, then finish(). `opened` is
 * the opened header, or the manifest's layout with the header still opening: finish() then waits
 * for the header for S4 (and fails with the header's error if it fails).
 */
export function createShardDecryptor(
  manifest: SealedManifest,
  opened: ShardLayout | (ManifestShardLayout & { header: Promise<ShardLayout> }),
  index: number,
  contentKey: CryptoKey,
  options: OpenOptions = {},
): FileDecryptor {
  const plan = opened.shards[index];
  if (!plan) throw new RangeError(`no shard ${index}`);
  const count = opened.shards.length;
  const context = shardContext(contextBase(manifest), { index, count, plaintextLength: plan.plaintextLength, headerDigest: opened.digest });
  return new FileDecryptor(contentKey, context, {
    ...options,
    chunkLength: manifest.chunkLength,
    plaintextLength: plan.plaintextLength,
    label: shardLabel(plan, count),
    role: 'shard',
    checkDigest: async (digest) => {
      const header = opened.header instanceof Promise ? (await opened.header).header : opened.header;
      if (toBase64url(digest) !== header.shardDigests[index]) {
        const label = shardLabel(plan, count);
        throw new ModelsealError('not_published', `${label} decrypts with this model's key but its content is not what the publisher sealed (its digest differs from the header's): someone who holds the content key made it; upload the files \`modelseal seal\` wrote, unchanged`, { file: label });
      }
    },
  });
}

/** Decrypts one whole shard held in memory; returns its plaintext as chunk-sized ArrayBuffers. */
export async function openShard(
  manifest: SealedManifest,
  opened: ShardLayout,
  index: number,
  sealed: Uint8Array,
  contentKey: CryptoKey,
  options: OpenOptions = {},
): Promise<ArrayBuffer[]> {
  const decryptor = createShardDecryptor(manifest, opened, index, contentKey, options);
  // The whole file is here, so a wrong length is reported first, the same way every time; a
  // streaming reader may see the commitment failure first instead.
  if (sealed.length < decryptor.sealedLength) {
    const label = shardLabel(opened.shards[index]!, opened.shards.length);
    throw new ModelsealError('truncated', `${label} is truncated: got ${sealed.length} of ${decryptor.sealedLength} bytes; upload or fetch the whole file again`, { file: label });
  }
  await decryptor.push(sealed);
  return decryptor.finish();
}
