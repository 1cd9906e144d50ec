// Offline leases on the key server (app.inject, no port): the policy field, who gets a lease, how
// long it lasts, that it sits in the authenticated JWE header, and that the audit line records it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactDecrypt } from 'jose';
import { AuditLog, FileKeyStore, buildApp, mintDevToken, resolveConfig, type KeyServerApp } from '../../keyserver/index.js';
import { RELAXED, TEST_SEALING, clientKey, rotatePublished } from './helpers.js';

const DAY = 86_400;
let dir: string;
let store: FileKeyStore;
let server: KeyServerApp;
let auditPath: string;
let keyExpiry: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelseal-lease-'));
  ({ store } = await FileKeyStore.open(join(dir, 'store'), { create: true }));
  for (const m of ['face', 'hand', 'eye']) await rotatePublished(store, m);
  // `short`'s key version expires in one hour: a lease never outlasts it.
  await rotatePublished(store, 'short');
  keyExpiry = Math.floor(Date.now() / 1000) + 3600;
  await store.rotate('short', { retireExpiresAt: new Date(keyExpiry * 1000) });
  auditPath = join(dir, 'audit.log');
  const config = resolveConfig(RELAXED, {
    models: { face: { offlineLeaseSeconds: 7 * DAY }, 'short': { offlineLeaseSeconds: 30 * DAY }, eye: { offlineLeaseSeconds: 0 } },
  });
  server = await buildApp({ config, store, audit: new AuditLog(auditPath) });
});

afterAll(async () => {
  await server?.app.close();
  await server?.audit.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function ask(modelId: string, offline: unknown) {
  const { publicJwk, privateKey } = await clientKey();
  const token = await mintDevToken({ store, models: ['*'], sub: `lease-${modelId}` });
  const payload: Record<string, unknown> = { modelId, keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk };
  if (offline !== undefined) payload['offline'] = offline;
  const r = await server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload });
  const json = r.json() as { key?: string; expiresAt?: string; leaseExpiresAt?: string; error?: { code: string; message: string } };
  if (r.statusCode !== 200) return { status: r.statusCode, json, header: undefined };
  const { protectedHeader } = await compactDecrypt(json.key!, privateKey);
  return { status: r.statusCode, json, header: protectedHeader as Record<string, unknown> };
}

async function auditLines(): Promise<Array<Record<string, unknown>>> {
  await server.audit.flush();
  return (await readFile(auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('offline leases', () => {
  it('a client that asks gets a lease of offlineLeaseSeconds in the authenticated JWE header and in the answer', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await ask('face', true);
    const after = Math.floor(Date.now() / 1000);
    expect(r.status).toBe(200);
    const lease = r.header!['lease'] as number;
    expect(Number.isInteger(lease)).toBe(true);
    expect(lease).toBeGreaterThanOrEqual(before + 7 * DAY);
    expect(lease).toBeLessThanOrEqual(after + 7 * DAY);
    expect(r.json.leaseExpiresAt).toBe(new Date(lease * 1000).toISOString());
    // The release itself stays short: the lease is a separate, longer promise.
    expect(r.header!['exp']).toBeLessThan(lease);
    expect(r.header!).toMatchObject({ modelId: 'face', keyId: 'k1', sealing: TEST_SEALING });
    const line = (await auditLines()).find((l) => l['sub'] === 'lease-face');
    expect(line).toMatchObject({ outcome: 'release', modelId: 'face', lease: r.json.leaseExpiresAt });
  });

  it('a client that does not ask (online-only) gets no lease, even where the policy grants one', async () => {
    for (const offline of [undefined, false]) {
      const r = await ask('face', offline);
      expect(r.status).toBe(200);
      expect(r.header).not.toHaveProperty('lease');
      expect(r.json).not.toHaveProperty('leaseExpiresAt');
    }
  });

  it('a lease asked for where the policy grants none is a plain release without a lease (default 0 and explicit 0)', async () => {
    for (const model of ['hand', 'eye']) {
      const r = await ask(model, true);
      expect(r.status).toBe(200);
      expect(r.header).not.toHaveProperty('lease');
      expect(r.json).not.toHaveProperty('leaseExpiresAt');
      const line = (await auditLines()).find((l) => l['sub'] === `lease-${model}`);
      expect(line).toMatchObject({ outcome: 'release' });
      expect(line).not.toHaveProperty('lease');
    }
  });

  it('a lease never outlasts the key version\'s expiry', async () => {
    const r = await ask('short', true);
    expect(r.status).toBe(200);
    expect(r.header!['lease']).toBe(keyExpiry);
  });

  it('offline must be a boolean', async () => {
    for (const bad of ['true', 1, null]) {
      const r = await ask('face', bad);
      expect(r.status).toBe(400);
      expect(r.json.error).toMatchObject({ code: 'malformed_request' });
      expect(r.json.error!.message).toContain('offline');
    }
  });
});

describe('offlineLeaseSeconds in the config', () => {
  it('defaults to 0, and is an integer from 0 to 30 days', () => {
    expect(resolveConfig({}).defaults.offlineLeaseSeconds).toBe(0);
    expect(resolveConfig({ models: { face: { offlineLeaseSeconds: 30 * DAY } } }).models['face']!.offlineLeaseSeconds).toBe(30 * DAY);
    for (const bad of [-1, 30 * DAY + 1, 1.5, '3600']) {
      expect(() => resolveConfig({ models: { face: { offlineLeaseSeconds: bad } } })).toThrow(/models\["face"\]\.offlineLeaseSeconds: must be an integer from 0 to 2592000/);
    }
    expect(() => resolveConfig({ defaults: { offlineLeaseSeconds: -5 } as never })).toThrow(/defaults\.offlineLeaseSeconds/);
  });
});
