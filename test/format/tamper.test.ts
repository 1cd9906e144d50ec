// Format-level tamper tests on a real graph model: every change to a sealed file or to the public
// manifest fails with its specific code and names the file; none returns weights.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { isModelsealError, sealModel, type SealedModel } from '../../format/index.js';
import { cloneSealed, openSealed } from './open-sealed.js';

const dir = new URL('../../node_modules/@vladmandic/human/models/', import.meta.url);
const modelJson = JSON.parse(readFileSync(new URL('blazeface.json', dir), 'utf8'));
const bin = new Uint8Array(readFileSync(new URL('blazeface.bin', dir)));
const C = 16 * 1024;
const S = 128 * 1024; // 538928 bytes → 4 full shards and a short fifth
const contentKey = crypto.getRandomValues(new Uint8Array(32));
const options = { modelId: 'blazeface', keyId: 'k1', contentKey, chunkLength: C, shardLength: S };

let fileMode: SealedModel;
let inlineMode: SealedModel;

/** Opens an altered copy and returns the error it must fail with (never weights). */
async function failure(edit: (m: Record<string, unknown>, f: Map<string, Uint8Array>) => void, base = () => fileMode, key = contentKey, piece?: number) {
  const { manifest, files } = cloneSealed(base());
  edit(manifest, files);
  const result = await openSealed(manifest, files, key, piece === undefined ? {} : { piece }).then((r) => r, (e: unknown) => e);
  expect(isModelsealError(result), `accepted: ${String(result)}`).toBe(true);
  if (!isModelsealError(result)) throw new Error('unreachable');
  return result;
}

function flip(files: Map<string, Uint8Array>, path: string, offset: number): void {
  files.get(path)![offset < 0 ? files.get(path)!.length + offset : offset]! ^= 0x80;
}

const shard = (m: Record<string, unknown>) => m['shards'] as Array<{ path: string; size: number }>;

