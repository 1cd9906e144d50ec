// The generic form (kind "files") in memory: sealFiles → openSealing → openShard gives every file
// back exactly, around every chunk and shard boundary; the path rules; what sealing refuses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { filesInMemory, importInputKey, inlineHeader, isModelsealError, joinChunks, openHeader, openSealing, openShard, parseManifest, sealFiles, type FilesSource, type SealedModel } from '../../format/index.js';
import { filePathListProblem, filePathProblem } from '../../format/files-header.js';

const C = 1024;
const S = 2048;
const key = crypto.getRandomValues(new Uint8Array(32));
const options = { modelId: 'files', keyId: 'k1', contentKey: key, chunkLength: C, shardLength: S };

async function openAll(sealed: SealedModel): Promise<Map<string, Uint8Array>> {
  const manifest = parseManifest(JSON.parse(JSON.stringify(sealed.manifest)));
  const files = new Map(sealed.files.map((f) => [f.path, f.bytes]));
  const inputKey = await importInputKey(key);
  const opened = await openSealing(manifest, inlineHeader(manifest) ?? files.get('header.sealed')!, inputKey);
  if (opened.kind !== 'files') throw new Error('expected a files sealing');
  const parts: ArrayBuffer[] = [];
  for (const plan of opened.shards) parts.push(...(await openShard(manifest, opened, plan.index, files.get(plan.path)!, inputKey)));
  const payload = joinChunks(parts);
  expect(payload.length).toBe(opened.header.totalBytes);
  return new Map(opened.files.map((f) => [f.path, payload.slice(f.offset, f.offset + f.bytes)]));
}

function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

