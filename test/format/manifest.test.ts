// Hostile and malformed public manifests: each is refused with a code and a message naming the field.
import { describe, expect, it } from 'vitest';
import { isModelsealError, type ErrorCode } from '../../format/index.js';
import { MAX_MANIFEST_BYTES, MAX_SHARDS, parseManifest, parseManifestBytes, parseManifestText } from '../../format/manifest.js';
import { expectCodeSync } from '../helpers/expect-code.js';

const valid = {
  modelseal: 'modelseal/2', modelId: 'face', keyId: 'k1', keyServer: 'https://keys.example.com',
  chunkLength: 262144, shardLength: 4194304, sealing: 'q7aGJUSj8ivyZH4DLydOb1jdPYrEI-UUL0vwhDS0RHw',
  header: { path: 'header.sealed', size: 1000 },
  shards: [{ path: 'shard-1-of-2.sealed', size: 4194304 + 56 + 17 * 16 }, { path: 'shard-2-of-2.sealed', size: 100 }],
};

function refuse(json: unknown, code: ErrorCode, message: RegExp): void {
  expectCodeSync(() => parseManifest(json), code, message);
}

const withField = (field: string, value: unknown) => ({ ...valid, [field]: value });

describe('parseManifest', () => {
  it('accepts the valid manifest and returns exactly its fields', () => {
    expect(parseManifest(structuredClone(valid))).toEqual(valid);
  });

  it('refuses non-objects, plain models and unknown versions', () => {
    refuse(null, 'manifest_invalid', /must be a JSON object/);
    refuse([valid], 'manifest_invalid', /must be a JSON object/);
    refuse({ modelTopology: {}, weightsManifest: [] }, 'manifest_invalid', /not sealed/);
    refuse(withField('modelseal', 'modelseal/3'), 'unsupported_version', /modelseal\/3.*reads only modelseal\/2/);
    refuse(withField('modelseal', 'modelseal/1'), 'unsupported_version', /modelseal\/1.*reads only modelseal\/2/);
    refuse(withField('modelseal', 1), 'unsupported_version', /"1"/);
  });

  it('a deeply nested array or an object as the version → unsupported_version, not a RangeError (found by the soak)', () => {
    let err: unknown;
    try {
      parseManifestText(`{"modelseal":${'['.repeat(100_000)}1${']'.repeat(100_000)}}`);
    } catch (e) {
      err = e;
    }
    expect(isModelsealError(err, 'unsupported_version'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/format "\[array\]"/);
    refuse(withField('modelseal', { v: 2 }), 'unsupported_version', /format "\[object\]"/);
  });

  it('refuses unknown fields, bad ids and a non-http key server', () => {
    refuse(withField('modelTopology', {}), 'manifest_invalid', /"modelTopology" is not a modelseal\/2 field/);
    refuse(withField('modelId', '../face'), 'manifest_invalid', /modelId/);
    refuse(withField('modelId', 'x'.repeat(129)), 'manifest_invalid', /modelId/);
    refuse(withField('keyId', ''), 'manifest_invalid', /keyId/);
    for (const url of ['javascript:alert(1)', 'https:keys.example.com', 'https://user:pw@keys.example.com', 'https://keys.example.com/?x=1', 'https://keys.example.com/#x', 'https://', 'https://keys example.com', 'ftp://keys.example.com']) {
      refuse(withField('keyServer', url), 'manifest_invalid', /keyServer must be an absolute http\(s\) URL/);
    }
    expect(parseManifest(withField('keyServer', 'http://127.0.0.1:8787/keys/')).keyServer).toBe('http://127.0.0.1:8787/keys/');
  });

  it('refuses a sealing that is not a base64url SHA-256 digest', () => {
    for (const sealing of [undefined, '', 'A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}B`, `${'A'.repeat(42)}+`, 12]) {
      refuse(withField('sealing', sealing), 'manifest_invalid', /sealing must be a SHA-256 digest/);
    }
  });

  it('refuses a header file over the 64 MiB limit and a shard length of 2^38 chunks', () => {
    refuse(withField('header', { path: 'header.sealed', size: 64 * 1024 * 1024 + 1 }), 'manifest_invalid', /header\.size is larger than the 67108864-byte header limit/);
    expect(parseManifest(withField('header', { path: 'header.sealed', size: 64 * 1024 * 1024 })).header).toEqual({ path: 'header.sealed', size: 64 * 1024 * 1024 });
    refuse({ ...valid, chunkLength: 1024, shardLength: 1024 * 2 ** 38 }, 'manifest_invalid', /shardLength must be less than 2\^38 times chunkLength/);
    expect(parseManifest({ ...valid, chunkLength: 1024, shardLength: 1024 * (2 ** 38 - 1) }).shardLength).toBe(1024 * (2 ** 38 - 1));
  });

  it('refuses bad chunk and shard lengths', () => {
    refuse(withField('chunkLength', 1.5), 'manifest_invalid', /chunkLength/);
    refuse(withField('chunkLength', 512), 'manifest_invalid', /chunkLength/);
    refuse(withField('chunkLength', 2 ** 40), 'manifest_invalid', /chunkLength/);
    refuse(withField('shardLength', 262144 * 3 + 1), 'manifest_invalid', /shardLength must be a positive multiple of chunkLength/);
    refuse(withField('shardLength', -262144), 'manifest_invalid', /shardLength/);
  });

  it('refuses file paths that could leave the model folder or reach another host', () => {
    for (const path of ['../secret', '/etc/passwd', 'https://evil.example/x', 'a/../../b', './x', 'a\\b', 'x?y=1', '', 'a//b']) {
      refuse(withField('shards', [{ path, size: 100 }]), 'manifest_invalid', /shards\[0\]\.path/);
    }
    refuse(withField('header', { path: '../header.sealed', size: 10 }), 'manifest_invalid', /header\.path/);
  });

  it('refuses malformed headers, sizes, duplicate files and too many shards', () => {
    refuse(withField('header', { data: 'not base64url!' }), 'manifest_invalid', /header\.data must be unpadded base64url/);
    refuse(withField('header', { data: 'AAAA', path: 'x' }), 'manifest_invalid', /header/);
    refuse(withField('shards', [{ path: 's', size: -1 }]), 'manifest_invalid', /shards\[0\]\.size/);
    refuse(withField('shards', [{ path: 's', size: 1, extra: true }]), 'manifest_invalid', /shards\[0\]/);
    refuse(withField('shards', [{ path: 'header.sealed', size: 100 }]), 'manifest_invalid', /name the same file twice/);
    refuse(withField('shards', Array.from({ length: MAX_SHARDS + 1 }, (_, i) => ({ path: `s${i}`, size: 100 }))), 'manifest_invalid', /more than 100000/);
  });

  it('refuses oversized and non-JSON text before parsing it', () => {
    expect(() => parseManifestText(' '.repeat(MAX_MANIFEST_BYTES + 1))).toThrow(/larger than 1048576 bytes/);
    expect(() => parseManifestText('{"modelseal": "modelseal/2",')).toThrow(/not valid JSON/);
    expect(() => parseManifestText('{"a":'.repeat(100_000))).toThrow(/not valid JSON|larger than/);
  });
});

describe('manifest bytes and JSON rules (one rule for every reader)', () => {
  const text = (m: unknown) => JSON.stringify(m, null, 2);
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return isModelsealError(err) ? `${err.code}: ${err.message}` : String(err);
    }
    return 'accepted';
  };

  it('counts the limit in bytes of UTF-8, not characters', () => {
    // Padding inside a string: 2-byte characters make the text short in UTF-16 units but long in bytes.
    const padded = (n: number, ch: string) => `{"pad":"${ch.repeat(n)}",${text(valid).slice(1)}`;
    const bytes = new TextEncoder().encode(padded(MAX_MANIFEST_BYTES / 2, 'é'));
    expect(bytes.length).toBeGreaterThan(MAX_MANIFEST_BYTES);
    expect(padded(MAX_MANIFEST_BYTES / 2, 'é').length).toBeLessThan(MAX_MANIFEST_BYTES);
    expect(code(() => parseManifestBytes(bytes))).toMatch(/^manifest_invalid: .*larger than 1048576 bytes/);
    expect(code(() => parseManifestText(padded(MAX_MANIFEST_BYTES / 2, 'é')))).toMatch(/^manifest_invalid: .*larger than 1048576 bytes/);
  });

  it('ignores one leading byte order mark, refuses two and refuses invalid UTF-8', () => {
    const body = new TextEncoder().encode(text(valid));
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    expect(parseManifestBytes(new Uint8Array([...bom, ...body]))).toEqual(valid);
    expect(code(() => parseManifestBytes(new Uint8Array([...bom, ...bom, ...body])))).toMatch(/^manifest_invalid: .*not valid JSON/);
    const broken = body.slice();
    broken[broken.indexOf(0x66 /* f of "face" */)] = 0xff;
    expect(code(() => parseManifestBytes(broken))).toBe('manifest_invalid: sealed manifest is not UTF-8 text');
  });

  it('refuses duplicate member names at any depth, compared after unescaping', () => {
    const t = text(valid);
    expect(code(() => parseManifestText(t.replace('"keyId": "k1",', '"keyId": "k1", "keyId": "k2",')))).toMatch(/^manifest_invalid: .*member "keyId" appears twice/);
    expect(code(() => parseManifestText(t.replace('"keyId": "k1",', '"keyId": "k1", "key\\u0049d": "k1",')))).toMatch(/member "keyId" appears twice/);
    expect(code(() => parseManifestText(t.replace('"size": 100', '"size": 100, "size": 100')))).toMatch(/member "size" appears twice/);
    // The same name in two different objects is fine.
    expect(parseManifestText(t)).toEqual(valid);
  });

  it('accepts only integers written as integers', () => {
    const t = text(valid);
    for (const form of ['262144.0', '2.62144e5', '262144E0', '-0']) {
      expect(code(() => parseManifestText(t.replace('"chunkLength": 262144', `"chunkLength": ${form}`)))).toMatch(/^manifest_invalid: .*is not a non-negative integer written without fraction or exponent/);
    }
    // Digits inside strings are not numbers.
    expect(parseManifestText(t.replace('"k1"', '"1.5e3"')).keyId).toBe('1.5e3');
  });
});
