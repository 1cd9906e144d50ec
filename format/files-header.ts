// The encrypted header of the generic form (`kind: "files"`): any set of files, by relative path,
// whose bytes are concatenated in header order into the payload the shards carry
// (docs/FORMAT.md §Generic form).

import { ModelsealError } from './errors.js';
import { isRecord } from './json.js';
import { DIGEST_PATTERN } from './manifest.js';

/** One file of a files-kind sealing: its relative path and its length in bytes. */
export interface FileEntry {
  path: string;
  bytes: number;
}

/** The decrypted header of a files-kind sealing, exactly the fields it defines, in this order. */
export interface FilesHeader {
  /** Random per sealing, so two sealings of the same files have different digests. */
  sealingId: string;
  kind: 'files';
  /** The files in payload order. */
  files: FileEntry[];
  /** Sum of `files[].bytes`: the payload length all shards carry together. */
  totalBytes: number;
  /** One per shard: the chunk digest of its plaintext, base64url. */
  shardDigests: string[];
}

/** The fields of a files-kind header, in the order the writer serialises them. */
export const FILES_HEADER_FIELDS = ['sealingId', 'kind', 'files', 'totalBytes', 'shardDigests'] as const;
/** At most this many files in one sealing. */
export const MAX_FILES = 100_000;
/** A file path is at most this many bytes of UTF-8. */
export const MAX_FILE_PATH_BYTES = 1024;
/** One path segment is at most this many bytes of UTF-8 (the common file-system limit). */
export const MAX_SEGMENT_BYTES = 255;

const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why `path` is not a valid file path of the generic form, or undefined when it is. Valid: 1 to
 * 1024 bytes of well-formed UTF-8 in Unicode NFC, segments of 1 to 255 bytes separated by `/`,
 * no `.` or `..` segment, no backslash, no `:`, no control character (docs/FORMAT.md §File paths).
 */
export function filePathProblem(path: string): string | undefined {
  if (path.length === 0) return 'it is empty';
  if (LONE_SURROGATE.test(path)) return 'it is not well-formed Unicode (a lone surrogate)';
  if (encoder.encode(path).length > MAX_FILE_PATH_BYTES) return `it is longer than ${MAX_FILE_PATH_BYTES} bytes of UTF-8`;
  if (path.normalize('NFC') !== path) return 'it is not in Unicode normalisation form C (NFC)';
  // eslint-disable-next-line no-control-regex
  if (/[\\:\u0000-\u001f\u007f]/.test(path)) return 'it contains a backslash, a ":" or a control character';
  for (const segment of path.split('/')) {
    if (segment === '') return 'it has an empty segment (a leading, trailing or doubled "/")';
    if (segment === '.' || segment === '..') return 'it has a "." or ".." segment';
    if (encoder.encode(segment).length > MAX_SEGMENT_BYTES) return `a segment is longer than ${MAX_SEGMENT_BYTES} bytes of UTF-8`;
  }
  return undefined;
}

/** How readers compare paths: lowercased (String.prototype.toLowerCase, locale-independent). */
export const READER_FOLD = (path: string): string => path.toLowerCase();

/**
 * How writers compare paths: upper-cased, then lowercased. Stricter than READER_FOLD: it also
 * folds `aΣ` with `aσ` and `s.txt` with `ſ.txt`, which lowercasing alone tells apart but a
 * case-insensitive file system may not, so what a writer seals opens alike everywhere.
 */
export const WRITER_FOLD = (path: string): string => path.toUpperCase().toLowerCase();

/**
 * Why a list of paths cannot be one sealing, or undefined: every path valid, no two equal once
 * folded (READER_FOLD unless given), and no path a folder of another (`a` beside `a/b`), also once
 * folded, so `open` writes the same files on any file system.
 */
export function filePathListProblem(paths: readonly string[], fold: (path: string) => string = READER_FOLD): string | undefined {
  const seen = new Map<string, string>();
  for (const [i, path] of paths.entries()) {
    const problem = filePathProblem(path);
    if (problem) return `files[${i}].path ${JSON.stringify(path.slice(0, 80))}: ${problem}`;
    const folded = fold(path);
    const other = seen.get(folded);
    if (other !== undefined) return `files[${i}].path ${JSON.stringify(path.slice(0, 80))} names the same file as ${JSON.stringify(other.slice(0, 80))} (paths are compared ignoring case)`;
    seen.set(folded, path);
  }
  return fileUsedAsFolder(paths, fold);
}

/**
 * Why no file system holds all of `paths` at once when one is a folder of another (`a` beside
 * `a/b`, compared once folded), or undefined.
 */
export function fileUsedAsFolder(paths: readonly string[], fold: (path: string) => string): string | undefined {
  const folders = new Map<string, string>();
  for (const path of paths) {
    const segments = fold(path).split('/');
    for (let n = 1; n < segments.length; n++) folders.set(segments.slice(0, n).join('/'), path);
  }
  for (const path of paths) {
    const inside = folders.get(fold(path));
    if (inside !== undefined) return `${JSON.stringify(path.slice(0, 80))} is a file but ${JSON.stringify(inside.slice(0, 80))} uses it as a folder`;
  }
  return undefined;
}

/** True when a parsed header document is of the generic form (it has a `kind` member). */
export function isFilesHeaderJson(json: unknown): boolean {
  return isRecord(json) && Object.hasOwn(json, 'kind');
}

/** Checks a parsed files-kind header (H7 of the generic form); throws `header_invalid`. */
export function parseFilesHeaderJson(json: unknown, label = 'header'): FilesHeader {
  const bad = (problem: string) => new ModelsealError('header_invalid', `${label} decrypted but is not a valid modelseal/2 header: ${problem}`, { file: label });
  if (!isRecord(json)) throw bad('not an object');
  if (json['kind'] !== 'files') throw bad(`unknown kind ${JSON.stringify(String(json['kind']).slice(0, 40))} (this reader knows "files")`);
  for (const key of Object.keys(json)) if (!(FILES_HEADER_FIELDS as readonly string[]).includes(key)) throw bad(`unknown field ${JSON.stringify(key.slice(0, 40))}`);
  const { sealingId, files, totalBytes, shardDigests } = json;
  if (typeof sealingId !== 'string' || sealingId.length === 0) throw bad('sealingId missing');
  if (!Array.isArray(files) || files.length === 0 || files.length > MAX_FILES) throw bad(`files must be an array of 1 to ${MAX_FILES} entries`);
  let sum = 0;
  const paths: string[] = [];
  files.forEach((f: unknown, i) => {
    if (!isRecord(f) || Object.keys(f).length !== 2 || typeof f['path'] !== 'string' || !Number.isSafeInteger(f['bytes']) || (f['bytes'] as number) < 0) {
      throw bad(`files[${i}] must be exactly {"path": string, "bytes": non-negative integer}`);
    }
    paths.push(f['path']);
    sum += f['bytes'] as number;
  });
  const problem = filePathListProblem(paths);
  if (problem) throw bad(problem);
  if (!Number.isSafeInteger(totalBytes) || totalBytes !== sum) throw bad(`totalBytes must be the sum of files[].bytes (${sum})`);
  if (!Array.isArray(shardDigests) || shardDigests.some((d) => typeof d !== 'string' || !DIGEST_PATTERN.test(d))) throw bad('shardDigests must be an array of base64url SHA-256 digests');
  return json as unknown as FilesHeader;
}
