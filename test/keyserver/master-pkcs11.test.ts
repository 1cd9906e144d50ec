// The PKCS#11 master key against a real SoftHSM2 token made in a temp folder: a store on the HSM
// has no master key file, the token refuses to reveal the key, failures have clear codes, and the
// key server rides out an HSM outage on its cache (503 for the rest) and recovers by itself.

import { existsSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore, mintDevToken, openMasterKey } from '../../keyserver/index.js';
import { createSoftHsmToken, type SoftHsmToken } from '../helpers/softhsm.js';
import { release, request, rotatePublished, startServer, until } from './helpers.js';
import { caughtModelsealError as codeOf } from '../helpers/expect-code.js';

let root: string;
let token: SoftHsmToken;
const env = () => ({ ...process.env });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-hsm-'));
  token = createSoftHsmToken(join(root, 'hsm'));
  // SoftHSM2 reads its config when the module initialises, in this process.
  process.env['SOFTHSM2_CONF'] = token.conf;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});


describe('a keystore on a PKCS#11 master key', () => {
  it('wraps inside the token: no master key file, keys.json names the HSM key, content keys come back', async () => {
    const master = await openMasterKey(token.uri, { storeDir: root, env: env() });
    const dir = join(root, 'store-a');
    const { store, created } = await FileKeyStore.open(dir, { create: true, master });
    expect(created).toBe(true);
    const face = await rotatePublished(store, 'face');
    expect(readdirSync(dir).sort()).toEqual(['keys.json', 'token.secret']);
    const doc = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'));
    expect(doc.masterKeyId).toBe(master.id);
    // The wrapped form is IV ‖ ciphertext ‖ tag of a 32-byte key, never the key itself.
    const wrapped = Buffer.from(doc.keys[0].wrapped, 'base64url');
    expect(wrapped.length).toBe(12 + 32 + 16);
    expect(wrapped.includes(Buffer.from(face.key))).toBe(false);
    expect((await store.get('face', 'k1'))!.key).toEqual(face.key);

    // A second process (here: a second provider, new session) opens the same store.
    const again = await openMasterKey(token.uri, { storeDir: root, env: env() });
    const { store: reopened } = await FileKeyStore.open(dir, { master: again });
    expect((await reopened.get('face', 'k1'))!.key).toEqual(face.key);
    // And the file master key of another store is refused by id, before any unwrap.
    const other = await FileKeyStore.open(join(root, 'store-file'), { create: true });
    await rotatePublished(other.store, 'x');
    const wrong = await codeOf(FileKeyStore.open(join(root, 'store-file'), { master: again }));
    expect(wrong.code).toBe('master_key_wrong');
    expect(wrong.message).toContain('pkcs11:token=modelseal;object=master');
    await again.close!();
    await store.close();
  });

  it('the token refuses to reveal the key value (CKA_VALUE is sensitive)', async () => {
    const master = (await openMasterKey(token.uri, { storeDir: root, env: env() })) as unknown as { readKeyValue(): unknown; close(): Promise<void> };
    const err = (() => {
      try {
        master.readKeyValue();
      } catch (e) {
        return e as { code: string; message: string; cause: { code: number } };
      }
      return undefined;
    })();
    expect(err?.message).toContain('CKR_ATTRIBUTE_SENSITIVE');
    expect(err?.cause.code).toBe(0x11);
    await master.close();
  });

  it('refuses an extractable key, and reports a wrong PIN, a missing key and a bad module clearly', async () => {
    const loose = createSoftHsmToken(join(root, 'hsm-loose'), { label: 'loose', extractable: true });
    // One SoftHSM2 config per process: point this one at the loose token for this check.
    process.env['SOFTHSM2_CONF'] = loose.conf;
    try {
      const e = await codeOf(openMasterKey(loose.uri, { storeDir: root, env: env() }));
      expect(e.code).toBe('config_invalid');
      expect(e.message).toContain('must be sensitive and non-extractable');
    } finally {
      process.env['SOFTHSM2_CONF'] = token.conf;
    }

    const badPin = join(root, 'bad-pin');
    writeFileSync(badPin, '000000\n');
    const e1 = await codeOf(openMasterKey(token.uri.replace(token.pinFile, badPin), { storeDir: root, env: env() }));
    expect(e1.code).toBe('master_key_unavailable');
    expect(e1.message).toContain('CKR_PIN_INCORRECT');
    expect(e1.message).not.toContain('000000');

    const e2 = await codeOf(openMasterKey(token.uri.replace('object=master', 'object=nothing'), { storeDir: root, env: env() }));
    expect(e2.code).toBe('master_key_missing');
    expect(e2.message).toContain('object=nothing');

    const e3 = await codeOf(openMasterKey(token.uri.replace('token=modelseal', 'token=absent'), { storeDir: root, env: env() }));
    expect(e3.code).toBe('master_key_unavailable');
    expect(e3.message).toContain('no token matches');

    const e4 = await codeOf(openMasterKey(token.uri.replace('/usr/lib/softhsm/libsofthsm2.so', '/nonexistent/libpkcs11.so'), { storeDir: root, env: env() }));
    expect(e4.code).toBe('config_invalid');
    expect(e4.message).toContain('cannot load the PKCS#11 module /nonexistent/libpkcs11.so');

    // The PIN may come from the environment instead of a file.
    const viaEnv = await openMasterKey(token.uri.replace(`&pin-source=file:${token.pinFile}`, ''), { storeDir: root, env: { ...env(), MODELSEAL_PKCS11_PIN: token.pin } });
    await viaEnv.check!();
    await viaEnv.close!();
  });

  it('an altered wrapped key is master_key_wrong, not an outage', async () => {
    const master = await openMasterKey(token.uri, { storeDir: root, env: env() });
    const aad = new TextEncoder().encode('aad');
    const wrapped = await master.wrap(new Uint8Array(32).fill(7), aad);
    expect(await master.unwrap(wrapped, aad)).toEqual(new Uint8Array(32).fill(7));
    const bad = Uint8Array.from(wrapped);
    bad[20] = bad[20]! ^ 1;
    expect((await codeOf(master.unwrap(bad, aad))).code).toBe('master_key_wrong');
    expect((await codeOf(master.unwrap(wrapped, new TextEncoder().encode('other')))).code).toBe('master_key_wrong');
    await master.close!();
  });
});

