// Byte helpers shared by the format and the loader. Browser-safe: no Buffer.

const encoder = new TextEncoder();
// ignoreBOM keeps a leading byte order mark in the text: each caller applies its own rule for it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encodes a string as UTF-8 bytes. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8 bytes, throwing TypeError on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Lowercase hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Bytes of a hex string; throws TypeError on odd length or non-hex characters. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('invalid hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64URL_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64URL_INDEX[B64URL.charCodeAt(i)] = i;

/** Unpadded base64url (RFC 4648 §5) of bytes. */
export function toBase64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/** Bytes of an unpadded base64url string; throws TypeError on anything else (padding included). */
export function fromBase64url(text: string): Uint8Array {
  const length = text.length;
  if (length % 4 === 1) throw new TypeError('invalid base64url length');
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  // Four characters to three bytes per step (an inline header is hundreds of KB): a character
  // outside the alphabet (index -1, or ≥ 128) makes the OR of the four indexes negative.
  const full = length - (length % 4);
  let o = 0;
  let i = 0;
  for (; i < full; i += 4) {
    const a = index(text.charCodeAt(i));
    const b = index(text.charCodeAt(i + 1));
    const c = index(text.charCodeAt(i + 2));
    const d = index(text.charCodeAt(i + 3));
    if ((a | b | c | d) < 0) throw new TypeError('invalid base64url character');
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o] = n >> 16;
    out[o + 1] = (n >> 8) & 0xff;
    out[o + 2] = n & 0xff;
    o += 3;
  }
  const rest = length - full;
  if (rest > 0) {
    const a = index(text.charCodeAt(i));
    const b = index(text.charCodeAt(i + 1));
    const c = rest === 3 ? index(text.charCodeAt(i + 2)) : 0;
    if ((a | b | c) < 0) throw new TypeError('invalid base64url character');
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o] = n >> 16;
    if (rest === 3) out[o + 1] = (n >> 8) & 0xff;
    // Non-canonical encodings (leftover bits set) are refused, so one byte string has one encoding.
    if ((rest === 2 ? n & 0xffff : n & 0xff) !== 0) throw new TypeError('non-canonical base64url');
  }
  return out;
}

function index(code: number): number {
  return code < 128 ? B64URL_INDEX[code]! : -1;
}

/** Compares two byte arrays without an early exit on the first difference. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
