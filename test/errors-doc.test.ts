// docs/ERRORS.md documents every error code in format/errors.ts ERROR_CODES, once, and nothing else.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../format/errors.js';

const doc = readFileSync(new URL('../docs/ERRORS.md', import.meta.url), 'utf8');
// A documented code is a table row whose first cell is the code in backticks: | `code` | ... |
const rows = doc.split('\n').map((line) => /^\|\s*`([a-z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line)).filter((m): m is RegExpExecArray => m !== null);
const documented = rows.map((m) => m[1]!);

describe('docs/ERRORS.md', () => {
  it('has a row for every code in ERROR_CODES', () => {
    const missing = ERROR_CODES.filter((code) => !documented.includes(code));
    expect(missing, 'add a row `| \\`code\\` | raised by | meaning | what to do |` to docs/ERRORS.md').toEqual([]);
  });

  it('documents no code that ERROR_CODES lacks, and each code once', () => {
    const unknown = documented.filter((code) => !(ERROR_CODES as readonly string[]).includes(code));
    expect(unknown, 'remove these rows or add the codes to format/errors.ts').toEqual([]);
    expect(documented.length).toBe(new Set(documented).size);
  });

  it('fills every cell of every row', () => {
    for (const m of rows) {
      const cells = m[2]!.split('|').map((c) => c.trim());
      expect(cells.length, `row ${m[1]} needs: raised by | meaning | what to do`).toBeGreaterThanOrEqual(3);
      for (const cell of cells) expect(cell.length, `empty cell in row ${m[1]}`).toBeGreaterThan(0);
    }
  });
});
