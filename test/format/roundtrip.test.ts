import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { importInputKey, inlineHeader, joinChunks, openHeader, openShard, parseManifest, sealModel } from '../../format/index.js';

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
    expect(opened.header.model).toEqual(modelJson);
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
    handed.forEach((f, i) => expect(Buffer.from(f.bytes).equals(Buffer.from(shards[i]!.bytes)), f.path).toBe(true));
  });
});