describe('sealFiles and openSealing', () => {
  it('round-trips files of every size around the chunk and shard boundaries, in the order given', async () => {
    const sizes = [0, 1, C - 1, C, C + 1, S - 1, S, S + 1, 0, 3 * S + 7];
    const folder = sizes.map((n, i) => ({ path: `dir${i % 3}/file-${i}.bin`, data: random(n) }));
    const sealed = await sealFiles(filesInMemory(folder), options);
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(sealed.manifest.shards.length).toBe(Math.ceil(total / S));
    // The public manifest names no file and gives no per-file size.
    const text = JSON.stringify(sealed.manifest);
    expect(text).not.toContain('file-');
    expect(text).not.toContain('dir0');
    const opened = await openAll(sealed);
    expect([...opened.keys()]).toEqual(folder.map((f) => f.path));
    for (const f of folder) expect(Buffer.from(opened.get(f.path)!).equals(Buffer.from(f.data)), f.path).toBe(true);
  });

  it('property: any list of valid files round-trips exactly', async () => {
    const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
    const file = fc.record({ path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')), size: fc.integer({ min: 0, max: 3 * S + 3 }) });
    await fc.assert(fc.asyncProperty(fc.array(file, { minLength: 1, maxLength: 6 }), async (entries) => {
      const folder = entries.map((e, i) => ({ path: `${i}/${e.path}`, data: random(e.size) }));
      const opened = await openAll(await sealFiles(filesInMemory(folder), options));
      for (const f of folder) expect(Buffer.from(opened.get(f.path)!).equals(Buffer.from(f.data))).toBe(true);
    }), { numRuns: 25 });
  });

  it('property: any single changed byte in any sealed file is refused with a ModelsealError, never opened', async () => {
    const folder = [{ path: 'a.bin', data: random(3000) }, { path: 'b/c.bin', data: random(1500) }];
    const sealed = await sealFiles(filesInMemory(folder), { ...options, headerMode: 'file' });
    const names = sealed.files.map((f) => f.path);
    await fc.assert(fc.asyncProperty(fc.nat({ max: names.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (which, at, mask) => {
      const files = sealed.files.map((f) => ({ path: f.path, bytes: f.bytes.slice() }));
      const target = files[which]!;
      target.bytes[at % target.bytes.length]! ^= mask;
      const err = await openAll({ manifest: sealed.manifest, files }).then(() => undefined, (e: unknown) => e);
      expect(isModelsealError(err), `${names[which]} byte ${at % target.bytes.length}: ${String(err)}`).toBe(true);
    }), { numRuns: 60 });
  });

  it('a TF.js reader (openHeader, sealedModel) refuses a files sealing with kind_mismatch', async () => {
    const sealed = await sealFiles(filesInMemory([{ path: 'model.onnx', data: random(10) }]), options);
    const manifest = parseManifest(JSON.parse(JSON.stringify(sealed.manifest)));
    const err = await openHeader(manifest, inlineHeader(manifest)!, await importInputKey(key)).catch((e: unknown) => e);
    expect(isModelsealError(err, 'kind_mismatch')).toBe(true);
    expect((err as Error).message).toMatch(/is a sealing of 1 file .*openSealedFiles/);
  });

  it('refuses what no reader would accept: no files, a bad path, colliding paths (model_invalid)', async () => {
    const fail = async (folder: Array<{ path: string; data: Uint8Array }>, message: RegExp) => {
      const err = await sealFiles(filesInMemory(folder), options).catch((e: unknown) => e);
      expect(isModelsealError(err, 'model_invalid'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(message);
    };
    await fail([], /1 to 100000 files, got 0/);
    await fail([{ path: '../up.bin', data: random(1) }], /"\.\.\/up\.bin": it has a "\." or "\.\." segment/);
    await fail([{ path: 'a.txt', data: random(1) }, { path: 'A.TXT', data: random(1) }], /names the same file as "a\.txt" \(paths are compared ignoring case\)/);
    // The writer folds upper-cased first: pairs that lowercasing alone tells apart (readers accept them).
    await fail([{ path: 'aΣ', data: random(1) }, { path: 'aσ', data: random(1) }], /"aσ" names the same file as "aΣ"/);
    expect(filePathListProblem(['aΣ', 'aσ'])).toBeUndefined();
    await fail([{ path: 'onnx', data: random(1) }, { path: 'onnx/model.onnx', data: random(1) }], /"onnx" is a file but "onnx\/model\.onnx" uses it as a folder/);
  });

  it('refuses files that change between its two reads (model_invalid), instead of writing shards no reader accepts', async () => {
    let reads = 0;
    const data = random(3 * S);
    const changing: FilesSource = {
      files: [{ path: 'grows.bin', bytes: data.length }],
      read(offset, length) {
        reads++;
        const out = data.slice(offset, offset + length);
        if (reads > 3) out[0]! ^= 1; // the second pass sees other bytes
        return out;
      },
    };
    const err = await sealFiles(changing, options).catch((e: unknown) => e);
    expect(isModelsealError(err, 'model_invalid')).toBe(true);
    expect((err as Error).message).toMatch(/files changed while they were being sealed \(shard 1 of 3/);
  });

  it('filesInMemory reads any range across files, empty files included', () => {
    const source = filesInMemory([{ path: 'a', data: Uint8Array.of(1, 2) }, { path: 'b', data: new Uint8Array(0) }, { path: 'c', data: Uint8Array.of(3, 4, 5) }]);
    expect([...source.read(0, 5) as Uint8Array]).toEqual([1, 2, 3, 4, 5]);
    expect([...source.read(1, 3) as Uint8Array]).toEqual([2, 3, 4]);
    expect([...source.read(2, 0) as Uint8Array]).toEqual([]);
    expect(() => source.read(4, 2)).toThrow(RangeError);
  });
});

describe('file path rules (docs/FORMAT.md §File paths)', () => {
  it('accepts plain relative paths, Unicode in NFC included', () => {
    for (const p of ['model.onnx', 'onnx/model_quantized.onnx', 'a/b/c/d.bin', '.gitattributes', 'é.txt', '日本語/モデル.bin', 'with space.txt']) {
      expect(filePathProblem(p), p).toBeUndefined();
    }
  });

  it('refuses each broken rule with its reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['/etc/passwd', /empty segment/],
      ['a//b', /empty segment/],
      ['a/', /empty segment/],
      ['./a', /"\." or "\.\." segment/],
      ['a/../b', /"\." or "\.\." segment/],
      ['a\\b', /backslash/],
      ['C:/x', /":"/],
      ['a\u0000b', /control character/],
      ['a\nb', /control character/],
      ['e\u0301.txt', /NFC/],
      ['\ud800.bin', /lone surrogate/],
      [`${'x'.repeat(256)}`, /segment is longer than 255 bytes/],
      [`${'abcd/'.repeat(205)}x`, /longer than 1024 bytes/],
    ];
    for (const [path, reason] of cases) expect(filePathProblem(path), JSON.stringify(path)).toMatch(reason);
  });

  it('a list: no two paths equal ignoring case, no file used as a folder (also ignoring case)', () => {
    expect(filePathListProblem(['a.txt', 'b.txt', 'dir/a.txt'])).toBeUndefined();
    expect(filePathListProblem(['Dir/a', 'dir/A'])).toMatch(/same file/);
    expect(filePathListProblem(['Onnx', 'onnx/model.onnx'])).toMatch(/"Onnx" is a file but "onnx\/model\.onnx" uses it as a folder/);
  });
});
