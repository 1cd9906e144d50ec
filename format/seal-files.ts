// Sealing the generic form: any files, by relative path, under one content key version
// (docs/FORMAT.md §Generic form). The payload is read through a callback, twice (shard digests
// first, then encryption), so a 2 GB file is never held whole.

import { ModelsealError } from './errors.js';
import { filePathListProblem, MAX_FILES, WRITER_FOLD, type FilesHeader } from './files-header.js';
import { sealingLengths, sealPayload, type SealedModel, type SealOptions } from './seal-core.js';

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

/** Seals files (the generic form): encrypted header listing them, encrypted shards of their bytes. */
export async function sealFiles(source: FilesSource, options: SealOptions): Promise<SealedModel> {
  const lengths = sealingLengths(options);
  const entries = source.files.map((f) => ({ path: f.path, bytes: f.bytes }));
  if (entries.length === 0 || entries.length > MAX_FILES) throw new ModelsealError('model_invalid', `a sealing holds 1 to ${MAX_FILES} files, got ${entries.length}`);
  for (const [i, f] of entries.entries()) {
    if (!Number.isSafeInteger(f.bytes) || f.bytes < 0) throw new TypeError(`files[${i}].bytes must be a non-negative integer`);
  }
  // A writer refuses what any case-insensitive file system would fold together (readers check less).
  const problem = filePathListProblem(entries.map((f) => f.path), WRITER_FOLD);
  if (problem) throw new ModelsealError('model_invalid', `cannot seal these files: ${problem}`);
  const totalBytes = entries.reduce((n, f) => n + f.bytes, 0);
  if (!Number.isSafeInteger(totalBytes)) throw new ModelsealError('model_invalid', 'the files add up to more bytes than a safe integer');
  return sealPayload({
    totalBytes,
    reader: () => {
      let offset = 0;
      return async (length) => {
        const bytes = await readExactly(source, offset, length);
        offset += length;
        return bytes;
      };
    },
    header: (sealingId, shardDigests): FilesHeader => ({ sealingId, kind: 'files', files: entries, totalBytes, shardDigests }),
    headerName: 'the file list',
    recheck: true,
  }, options, lengths);
}

async function readExactly(source: FilesSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) throw new ModelsealError('model_invalid', `reading ${length} bytes of the files at offset ${offset} gave ${bytes?.length ?? 'no'} bytes: a file changed size while it was being sealed`);
  return bytes;
}
