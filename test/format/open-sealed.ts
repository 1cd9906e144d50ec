// Opens a sealed model held in memory the way a loader does; shared by the format tests.
import {
  createShardDecryptor, importInputKey, inlineHeader, joinChunks, openHeader, openShard, parseManifestText,
  type OpenedHeader, type SealedManifest,
} from '../../format/index.js';

/** The decrypted model: weight bytes joined, the chunk buffers as the reader returned them, and the header. */
export interface OpenedModel {
  manifest: SealedManifest;
  opened: OpenedHeader;
  chunks: ArrayBuffer[];
  weights: Uint8Array;
}

/**
 * Parses `manifest` (an object or model.json text), decrypts the header and every shard from
 * `files`. With `piece`, shards are pushed to the streaming decryptor `piece` bytes at a time.
 */
export async function openSealed(
  manifest: unknown,
  files: Map<string, Uint8Array>,
  contentKey: Uint8Array,
  options: { piece?: number | undefined } = {},
): Promise<OpenedModel> {
  const parsed = parseManifestText(typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  const key = await importInputKey(contentKey);
  const file = (path: string) => {
    const bytes = files.get(path);
    if (!bytes) throw new Error(`test: no file ${path}`);
    return bytes;
  };
  const headerBytes = inlineHeader(parsed) ?? file((parsed.header as { path: string }).path);
  const opened = await openHeader(parsed, headerBytes, key);
  const chunks: ArrayBuffer[] = [];
  for (const plan of opened.shards) {
    const sealed = file(plan.path);
    if (options.piece === undefined) {
      chunks.push(...(await openShard(parsed, opened, plan.index, sealed, key)));
    } else {
      const decryptor = createShardDecryptor(parsed, opened, plan.index, key);
      for (let at = 0; at < sealed.length; at += options.piece) await decryptor.push(sealed.subarray(at, at + options.piece));
      chunks.push(...(await decryptor.finish()));
    }
  }
  return { manifest: parsed, opened, chunks, weights: joinChunks(chunks) };
}

/** Copies a sealed model's manifest and files so a test can alter them freely. */
export function cloneSealed(sealed: { manifest: SealedManifest; files: Array<{ path: string; bytes: Uint8Array }> }): {
  manifest: Record<string, unknown> & SealedManifest;
  files: Map<string, Uint8Array>;
} {
  return {
    manifest: JSON.parse(JSON.stringify(sealed.manifest)),
    files: new Map(sealed.files.map((f) => [f.path, f.bytes.slice()])),
  };
}
