import { toBase64url, utf8 } from './bytes.js';
import { assertChunkLength, DEFAULT_CHUNK_LENGTH, encryptChunked, encryptChunkedParts, importInputKey, plaintextChunkDigest, prepareFile, sealedLength, type ChunkCipherFactory } from './chunked.js';
import { headerContext, shardContext } from './context.js';
import { ModelsealError } from './errors.js';
import { parseModelJsonText, validateModelJson, type SealedHeader } from './header.js';
import { DEFAULT_SHARD_LENGTH, FORMAT_VERSION, ID_PATTERN, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, type SealedManifest } from './manifest.js';
import { sha256, shardPlaintextLengths } from './layout.js';

/** A plain TF.js model in memory: its model.json and its weight files in weightsManifest order. */
export interface PlainModel {
  /** The model.json text as read (kept byte for byte in the header), or its parsed object (serialised). */
  modelJson: string | object;
  /** One entry per path, group by group, in the order model.json lists them. */
  weightFiles: Uint8Array[];
}

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

/** Seals a TF.js model: encrypted header plus encrypted shards, under one content key version. */
export async function sealModel(model: PlainModel, options: SealOptions): Promise<SealedModel> {
  const modelJsonText = typeof model.modelJson === 'string' ? model.modelJson : JSON.stringify(model.modelJson);
  const modelJson = typeof model.modelJson === 'string' ? parseModelJsonText(model.modelJson) : validateModelJson(model.modelJson);
  if (!ID_PATTERN.test(options.modelId)) throw new TypeError(`model id ${JSON.stringify(options.modelId)} must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  if (!ID_PATTERN.test(options.keyId)) throw new TypeError(`key id ${JSON.stringify(options.keyId)} is not a valid id`);
  const chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
  assertChunkLength(chunkLength);
  const requested = options.shardLength ?? DEFAULT_SHARD_LENGTH;
  if (!Number.isSafeInteger(requested) || requested < 1) throw new TypeError(`shard length must be a positive integer, got ${requested}`);
  const shardLength = Math.ceil(requested / chunkLength) * chunkLength;

  const expected = modelJson.weightsManifest.reduce((n, g) => n + g.paths.length, 0);
  if (model.weightFiles.length !== expected) {
    throw new ModelsealError('model_invalid', `model.json lists ${expected} weight files but ${model.weightFiles.length} were given`);
  }
  const weightFiles: number[][] = [];
  let next = 0;
  for (const group of modelJson.weightsManifest) weightFiles.push(group.paths.map(() => model.weightFiles[next++]!.length));
  const weightBytes = model.weightFiles.reduce((n, f) => n + f.length, 0);

  const inputKey = await importInputKey(options.contentKey);
  const base = { modelId: options.modelId, keyId: options.keyId, chunkLength, shardLength };
  const random = options.random ?? ((length: number) => globalThis.crypto.getRandomValues(new Uint8Array(length)));
  const sealingId = toBase64url(random(16));
  const lengths = shardPlaintextLengths(weightBytes, shardLength);
  // The header commits to every shard's content (its chunk digest), so that even someone who
  // holds the content key cannot make other shards that pass for this sealing.
  const shardDigests: string[] = [];
  const digestCursor = new WeightCursor(model.weightFiles);
  for (const length of lengths) shardDigests.push(toBase64url(await plaintextChunkDigest(digestCursor.take(length), chunkLength)));
  const header: SealedHeader = { sealingId, weightBytes, weightFiles, shardDigests, modelJson: modelJsonText };
  const headerPlain = utf8(JSON.stringify(header));
  const headerDigest = await sha256(headerPlain);
  const cipherOptions = { chunkLength, cipher: options.cipher, concurrency: options.concurrency };
  const sealedHeader = await encryptChunked(inputKey, headerPlain, headerContext(base), { ...cipherOptions, salt: random(24) });

  const count = lengths.length;
  const width = String(count).length;
  const files: SealedFile[] = [];
  const shardPath = (index: number) => `shard-${String(index + 1).padStart(width, '0')}-of-${count}.sealed`;
  // Every size is known before any shard is sealed, so the manifest is complete now and a model
  // no reader would accept is refused before the work, not at load time.
  const shards: SealedManifest['shards'] = lengths.map((length, index) => ({ path: shardPath(index), size: sealedLength(length, chunkLength) }));
  if (sealedHeader.length > MAX_HEADER_BYTES) {
    throw new ModelsealError('model_invalid', `model.json is too large to seal: its sealed header would be ${sealedHeader.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`);
  }
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
    const hint = inline ? 'use a larger shard size, or put the header in its own file' : 'use a larger shard size';
    throw new ModelsealError('model_invalid', `the sealed model.json would be ${manifestBytes} bytes (${count} shards${inline ? ', header inline' : ''}), over the ${MAX_MANIFEST_BYTES}-byte limit readers enforce: ${hint}`);
  }
  const progressTotal = weightBytes;
  let done = 0;
  options.onProgress?.(0, progressTotal);
  // Weight files are sliced across shard boundaries without concatenating the whole model.
  const source = new WeightCursor(model.weightFiles);
  // Shard i+1's key schedule runs while shard i's chunks encrypt; salts are still drawn in order.
  const prepare = (index: number) => {
    const context = shardContext(base, { index, count, plaintextLength: lengths[index]!, headerDigest });
    const prepared = prepareFile(inputKey, context, { cipher: options.cipher, salt: random(24) });
    prepared.catch(() => undefined); // awaited in turn below
    return { context, prepared };
  };
  let ahead = count > 0 ? prepare(0) : undefined;
  for (let index = 0; index < count; index++) {
    const plaintextLength = lengths[index]!;
    const plain = source.take(plaintextLength);
    const { context, prepared } = ahead!;
    const shardOptions = { ...cipherOptions, prepared: await prepared };
    ahead = index + 1 < count ? prepare(index + 1) : undefined;
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
    options.onProgress?.(done, progressTotal);
  }

  if (!inline) files.unshift({ path: 'header.sealed', bytes: sealedHeader });
  if (sealedLength(headerPlain.length, chunkLength) !== sealedHeader.length) throw new Error('internal: header length');
  return { manifest, files };
}

/** Reads consecutive byte ranges across a list of arrays, copying only when a range spans files. */
class WeightCursor {
  #file = 0;
  #offset = 0;
  constructor(private readonly files: Uint8Array[]) {}

  take(length: number): Uint8Array {
    const current = this.files[this.#file];
    // A range inside one file (ending at its end included) is a view, not a copy.
    if (current && current.length - this.#offset >= length) {
      const view = current.subarray(this.#offset, this.#offset + length);
      this.#offset += length;
      if (this.#offset === current.length) {
        this.#file++;
        this.#offset = 0;
      }
      return view;
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const file = this.files[this.#file]!;
      const n = Math.min(length - filled, file.length - this.#offset);
      out.set(file.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      this.#offset += n;
      if (this.#offset === file.length) {
        this.#file++;
        this.#offset = 0;
      }
    }
    return out;
  }
}
