// Property tests (fast-check): sizes swept around every chunk and shard boundary round-trip exactly,
// and any single changed byte in any sealed file fails with the code its position implies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isModelsealError, sealModel, type ModelJson } from '../../format/index.js';
import { openSealed } from './open-sealed.js';

/** Deterministic filler bytes (xorshift32), so a failing case replays from its seed. */
function bytesFrom(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sample = fc.record({ chunkLength: fc.constantFrom(1024, 2048), shardChunks: fc.integer({ min: 1, max: 3 }) }).chain(({ chunkLength: C, shardChunks }) => {
  const S = C * shardChunks;
  return fc.record({
    chunkLength: fc.constant(C),
    shardLength: fc.constant(S),
    // Every boundary the spec names, plus anything up to four shards.
    length: fc.oneof(fc.constantFrom(0, 1, C - 1, C, C + 1, S - 1, S, S + 1, 2 * S, 3 * S - 1), fc.integer({ min: 0, max: 4 * S })),
    splits: fc.array(fc.integer({ min: 0, max: 4 * S }), { maxLength: 3 }),
    headerMode: fc.constantFrom('inline' as const, 'file' as const),
    seed: fc.integer(),
    // Shards read whole (undefined) or streamed to the decryptor in pieces of this many bytes.
    piece: fc.option(fc.integer({ min: 1, max: 3 * C + 100 }), { nil: undefined }),
  });
});

function modelOf(s: { length: number; splits: number[]; seed: number }): { modelJson: ModelJson; weightFiles: Uint8Array[]; weights: Uint8Array } {
  const weights = bytesFrom(s.seed, s.length);
  const cuts = [...new Set(s.splits.map((n) => Math.min(n, s.length)))].sort((a, b) => a - b);
  const weightFiles: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...cuts, s.length]) {
    weightFiles.push(weights.subarray(at, cut));
    at = cut;
  }
  const modelJson: ModelJson = {
    format: 'graph-model',
    modelTopology: { node: [{ name: 'w', op: 'Const' }] },
    weightsManifest: [{ paths: weightFiles.map((_, i) => `group1-shard${i + 1}of${weightFiles.length}.bin`), weights: [{ name: 'w', shape: [s.length], dtype: 'uint8' }] }],
  };
  return { modelJson, weightFiles, weights };
}

describe('format properties', () => {
  it('seal → open (whole or streamed) returns exactly the weights, as chunk buffers all of chunkLength but the last', async () => {
    await fc.assert(fc.asyncProperty(sample, async (s) => {
      const { modelJson, weightFiles, weights } = modelOf(s);
      const contentKey = bytesFrom(s.seed ^ 0x5a5a, 32);
      const sealed = await sealModel({ modelJson, weightFiles }, { modelId: 'prop', keyId: 'k1', contentKey, chunkLength: s.chunkLength, shardLength: s.shardLength, headerMode: s.headerMode });
      expect(sealed.manifest.shards).toHaveLength(Math.ceil(s.length / s.shardLength));
      const opened = await openSealed(sealed.manifest, new Map(sealed.files.map((f) => [f.path, f.bytes])), contentKey, { piece: s.piece });
      expect(opened.weights.length).toBe(s.length);
      expect(Buffer.from(opened.weights).equals(Buffer.from(weights))).toBe(true);
      opened.chunks.slice(0, -1).forEach((c) => expect(c.byteLength).toBe(s.chunkLength));
      expect(opened.opened.model).toEqual(modelJson);
      expect(opened.opened.header.weightFiles).toEqual([weightFiles.map((f) => f.length)]);
    }), { numRuns: 100 });
  });

  it('a single changed byte anywhere in any sealed file always fails, with the code its position implies', async () => {
    const mutation = fc.record({ s: sample, file: fc.nat(), offset: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) });
    await fc.assert(fc.asyncProperty(mutation, async ({ s, file, offset, xor }) => {
      const { modelJson, weightFiles } = modelOf(s);
      const contentKey = bytesFrom(s.seed ^ 0x3c3c, 32);
      const sealed = await sealModel({ modelJson, weightFiles }, { modelId: 'prop', keyId: 'k1', contentKey, chunkLength: s.chunkLength, shardLength: s.shardLength, headerMode: 'file' });
      const target = sealed.files[file % sealed.files.length]!;
      const at = offset % target.bytes.length;
      const files = new Map(sealed.files.map((f) => [f.path, f.bytes.slice()]));
      files.get(target.path)![at]! ^= xor;
      const err = await openSealed(sealed.manifest, files, contentKey, { piece: s.piece }).then(() => undefined, (e: unknown) => e);
      expect(isModelsealError(err), `changed byte ${at} of ${target.path} was accepted`).toBe(true);
      if (!isModelsealError(err)) return;
      // The first 56 bytes are salt ‖ commitment: a change there fails the commitment check.
      const isHeader = target.path === 'header.sealed';
      const code = at < 56 ? (isHeader ? 'wrong_key' : 'misplaced_shard') : 'tampered';
      expect(err.code, err.message).toBe(code);
      expect(err.file).toContain(target.path);
      expect(err.message).toContain(target.path);
    }), { numRuns: 150 });
  });
});
