// Strict JSON for the format's own documents (docs/FORMAT.md §JSON rules): JSON.parse, plus the two
// rules JSON.parse does not enforce, so that every reader sees the same document: no object with
// two members of the same name, and (optionally) integers written only as integers.

/** Why a text is not strict JSON (the caller turns it into its own coded error). */
export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
}

const STRING_END = /["\\]/g;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

/** Index just past the string token that starts at `start` (a `"`), in text JSON.parse accepted. */
function stringEnd(text: string, start: number): number {
  STRING_END.lastIndex = start + 1;
  for (;;) {
    const m = STRING_END.exec(text)!;
    if (m[0] === '"') return m.index + 1;
    STRING_END.lastIndex = m.index + 2; // skip the escaped character
  }
}

/** True when the next non-whitespace character after `from` is `:` (the string was a member name). */
function isMemberName(text: string, from: number): boolean {
  WHITESPACE.lastIndex = from;
  WHITESPACE.exec(text);
  return text.charCodeAt(WHITESPACE.lastIndex) === 0x3a;
}

/**
 * Checks the tokens of JSON text that JSON.parse accepted: refuses duplicate member names (compared
 * after unescaping) and, with `integersOnly`, any number with a sign, fraction or exponent.
 */
function checkTokens(text: string, integersOnly: boolean): void {
  const objects: Array<Set<string> | undefined> = [];
  for (let i = 0; i < text.length;) {
    const c = text[i]!;
    if (c === '"') {
      const end = stringEnd(text, i);
      const names = objects[objects.length - 1];
      if (names && isMemberName(text, end)) {
        const raw = text.slice(i, end);
        const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (names.has(name)) throw new StrictJsonError(`member ${JSON.stringify(name.slice(0, 40))} appears twice in one object`);
        names.add(name);
      }
      i = end;
    } else if (c === '{' || c === '[') {
      objects.push(c === '{' ? new Set() : undefined);
      i++;
    } else if (c === '}' || c === ']') {
      objects.pop();
      i++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text)!;
      if (integersOnly && (c === '-' || m[1] !== undefined || m[2] !== undefined)) {
        throw new StrictJsonError(`number ${m[0].slice(0, 40)} is not a non-negative integer written without fraction or exponent`);
      }
      i = NUMBER.lastIndex;
    } else {
      i++;
    }
  }
}

/**
 * Parses JSON text under the format's rules; throws StrictJsonError (syntax, duplicate member,
 * non-integer number when `integersOnly`).
 */
export function parseStrictJson(text: string, options: { integersOnly: boolean }): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new StrictJsonError(`not valid JSON (${(cause as Error).message.slice(0, 120)})`);
  }
  checkTokens(text, options.integersOnly);
  return value;
}
