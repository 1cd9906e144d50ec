// BufferPool and freeBuffer: buffers the pool does not keep, and the pool's own once drained, are
// detached (their memory freed now), never a view of someone else's buffer.
import { describe, expect, it } from 'vitest';
import { BufferPool, freeBuffer } from '../../loader/buffer-pool.js';

/** Node's ArrayBuffer bytes after the event loop has turned (the Node 20 path frees within it). */
async function arrayBufferBytes(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return process.memoryUsage().arrayBuffers;
}

describe('BufferPool', () => {
  it('keeps up to `cap` buffers of its size for reuse and frees the rest', () => {
    const pool = new BufferPool(64, 2);
    const buffers = [pool.take(64), pool.take(64), pool.take(64)];
    for (const b of buffers) pool.give(new Uint8Array(b));
    expect(buffers.map((b) => b.byteLength)).toEqual([64, 64, 0]);
    // The kept ones come back, most recent first; then new ones.
    expect(pool.take(64)).toBe(buffers[1]);
    expect(pool.take(64)).toBe(buffers[0]);
    expect(pool.take(64)).not.toBe(buffers[2]);
  });

  it('frees a whole buffer of another size, and ignores views that are not a whole buffer', () => {
    const pool = new BufferPool(64, 4);
    const other = new ArrayBuffer(100);
    pool.give(new Uint8Array(other));
    expect(other.byteLength).toBe(0);
    const shared = new ArrayBuffer(128);
    pool.give(new Uint8Array(shared, 0, 64));
    pool.give(new Uint8Array(shared, 64, 64));
    expect(shared.byteLength).toBe(128);
  });

  it('drain() frees the kept buffers and every buffer given back afterwards', () => {
    const pool = new BufferPool(64, 4);
    const kept = pool.take(64);
    pool.give(new Uint8Array(kept));
    const late = pool.take(64);
    expect(late).toBe(kept);
    const second = pool.take(64);
    pool.give(new Uint8Array(second));
    pool.drain();
    expect(second.byteLength).toBe(0);
    pool.give(new Uint8Array(late));
    expect(late.byteLength).toBe(0);
  });
});

describe('freeBuffer', () => {
  it('gives the memory back at once, not at the next collection', async () => {
    const before = await arrayBufferBytes();
    const buffers = Array.from({ length: 16 }, () => new ArrayBuffer(1 << 20));
    expect((await arrayBufferBytes()) - before).toBeGreaterThanOrEqual(16 << 20);
    // Still referenced here, so only freeing (not the collector) can lower the count.
    for (const b of buffers) freeBuffer(b);
    expect(buffers.every((b) => b.byteLength === 0)).toBe(true);
    expect((await arrayBufferBytes()) - before).toBeLessThan(4 << 20);
  });

  it('leaves detached and non-detachable buffers alone', () => {
    const buffer = new ArrayBuffer(8);
    freeBuffer(buffer);
    expect(() => freeBuffer(buffer)).not.toThrow();
    const memory = new WebAssembly.Memory({ initial: 1 });
    expect(() => freeBuffer(memory.buffer)).not.toThrow();
    expect(memory.buffer.byteLength).toBe(65536);
  });
});
