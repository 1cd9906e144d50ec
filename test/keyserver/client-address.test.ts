// Per-address limits count an IPv6 client by its network (ipv6PrefixLength, default /64) and an
// IPv4-mapped IPv6 address as the IPv4 address it maps; driven in process with app.inject.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { FileKeyStore, createKeyServer, type KeyServer, type KeyServerConfigInput } from '../../keyserver/index.js';
import { clientGroup } from '../../keyserver/client-address.js';
import { RELAXED, clientKey, rotatePublished, TEST_SEALING } from './helpers.js';

describe('clientGroup', () => {
  it('IPv6 by prefix, IPv4-mapped as IPv4, IPv4 and non-addresses unchanged', () => {
    expect(clientGroup('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64)).toBe('2001:db8:1:2::/64');
    expect(clientGroup('2001:0DB8:0001:0002::1', 64)).toBe('2001:db8:1:2::/64');
    expect(clientGroup('2001:db8:1:2::1', 48)).toBe('2001:db8:1::/48');
    expect(clientGroup('2001:db8:1:2::1', 128)).toBe('2001:db8:1:2::1');
    expect(clientGroup('fe80::1%eth0', 64)).toBe('fe80::/64');
    expect(clientGroup('::ffff:203.0.113.5', 64)).toBe('203.0.113.5');
    expect(clientGroup('::ffff:cb00:7105', 64)).toBe('203.0.113.5');
    expect(clientGroup('203.0.113.5', 64)).toBe('203.0.113.5');
    expect(clientGroup('not-an-address', 64)).toBe('not-an-address');
  });
});

describe('per-address rate limit over IPv6 (inject)', () => {
  let dir: string;
  let storeDir: string;
  let epk: JWK;
  const servers: KeyServer[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelseal-addr-'));
    const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
    await rotatePublished(store, 'face');
    storeDir = store.dir;
    epk = (await clientKey()).publicJwk;
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const server = async (config: KeyServerConfigInput) => {
    const s = await createKeyServer({ store: storeDir, config: { ...RELAXED, auditLog: null, ...config, defaults: { ...RELAXED.defaults, ratePerAddress: 3 } } });
    servers.push(s);
    return s;
  };
  // No token: a request within the address budget gets 401, one beyond it 429 (the address is checked first).
  const status = async (s: KeyServer, remoteAddress: string, headers: Record<string, string> = {}) =>
    (await s.app.inject({ method: 'POST', url: '/v2/release', remoteAddress, headers, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk } })).statusCode;

  it('50 addresses of one /64 share one budget; another /64 has its own', async () => {
    const s = await server({});
    const statuses: number[] = [];
    for (let i = 1; i <= 50; i++) statuses.push(await status(s, `2001:db8:1:2::${i.toString(16)}`));
    expect(statuses.filter((c) => c === 401)).toHaveLength(3);
    expect(statuses.filter((c) => c === 429)).toHaveLength(47);
    expect(await status(s, '2001:db8:1:3::1')).toBe(401);
  });

  it('ipv6PrefixLength 128 counts each address; 48 groups neighbouring /64s', async () => {
    const per = await server({ ipv6PrefixLength: 128 });
    for (let i = 1; i <= 50; i++) expect(await status(per, `2001:db8:1:2::${i.toString(16)}`)).toBe(401);
    const wide = await server({ ipv6PrefixLength: 48 });
    const statuses: number[] = [];
    for (let i = 1; i <= 6; i++) statuses.push(await status(wide, `2001:db8:1:${i}::1`));
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429]);
  });

  it('an IPv4-mapped IPv6 address shares the budget of its IPv4 address', async () => {
    const s = await server({});
    for (let i = 0; i < 3; i++) expect(await status(s, '::ffff:203.0.113.5')).toBe(401);
    expect(await status(s, '203.0.113.5')).toBe(429);
    expect(await status(s, '203.0.113.6')).toBe(401);
  });

  it('a trustProxy that is not an address or CIDR is config_invalid naming it, not a bare TypeError', async () => {
    for (const trustProxy of ['not-an-ip', ['10.0.0.0/33']]) {
      await expect(server({ trustProxy })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringMatching(/^config trustProxy .* is not valid \(invalid .*\): give true, false, a hop count/) });
    }
  });

  it('behind a trusted proxy, X-Forwarded-For IPv6 clients are grouped the same way', async () => {
    const s = await server({ trustProxy: '127.0.0.1' });
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++) statuses.push(await status(s, '127.0.0.1', { 'x-forwarded-for': `2001:db8:7:7::${i}` }));
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(await status(s, '127.0.0.1', { 'x-forwarded-for': '2001:db8:7:8::1' })).toBe(401);
  });
});
