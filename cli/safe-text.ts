// Text that came from files or arguments, made safe to print on a terminal: control characters
// (ESC, CR, LF, C1 such as CSI, bidi overrides) would let a manifest forge or hide output lines.

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same minus C0 controls, which JSON.stringify already escapes.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Escapes control and bidi characters as `\n`, `\r`, `\t` or `\uXXXX`, so a line prints as one line. */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? hex(c));
}

/** Escapes, inside JSON text, the characters JSON.stringify leaves raw that terminals still act on. */
export function escapeJsonControls(json: string): string {
  return json.replace(UNSAFE_IN_JSON, hex);
}
