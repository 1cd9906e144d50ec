// Chunk-sized ciphertext buffers, reused across the shards of one load, and freed at once when
// the load no longer needs them.

/**
 * Chunk-sized ciphertext buffers, reused. WebCrypto copies its input when decrypt() is called (the
 * spec's "get a copy of the bytes held by the data parameter") and node:crypto's update() reads it
 * before returning, so a buffer can take the next chunk as soon as its decrypt call has started:
 * the ciphertext of a whole model never piles up waiting for the garbage collector. A buffer the
 * pool does not keep (the pool is full, or the load is over: `drain`) is freed at once where the
 * engine can (freeBuffer), not when the collector next runs. Were an engine to read the input
 * later, a reused buffer would fail GCM authentication (`tampered`) and a freed one would read as
 * empty (a decrypt failure): never wrong weights.
 */
export class BufferPool {
  readonly #free: ArrayBuffer[] = [];
  #drained = false;
  constructor(readonly size: number, readonly cap: number) {}

  /** A buffer of `size` bytes: a free one when it is the pool's size, else a new one. */
  take(size: number): ArrayBuffer {
    return (size === this.size ? this.#free.pop() : undefined) ?? new ArrayBuffer(size);
  }

  /**
   * Takes back a buffer whose bytes were read (views that are not a whole buffer are ignored):
   * kept for the next chunk when it is the pool's size and there is room, else freed.
   */
  give(view: Uint8Array): void {
    const buffer = view.buffer;
    if (!(buffer instanceof ArrayBuffer) || view.byteOffset !== 0 || view.byteLength !== buffer.byteLength) return;
    if (!this.#drained && buffer.byteLength === this.size && this.#free.length < this.cap) this.#free.push(buffer);
    else freeBuffer(buffer);
  }

  /** The load is over: frees the kept buffers, and every buffer given back from now on. */
  drain(): void {
    this.#drained = true;
    for (const buffer of this.#free.splice(0)) freeBuffer(buffer);
  }
}

/**
 * Frees a buffer's memory now rather than at the next garbage collection, where the engine has
 * `ArrayBuffer.prototype.transfer` (ES2024: Chromium 114+, Firefox 122+, Safari 17.4+, Node 21+):
 * transferring to length 0 detaches it. Elsewhere (Node 20) the collector frees it as before.
 */
export function freeBuffer(buffer: ArrayBuffer): void {
  const transfer = (buffer as { transfer?: (length: number) => ArrayBuffer }).transfer;
  if (typeof transfer !== 'function' || buffer.byteLength === 0) return;
  try {
    transfer.call(buffer, 0);
  } catch {
    // Not detachable (e.g. a WebAssembly memory's buffer): left to the collector.
  }
}
