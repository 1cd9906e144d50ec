// Strict JSON for the format's own documents (docs/FORMAT.md §JSON rules): JSON.parse, plus the two
// rules JSON.parse does not enforce, so that every reader sees the same document: no object with
// two members of the same name, and (optionally) integers written only as integers.

/** Why a text is not strict JSON (the caller turns it into its own coded error). */
export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index just past the string token that starts at `start` (a `"`), in text JSON.parse accepted. */
function stringEnd(text: string, start: number): number {
  // indexOf to the next quote, then the backslashes before it: a quote after an odd number of them
  // is escaped. This runs once per load on hundreds of KB of topology (a regex exec per string
  // cost ~5× JSON.parse; indexOf beat a charCodeAt loop, measured: docs/LOADER.md).
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    let before = quote - 1;
    while (text.charCodeAt(before) === BACKSLASH) before--;
    if ((quote - 1 - before) % 2 === 0) return quote + 1;
    from = quote + 1;
  }
}

/** True when the next non-whitespace character after `from` is `:` (the string was a member name). */
function isMemberName(text: string, from: number): boolean {
  let i = from;
  for (let c = text.charCodeAt(i); c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d; c = text.charCodeAt(++i));
  return text.charCodeAt(i) === 0x3a;
}

/**
 * Counts the member names in JSON text that JSON.parse accepted and, with `integersOnly`, refuses
 * any number with a sign, fraction or exponent.
 */
function countMembers(text: string, integersOnly: boolean): number {
  let members = 0;
  if (!integersOnly) {
    // Only strings matter then: jump from one to the next.
    for (let i = text.indexOf('"'); i !== -1; i = text.indexOf('"', i)) {
      i = stringEnd(text, i);
      if (isMemberName(text, i)) members++;
    }
    return members;
  }
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (isMemberName(text, i)) members++;
    } else if (integersOnly && (c === 0x2d || (c >= 0x30 && c <= 0x39))) { // - 0-9
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text)!;
      if (c === 0x2d || m[1] !== undefined || m[2] !== undefined) {
        throw new StrictJsonError(`number ${m[0].slice(0, 40)} is not a non-negative integer written without fraction or exponent`);
      }
      i = NUMBER.lastIndex;
    } else {
      // Whitespace, punctuation, literals, and (without integersOnly) numbers: nothing to check.
      i++;
    }
  }
  return members;
}

/** The number of members of every object in a parsed JSON value (a stack, not recursion: any depth JSON.parse took). */
function countKeys(root: unknown): number {
  let n = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (typeof item === 'object' && item !== null) stack.push(item);
      continue;
    }
    for (const key in value) {
      n++;
      const item = (value as Record<string, unknown>)[key];
      if (typeof item === 'object' && item !== null) stack.push(item);
    }
  }
  return n;
}

/** Finds and names the first member name that appears twice in one object (text known to have one). */
function findDuplicate(text: string): void {
  const objects: Array<Set<string> | undefined> = [];
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      const names = objects[objects.length - 1];
      if (names && isMemberName(text, end)) {
        const raw = text.slice(i, end);
        const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (names.has(name)) throw new StrictJsonError(`member ${JSON.stringify(name.slice(0, 40))} appears twice in one object`);
        names.add(name);
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) { // { [
      objects.push(c === 0x7b ? new Set() : undefined);
      i++;
    } else if (c === 0x7d || c === 0x5d) { // } ]
      objects.pop();
      i++;
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
  // JSON.parse keeps one member per name, so the text has a duplicate exactly when it has more
  // member names than the parsed objects have members. Counting is a fraction of the cost of a set
  // of names per object (measured: docs/LOADER.md); the sets only name the duplicate.
  if (countMembers(text, options.integersOnly) !== countKeys(value)) findDuplicate(text);
  return value;
}

/** True for a JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
