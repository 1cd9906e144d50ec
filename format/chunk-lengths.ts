// Length arithmetic of C2SP chunked encryption: a file is salt ‖ commitment ‖ chunks, every chunk
// C bytes plus a 16-byte tag, the final one always short (possibly empty). No crypto here.

/** Salt length in bytes. */
export const SALT_LENGTH = 24;
/** Key commitment length in bytes. */
export const COMMITMENT_LENGTH = 32;
/** Fixed overhead before the first chunk: salt ‖ commitment. */
export const FILE_HEAD_LENGTH = SALT_LENGTH + COMMITMENT_LENGTH;
/** AES-GCM tag length, added to every chunk. */
export const TAG_LENGTH = 16;
/** The C2SP default chunk length (Cobblestone-256). */
export const C2SP_CHUNK_LENGTH = 16 * 1024;
/** modelseal's default chunk length: fewer WebCrypto calls, see docs/FORMAT.md. */
export const DEFAULT_CHUNK_LENGTH = 256 * 1024;
/** Smallest chunk length a reader accepts. */
export const MIN_CHUNK_LENGTH = 1024;
/** Largest chunk length a reader accepts. */
export const MAX_CHUNK_LENGTH = 16 * 1024 * 1024;
/** C2SP allows at most 2^38 chunks per message. */
export const MAX_CHUNKS = 2 ** 38;

/** Checks a chunk length a caller passes in (programming errors throw TypeError). */
export function assertChunkLength(chunkLength: number): void {
  if (!Number.isInteger(chunkLength) || chunkLength < MIN_CHUNK_LENGTH || chunkLength > MAX_CHUNK_LENGTH) {
    throw new TypeError(`chunk length must be an integer from ${MIN_CHUNK_LENGTH} to ${MAX_CHUNK_LENGTH}, got ${chunkLength}`);
  }
}

/** Number of chunks (the short final one included) for a plaintext length. */
export function chunkCount(plaintextLength: number, chunkLength: number): number {
  return Math.floor(plaintextLength / chunkLength) + 1;
}

/** Plaintext bytes `[start, end)` of chunk `index`. */
export function chunkRange(index: number, plaintextLength: number, chunkLength: number): [number, number] {
  return [index * chunkLength, Math.min((index + 1) * chunkLength, plaintextLength)];
}

/** Ciphertext length of a plaintext of `plaintextLength` bytes. */
export function sealedLength(plaintextLength: number, chunkLength: number): number {
  return FILE_HEAD_LENGTH + plaintextLength + TAG_LENGTH * chunkCount(plaintextLength, chunkLength);
}

/** Plaintext length a ciphertext length implies, or undefined when no valid chunking has that length. */
export function plaintextLengthOf(sealed: number, chunkLength: number): number | undefined {
  if (!Number.isSafeInteger(sealed) || sealed < FILE_HEAD_LENGTH + TAG_LENGTH) return undefined;
  const body = sealed - FILE_HEAD_LENGTH;
  const full = Math.floor(body / (chunkLength + TAG_LENGTH));
  const last = body - full * (chunkLength + TAG_LENGTH);
  // The final chunk is always present and always short: at least a tag, less than a full chunk.
  if (last < TAG_LENGTH) return undefined;
  return full * chunkLength + (last - TAG_LENGTH);
}
