// What a key holder who can write to the CDN can make: every session receives the content key, so
// anyone who once loaded the model can seal other content under it. The tests use these variants
// to show that only sealings the publisher recorded load (docs/FORMAT.md, THREAT_MODEL.md).

import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filesInMemory, importInputKey, parseManifestBytes, sealFiles, sealModel, type SealedManifest } from '../../format/index.js';
import { fromBase64url } from '../../format/bytes.js';
import { encryptChunked } from '../../format/chunked.js';
import { shardContext } from '../../format/context.js';
import { shardPlaintextLengths } from '../../format/layout.js';

/** A plain model as sealModel takes it, or files as sealFiles takes them (the generic form). */
export type PlainInput = { modelJson: string | object; weightFiles: Uint8Array[] } | { files: Array<{ path: string; data: Uint8Array }> };

/** The forged folders, each a complete sealed model a loader could be pointed at. */
export interface Forgeries {
  /** The model resealed with the same key and ids but other weights; its sealing was never recorded. */
  resealed: string;
  /** The same forged files, with the manifest's `sealing` set back to the published sealing. */
  forgedHeader: string;
  /** The genuine files with one shard replaced by other bytes sealed under its genuine context. */
  forgedShard: string;
}

/** Builds the three forgeries of the sealed folder `sealedDir` (whose content key is `key`) under `outDir`. */
export async function forge(sealedDir: string, plain: PlainInput, key: Uint8Array, outDir: string): Promise<Forgeries> {
  const manifest = parseManifestBytes(await readFile(join(sealedDir, 'model.json')));
  const alter = (f: Uint8Array) => f.map((b, i) => (i % 7 === 0 ? b ^ 0x5a : b));
  const options = {
    modelId: manifest.modelId, keyId: manifest.keyId, contentKey: key, chunkLength: manifest.chunkLength, shardLength: manifest.shardLength,
    headerMode: 'data' in manifest.header ? 'inline' as const : 'file' as const,
  };
  const sealed = 'files' in plain
    ? await sealFiles(filesInMemory(plain.files.map((f) => ({ path: f.path, data: alter(f.data) }))), options)
    : await sealModel({ ...plain, weightFiles: plain.weightFiles.map(alter) }, options);
  const write = async (dir: string, m: SealedManifest) => {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.json'), JSON.stringify(m));
    await Promise.all(sealed.files.map((f) => writeFile(join(dir, f.path), f.bytes)));
  };
  const resealed = join(outDir, 'resealed');
  await write(resealed, sealed.manifest);
  const forgedHeader = join(outDir, 'forged-header');
  await write(forgedHeader, { ...sealed.manifest, sealing: manifest.sealing });

  const forgedShard = join(outDir, 'forged-shard');
  await cp(sealedDir, forgedShard, { recursive: true });
  const weightBytes = 'files' in plain ? plain.files.reduce((n, f) => n + f.data.length, 0) : plain.weightFiles.reduce((n, f) => n + f.length, 0);
  const lengths = shardPlaintextLengths(weightBytes, manifest.shardLength);
  const index = lengths.length > 1 ? 1 : 0;
  const context = shardContext(
    { modelId: manifest.modelId, keyId: manifest.keyId, chunkLength: manifest.chunkLength, shardLength: manifest.shardLength },
    { index, count: lengths.length, plaintextLength: lengths[index]!, headerDigest: fromBase64url(manifest.sealing) },
  );
  const bytes = new Uint8Array(randomBytes(lengths[index]!));
  const shard = await encryptChunked(await importInputKey(key), bytes, context, { chunkLength: manifest.chunkLength, salt: new Uint8Array(randomBytes(24)) });
  await writeFile(join(forgedShard, manifest.shards[index]!.path), shard);
  return { resealed, forgedHeader, forgedShard };
}