describe('the key server on a PKCS#11 master key', () => {
  it('during an HSM outage serves cached keys, answers 503 with Retry-After for the rest, is not ready, and recovers by itself', async () => {
    const dir = join(root, 'store-served');
    const master = await openMasterKey(token.uri, { storeDir: root, env: env() });
    const { store } = await FileKeyStore.open(dir, { create: true, master });
    const face = await rotatePublished(store, 'face');
    const cold = await rotatePublished(store, 'cold');
    const auditLog = join(root, 'served-audit.log');
    const server = await startServer(store, { auditLog, masterKeyCacheSeconds: 300 });
    try {
      const tok = await mintDevToken({ store, models: ['*'], ttl: '5m' });
      expect((await request(server, '/readyz')).status).toBe(200);
      const warm = await release(server, tok, 'face', 'k1');
      expect(warm.status).toBe(200);
      expect(warm.key).toEqual(face.key);

      // The token vanishes (its folder moved away): the open session's key handle goes stale.
      const aside = `${token.tokenDir}-aside`;
      renameSync(token.tokenDir, aside);
      try {
        const cached = await release(server, tok, 'face', 'k1');
        expect(cached.status).toBe(200);
        expect(cached.key).toEqual(face.key);
        const refused = await release(server, tok, 'cold', 'k1');
        expect(refused.status).toBe(503);
        expect(refused.json.error.code).toBe('unavailable');
        expect(refused.json.error.message).toContain('master key');
        expect(refused.headers.get('retry-after')).toBe('1');
        const ready = await request(server, '/readyz');
        expect(ready.status).toBe(503);
        expect((JSON.parse(ready.text) as { error: { message: string } }).error.message).toContain('pkcs11:');
        // The process is alive and still answers health checks.
        expect((await request(server, '/healthz')).status).toBe(200);
      } finally {
        renameSync(aside, token.tokenDir);
      }
      // Back: the provider reconnects on its own (after its retry pause).
      await until(async () => (await request(server, '/readyz')).status === 200, 100);
      const recovered = await release(server, tok, 'cold', 'k1');
      expect(recovered.status).toBe(200);
      expect(recovered.key).toEqual(cold.key);
    } finally {
      await server.close();
      await store.close();
    }
    // Every refusal is audited; no line carries key material.
    const lines = readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l['modelId'] === 'cold' && l['reason'] === 'unavailable')).toBe(true);
    const text = readFileSync(auditLog, 'utf8');
    for (const k of [face.key, cold.key]) {
      expect(text).not.toContain(Buffer.from(k).toString('base64url'));
      expect(text).not.toContain(Buffer.from(k).toString('hex'));
    }
    expect(existsSync(join(dir, 'master.key'))).toBe(false);
  });

  it('with masterKeyCacheSeconds 0 every release asks the HSM, so an outage refuses even a key released a moment ago', async () => {
    const dir = join(root, 'store-nocache');
    const master = await openMasterKey(token.uri, { storeDir: root, env: env() });
    const { store } = await FileKeyStore.open(dir, { create: true, master });
    await rotatePublished(store, 'face');
    const server = await startServer(store, { masterKeyCacheSeconds: 0 });
    const aside = `${token.tokenDir}-aside`;
    try {
      const tok = await mintDevToken({ store, models: ['*'], ttl: '5m' });
      expect((await release(server, tok, 'face', 'k1')).status).toBe(200);
      renameSync(token.tokenDir, aside);
      expect((await release(server, tok, 'face', 'k1')).status).toBe(503);
    } finally {
      if (existsSync(aside)) renameSync(aside, token.tokenDir);
      await server.close();
      await store.close();
    }
  });
});
