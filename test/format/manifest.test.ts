// Hostile and malformed public manifests: each is refused with a code and a message naming the field.
import { describe, expect, it } from 'vitest';
import { isModelsealError } from '../../format/errors.js';
import { MAX_MANIFEST_BYTES, MAX_SHARDS, parseManifest, parseManifestText } from '../../format/manifest.js';

const valid = {
  modelseal: 'modelseal/1', modelId: 'face', keyId: 'k1', keyServer: 'https://keys.example.com',
  chunkLength: 262144, shardLength: 4194304,
  header: { path: 'header.sealed', size: 1000 },
  shards: [{ path: 'shard-1-of-2.sealed', size: 4194304 + 56 + 17 * 16 }, { path: 'shard-2-of-2.sealed', size: 100 }],
};

function refuse(json: unknown, code: string, message: RegExp): void {
  let err: unknown;
  try {
    parseManifest(json);
  } catch (e) {
    err = e;
  }
  expect(isModelsealError(err), `expected ${code} for ${JSON.stringify(json).slice(0, 120)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  expect((err as Error).message).toMatch(message);
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
    refuse(withField('modelseal', 'modelseal/2'), 'unsupported_version', /modelseal\/2.*reads only modelseal\/1/);
    refuse(withField('modelseal', 1), 'unsupported_version', /"1"/);
  });

  it('refuses unknown fields, bad ids and a non-http key server', () => {
    refuse(withField('modelTopology', {}), 'manifest_invalid', /"modelTopology" is not a modelseal\/1 field/);
    refuse(withField('modelId', '../face'), 'manifest_invalid', /modelId/);
    refuse(withField('modelId', 'x'.repeat(129)), 'manifest_invalid', /modelId/);
    refuse(withField('keyId', ''), 'manifest_invalid', /keyId/);
    refuse(withField('keyServer', 'javascript:alert(1)'), 'manifest_invalid', /keyServer must be an http\(s\) URL/);
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
    expect(() => parseManifestText('{"modelseal": "modelseal/1",')).toThrow(/not valid JSON/);
    expect(() => parseManifestText('{"a":'.repeat(100_000))).toThrow(/not valid JSON|larger than/);
  });
});
