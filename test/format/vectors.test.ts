// modelseal's own test vectors (test/vectors/*.json, docs/FORMAT.md §Test vectors): every vector
// reaches exactly the conclusion its `expect` field states, and the generator reproduces them.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../format/index.js';
import { runVector, type ModelsealVector } from './vector-runner.js';

const dir = new URL('../vectors/', import.meta.url);
const vectors: ModelsealVector[] = readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
  .map((n) => JSON.parse(readFileSync(new URL(n, dir), 'utf8')) as ModelsealVector);

describe('modelseal/2 test vectors', () => {
  it('cover success and every format failure the spec names', () => {
    const expects = new Set(vectors.map((v) => v.expect));
    for (const code of ['success', 'wrong_key', 'invalid_key', 'misplaced_shard', 'tampered', 'truncated', 'trailing_data', 'manifest_invalid', 'unsupported_version', 'header_invalid', 'not_published']) {
      expect(expects, code).toContain(code);
    }
    for (const v of vectors) if (v.expect !== 'success') expect(ERROR_CODES as readonly string[]).toContain(v.expect);
    // The generic form has its own success and failure vectors.
    const files = vectors.filter((v) => v.vector.startsWith('files_'));
    expect(files.filter((v) => v.expect === 'success' && v.kind === 'files').length).toBeGreaterThanOrEqual(2);
    expect(new Set(files.map((v) => v.expect))).toEqual(new Set(['success', 'tampered', 'misplaced_shard', 'truncated', 'not_published', 'header_invalid', 'manifest_invalid']));
  });

  it('are exactly the vectors docs/FORMAT.md §Test vectors lists, each with the conclusion it names', () => {
    const rows = [...readFileSync(new URL('../../docs/FORMAT.md', import.meta.url), 'utf8').split('## Test vectors')[1]!.matchAll(/^\| `([a-z0-9_]+)` \| `?([a-z_]+)`? \|/gm)];
    expect(rows.length, 'no vector table found in docs/FORMAT.md').toBeGreaterThan(0);
    const documented = Object.fromEntries(rows.map((m) => [m[1]!, m[2]!]));
    expect(Object.fromEntries(vectors.map((v) => [v.vector, v.expect]))).toEqual(documented);
    // The file name is the vector's name, and every vector is of the format the spec describes.
    expect(readdirSync(dir).filter((n) => n.endsWith('.json')).sort()).toEqual(vectors.map((v) => `${v.vector}.json`));
    expect(new Set(vectors.map((v) => v.format))).toEqual(new Set(['modelseal/2']));
  });

  for (const v of vectors) {
    it(`${v.vector} → ${v.expect}`, async () => {
      const outcome = await runVector(v);
      if (v.expect === 'success') {
        expect(outcome).toMatchObject({ ok: true, header: v.header, weights: v.weights, kind: v.kind ?? 'tfjs' });
        if (outcome.ok && outcome.kind === 'files') expect(outcome.contents).toEqual(v.contents);
      } else {
        expect(outcome.ok, JSON.stringify(outcome)).toBe(false);
        if (outcome.ok) return;
        expect(outcome.name).toBe('ModelsealError');
        expect(outcome.code, outcome.message).toBe(v.expect);
        if (v.errorFile) {
          expect(outcome.file).toContain(v.errorFile);
          expect(outcome.message).toContain(v.errorFile);
        }
      }
    });
  }

  it('the generator reproduces every vector byte for byte (fixed key and random source)', () => {
    // --check re-seals from the fixed inputs and exits non-zero if any file differs.
    const out = execFileSync('npx', ['tsx', 'scripts/make-vectors.ts', '--check'], { cwd: new URL('../../', import.meta.url), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });
});
