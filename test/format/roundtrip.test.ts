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
