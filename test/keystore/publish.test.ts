// Recording sealings in the keystore: a revoked key version takes no new sealing (key_revoked, the
// same code the key server answers for it), and a bad model id is refused with the one id rule.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caughtModelsealError } from '../helpers/expect-code.js';
import { ID_RULE } from '../../format/ids.js';
import { FileKeyStore } from '../../keystore/index.js';

const SEALING = 'A'.repeat(43);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelseal-publish-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('FileKeyStore.publish', () => {
  it('records a sealing once, then refuses every sealing for a revoked version with key_revoked', async () => {
    const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
    await store.rotate('face');
    expect(await store.publish('face', 'k1', SEALING)).toBe(true);
    expect(await store.publish('face', 'k1', SEALING)).toBe(false);
    await store.revoke('face', 'k1');
    const err = await caughtModelsealError(store.publish('face', 'k1', `B${SEALING.slice(1)}`));
    expect(err.code).toBe('key_revoked');
    expect(err.message).toBe('key k1 of model face is revoked: seal with the active key version instead');
    expect((await store.list())[0]!.sealings).toEqual([SEALING]);
  });

  it('refuses a model id that breaks the id rule, in the words the CLI uses', async () => {
    const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
    const err = await caughtModelsealError(store.rotate('face/pro'));
    expect(err.code).toBe('usage');
    expect(err.message).toBe(`model id "face/pro" must be ${ID_RULE}`);
  });
});
