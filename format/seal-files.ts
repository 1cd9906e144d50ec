// Sealing the generic form: any files, by relative path, under one content key version
// (docs/FORMAT.md §Generic form). The payload is read through a callback, twice (shard digests
// first, then encryption), so a 2 GB file is never held whole.

import { toBase64url, utf8 } from './bytes.js';
import { assertChunkLength, DEFAULT_CHUNK_LENGTH, encryptChunked, encryptChunkedParts, importInputKey, plaintextChunkDigest, prepareFile, sealedLength } from './chunked.js';
import { headerContext, shardContext } from './context.js';
import { ModelsealError } from './errors.js';
import { filePathListProblem, MAX_FILES, type FilesHeader } from './files-header.js';
import { sha256, shardPlaintextLengths } from './layout.js';
import { DEFAULT_SHARD_LENGTH, FORMAT_VERSION, ID_PATTERN, MAX_HEADER_BYTES, MAX_MANIFEST_BYTES, type SealedManifest } from './manifest.js';
import type { SealedFile, SealedModel, SealOptions } from './seal.js';

/** The files to seal: their paths and lengths in payload order, and a reader of the payload. */
export interface FilesSource {
  files: Array<{ path: string; bytes: number }>;
  /**
   * Returns exactly `length` bytes of the payload (every file's bytes concatenated in `files`
   * order) starting at `offset`. Called in increasing order, twice over the whole payload.
   */
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
}

/** A FilesSource over files held in memory, in the order given. */
export function filesInMemory(files: Array<{ path: string; data: Uint8Array }>): FilesSource {
  const starts: number[] = [];
  let total = 0;
  for (const f of files) {
    starts.push(total);
    total += f.data.length;
  }
  return {
    files: files.map((f) => ({ path: f.path, bytes: f.data.length })),
    read(offset, length) {
      const out = new Uint8Array(length);
      let filled = 0;
      // Start at the last file beginning at or before `offset` (empty files are skipped).
      let i = 0;
      while (i + 1 < starts.length && starts[i + 1]! <= offset) i++;
      while (filled < length && i < files.length) {
        const f = files[i]!;
        const from = offset + filled - starts[i]!;
        const n = Math.min(length - filled, f.data.length - from);
        if (n > 0) {
          out.set(f.data.subarray(from, from + n), filled);
          filled += n;
        }
        i++;
      }
      if (filled !== length) throw new RangeError(`read past the end of the payload (${offset} + ${length} > ${total})`);
      return out;
    },
  };
}

/** Headers up to this many sealed bytes go inline in model.json in `auto` mode (as for TF.js models). */
const INLINE_HEADER_LIMIT = 48 * 1024;

