// Damaged or swapped sealed files: verify and open fail with the right code, name the file, and
// open writes nothing.

import { appendFileSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../keyserver/index.js';
import { forge } from '../helpers/substitution.js';
import { HUMAN_MODELS, listDir, run, tempDir } from './helpers.js';
import { expectCliCode } from '../helpers/expect-code.js';

const tmp = tempDir();
const store = join(tmp.dir, 'store');
const base = join(tmp.dir, 'base');
const other = join(tmp.dir, 'other');
let shardCount = 0;

function shardName(i: number): string {
  return `shard-${String(i).padStart(String(shardCount).length, '0')}-of-${shardCount}.sealed`;
}

beforeAll(() => {
  const src = join(tmp.dir, 'src');
  mkdirSync(src);
  copyFileSync(join(HUMAN_MODELS, 'blazeface.json'), join(src, 'model.json'));
  copyFileSync(join(HUMAN_MODELS, 'blazeface.bin'), join(src, 'blazeface.bin'));
  const args = ['--model-id', 'blaze', '--store', store, '--shard-size', '64KiB', '--chunk-size', '16KiB', '--header', 'file', '--json'];
  const first = run(['seal', join(src, 'model.json'), '--out', base, ...args]);
  expect(first.code).toBe(0);
  shardCount = (JSON.parse(first.stdout) as { files: Array<{ path: string }> }).files.filter((f) => f.path.startsWith('shard-')).length;
  expect(shardCount).toBeGreaterThan(4);
  // A second sealing of the same model under a new key version (k2).
  const second = run(['seal', join(src, 'model.json'), '--out', other, ...args, '--new-key']);
  expect(second.code).toBe(0);
  expect(JSON.parse(second.stdout).keyId).toBe('k2');
});
afterAll(() => tmp.cleanup());

let n = 0;
/** A fresh copy of the base sealing, changed by `mutate`. */
function damaged(mutate: (dir: string) => void): string {
  const dir = join(tmp.dir, `case-${n++}`);
  cpSync(base, dir, { recursive: true });
  mutate(dir);
  return join(dir, 'model.json');
}

function flip(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset]! ^= 0x40;
  writeFileSync(path, bytes);
}

function editManifest(dir: string, change: (m: Record<string, unknown>) => void): void {
  const path = join(dir, 'model.json');
  const m = JSON.parse(readFileSync(path, 'utf8'));
  change(m);
  writeFileSync(path, JSON.stringify(m));
}

/** verify and open both fail with `code`, name `file`, and open leaves no output or temp folder. */
function expectFailure(manifest: string, code: string, file: string | RegExp): void {
  expectCliCode(run(['verify', manifest, '--store', store]), 1, code, file);

  const parent = join(tmp.dir, `out-${n++}`);
  mkdirSync(parent);
  expectCliCode(run(['open', manifest, '--out', join(parent, 'plain'), '--store', store]), 1, code);
  expect(listDir(parent)).toEqual([]);
}

