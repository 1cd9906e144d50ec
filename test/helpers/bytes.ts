// Byte comparisons the tests share.

import { expect } from 'vitest';

type Bytes = Uint8Array | ArrayBuffer;

const view = (b: Bytes) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b);

/**
 * Asserts that `actual` holds exactly the byte arrays of `expected`, item by item, and that there is
 * at least one (a comparison over two empty lists would assert nothing).
 */
export function expectSameBytes(actual: readonly Bytes[], expected: readonly Bytes[], label = 'item'): void {
  expect(expected.length, `no ${label} to compare`).toBeGreaterThan(0);
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(view(actual[i]!).equals(view(e)), `${label} ${i}`).toBe(true));
}
