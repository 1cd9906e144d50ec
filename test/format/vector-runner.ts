// Runs one modelseal test vector (test/vectors/*.json) through the reference reader. Browser-safe
// (WebCrypto only), so test/format/browser.test.ts bundles this same file into Chromium.
import { importInputKey, inlineHeader, isModelsealError, joinChunks, ModelsealError, openSealing, openShard, parseManifestBytes } from '../../format/index.js';
import { fromHex, toHex } from '../../format/bytes.js';

/** One file of a vector: UTF-8 text (model.json) or bytes as lowercase hex (sealed files). */
export type VectorFile = { text: string } | { hex: string };

/** A modelseal vector: files as a CDN would serve them, a content key, and what a reader must conclude. */
export interface ModelsealVector {
  vector: string;
  description: string;
  format: 'modelseal/2';
  /** `success`, or the error code a reader must fail with. */
  expect: string;
  /** For failures: the file the error must name (a substring of `err.file`), when it names one. */
  errorFile?: string;
  /** The content key, hex (normally 32 bytes; `invalid_key` vectors carry another length). */
  contentKey: string;
  /** Every file by path; `model.json` is the public manifest. */
  files: Record<string, VectorFile>;
  /** The sealings (manifest `sealing` values) the key server vouches for for this key version. */
  published: string[];
  /** For success: SHA-256 of the decrypted header plaintext (the digest bound into every shard). */
  header?: { sha256: string };
  /** For success: SHA-256 and length of all weight bytes (the payload), shards concatenated in order. */
  weights?: { length: number; sha256: string };
  /** For success: what the header holds, `tfjs` (a TF.js model) or `files` (the generic form). */
  kind?: 'tfjs' | 'files';
  /** For success of kind `files`: each file in header order, with its length and SHA-256. */
  contents?: Array<{ path: string; length: number; sha256: string }>;
}

/** What the reader concluded. */
export type VectorOutcome =
  | {
    ok: true; header: { sha256: string }; weights: { length: number; sha256: string }; shardCount: number;
    kind: 'tfjs' | 'files'; contents?: Array<{ path: string; length: number; sha256: string }>;
  }
  | { ok: false; code: string | undefined; message: string; file: string | undefined; name: string };

function bytesOf(vector: ModelsealVector, path: string): Uint8Array {
  const file = vector.files[path];
  if (!file) throw new Error(`vector ${vector.vector} has no file ${path}`);
  return 'hex' in file ? fromHex(file.hex) : new TextEncoder().encode(file.text);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource)));
}

/** Reads a vector the way a loader reads a sealed model: manifest, key, header, every shard in order. */
export async function runVector(vector: ModelsealVector): Promise<VectorOutcome> {
  try {
    const manifest = parseManifestBytes(bytesOf(vector, 'model.json'));
    // What the key server (or the keystore) does before it releases the key: P1.
    if (!vector.published.includes(manifest.sealing)) throw new ModelsealError('not_published', `sealing ${manifest.sealing} is not published`);
    const key = await importInputKey(fromHex(vector.contentKey));
    const headerBytes = inlineHeader(manifest) ?? bytesOf(vector, (manifest.header as { path: string }).path);
    const opened = await openSealing(manifest, headerBytes, key);
    const parts: ArrayBuffer[] = [];
    for (const plan of opened.shards) parts.push(...(await openShard(manifest, opened, plan.index, bytesOf(vector, plan.path), key)));
    const weights = joinChunks(parts);
    const contents = opened.kind === 'files'
      ? await Promise.all(opened.files.map(async (f) => ({ path: f.path, length: f.bytes, sha256: await sha256Hex(weights.subarray(f.offset, f.offset + f.bytes)) })))
      : undefined;
    return {
      ok: true,
      header: { sha256: toHex(opened.digest) },
      weights: { length: weights.length, sha256: await sha256Hex(weights) },
      shardCount: opened.shards.length,
      kind: opened.kind,
      ...(contents ? { contents } : {}),
    };
  } catch (err) {
    if (isModelsealError(err)) return { ok: false, code: err.code, message: err.message, file: err.file, name: err.name };
    return { ok: false, code: undefined, message: String((err as Error)?.message ?? err), file: undefined, name: String((err as Error)?.name) };
  }
}