describe('tampering with a sealed model', () => {
  beforeAll(async () => {
    fileMode = await sealModel({ modelJson, weightFiles: [bin] }, { ...options, headerMode: 'file' });
    inlineMode = await sealModel({ modelJson, weightFiles: [bin] }, { ...options, headerMode: 'inline' });
    expect(fileMode.manifest.shards.map((s) => s.path)).toEqual(['shard-1-of-5.sealed', 'shard-2-of-5.sealed', 'shard-3-of-5.sealed', 'shard-4-of-5.sealed', 'shard-5-of-5.sealed']);
  });

  it('the untouched model opens to the original weights (file and inline header)', async () => {
    for (const sealed of [fileMode, inlineMode]) {
      const { manifest, files } = cloneSealed(sealed);
      const opened = await openSealed(manifest, files, contentKey);
      expect(Buffer.from(opened.weights).equals(Buffer.from(bin))).toBe(true);
      expect(opened.opened.model).toEqual(modelJson);
    }
  });

  it('a flipped byte in a shard chunk → tampered, naming the shard and chunk', async () => {
    const err = await failure((_m, f) => flip(f, 'shard-3-of-5.sealed', 56 + 2 * (C + 16) + 7));
    expect(err.code).toBe('tampered');
    expect(err.file).toContain('shard-3-of-5.sealed');
    expect(err.message).toMatch(/shard 3 of 5 \(shard-3-of-5\.sealed\): chunk 2 failed authentication: the file may be corrupted or tampered with/);
  });

  it('the same flip fed in small pieces (streaming) → tampered', async () => {
    const err = await failure((_m, f) => flip(f, 'shard-3-of-5.sealed', 56 + 2 * (C + 16) + 7), undefined, contentKey, 1000);
    expect(err.code).toBe('tampered');
    expect(err.message).toContain('chunk 2 failed authentication');
  });

  it('a flipped byte in the header file → tampered; in its salt → wrong_key', async () => {
    const inChunk = await failure((_m, f) => flip(f, 'header.sealed', -1));
    expect(inChunk.code).toBe('tampered');
    expect(inChunk.file).toBe('header (header.sealed)');
    const inSalt = await failure((_m, f) => flip(f, 'header.sealed', 5));
    expect(inSalt.code).toBe('wrong_key');
    expect(inSalt.message).toContain('key commitment mismatch');
  });

  it('a flipped byte in a shard salt or commitment → misplaced_shard', async () => {
    const salt = await failure((_m, f) => flip(f, 'shard-1-of-5.sealed', 0));
    expect(salt.code).toBe('misplaced_shard');
    expect(salt.file).toContain('shard-1-of-5.sealed');
    const commitment = await failure((_m, f) => flip(f, 'shard-5-of-5.sealed', 55));
    expect(commitment.code).toBe('misplaced_shard');
    expect(commitment.message).toContain('shard 5 of 5 (shard-5-of-5.sealed): key commitment mismatch');
  });

  it('a flipped byte in the inline header data → tampered', async () => {
    const err = await failure((m) => {
      const header = m['header'] as { data: string };
      // Change one base64url character well inside the chunk area (past the 56-byte head).
      const at = 200;
      header.data = header.data.slice(0, at) + (header.data[at] === 'A' ? 'B' : 'A') + header.data.slice(at + 1);
    }, () => inlineMode);
    expect(err.code).toBe('tampered');
    expect(err.file).toBe('header (inline)');
  });

  it('altered modelId, keyId, chunkLength or shardLength → wrong_key at the header', async () => {
    const edits: Array<[string, (m: Record<string, unknown>) => void]> = [
      ['modelId', (m) => { m['modelId'] = 'blazeface2'; }],
      ['keyId', (m) => { m['keyId'] = 'k2'; }],
      ['chunkLength', (m) => { m['chunkLength'] = 2 * C; }],
      ['shardLength', (m) => { m['shardLength'] = 2 * S; }],
    ];
    for (const [field, edit] of edits) {
      for (const base of [() => fileMode, () => inlineMode]) {
        const err = await failure(edit, base);
        expect(err.code, `${field}: ${err.message}`).toBe('wrong_key');
        expect(err.message).toContain('key commitment mismatch');
        expect(err.file).toMatch(/^header/);
      }
    }
  });

  it('an altered shard size → manifest_invalid, naming the shard', async () => {
    const err = await failure((m) => { shard(m)[1]!.size -= 16; });
    expect(err.code).toBe('manifest_invalid');
    expect(err.file).toBe('shard-2-of-5.sealed');
    expect(err.message).toContain('shard 2 (shard-2-of-5.sealed) is');
  });

  it('a dropped or added manifest shard entry → manifest_invalid', async () => {
    const dropped = await failure((m) => { shard(m).pop(); });
    expect(dropped.code).toBe('manifest_invalid');
    expect(dropped.message).toContain('lists 4 shards but the header says 5');
    const added = await failure((m, f) => { shard(m).push({ path: 'extra.sealed', size: 72 }); f.set('extra.sealed', new Uint8Array(72)); });
    expect(added.code).toBe('manifest_invalid');
  });

  it('shard path order swapped in the manifest → misplaced_shard (same sizes) or manifest_invalid (different sizes)', async () => {
    const same = await failure((m) => { const s = shard(m); [s[0], s[1]] = [s[1]!, s[0]!]; });
    expect(same.code).toBe('misplaced_shard');
    expect(same.file).toContain('shard-2-of-5.sealed');
    const different = await failure((m) => { const s = shard(m); [s[3], s[4]] = [s[4]!, s[3]!]; });
    expect(different.code).toBe('manifest_invalid');
  });

  it('two shard files swapped → misplaced_shard; a full and the short one swapped → truncated', async () => {
    const err = await failure((_m, f) => { const a = f.get('shard-1-of-5.sealed')!; f.set('shard-1-of-5.sealed', f.get('shard-4-of-5.sealed')!); f.set('shard-4-of-5.sealed', a); });
    expect(err.code).toBe('misplaced_shard');
    expect(err.message).toContain('shards swapped, or taken from another model or sealing');
    const sizes = await failure((_m, f) => { const a = f.get('shard-1-of-5.sealed')!; f.set('shard-1-of-5.sealed', f.get('shard-5-of-5.sealed')!); f.set('shard-5-of-5.sealed', a); });
    expect(sizes.code).toBe('truncated');
    expect(sizes.file).toContain('shard-1-of-5.sealed');
  });

  it('a swapped shard fed in small pieces (streaming) → misplaced_shard, before any chunk is decrypted', async () => {
    const err = await failure((_m, f) => { const a = f.get('shard-1-of-5.sealed')!; f.set('shard-1-of-5.sealed', f.get('shard-2-of-5.sealed')!); f.set('shard-2-of-5.sealed', a); }, undefined, contentKey, 4096);
    expect(err.code).toBe('misplaced_shard');
  });

  it('a shard from another sealing of the same model with the SAME key → misplaced_shard', async () => {
    const other = await sealModel({ modelJson, weightFiles: [bin] }, { ...options, headerMode: 'file' });
    const err = await failure((_m, f) => f.set('shard-2-of-5.sealed', other.files.find((x) => x.path === 'shard-2-of-5.sealed')!.bytes.slice()));
    expect(err.code).toBe('misplaced_shard');
    expect(err.file).toContain('shard-2-of-5.sealed');
  });

  it('a shard from another model sealed with the same key → misplaced_shard', async () => {
    const other = await sealModel({ modelJson, weightFiles: [bin] }, { ...options, modelId: 'other', headerMode: 'file' });
    const err = await failure((_m, f) => f.set('shard-2-of-5.sealed', other.files.find((x) => x.path === 'shard-2-of-5.sealed')!.bytes.slice()));
    expect(err.code).toBe('misplaced_shard');
  });

  it('the last chunk dropped → truncated (shard and header)', async () => {
    const last = await failure((_m, f) => { const s = f.get('shard-5-of-5.sealed')!; f.set('shard-5-of-5.sealed', s.slice(0, s.length - ((bin.length % S) % C + 16))); });
    expect(last.code).toBe('truncated');
    expect(last.message).toContain('shard 5 of 5 (shard-5-of-5.sealed) is truncated');
    // A full shard ends with an empty final chunk (a bare 16-byte tag); dropping it is truncation too.
    const empty = await failure((_m, f) => { const s = f.get('shard-1-of-5.sealed')!; f.set('shard-1-of-5.sealed', s.slice(0, -16)); }, undefined, contentKey, 777);
    expect(empty.code).toBe('truncated');
    const header = await failure((_m, f) => { const s = f.get('header.sealed')!; f.set('header.sealed', s.slice(0, -1)); });
    expect(header.code).toBe('truncated');
    expect(header.file).toBe('header (header.sealed)');
  });

  it('appended bytes → trailing_data (shard and header)', async () => {
    const append = (f: Map<string, Uint8Array>, path: string) => { const s = f.get(path)!; const x = new Uint8Array(s.length + 3); x.set(s); f.set(path, x); };
    const sh = await failure((_m, f) => append(f, 'shard-2-of-5.sealed'));
    expect(sh.code).toBe('trailing_data');
    expect(sh.message).toContain('bytes were appended');
    const streamed = await failure((_m, f) => append(f, 'shard-2-of-5.sealed'), undefined, contentKey, 1000);
    expect(streamed.code).toBe('trailing_data');
    const header = await failure((_m, f) => append(f, 'header.sealed'));
    expect(header.code).toBe('trailing_data');
  });

  it('a wrong key → wrong_key at the header; a 16-byte key → invalid_key', async () => {
    const wrong = await failure(() => undefined, undefined, crypto.getRandomValues(new Uint8Array(32)));
    expect(wrong.code).toBe('wrong_key');
    expect(wrong.message).toContain('the content key is not the one this model was sealed with');
    const short = await failure(() => undefined, undefined, new Uint8Array(16));
    expect(short.code).toBe('invalid_key');
    expect(short.message).toContain('32 bytes, got 16');
  });

  it('an unknown manifest field or version is refused before any key is used', async () => {
    const field = await failure((m) => { m['weightsManifest'] = []; });
    expect(field.code).toBe('manifest_invalid');
    expect(field.message).toContain('"weightsManifest" is not a modelseal/2 field');
    const version = await failure((m) => { m['modelseal'] = 'modelseal/3'; });
    expect(version.code).toBe('unsupported_version');
    expect(version.message).toContain('reads only modelseal/2');
  });
});
