// The `context` bytes bound into every sealed file's key schedule (docs/FORMAT.md §Context).
// Each field is length-prefixed (u32 big-endian), so no two field lists encode to the same bytes.

import { concatBytes, utf8 } from './bytes.js';
import { FORMAT_VERSION } from './manifest.js';

function field(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? utf8(value) : value;
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** What every file's context starts with: the key version and the chunking it was sealed with. */
export interface ContextBase {
  modelId: string;
  keyId: string;
  chunkLength: number;
  shardLength: number;
}

/** Context of the encrypted header file. */
export function headerContext(base: ContextBase): Uint8Array {
  return concatBytes(
    field(FORMAT_VERSION), field('header'), field(base.modelId), field(base.keyId),
    field(String(base.chunkLength)), field(String(base.shardLength)),
  );
}

/** Context of shard `index` of `count`, which decrypts to `plaintextLength` bytes. */
export function shardContext(
  base: ContextBase,
  shard: { index: number; count: number; plaintextLength: number; headerDigest: Uint8Array },
): Uint8Array {
  return concatBytes(
    field(FORMAT_VERSION), field('shard'), field(base.modelId), field(base.keyId),
    field(String(base.chunkLength)), field(String(base.shardLength)),
    field(String(shard.index)), field(String(shard.count)), field(String(shard.plaintextLength)),
    field(shard.headerDigest),
  );
}
