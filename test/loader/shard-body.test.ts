// readBody's chunkwise reads of one shard body (copy in Node by default, BYOB as browsers use it), on real fetch Response bodies.
import { describe, expect, it } from 'vitest';
import { FILE_HEAD_LENGTH, TAG_LENGTH } from '../../format/chunked.js';
import { BufferPool } from '../../loader/buffer-pool.js';
import { Deadline } from '../../loader/files.js';
import { ReadGate, readBody, type BodyStrategy } from '../../loader/shard-body.js';

describe.each(['copy', 'byob'] as BodyStrategy[])('readBody (%s)', (strategy) => {
  it('hands over every piece even when a pushed piece\'s buffer is recycled and detached before push() returns', async () => {
    // A sealed-sized body: head, three full chunks, a short last one.
    const chunkLength = 1024;
    const sealedSize = FILE_HEAD_LENGTH + 3 * (chunkLength + TAG_LENGTH) + 100 + TAG_LENGTH;
    const body = new Uint8Array(sealedSize);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const response = new Response(body);
    const signal = new AbortController().signal;
    const received: Uint8Array[] = [];
    await readBody(response, {
      url: 'test://shard', signal, deadline: new Deadline(10_000, 'test://shard', signal), sealedSize, chunkLength,
      pool: new BufferPool(chunkLength + TAG_LENGTH, 4), onBytes: () => undefined,
      push: async (piece) => {
        received.push(piece.slice());
        // What the loader does once a chunk is decrypted: its buffer goes back to the pool, where
        // another shard's BYOB read takes it and detaches it, while this push is still pending.
        structuredClone(piece.buffer, { transfer: [piece.buffer as ArrayBuffer] });
        expect(piece.byteLength).toBe(0);
        await new Promise((resolve) => setTimeout(resolve, 1));
      },
    }, strategy);
    expect(received.map((p) => p.byteLength)).toEqual([FILE_HEAD_LENGTH, chunkLength + TAG_LENGTH, chunkLength + TAG_LENGTH, chunkLength + TAG_LENGTH, 100 + TAG_LENGTH]);
    expect(Buffer.concat(received).equals(body)).toBe(true);
  });
});

describe('readBody (copy): network pieces of any size', () => {
  const chunkLength = 1024;
  const sealedSize = FILE_HEAD_LENGTH + 3 * (chunkLength + TAG_LENGTH) + 100 + TAG_LENGTH;
  const sealed = new Uint8Array(sealedSize).map((_, i) => i % 253);

  /** Reads `bytes` delivered in pieces of `sizes` (cycled); returns the pushed pieces. */
  async function read(bytes: Uint8Array, sizes: number[]): Promise<Uint8Array[]> {
    let offset = 0;
    let k = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        const n = sizes[k++ % sizes.length]!;
        controller.enqueue(bytes.slice(offset, offset + n));
        offset += n;
      },
    });
    const signal = new AbortController().signal;
    const pushed: Uint8Array[] = [];
    let seen = 0;
    await readBody(new Response(stream), {
      url: 'test://shard', signal, deadline: new Deadline(10_000, 'test://shard', signal), sealedSize, chunkLength,
      pool: new BufferPool(chunkLength + TAG_LENGTH, 4), onBytes: (n) => (seen += n),
      push: async (piece) => void pushed.push(piece.slice()),
    }, 'copy');
    expect(seen).toBe(bytes.length);
    return pushed;
  }

  it('pieces that straddle the head and chunk boundaries arrive as whole chunks, byte for byte', async () => {
    for (const sizes of [[1], [7, 3000], [55, 57, 1040], [sealedSize]]) {
      const pushed = await read(sealed, sizes);
      expect(pushed.map((p) => p.byteLength)).toEqual([FILE_HEAD_LENGTH, chunkLength + TAG_LENGTH, chunkLength + TAG_LENGTH, chunkLength + TAG_LENGTH, 100 + TAG_LENGTH]);
      expect(Buffer.concat(pushed).equals(sealed)).toBe(true);
    }
  });

  it('a short body hands over what came (the decryptor names the truncation); extra bytes are handed over too (trailing data)', async () => {
    const short = await read(sealed.subarray(0, FILE_HEAD_LENGTH + 1500), [700]);
    expect(short.map((p) => p.byteLength)).toEqual([FILE_HEAD_LENGTH, chunkLength + TAG_LENGTH, 1500 - chunkLength - TAG_LENGTH]);
    const long = new Uint8Array(sealedSize + 10).map((_, i) => i % 253);
    const pushed = await read(long, [900]);
    expect(Buffer.concat(pushed).equals(Buffer.from(long))).toBe(true);
    expect(pushed.at(-1)!.byteLength).toBeGreaterThanOrEqual(10);
  });
});

describe.each(['copy', 'byob'] as BodyStrategy[])('readBody (%s) with a held ReadGate', (strategy) => {
  it('reads nothing while the gate is held (the key unwrap runs first), then everything once it opens; the stall clock does not run meanwhile', async () => {
    const chunkLength = 1024;
    const sealedSize = FILE_HEAD_LENGTH + 2 * (chunkLength + TAG_LENGTH);
    const body = new Uint8Array(sealedSize).map((_, i) => i % 249);
    const signal = new AbortController().signal;
    const gate = new ReadGate();
    gate.hold();
    const pushed: Uint8Array[] = [];
    const deadline = new Deadline(50, 'test://shard', signal);
    const reading = readBody(new Response(body), {
      url: 'test://shard', signal, deadline, sealedSize, chunkLength, gate,
      pool: new BufferPool(chunkLength + TAG_LENGTH, 4), onBytes: () => undefined,
      push: async (piece) => void pushed.push(piece.slice()),
    }, strategy);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pushed).toEqual([]);
    expect(deadline.fired).toBe(false);
    gate.open();
    await reading;
    deadline.clear();
    expect(Buffer.concat(pushed).equals(body)).toBe(true);
  });
});
