// WebCrypto access for the format (browsers and Node 20 alike).

/** `crypto.subtle`, or a clear error where the page is not a secure context. */
export function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available: modelseal needs a secure context or Node 20+');
  return s;
}

/** SHA-256 of bytes (WebCrypto). */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest('SHA-256', bytes as BufferSource));
}
