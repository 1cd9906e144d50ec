// readBody's chunkwise (BYOB) read of one shard body, on a real fetch Response body.
import { describe, expect, it } from 'vitest';
import { FILE_HEAD_LENGTH, TAG_LENGTH } from '../../format/chunked.js';
import { BufferPool } from '../../loader/buffer-pool.js';
import { Deadline } from '../../loader/files.js';
import { readBody } from '../../loader/shard-body.js';

describe('readBody (BYOB)', () => {
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
    });
    expect(received.map((p) => p.byteLength)).toEqual([FILE_HEAD_LENGTH, chunkLength + TAG_LENGTH, chunkLength + TAG_LENGTH, chunkLength + TAG_LENGTH, 100 + TAG_LENGTH]);
    expect(Buffer.concat(received).equals(body)).toBe(true);
  });
});