/** Seals files (the generic form): encrypted header listing them, encrypted shards of their bytes. */
export async function sealFiles(source: FilesSource, options: SealOptions): Promise<SealedModel> {
  if (!ID_PATTERN.test(options.modelId)) throw new TypeError(`model id ${JSON.stringify(options.modelId)} must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  if (!ID_PATTERN.test(options.keyId)) throw new TypeError(`key id ${JSON.stringify(options.keyId)} is not a valid id`);
  const entries = source.files.map((f) => ({ path: f.path, bytes: f.bytes }));
  if (entries.length === 0 || entries.length > MAX_FILES) throw new ModelsealError('model_invalid', `a sealing holds 1 to ${MAX_FILES} files, got ${entries.length}`);
  for (const [i, f] of entries.entries()) {
    if (!Number.isSafeInteger(f.bytes) || f.bytes < 0) throw new TypeError(`files[${i}].bytes must be a non-negative integer`);
  }
  const problem = filePathListProblem(entries.map((f) => f.path));
  if (problem) throw new ModelsealError('model_invalid', `cannot seal these files: ${problem}`);
  const chunkLength = options.chunkLength ?? DEFAULT_CHUNK_LENGTH;
  assertChunkLength(chunkLength);
  const requested = options.shardLength ?? DEFAULT_SHARD_LENGTH;
  if (!Number.isSafeInteger(requested) || requested < 1) throw new TypeError(`shard length must be a positive integer, got ${requested}`);
  const shardLength = Math.ceil(requested / chunkLength) * chunkLength;
  const totalBytes = entries.reduce((n, f) => n + f.bytes, 0);
  if (!Number.isSafeInteger(totalBytes)) throw new ModelsealError('model_invalid', 'the files add up to more bytes than a safe integer');
  const lengths = shardPlaintextLengths(totalBytes, shardLength);
  const count = lengths.length;

  const inputKey = await importInputKey(options.contentKey);
  const base = { modelId: options.modelId, keyId: options.keyId, chunkLength, shardLength };
  const random = options.random ?? ((length: number) => globalThis.crypto.getRandomValues(new Uint8Array(length)));
  const sealingId = toBase64url(random(16));
  // Pass 1: the header commits to every shard's content, so it needs every digest first.
  const shardDigests: string[] = [];
  let offset = 0;
  for (const length of lengths) {
    shardDigests.push(toBase64url(await plaintextChunkDigest(await readExactly(source, offset, length), chunkLength)));
    offset += length;
  }
  const header: FilesHeader = { sealingId, kind: 'files', files: entries, totalBytes, shardDigests };
  const headerPlain = utf8(JSON.stringify(header));
  const headerDigest = await sha256(headerPlain);
  const cipherOptions = { chunkLength, cipher: options.cipher, concurrency: options.concurrency };
  const sealedHeader = await encryptChunked(inputKey, headerPlain, headerContext(base), { ...cipherOptions, salt: random(24) });
  if (sealedHeader.length > MAX_HEADER_BYTES) {
    throw new ModelsealError('model_invalid', `the file list is too large to seal: its sealed header would be ${sealedHeader.length} bytes, over the ${MAX_HEADER_BYTES}-byte limit readers enforce`);
  }

  const width = String(count).length;
  const shardPath = (index: number) => `shard-${String(index + 1).padStart(width, '0')}-of-${count}.sealed`;
  const shards: SealedManifest['shards'] = lengths.map((length, index) => ({ path: shardPath(index), size: sealedLength(length, chunkLength) }));
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
  const manifestBytes = utf8(JSON.stringify(manifest, null, 2)).length + 1;
  if (manifestBytes > MAX_MANIFEST_BYTES) {
    throw new ModelsealError('model_invalid', `the sealed model.json would be ${manifestBytes} bytes (${count} shards${inline ? ', header inline' : ''}), over the ${MAX_MANIFEST_BYTES}-byte limit readers enforce: use a larger shard size${inline ? ', or put the header in its own file' : ''}`);
  }

  // Pass 2: read and seal shard by shard; memory holds one shard's plaintext and ciphertext.
  const files: SealedFile[] = [];
  let done = 0;
  options.onProgress?.(0, totalBytes);
  offset = 0;
  for (let index = 0; index < count; index++) {
    const plaintextLength = lengths[index]!;
    const plain = await readExactly(source, offset, plaintextLength);
    offset += plaintextLength;
    const context = shardContext(base, { index, count, plaintextLength, headerDigest });
    const shardOptions = { ...cipherOptions, prepared: await prepareFile(inputKey, context, { cipher: options.cipher, salt: random(24) }) };
    // The source changed between the passes: the shard would not match its digest, and every
    // reader would refuse it as not_published. Refuse it now, with the reason.
    if (toBase64url(await plaintextChunkDigest(plain, chunkLength)) !== shardDigests[index]) {
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
    options.onProgress?.(done, totalBytes);
  }
  if (!inline) files.unshift({ path: 'header.sealed', bytes: sealedHeader });
  return { manifest, files };
}

async function readExactly(source: FilesSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new ModelsealError('model_invalid', `reading ${length} bytes of the files at offset ${offset} gave ${bytes?.length ?? 'no'} bytes: a file changed size while it was being sealed`);
  return bytes;
}