describe('verify and open refuse damaged sealed models', () => {
  it('the intact base verifies (so the failures below are caused by the damage)', () => {
    const r = run(['verify', join(base, 'model.json'), '--store', store, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, modelId: 'blaze', keyId: 'k1', shards: shardCount });
  });

  it('a flipped byte inside a shard chunk: tampered, naming shard 2 and its chunk', () => {
    const manifest = damaged((d) => flip(join(d, shardName(2)), 56 + 16400 + 9));
    expectFailure(manifest, 'tampered', new RegExp(`shard 2 of ${shardCount} \\(${shardName(2)}\\): chunk 1 failed authentication`));
  });

  it('a flipped byte in a shard\'s salt: key commitment mismatch (misplaced_shard)', () => {
    expectFailure(damaged((d) => flip(join(d, shardName(3)), 5)), 'misplaced_shard', `shard 3 of ${shardCount} (${shardName(3)})`);
  });

  it('a flipped byte in the header file: tampered, naming header.sealed', () => {
    expectFailure(damaged((d) => flip(join(d, 'header.sealed'), 56 + 100)), 'tampered', 'header (header.sealed): chunk 0');
  });

  it('the last chunk dropped from a shard: truncated', () => {
    // A full shard ends with an empty final chunk (its 16-byte tag); cut it off.
    const manifest = damaged((d) => {
      const path = join(d, shardName(1));
      truncateSync(path, readFileSync(path).length - 16);
    });
    expectFailure(manifest, 'truncated', shardName(1));
  });

  it('the last chunk dropped from the final shard: truncated', () => {
    const manifest = damaged((d) => {
      const path = join(d, shardName(shardCount));
      const size = readFileSync(path).length;
      truncateSync(path, size - ((size - 56) % (16384 + 16) || 16400));
    });
    expectFailure(manifest, 'truncated', shardName(shardCount));
  });

  it('bytes appended to a shard: trailing_data', () => {
    expectFailure(damaged((d) => appendFileSync(join(d, shardName(2)), Buffer.from('extra'))), 'trailing_data', shardName(2));
  });

  it('two shards swapped: misplaced_shard', () => {
    const manifest = damaged((d) => {
      const a = readFileSync(join(d, shardName(1)));
      writeFileSync(join(d, shardName(1)), readFileSync(join(d, shardName(2))));
      writeFileSync(join(d, shardName(2)), a);
    });
    expectFailure(manifest, 'misplaced_shard', shardName(1));
  });

  it('a shard from another sealing of the same model: misplaced_shard', () => {
    expectFailure(damaged((d) => copyFileSync(join(other, shardName(2)), join(d, shardName(2)))), 'misplaced_shard', shardName(2));
  });

  it('a manifest pointed at another key version: not_published (no such sealing of k1), and `keys publish` refuses it with wrong_key', () => {
    const manifest = damaged((d) => {
      for (const f of listDir(d)) rmSync(join(d, f));
      cpSync(other, d, { recursive: true });
      editManifest(d, (m) => { m['keyId'] = 'k1'; });
    });
    expectFailure(manifest, 'not_published', 'has no record of sealing');
    // publish checks every file before it records anything: the k1 key does not open these files.
    const published = run(['keys', 'publish', manifest, '--store', store]);
    expect(published.code).toBe(1);
    expect(published.stderr).toContain('modelseal: error [wrong_key]: ');
    expect(published.stderr).toContain('key commitment mismatch');
  });

  it('files a key holder made under the same key (resealed, forged header, forged shard): not_published; `keys publish` of a forged header or shard is refused too', async () => {
    const { store: opened } = await FileKeyStore.open(store);
    const entry = (await opened.get('blaze', 'k1'))!;
    const plain = { modelJson: readFileSync(join(tmp.dir, 'src/model.json'), 'utf8'), weightFiles: [new Uint8Array(readFileSync(join(tmp.dir, 'src/blazeface.bin')))] };
    const forged = await forge(base, plain, entry.key, join(tmp.dir, 'forged'));
    entry.key.fill(0);
    expectFailure(join(forged.resealed, 'model.json'), 'not_published', 'has no record of sealing');
    expectFailure(join(forged.forgedHeader, 'model.json'), 'not_published', 'is not the sealing the manifest names');
    expectFailure(join(forged.forgedShard, 'model.json'), 'not_published', 'its content is not what the publisher sealed');
    // inspect still shows what an unrecorded sealing is, and says the key server will refuse it.
    const inspected = run(['inspect', join(forged.resealed, 'model.json'), '--store', store]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain('published: no (the keystore has no record of this sealing');
    for (const dir of [forged.forgedHeader, forged.forgedShard]) {
      const r = run(['keys', 'publish', join(dir, 'model.json'), '--store', store]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('modelseal: error [not_published]: ');
    }
  });

  it('a missing shard file: file_unavailable, naming it', () => {
    expectFailure(damaged((d) => rmSync(join(d, shardName(3)))), 'file_unavailable', shardName(3));
  });

  it('a public field edited (chunkLength): wrong_key on the header', () => {
    expectFailure(damaged((d) => editManifest(d, (m) => { m['chunkLength'] = 8192; m['shardLength'] = 65536; })), 'wrong_key', 'header (header.sealed)');
  });

  it('a shard size edited in the manifest: manifest_invalid', () => {
    expectFailure(damaged((d) => editManifest(d, (m) => { (m['shards'] as Array<{ size: number }>)[1]!.size += 1; })), 'manifest_invalid', shardName(2));
  });

  it('an unknown format version: unsupported_version', () => {
    expectFailure(damaged((d) => editManifest(d, (m) => { m['modelseal'] = 'modelseal/9'; })), 'unsupported_version', 'modelseal/9');
  });

  it('verify --json reports the failure as data too', () => {
    const manifest = damaged((d) => flip(join(d, shardName(2)), 56 + 10));
    const r = run(['verify', manifest, '--store', store, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'tampered', file: expect.stringContaining(shardName(2)) } });
    expect(r.stderr).toContain('modelseal: error [tampered]');
  });
});
