// Shared arithmetic of the shard layout, used by sealing and opening alike.

/** Plaintext length of each shard: full shards of `shardLength`, the last one shorter or full. */
export function shardPlaintextLengths(weightBytes: number, shardLength: number): number[] {
  const count = Math.ceil(weightBytes / shardLength);
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push(Math.min(shardLength, weightBytes - i * shardLength));
  return lengths;
}

/** SHA-256 of bytes (WebCrypto). */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as BufferSource));
}
