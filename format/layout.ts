// Shared arithmetic of the shard layout, used by sealing and opening alike.

/** Plaintext length of each shard: full shards of `shardLength`, the last one shorter or full. */
export function shardPlaintextLengths(weightBytes: number, shardLength: number): number[] {
  const count = Math.ceil(weightBytes / shardLength);
  const lengths: number[] = [];
  for (let i = 0; i < count; i++) lengths.push(Math.min(shardLength, weightBytes - i * shardLength));
  return lengths;
}
