import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importInputKey, inlineHeader, joinChunks, openHeader, openShard, parseManifest, sealModel } from '../../format/index.js';
import { MAX_HEADER_BYTES } from '../../format/manifest.js';
import { expectSameBytes } from '../helpers/bytes.js';

const dir = new URL('../../node_modules/@vladmandic/human/models/', import.meta.url);

describe('seal and open in memory', () => {
  it('round-trips a real graph model with small shards', async () => {
    const modelJson = JSON.parse(readFileSync(new URL('blazeface.json', dir), 'utf8'));
    const bin = new Uint8Array(readFileSync(new URL('blazeface.bin', dir)));
    const contentKey = crypto.getRandomValues(new Uint8Array(32));
    const sealed = await sealModel({ modelJson, weightFiles: [bin] }, { modelId: 'blazeface', keyId: 'k1', contentKey, shardLength: 100_000, chunkLength: 16384, headerMode: 'file' });
    const manifest = parseManifest(JSON.parse(JSON.stringify(sealed.manifest)));
    expect(JSON.stringify(manifest)).not.toContain('conv');
    const key = await importInputKey(contentKey);
    const files = new Map(sealed.files.map((f) => [f.path, f.bytes]));
    const headerBytes = inlineHeader(manifest) ?? files.get('header.sealed')!;
    const opened = await openHeader(manifest, headerBytes, key);
    expect(opened.model).toEqual(modelJson);
    const parts = [];
    for (const plan of opened.shards) parts.push(...(await openShard(manifest, opened, plan.index, files.get(plan.path)!, key)));
    expect(Buffer.from(joinChunks(parts)).equals(Buffer.from(bin))).toBe(true);
  });
});

describe('sealModel with onShard', () => {
  it('hands over pieces that join to exactly the bytes the collecting path returns, shard by shard, in order', async () => {
    const modelJson = JSON.parse(readFileSync(new URL('blazeface.json', dir), 'utf8'));
    const bin = new Uint8Array(readFileSync(new URL('blazeface.bin', dir)));
    const contentKey = crypto.getRandomValues(new Uint8Array(32));
    // The same deterministic random source for both runs, so the salts and sealingId match.
    const source = () => {
      let n = 0;
      return (length: number) => Uint8Array.from({ length }, () => n++ & 0xff);
    };
    const options = { modelId: 'blazeface', keyId: 'k1', contentKey, shardLength: 100_000, chunkLength: 16384, headerMode: 'file' as const };
    const collected = await sealModel({ modelJson, weightFiles: [bin] }, { ...options, random: source() });
    const handed: Array<{ path: string; bytes: Uint8Array }> = [];
    const streamed = await sealModel({ modelJson, weightFiles: [bin] }, {
      ...options,
      random: source(),
      onShard: (file) => {
        const bytes = Buffer.concat(file.parts);
        expect(bytes.length).toBe(file.size);
        handed.push({ path: file.path, bytes });
      },
    });
    expect(streamed.manifest).toEqual(collected.manifest);
    expect(streamed.files.map((f) => f.path)).toEqual(['header.sealed']);
    const shards = collected.files.filter((f) => f.path !== 'header.sealed');
    expect(handed.map((f) => f.path)).toEqual(shards.map((f) => f.path));
    expectSameBytes(handed.map((f) => f.bytes), shards.map((f) => f.bytes), 'shard');
  });
});

describe('sealModel refuses what no reader would accept, before sealing any shard', () => {
  const contentKey = new Uint8Array(32).fill(7);
  const modelOf = (weightBytes: number, metadata = '') => ({
    modelJson: {
      format: 'graph-model', modelTopology: { node: [] }, userDefinedMetadata: { note: metadata },
      weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [weightBytes], dtype: 'uint8' as const }] }],
    },
    weightFiles: [new Uint8Array(weightBytes)],
  });

  it('a manifest over MAX_MANIFEST_BYTES (too many shards): model_invalid naming the shard size', async () => {
    let shardsSealed = 0;
    // 16 MB in 1 KiB shards: ~16,000 shard entries, about 1.3 MB of manifest.
    await expect(sealModel(modelOf(16_000_000), { modelId: 'm', keyId: 'k1', contentKey, chunkLength: 1024, shardLength: 1024, onShard: () => void shardsSealed++ }))
      .rejects.toMatchObject({ code: 'model_invalid', message: expect.stringMatching(/over the 1048576-byte limit.*larger shard size/) });
    expect(shardsSealed).toBe(0);
    // The same model in 64 KiB shards fits.
    const ok = await sealModel(modelOf(16_000_000), { modelId: 'm', keyId: 'k1', contentKey, chunkLength: 1024, shardLength: 65536, onShard: () => undefined });
    expect(ok.manifest.shards.length).toBe(245);
  });

  it('a header over MAX_HEADER_BYTES (a huge model.json): model_invalid', async () => {
    await expect(sealModel(modelOf(16, 'x'.repeat(MAX_HEADER_BYTES)), { modelId: 'm', keyId: 'k1', contentKey }))
      .rejects.toMatchObject({ code: 'model_invalid', message: expect.stringContaining('model.json is too large to seal') });
  });
});
