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

// V8's JSON.parse quotes the input around the first bad token: `Unexpected token 'P', "PK\u0003\u0004…"
// is not valid JSON`, with `...` on either side when it cut the excerpt. From a binary file that
// excerpt is garbage (replacement characters, NULs), so it never reaches the terminal.
const JSON_EXCERPT = /Unexpected token '[\s\S]{1,2}', (?:\.\.\.)?"[\s\S]*?"(?:\.\.\.)? is not valid JSON/g;
// eslint-disable-next-line no-control-regex -- control characters are what marks binary data
const BINARY = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;

/** Replaces the input excerpt of a JSON.parse error in `message` by a short description when the input is binary. */
export function withoutInputExcerpts(message: string): string {
  return message.replace(JSON_EXCERPT, (whole) => (BINARY.test(whole) ? 'the input is binary data, not JSON text' : whole));
}

/** A message from anywhere (a file, a parser, a server) made safe and short for the terminal. */
export function safeMessage(message: string): string {
  return escapeControls(withoutInputExcerpts(message));
}
