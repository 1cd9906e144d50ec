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
 * Frees a buffer's memory now rather than at the next garbage collection: transferring a buffer
 * detaches it. With `ArrayBuffer.prototype.transfer` (ES2024: Chromium 114+, Firefox 122+, Safari
 * 17.4+, Node 21+) it is transferred to length 0; else (Node 20) it is posted to a closed
 * MessageChannel port, which detaches it and drops the message (freed within a millisecond,
 * measured). Without either the collector frees it, as before.
 */
export function freeBuffer(buffer: ArrayBuffer): void {
  if (buffer.byteLength === 0) return;
  try {
    const transfer = (buffer as { transfer?: (length: number) => ArrayBuffer }).transfer;
    if (typeof transfer === 'function') transfer.call(buffer, 0);
    else closedPort()?.postMessage(null, [buffer]);
  } catch {
    // Not detachable (e.g. a WebAssembly memory's buffer): left to the collector.
  }
}

let port: MessagePort | null | undefined;

/** A port whose other end is closed: what is posted to it is dropped. */
function closedPort(): MessagePort | null {
  if (port === undefined) {
    if (typeof MessageChannel === 'function') {
      const channel = new MessageChannel();
      channel.port2.close();
      port = channel.port1;
      // Node: an open port would keep the process alive.
      (port as { unref?: () => void }).unref?.();
    } else {
      port = null;
    }
  }
  return port;
}
