// Generates modelseal's own test vectors (test/vectors/*.json, documented in docs/FORMAT.md §Test
// vectors) from fixed keys and a fixed random source, so every run writes the same bytes.
// Run: npx tsx scripts/make-vectors.ts [--check]   (--check compares instead of writing)
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelsealVector } from '../test/format/vector-runner.js';
import { filesInMemory, joinChunks, importInputKey, inlineHeader, openHeader, openSealing, parseManifest, sealFiles, sealModel, type SealedHeader, type SealedModel, type SealOptions } from '../format/index.js';
import { toBase64url, toHex } from '../format/bytes.js';
import { decryptChunked, encryptChunked } from '../format/chunked.js';
import { headerContext, shardContext } from '../format/context.js';

const OUT = fileURLToPath(new URL('../test/vectors/', import.meta.url));

/** Deterministic bytes: SHA-256(label ‖ counter) blocks. Test vectors only. */
function deterministic(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const block = createHash('sha256').update(`${label}/${counter++}`).digest();
      const take = Math.min(block.length, n - filled);
      out.set(block.subarray(0, take), filled);
      filled += take;
    }
    return out;
  };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const KEY = deterministic('modelseal vectors: content key')(32);
const OTHER_KEY = deterministic('modelseal vectors: another content key')(32);

// A tiny synthetic graph model: 4368 weight bytes in two weight files, split mid-tensor as the
// TF.js converter does.
const weightBytes = deterministic('modelseal vectors: weights')(3072 + 96 + 1200);
const MODEL_JSON = {
  format: 'graph-model',
  generatedBy: '2.15.0',
  convertedBy: 'TensorFlow.js Converter v4.22.0',
  signature: { inputs: { x: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '32' }] } } } },
  userDefinedMetadata: { note: 'modelseal test vector model' },
  modelTopology: {
    node: [
      { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' } } },
      { name: 'dense/kernel', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } },
      { name: 'dense/bias', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' } } },
      { name: 'embed/table', op: 'Const', attr: { dtype: { type: 'DT_INT32' } } },
      { name: 'dense/MatMul', op: 'MatMul', input: ['x', 'dense/kernel'] },
      { name: 'dense/BiasAdd', op: 'BiasAdd', input: ['dense/MatMul', 'dense/bias'] },
    ],
    versions: { producer: 1766 },
  },
  weightsManifest: [{
    paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
    weights: [
      { name: 'dense/kernel', shape: [32, 24], dtype: 'float32' },
      { name: 'dense/bias', shape: [24], dtype: 'float32' },
      { name: 'embed/table', shape: [300], dtype: 'int32' },
    ],
  }],
};
const PLAIN = { modelJson: MODEL_JSON, weightFiles: [weightBytes.subarray(0, 2500), weightBytes.subarray(2500)] };
const SMALL: SealOptions = { modelId: 'vector-model', keyId: 'k1', contentKey: KEY, chunkLength: 1024, shardLength: 2048, headerMode: 'file' };

type Vector = ModelsealVector;

type Files = Map<string, Uint8Array>;

function filesOf(sealed: SealedModel): { manifest: Record<string, unknown>; files: Files } {
  return { manifest: JSON.parse(JSON.stringify(sealed.manifest)), files: new Map(sealed.files.map((f) => [f.path, f.bytes.slice()])) };
}

/** A vector; `manifest` is an object (written indented), exact text, or exact bytes (written as hex). */
function vector(name: string, description: string, expect: string, manifest: unknown, files: Files, published: string[], extra: Partial<Vector> = {}): Vector {
  const manifestFile = manifest instanceof Uint8Array ? { hex: toHex(manifest) } : { text: typeof manifest === 'string' ? manifest : `${JSON.stringify(manifest, null, 2)}\n` };
  const out: Vector = { vector: name, description, format: 'modelseal/2', expect, contentKey: toHex(KEY), files: { 'model.json': manifestFile }, published, ...extra };
  for (const [path, bytes] of files) out.files[path] = { hex: toHex(bytes) };
  return out;
}

