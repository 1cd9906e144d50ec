// Chunk-sized ciphertext buffers, reused across the shards of one load.

/**
 * Chunk-sized ciphertext buffers, reused. WebCrypto copies its input when decrypt() is called (the
 * spec's "get a copy of the bytes held by the data parameter") and node:crypto's update() reads it
 * before returning, so a buffer can take the next chunk as soon as its decrypt call has started:
 * the ciphertext of a whole model never piles up waiting for the garbage collector. Were an engine
 * to read the input later, the reused bytes would fail GCM authentication (`tampered`), never
 * decrypt to wrong weights.
 */
export class BufferPool {
  readonly #free: ArrayBuffer[] = [];
  constructor(readonly size: number, readonly cap: number) {}

  /** A buffer of `size` bytes: a free one when it is the pool's size, else a new one. */
  take(size: number): ArrayBuffer {
    return (size === this.size ? this.#free.pop() : undefined) ?? new ArrayBuffer(size);
  }

  /** Returns a whole pooled buffer (views of other buffers are ignored). */
  give(view: Uint8Array): void {
    const buffer = view.buffer;
    if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && buffer.byteLength === this.size && this.#free.length < this.cap) this.#free.push(buffer);
  }
}
