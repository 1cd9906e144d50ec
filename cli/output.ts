// Where the CLI writes: data to stdout, people to stderr (prefixed, lowercase). Text lines are
// escaped (cli/safe-text.ts): they carry names and paths from manifests and arguments.

import { escapeControls, escapeJsonControls } from './safe-text.js';

/** Writes a message for people to stderr, prefixed `modelseal: `. */
export function note(message: string): void {
  process.stderr.write(`modelseal: ${escapeControls(message)}\n`);
}

/** Writes data (a line of text) to stdout. */
export function printLine(text: string): void {
  process.stdout.write(`${escapeControls(text)}\n`);
}

/** Writes one tab-separated record to stdout: each field escaped, so only the separators are real tabs. */
export function printFields(fields: string[]): void {
  process.stdout.write(`${fields.map(escapeControls).join('\t')}\n`);
}

/** Writes a JSON document to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${escapeJsonControls(JSON.stringify(value, null, 2))}\n`);
}

/** Human-readable byte count (binary units). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
