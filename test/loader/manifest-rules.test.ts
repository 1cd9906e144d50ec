// One rule for every reader (docs/FORMAT.md §JSON rules): the loader and `modelseal verify` reach the
// same conclusion on the same manifest bytes — a byte order mark, invalid UTF-8, a limit counted in
// bytes, duplicate members, non-integer numbers, a bad key-server URL.

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectVerify } from '../../cli/actions/verify.js';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { isModelsealError, sealedModel } from '../../loader/index.js';
import { buildLayersModel, sealInto } from './fixtures.js';

let root: string;
let storeDir: string;
let manifest: string;
let server: KeyServer;
let keyServer: string;

const bom = Buffer.from([0xef, 0xbb, 0xbf]);
const MiB = 1024 * 1024;
const variants: Array<[name: string, edit: (text: string) => Buffer, expected: string]> = [
  ['as written', (t) => Buffer.from(t), 'ok'],
  ['one byte order mark', (t) => Buffer.concat([bom, Buffer.from(t)]), 'ok'],
  ['two byte order marks', (t) => Buffer.concat([bom, bom, Buffer.from(t)]), 'manifest_invalid'],
  ['invalid UTF-8 inside a string', (t) => { const b = Buffer.from(t.replace('"k1"', '"k1\u0001"')); b[b.indexOf(1)] = 0xff; return b; }, 'manifest_invalid'],
  // 600 000 two-byte characters: under 1 MiB in UTF-16 units, over 1 MiB in bytes.
  ['over 1 MiB in bytes, not in characters', (t) => Buffer.from(t.replace('{', `{"pad":"${'é'.repeat(0.6 * MiB)}",`)), 'manifest_invalid'],
  ['a duplicate member', (t) => Buffer.from(t.replace('"keyId":', '"keyId":"k1","keyId":')), 'manifest_invalid'],
  ['chunkLength written 1024.0', (t) => Buffer.from(t.replace(/"chunkLength":(\d+)/, '"chunkLength":$1.0')), 'manifest_invalid'],
  ['a keyServer with credentials', (t) => Buffer.from(t.replace('{', '{"keyServer":"https://u:p@keys.example.com",')), 'manifest_invalid'],
];

async function loaderOutcome(path: string): Promise<string> {
  try {
    await sealedModel(`file://${path}`, { token: await mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' }), keyServer }).load();
    return 'ok';
  } catch (err) {
    if (!isModelsealError(err)) throw err;
    return err.code;
  }
}

async function verifyOutcome(path: string): Promise<string> {
  try {
    await collectVerify(path, { store: storeDir, json: true });
    return 'ok';
  } catch (err) {
    if (!isModelsealError(err)) throw err;
    return err.code;
  }
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'modelseal-rules-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  await sealInto(store, 'rules', await buildLayersModel(tf, 16), join(root, 'sealed'));
  manifest = await readFile(join(root, 'sealed/model.json'), 'utf8');
  ({ server, url: keyServer } = await startKeyServer(storeDir));
});

afterAll(async () => {
  await server?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the loader and verify read manifest bytes the same way', () => {
  for (const [name, edit, expected] of variants) {
    it(`${name} → ${expected}`, async () => {
      const dir = join(root, name.replace(/\W+/g, '-'));
      await cp(join(root, 'sealed'), dir, { recursive: true });
      await writeFile(join(dir, 'model.json'), edit(manifest));
      const path = join(dir, 'model.json');
      expect([await loaderOutcome(path), await verifyOutcome(path)]).toEqual([expected, expected]);
    });
  }
});