function flip(bytes: Uint8Array, offset: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset]! ^= 0x01;
  return copy;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const vectors: Vector[] = [];
  const decryptHeader = async (sealed: SealedModel) => {
    const manifest = parseManifest(JSON.parse(JSON.stringify(sealed.manifest)));
    const bytes = inlineHeader(manifest) ?? sealed.files.find((f) => f.path === 'header.sealed')!.bytes;
    return joinChunks(await decryptChunked(await importInputKey(KEY), bytes, headerContext(manifest), { chunkLength: manifest.chunkLength }));
  };
  const headerDigest = async (sealed: SealedModel, key = KEY) => {
    // The header digest is SHA-256 of the header plaintext; recover it through the reader.
    const manifest = parseManifest(JSON.parse(JSON.stringify(sealed.manifest)));
    const bytes = inlineHeader(manifest) ?? sealed.files.find((f) => f.path === 'header.sealed')!.bytes;
    return toHex((await openHeader(manifest, bytes, await importInputKey(key))).digest);
  };

  // Success vectors.
  const small = await sealModel(PLAIN, { ...SMALL, random: deterministic('modelseal vectors: sealing A') });
  const base = filesOf(small);
  const success = { weights: { length: weightBytes.length, sha256: sha256(weightBytes) } };
  const published = [small.manifest.sealing];
  vectors.push(vector('ok_small_chunks', 'A 4368-byte model at chunkLength 1024, shardLength 2048, header in its own file: 3 shards (2048, 2048, 272 bytes); full shards end with an empty final chunk.',
    'success', base.manifest, base.files, published, { ...success, header: { sha256: await headerDigest(small) } }));
  const bom = new TextEncoder().encode(`\uFEFF${JSON.stringify(base.manifest, null, 2)}\n`);
  vectors.push(vector('ok_manifest_bom', 'ok_small_chunks with a UTF-8 byte order mark before model.json: a reader ignores one leading BOM.',
    'success', bom, base.files, published, { ...success, header: { sha256: await headerDigest(small) } }));

  const dflt = await sealModel(PLAIN, { modelId: 'vector-model', keyId: 'k1', contentKey: KEY, keyServer: 'https://keys.example.com', random: deterministic('modelseal vectors: sealing D') });
  const d = filesOf(dflt);
  vectors.push(vector('ok_default_chunk', 'The same model at the defaults: chunkLength 262144 (256 KiB), shardLength 4194304, header inline: one shard of one short chunk.',
    'success', d.manifest, d.files, [dflt.manifest.sealing], { ...success, header: { sha256: await headerDigest(dflt) } }));

  const empty = await sealModel({ modelJson: { ...MODEL_JSON, weightsManifest: [{ paths: [], weights: [] }] }, weightFiles: [] }, { ...SMALL, random: deterministic('modelseal vectors: sealing E') });
  const e = filesOf(empty);
  vectors.push(vector('ok_no_weights', 'A model with zero weight bytes: the header alone, zero shards.',
    'success', e.manifest, e.files, [empty.manifest.sealing], { weights: { length: 0, sha256: sha256(new Uint8Array()) }, header: { sha256: await headerDigest(empty) } }));

  // Failures, each a small change to ok_small_chunks.
  const S1 = 'shard-1-of-3.sealed';
  const S2 = 'shard-2-of-3.sealed';
  const S3 = 'shard-3-of-3.sealed';
  const H = 'header.sealed';
  // `edit` changes a copy of the manifest and files; returning a string replaces model.json's text.
  const failuresOf = (start: { manifest: Record<string, unknown>; files: Files }, startPublished: string[]) =>
    (name: string, description: string, expect: string, edit: (m: Record<string, unknown>, f: Files) => unknown, errorFile?: string, extra: Partial<Vector> = {}) => {
      const m = JSON.parse(JSON.stringify(start.manifest)) as Record<string, unknown>;
      const f: Files = new Map([...start.files].map(([k, v]) => [k, v.slice()]));
      const text = edit(m, f);
      const manifest = typeof text === 'string' || text instanceof Uint8Array ? text : m;
      vectors.push(vector(name, description, expect, manifest, f, extra.published ?? startPublished, { ...(errorFile ? { errorFile } : {}), ...extra }));
    };
  // Headers that decrypt (right key, right context, published digest) but break a rule of the
  // header: only a faulty sealing tool makes these. `header` is the exact text, or an object.
  const headerFailuresOf = (failure: ReturnType<typeof failuresOf>, modelId: string) => async (name: string, description: string, header: unknown) => {
    const plain = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
    const sealed = await encryptChunked(await importInputKey(KEY), plain, headerContext({ modelId, keyId: 'k1', chunkLength: 1024, shardLength: 2048 }),
      { chunkLength: 1024, salt: deterministic(`modelseal vectors: ${name}`)(24) });
    const sealing = toBase64url(new Uint8Array(createHash('sha256').update(plain).digest()));
    failure(name, description, 'header_invalid', (m, f) => {
      f.clear();
      f.set(H, sealed);
      m['header'] = { path: H, size: sealed.length };
      m['sealing'] = sealing;
      m['shards'] = [];
    }, H, { published: [sealing] });
  };
  const fail = failuresOf(base, published);
  const manifestText = (m: Record<string, unknown>) => `${JSON.stringify(m, null, 2)}\n`;
  const shards = (m: Record<string, unknown>) => m['shards'] as Array<{ path: string; size: number }>;

  fail('wrong_key', 'The reader has another 32-byte key: the header commitment does not match.', 'wrong_key', () => undefined, H, { contentKey: toHex(OTHER_KEY) });
  fail('invalid_key', 'The content key is 31 bytes: refused before any file is read.', 'invalid_key', () => undefined, undefined, { contentKey: toHex(KEY.subarray(0, 31)) });
  fail('tampered_shard_chunk', 'One bit flipped in chunk 1 of shard 2 (the second chunk body): chunk authentication fails.', 'tampered', (_m, f) => f.set(S2, flip(f.get(S2)!, 56 + 1040 + 100)), S2);
  fail('tampered_shard_tag', 'One bit flipped in the tag of the final (empty) chunk of shard 1.', 'tampered', (_m, f) => f.set(S1, flip(f.get(S1)!, f.get(S1)!.length - 1)), S1);
  fail('tampered_header_chunk', 'One bit flipped in chunk 0 of the header file.', 'tampered', (_m, f) => f.set(H, flip(f.get(H)!, 60)), H);
  fail('flipped_header_salt', 'One bit flipped in the header salt: the derived commitment differs.', 'wrong_key', (_m, f) => f.set(H, flip(f.get(H)!, 3)), H);
  fail('flipped_shard_salt', 'One bit flipped in the salt of shard 1.', 'misplaced_shard', (_m, f) => f.set(S1, flip(f.get(S1)!, 0)), S1);
  fail('flipped_shard_commitment', 'One bit flipped in the stored commitment of shard 3.', 'misplaced_shard', (_m, f) => f.set(S3, flip(f.get(S3)!, 24 + 31)), S3);
  fail('truncated_shard', 'The last chunk of shard 1 (its empty final chunk, 16 bytes) was dropped.', 'truncated', (_m, f) => f.set(S1, f.get(S1)!.slice(0, -16)), S1);
  fail('truncated_shard_mid_chunk', 'Shard 3 was cut 5 bytes short.', 'truncated', (_m, f) => f.set(S3, f.get(S3)!.slice(0, -5)), S3);
  fail('truncated_header', 'The header file lost its last byte.', 'truncated', (_m, f) => f.set(H, f.get(H)!.slice(0, -1)), H);
  fail('trailing_shard', 'One zero byte appended to shard 3.', 'trailing_data', (_m, f) => { const s = f.get(S3)!; const x = new Uint8Array(s.length + 1); x.set(s); f.set(S3, x); }, S3);
  fail('trailing_header', '16 bytes appended to the header file.', 'trailing_data', (_m, f) => { const s = f.get(H)!; const x = new Uint8Array(s.length + 16); x.set(s); f.set(H, x); }, H);
  fail('swapped_shards', 'The files of shards 1 and 2 (both full, same size) swapped.', 'misplaced_shard', (_m, f) => { const a = f.get(S1)!; f.set(S1, f.get(S2)!); f.set(S2, a); }, S1);
  fail('reordered_manifest_shards', 'The manifest lists shards 1 and 2 in swapped order (paths and sizes moved together).', 'misplaced_shard', (m) => { const s = shards(m); [s[0], s[1]] = [s[1]!, s[0]!]; }, S2);

  const other = await sealModel(PLAIN, { ...SMALL, modelId: 'other-model', random: deterministic('modelseal vectors: sealing B') });
  fail('shard_from_other_model', 'Shard 2 replaced by shard 2 of model "other-model", sealed with the SAME key and the same layout.', 'misplaced_shard', (_m, f) => f.set(S2, other.files.find((x) => x.path === S2)!.bytes.slice()), S2);
  const again = await sealModel(PLAIN, { ...SMALL, random: deterministic('modelseal vectors: sealing C') });
  fail('shard_from_other_sealing', 'Shard 2 replaced by shard 2 of another sealing of the same model with the same key and id (only sealingId and salts differ).', 'misplaced_shard', (_m, f) => f.set(S2, again.files.find((x) => x.path === S2)!.bytes.slice()), S2);
  fail('altered_sealing', 'The manifest\'s sealing changed to that of another published sealing of the same key version: the header\'s digest is not the one named.', 'not_published', (m) => { m['sealing'] = again.manifest.sealing; }, H, { published: [small.manifest.sealing, again.manifest.sealing] });

  fail('unknown_version', 'The manifest says "modelseal/3".', 'unsupported_version', (m) => { m['modelseal'] = 'modelseal/3'; });
  fail('old_version', 'The manifest says "modelseal/1" (an earlier format without sealing records): refused, reseal.', 'unsupported_version', (m) => { m['modelseal'] = 'modelseal/1'; });
  fail('manifest_duplicate_member', 'The manifest names "keyId" twice (JSON.parse would keep the last).', 'manifest_invalid', (m) => manifestText(m).replace('"keyId": "k1",', '"keyId": "k1",\n  "keyId": "k1",'));
  fail('manifest_non_integer', 'chunkLength is written 1024.0: an integer must be written without fraction or exponent.', 'manifest_invalid', (m) => manifestText(m).replace('"chunkLength": 1024,', '"chunkLength": 1024.0,'));
  fail('manifest_invalid_utf8', 'model.json holds a byte that is not UTF-8 (0xff) inside a string.', 'manifest_invalid', (m) => {
    const bytes = new TextEncoder().encode(manifestText(m).replace('"vector-model"', '"vector-model\u0001"'));
    bytes[bytes.indexOf(1)] = 0xff;
    return bytes;
  });
  fail('manifest_key_server_credentials', 'keyServer "https://user:pw@keys.example.com" carries credentials: not a valid key-server URL.', 'manifest_invalid', (m) => { m['keyServer'] = 'https://user:pw@keys.example.com'; });
  fail('header_size_over_limit', 'header.size is 67108865, one byte over the 64 MiB header limit: refused before any read.', 'manifest_invalid', (m) => { m['header'] = { path: H, size: 64 * 1024 * 1024 + 1 }; });
  fail('bad_sealing', 'sealing is 42 characters, not a base64url SHA-256 digest.', 'manifest_invalid', (m) => { m['sealing'] = (m['sealing'] as string).slice(1); });
  fail('not_published', 'The files are intact, but the key server vouches for no sealing of this key version (published is empty).', 'not_published', () => undefined, undefined, { published: [] });

  // Someone who once held the content key seals other content under it (a key holder who can
  // write to the CDN): every file authenticates, and only the sealing records refuse it.
  const realHeader = JSON.parse(new TextDecoder().decode(await decryptHeader(small))) as SealedHeader;
  const forged = { ...realHeader, modelJson: realHeader.modelJson.replace('"graph-model"', '"graph-model-forged"') };
  const forgedHeader = await encryptChunked(await importInputKey(KEY), new TextEncoder().encode(JSON.stringify(forged)),
    headerContext({ modelId: 'vector-model', keyId: 'k1', chunkLength: 1024, shardLength: 2048 }), { chunkLength: 1024, salt: deterministic('modelseal vectors: forged header')(24) });
  fail('resealed_header', 'The header file replaced by another header sealed with the right key and context (the model.json inside changed); the manifest still names the published sealing.', 'not_published', (m, f) => {
    f.set(H, forgedHeader);
    m['header'] = { path: H, size: forgedHeader.length };
  }, H);
  const realDigest = new Uint8Array(Buffer.from(await headerDigest(small), 'hex'));
  const forgedShard = await encryptChunked(await importInputKey(KEY), deterministic('modelseal vectors: forged weights')(2048),
    shardContext({ modelId: 'vector-model', keyId: 'k1', chunkLength: 1024, shardLength: 2048 }, { index: 1, count: 3, plaintextLength: 2048, headerDigest: realDigest }),
    { chunkLength: 1024, salt: deterministic('modelseal vectors: forged shard')(24) });
  fail('resealed_shard', 'Shard 2 replaced by other weights sealed with the right key and the right shard context (index, count, length, header digest): it authenticates, but its chunk digest is not the header\'s.', 'not_published', (_m, f) => f.set(S2, forgedShard), S2);
  fail('malformed_manifest', 'model.json is not valid JSON (cut in the middle).', 'manifest_invalid', (m) => `${JSON.stringify(m, null, 2)}\n`.slice(0, 40));
  fail('plain_model_json', 'model.json is a plain TF.js model.json (no "modelseal" field).', 'manifest_invalid', () => JSON.stringify(MODEL_JSON));
  fail('unknown_manifest_field', 'The manifest has an extra field "comment".', 'manifest_invalid', (m) => { m['comment'] = 'hello'; });
  fail('altered_model_id', 'modelId changed to "vector-model2": the header context differs.', 'wrong_key', (m) => { m['modelId'] = 'vector-model2'; }, H);
  fail('altered_key_id', 'keyId changed to "k2" (with the k1 key): the header context differs.', 'wrong_key', (m) => { m['keyId'] = 'k2'; }, H);
  fail('altered_chunk_length', 'chunkLength changed from 1024 to 2048 (still a divisor of shardLength): the header context differs.', 'wrong_key', (m) => { m['chunkLength'] = 2048; }, H);
  fail('altered_shard_length', 'shardLength changed from 2048 to 3072: the header context differs.', 'wrong_key', (m) => { m['shardLength'] = 3072; }, H);
  fail('invalid_shard_length', 'shardLength 1536 is not a multiple of chunkLength 1024.', 'manifest_invalid', (m) => { m['shardLength'] = 1536; });
  fail('altered_shard_size', 'The manifest says shard 3 is one byte larger than the header implies.', 'manifest_invalid', (m) => { shards(m)[2]!.size += 1; }, S3);
  fail('dropped_manifest_shard', 'The manifest lists only 2 of the 3 shards.', 'manifest_invalid', (m) => { shards(m).pop(); });

  // Headers that are not valid modelseal/2 headers.
  const badHeader = headerFailuresOf(fail, 'vector-model');
  const emptyModel = JSON.stringify({ modelTopology: {}, weightsManifest: [] });
  await badHeader('header_unknown_field', 'The header decrypts but has a field "extra" that modelseal/2 does not define.',
    JSON.stringify({ sealingId: 'x', weightBytes: 0, weightFiles: [], shardDigests: [], modelJson: emptyModel, extra: 1 }));
  await badHeader('header_duplicate_member', 'The header names "weightBytes" twice.',
    `{"sealingId":"x","weightBytes":0,"weightBytes":0,"weightFiles":[],"shardDigests":[],"modelJson":${JSON.stringify(emptyModel)}}`);
  await badHeader('header_topology_array', 'The model.json inside the header has an array as modelTopology.',
    JSON.stringify({ sealingId: 'x', weightBytes: 0, weightFiles: [], shardDigests: [], modelJson: JSON.stringify({ modelTopology: [], weightsManifest: [] }) }));
  await badHeader('header_shard_digest_count', 'The header lists one shard digest for a model with no shards.',
    JSON.stringify({ sealingId: 'x', weightBytes: 0, weightFiles: [], shardDigests: [small.manifest.sealing], modelJson: emptyModel }));
  await badHeader('header_weight_path_escape', 'The model.json inside the header names the weight file "../master.key".',
    JSON.stringify({ sealingId: 'x', weightBytes: 0, weightFiles: [[0]], shardDigests: [], modelJson: JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../master.key'], weights: [] }] }) }));
  await badHeader('header_weight_path_folder', 'The model.json inside the header names the weight files "w" and "w/b.bin": one is a folder of the other, which no folder can hold.',
    JSON.stringify({ sealingId: 'x', weightBytes: 0, weightFiles: [[0, 0]], shardDigests: [], modelJson: JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['w', 'w/b.bin'], weights: [] }] }) }));

  // The generic form (kind "files"): a small folder, then failures that are specific to it or
  // that show the shard checks hold for it too.
  const fileBytes = deterministic('modelseal vectors: files')(40 + 1500 + 3000);
  const FOLDER = [
    { path: 'config.json', data: new TextEncoder().encode('{"model_type":"vector","hidden_size":32}') },
    { path: 'empty.txt', data: new Uint8Array(0) },
    { path: 'onnx/model.onnx', data: fileBytes.subarray(40, 1540) },
    { path: 'onnx/model.onnx_data', data: fileBytes.subarray(1540) },
  ];
  const filesDigest = async (sealed: SealedModel) => {
    const manifest = parseManifest(JSON.parse(JSON.stringify(sealed.manifest)));
    const bytes = inlineHeader(manifest) ?? sealed.files.find((f) => f.path === 'header.sealed')!.bytes;
    return toHex((await openSealing(manifest, bytes, await importInputKey(KEY))).digest);
  };
  const contentsOf = (folder: typeof FOLDER) => folder.map((f) => ({ path: f.path, length: f.data.length, sha256: sha256(f.data) }));
  const payloadOf = (folder: typeof FOLDER) => Buffer.concat(folder.map((f) => f.data));
  const FILES_OPTIONS: SealOptions = { modelId: 'vector-files', keyId: 'k1', contentKey: KEY, chunkLength: 1024, shardLength: 2048, headerMode: 'file' };
  const folderSealed = await sealFiles(filesInMemory(FOLDER), { ...FILES_OPTIONS, random: deterministic('modelseal vectors: files sealing A') });
  const fb = filesOf(folderSealed);
  const fPublished = [folderSealed.manifest.sealing];
  const payload = payloadOf(FOLDER);
  vectors.push(vector('files_ok_folder', 'The generic form: 4 files (config.json, an empty file, onnx/model.onnx, onnx/model.onnx_data; 4540 bytes) at chunkLength 1024, shardLength 2048, header in its own file: 3 shards, files crossing shard boundaries.',
    'success', fb.manifest, fb.files, fPublished, { kind: 'files', weights: { length: payload.length, sha256: sha256(payload) }, contents: contentsOf(FOLDER), header: { sha256: await filesDigest(folderSealed) } }));
  const single = [{ path: 'model.onnx', data: fileBytes.subarray(40, 1540) }];
  const singleSealed = await sealFiles(filesInMemory(single), { modelId: 'vector-files', keyId: 'k1', contentKey: KEY, random: deterministic('modelseal vectors: files sealing B') });
  const sb = filesOf(singleSealed);
  vectors.push(vector('files_ok_single', 'The generic form at the defaults: one 1500-byte file, chunkLength 262144, shardLength 4194304, header inline: one shard.',
    'success', sb.manifest, sb.files, [singleSealed.manifest.sealing], { kind: 'files', weights: { length: 1500, sha256: sha256(single[0]!.data) }, contents: contentsOf(single), header: { sha256: await filesDigest(singleSealed) } }));

  const failFiles = failuresOf(fb, fPublished);
  failFiles('files_tampered_shard', 'files_ok_folder with one bit flipped in chunk 0 of shard 2.', 'tampered', (_m, f) => f.set(S2, flip(f.get(S2)!, 56 + 10)), S2);
  failFiles('files_swapped_shards', 'files_ok_folder with the files of shards 1 and 2 swapped.', 'misplaced_shard', (_m, f) => {
    const one = f.get(S1)!;
    f.set(S1, f.get(S2)!);
    f.set(S2, one);
  }, S1);
  failFiles('files_truncated_shard', 'files_ok_folder with shard 3 cut 5 bytes short.', 'truncated', (_m, f) => f.set(S3, f.get(S3)!.subarray(0, f.get(S3)!.length - 5)), S3);
  failFiles('files_shard_count', 'files_ok_folder with the manifest listing only 2 of the 3 shards.', 'manifest_invalid', (m) => { shards(m).pop(); });
  const otherFolder = FOLDER.map((f) => ({ path: f.path, data: f.data.map((b) => b ^ 0x33) }));
  const otherSealed = await sealFiles(filesInMemory(otherFolder), { ...FILES_OPTIONS, random: deterministic('modelseal vectors: files sealing C') });
  const forgedFilesShard = await encryptChunked(await importInputKey(KEY), payloadOf(otherFolder).subarray(2048, 4096),
    shardContext(FILES_OPTIONS as { modelId: string; keyId: string; chunkLength: number; shardLength: number }, { index: 1, count: 3, plaintextLength: 2048, headerDigest: Buffer.from(await filesDigest(folderSealed), 'hex') }),
    { chunkLength: 1024, salt: deterministic('modelseal vectors: files forged shard')(24) });
  failFiles('files_resealed_shard', 'files_ok_folder with shard 2 replaced by other bytes sealed with the right key and shard context: it authenticates, but its chunk digest is not the header\'s.', 'not_published', (_m, f) => f.set(S2, forgedFilesShard), S2);
  failFiles('files_not_published', 'files_ok_folder intact, but the key server vouches for another sealing of the key version only.', 'not_published', () => undefined, undefined, { published: [otherSealed.manifest.sealing] });

  // Files-kind headers that decrypt and are published but break a rule of the generic form.
  const badFilesHeader = headerFailuresOf(failFiles, 'vector-files');
  const filesHeader = (files: Array<{ path: string; bytes: number }>, extra: Record<string, unknown> = {}) => ({ sealingId: 'x', kind: 'files', files, totalBytes: files.reduce((n, f) => n + f.bytes, 0), shardDigests: [], ...extra });
  await badFilesHeader('files_header_path_escape', 'A files-kind header lists the path "../master.key".', filesHeader([{ path: '../master.key', bytes: 0 }]));
  await badFilesHeader('files_header_absolute_path', 'A files-kind header lists the path "/etc/passwd" (a leading "/": an empty segment).', filesHeader([{ path: '/etc/passwd', bytes: 0 }]));
  await badFilesHeader('files_header_backslash', 'A files-kind header lists the path "onnx\\model.onnx" (a backslash).', filesHeader([{ path: 'onnx\\model.onnx', bytes: 0 }]));
  await badFilesHeader('files_header_not_nfc', 'A files-kind header lists "e\u0301.txt" (e + combining acute, not NFC).', filesHeader([{ path: 'e\u0301.txt', bytes: 0 }]));
  await badFilesHeader('files_header_case_collision', 'A files-kind header lists "Vocab.txt" and "vocab.txt": the same file on a case-insensitive file system.', filesHeader([{ path: 'Vocab.txt', bytes: 0 }, { path: 'vocab.txt', bytes: 0 }]));
  await badFilesHeader('files_header_file_and_folder', 'A files-kind header lists "onnx" as a file and "onnx/model.onnx".', filesHeader([{ path: 'onnx', bytes: 0 }, { path: 'onnx/model.onnx', bytes: 0 }]));
  await badFilesHeader('files_header_no_files', 'A files-kind header lists no file.', filesHeader([]));
  await badFilesHeader('files_header_total_mismatch', 'A files-kind header whose totalBytes (5) is not the sum of its files (0).', filesHeader([{ path: 'a.bin', bytes: 0 }], { totalBytes: 5 }));
  await badFilesHeader('files_header_unknown_kind', 'A header with kind "blobs", which modelseal/2 does not define.', { ...filesHeader([{ path: 'a.bin', bytes: 0 }]), kind: 'blobs' });
  await badFilesHeader('files_header_mixed_fields', 'A files-kind header that also has the TF.js field "weightBytes".', filesHeader([{ path: 'a.bin', bytes: 0 }], { weightBytes: 0 }));
  await badFilesHeader('files_header_entry_field', 'A files-kind header whose file entry has a third member "mode".', filesHeader([{ path: 'a.bin', bytes: 0, mode: 420 } as { path: string; bytes: number }]));

  mkdirSync(OUT, { recursive: true });
  const names = new Set(vectors.map((v) => `${v.vector}.json`));
  if (names.size !== vectors.length) throw new Error('duplicate vector name');
  let stale = 0;
  for (const v of vectors) {
    const text = `${JSON.stringify(v, null, 2)}\n`;
    const path = join(OUT, `${v.vector}.json`);
    if (check) {
      let old = '';
      try { old = readFileSync(path, 'utf8'); } catch { /* missing */ }
      if (old !== text) { stale++; console.error(`stale: ${v.vector}.json`); }
    } else {
      writeFileSync(path, text);
    }
  }
  for (const name of readdirSync(OUT)) {
    if (name.endsWith('.json') && !names.has(name)) {
      if (check) { stale++; console.error(`unexpected: ${name}`); } else rmSync(join(OUT, name));
    }
  }
  if (check && stale > 0) process.exit(1);
  console.error(`${check ? 'checked' : 'wrote'} ${vectors.length} vectors in ${OUT}`);
}

await main();
