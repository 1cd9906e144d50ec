// Cloud master keys (issue 11): aws-kms:, vault-transit:, gcp-kms: against the stand-ins in
// kms-standins.ts. No AWS KMS, Vault or Cloud KMS emulator is installable here, so these tests
// check OUR side of each protocol (requests, answers, error mapping, time bounds, the CI route's
// permission split) against the services' documented shapes, not the services themselves. The AWS
// stand-in verifies the official SDK's SigV4 signature by recomputing it; the Google stand-in is
// reached through the official @google-cloud/kms client's HTTP/JSON transport.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { inspect } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FileKeyStore, mintDevToken } from '../../keyserver/index.js';
import { release, rotatePublished, startServer } from './helpers.js';
import type { MasterKeyProvider } from '../../keystore/master/types.js';
import { createMasterKey as awsKms } from '../../keystore/master/aws-kms.js';
import { createMasterKey as vaultTransit } from '../../keystore/master/vault-transit.js';
import { createMasterKey as gcpKms } from '../../keystore/master/gcp-kms.js';
import { importOptional, missingDependency } from '../../keystore/master/remote.js';
import { startAwsKms, startGcpKms, startVault, type AwsKmsStandIn, type GcpKmsStandIn, type VaultStandIn } from './kms-standins.js';
import { caughtModelsealError as failure } from '../helpers/expect-code.js';

const enc = new TextEncoder();
// Shaped like the keystore's aad (store version, model id, key id); the providers treat it as bytes.
const aadFor = (modelId: string, keyId: string) => enc.encode(`1\0${modelId}\0${keyId}`);


/** Fails when a message holds the key or its wrapped form in any usual encoding. */
function expectNoKeyBytes(message: string, ...secrets: Uint8Array[]): void {
  for (const b of secrets) {
    const buf = Buffer.from(b);
    for (const form of [buf.toString('base64'), buf.toString('base64url'), buf.toString('hex'), buf.toString('latin1')]) {
      expect(message).not.toContain(form.slice(0, 24));
    }
  }
}

/** The whole error, cause chain and every own property, as a logger with no filter might print it. */
async function everythingInError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return inspect(err, { depth: Infinity, showHidden: true }) + JSON.stringify(err);
  }
  throw new Error('expected the call to fail');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'modelseal-kms-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('aws-kms: (stand-in: checks our side of the KMS JSON protocol, SigV4 recomputed)', () => {
  let kms: AwsKmsStandIn;
  const SERVER = { accessKeyId: 'AKIASERVER0000000001', secretAccessKey: 'server-secret-' + randomBytes(8).toString('hex'), allow: ['Decrypt', 'DescribeKey'] as const };
  const ADMIN = { accessKeyId: 'AKIAADMIN00000000001', secretAccessKey: 'admin-secret-' + randomBytes(8).toString('hex'), allow: ['Encrypt', 'Decrypt', 'GenerateDataKey'] as const };
  const CI = { accessKeyId: 'AKIACI00000000000001', secretAccessKey: 'ci-secret-' + randomBytes(8).toString('hex'), allow: ['GenerateDataKey'] as const };
  const opened: MasterKeyProvider[] = [];

  async function open(who: { accessKeyId: string; secretAccessKey: string }, options: { key?: number; extra?: string } = {}): Promise<MasterKeyProvider> {
    const uri = `aws-kms:${kms.arns[options.key ?? 0]}?endpoint=${kms.url}${options.extra ?? ''}`;
    const p = await awsKms(uri, { storeDir: dir, env: { AWS_ACCESS_KEY_ID: who.accessKeyId, AWS_SECRET_ACCESS_KEY: who.secretAccessKey } });
    opened.push(p);
    return p;
  }

  beforeAll(async () => {
    kms = await startAwsKms({ keys: 2, principals: [{ ...SERVER, allow: [...SERVER.allow] }, { ...ADMIN, allow: [...ADMIN.allow] }, { ...CI, allow: [...CI.allow] }] });
  });
  afterAll(async () => {
    for (const p of opened) await p.close?.();
    await kms.close();
  });

  it('wraps with Encrypt and unwraps with Decrypt, the aad as EncryptionContext; the uri holds no secret', async () => {
    const admin = await open(ADMIN);
    const server = await open(SERVER);
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await admin.wrap(key, aadFor('m', 'k1'));
    expect(Buffer.from(wrapped).includes(Buffer.from(key))).toBe(false);
    expect(await server.unwrap(wrapped, aadFor('m', 'k1'))).toEqual(key);
    expect(server.uri).not.toContain(SERVER.secretAccessKey);
    expect(server.uri).not.toContain(SERVER.accessKeyId);
    expect(kms.calls.filter((c) => c.op === 'Decrypt').at(-1)?.principal).toBe(SERVER.accessKeyId);
    expect(kms.badSignatures).toBe(0);
  });

  it('binds the aad: a record moved to another model or key id fails with master_key_wrong', async () => {
    const admin = await open(ADMIN);
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await admin.wrap(key, aadFor('m', 'k1'));
    const moved = await failure(admin.unwrap(wrapped, aadFor('other', 'k1')));
    expect(moved.code).toBe('master_key_wrong');
    expectNoKeyBytes(moved.message, key, wrapped);
    expect((await failure(admin.unwrap(wrapped, aadFor('m', 'k2')))).code).toBe('master_key_wrong');
  });

  it('through the keystore: a keys.json record renamed to another model does not unwrap', async () => {
    const store = join(dir, 'aws-store');
    const admin = await open(ADMIN);
    const { store: ks } = await FileKeyStore.open(store, { create: true, master: admin });
    const made = await ks.rotate('model-a');
    expect((await ks.get('model-a', made.record.keyId))?.key).toEqual(made.key);
    const doc = JSON.parse(await readFile(join(store, 'keys.json'), 'utf8')) as { keys: { modelId: string }[] };
    doc.keys[0]!.modelId = 'model-b';
    await writeFile(join(store, 'keys.json'), JSON.stringify(doc));
    const { store: again } = await FileKeyStore.open(store, { master: admin });
    expect((await failure(again.get('model-b', made.record.keyId))).code).toBe('master_key_wrong');
  });

  it('key server on aws-kms: a publisher without kms:Decrypt adds a key version, the server (its own credentials) releases it', async () => {
    // The publisher may only GenerateDataKey (the keystore makes new keys with the provider's
    // generate); the server only Decrypts. The release goes through a real key server socket.
    const PUBLISHER = { accessKeyId: 'AKIAPUBLISHER0000001', secretAccessKey: 'pub-' + randomBytes(8).toString('hex'), allow: ['GenerateDataKey'] as 'GenerateDataKey'[] };
    const local = await startAwsKms({ principals: [{ ...SERVER, allow: [...SERVER.allow] }, PUBLISHER] });
    const storeDir = join(dir, 'aws-served');
    const secret = randomBytes(32).toString('base64url');
    const ctxFor = (who: { accessKeyId: string; secretAccessKey: string }) => ({ storeDir, env: { AWS_ACCESS_KEY_ID: who.accessKeyId, AWS_SECRET_ACCESS_KEY: who.secretAccessKey } });
    const uri = `aws-kms:${local.arns[0]}?endpoint=${local.url}`;
    const publisherKey = await awsKms(uri, ctxFor(PUBLISHER));
    const serverKey = await awsKms(uri, ctxFor(SERVER));
    try {
      const { store: publisherStore } = await FileKeyStore.open(storeDir, { create: true, master: publisherKey });
      const made = await rotatePublished(publisherStore, 'face');
      // The publisher's own credentials cannot read the key back.
      expect((await failure(publisherStore.get('face', made.record.keyId))).code).toMatch(/^master_key_(wrong|unavailable)$/);
      const { store: serverStore } = await FileKeyStore.open(storeDir, { master: serverKey });
      const server = await startServer(serverStore, { tokens: { keys: [{ type: 'secret', secret }] } });
      try {
        const token = await mintDevToken({ secret: Buffer.from(secret, 'base64url'), models: ['face'] });
        const r = await release(server, token, 'face', made.record.keyId);
        expect(r.status).toBe(200);
        expect(r.key).toEqual(made.key);
        expect(local.calls.some((c) => c.op === 'Decrypt' && c.principal === SERVER.accessKeyId)).toBe(true);
        // The publisher never needed more than GenerateDataKey (its refused Decrypt above aside).
        expect(new Set(local.calls.filter((c) => c.principal === PUBLISHER.accessKeyId).map((c) => c.op))).toEqual(new Set(['GenerateDataKey', 'Decrypt']));
      } finally {
        await server.close();
      }
    } finally {
      await publisherKey.close?.();
      await serverKey.close?.();
      await local.close();
    }
  });

  it('another KMS key, or altered bytes: master_key_wrong', async () => {
    const admin = await open(ADMIN);
    const other = await open(ADMIN, { key: 1 });
    const wrapped = await admin.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    const wrong = await failure(other.unwrap(wrapped, aadFor('m', 'k1')));
    expect(wrong.code).toBe('master_key_wrong');
    expect(wrong.message).toContain('IncorrectKeyException');
    const altered = new Uint8Array(wrapped);
    altered[altered.length - 1]! ^= 1;
    expect((await failure(admin.unwrap(altered, aadFor('m', 'k1')))).code).toBe('master_key_wrong');
    expect(other.id).not.toBe(admin.id);
  });

  it('the id depends on the key ARN only', async () => {
    const a = await open(ADMIN);
    const b = await open(SERVER, { extra: '&timeout=5000' });
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a wrong secret is refused by the signature check (the stand-in can tell)', async () => {
    const before = kms.badSignatures;
    const p = await open({ accessKeyId: SERVER.accessKeyId, secretAccessKey: 'not-the-secret' });
    const f = await failure(p.unwrap(new Uint8Array(64), aadFor('m', 'k1')));
    expect(f.code).toBe('master_key_unavailable');
    expect(f.message).toContain('InvalidSignatureException');
    expect(kms.badSignatures).toBeGreaterThan(before);
  });

  it('CI route: a principal with only kms:GenerateDataKey seals a new version, the server unwraps it, the CI cannot unwrap an older one', async () => {
    const admin = await open(ADMIN);
    const ci = await open(CI);
    const server = await open(SERVER);
    const older = await admin.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    const start = kms.calls.length;
    const made = await ci.generate!(aadFor('m', 'k2'));
    expect(made.key.length).toBe(32);
    expect(await server.unwrap(made.wrapped, aadFor('m', 'k2'))).toEqual(made.key);
    const refused = await failure(ci.unwrap(older, aadFor('m', 'k1')));
    expect(refused.code).toBe('master_key_unavailable');
    expect(refused.message).toContain('kms:Decrypt');
    // The stand-in saw the CI principal call GenerateDataKey and be refused on Decrypt, nothing else.
    const ciCalls = kms.calls.slice(start).filter((c) => c.principal === CI.accessKeyId).map((c) => c.op);
    expect(new Set(ciCalls)).toEqual(new Set(['GenerateDataKey', 'Decrypt']));
    // The CI cannot wrap a key of its choosing either (no kms:Encrypt).
    expect((await failure(ci.wrap(new Uint8Array(32), aadFor('m', 'k3')))).message).toContain('kms:Encrypt');
    // A refused Encrypt: nothing in the error (cause chain included) holds the key it was given.
    const secret = new Uint8Array(randomBytes(32));
    expectNoKeyBytes(await everythingInError(ci.wrap(secret, aadFor('m', 'k3'))), secret);
  });

  it('?seal-only=true marks the CI URI: it generates, refuses to unwrap without asking KMS, and has no check()', async () => {
    const ci = await open(CI, { extra: '&seal-only=true' });
    const server = await open(SERVER);
    expect(ci.sealOnly).toBe(true);
    expect(server.sealOnly).toBe(false);
    expect(ci.check).toBeUndefined();
    expect(ci.uri).toContain('seal-only=true');
    expect(ci.id).toBe(server.id);
    const made = await ci.generate!(aadFor('m', 'k2'));
    expect(await server.unwrap(made.wrapped, aadFor('m', 'k2'))).toEqual(made.key);
    const before = kms.calls.length;
    expect((await failure(ci.unwrap(made.wrapped, aadFor('m', 'k2')))).code).toBe('master_key_missing');
    expect(kms.calls.length).toBe(before);
    expect((await failure(awsKms(`aws-kms:${kms.arns[0]}?seal-only=yes`, { storeDir: dir, env: {} }))).code).toBe('config_invalid');
  });

  it('check() is DescribeKey: ok when the key is enabled, master_key_unavailable on a 5xx', async () => {
    const server = await open(SERVER);
    await server.check!();
    kms.mode = 'error';
    try {
      const f = await failure(server.check!());
      expect(f.code).toBe('master_key_unavailable');
      expect(f.message).toContain('KMSInternalException');
    } finally {
      kms.mode = 'ok';
    }
  });

  it('5xx, a KMS that never answers, and a closed port: master_key_unavailable, bounded by ?timeout=', async () => {
    const admin = await open(ADMIN, { extra: '&timeout=400' });
    const wrapped = await admin.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    kms.mode = 'error';
    try {
      expect((await failure(admin.unwrap(wrapped, aadFor('m', 'k1')))).code).toBe('master_key_unavailable');
    } finally {
      kms.mode = 'ok';
    }
    kms.mode = 'hang';
    try {
      // The stand-in holds the request forever: only our deadline can end this call.
      const f = await failure(admin.unwrap(wrapped, aadFor('m', 'k1')));
      expect(f.code).toBe('master_key_unavailable');
      expect(f.message).toContain('no answer within 400 ms');
    } finally {
      kms.mode = 'ok';
    }
    const dead = await startAwsKms({ principals: [] });
    const port = dead.port;
    await dead.close();
    const gone = await awsKms(`aws-kms:${kms.arns[0]}?endpoint=http://127.0.0.1:${port}&timeout=2000`, { storeDir: dir, env: { AWS_ACCESS_KEY_ID: 'AKIAX', AWS_SECRET_ACCESS_KEY: 'x' } });
    opened.push(gone);
    expect((await failure(gone.unwrap(wrapped, aadFor('m', 'k1')))).code).toBe('master_key_unavailable');
  });

  it('a bad URI is config_invalid, naming what to fix', async () => {
    const env = {};
    expect((await failure(awsKms('aws-kms:1234abcd-12ab', { storeDir: dir, env }))).message).toContain('arn:aws:kms:REGION');
    expect((await failure(awsKms(`aws-kms:${kms.arns[0]}?regoin=x`, { storeDir: dir, env }))).message).toContain('unknown option "regoin"');
    expect((await failure(awsKms(`aws-kms:${kms.arns[0]}?timeout=soon`, { storeDir: dir, env }))).code).toBe('config_invalid');
    expect((await failure(awsKms(`aws-kms:${kms.arns[0]}?endpoint=ftp://x`, { storeDir: dir, env }))).code).toBe('config_invalid');
  });
});

describe('vault-transit: (stand-in: checks our side of the Transit HTTP API)', () => {
  let vault: VaultStandIn;
  const SERVER_TOKEN = 'hvs.server-' + randomBytes(8).toString('hex');
  const ADMIN_TOKEN = 'hvs.admin-' + randomBytes(8).toString('hex');
  const CI_TOKEN = 'hvs.ci-' + randomBytes(8).toString('hex');
  const uri = (key = 'modelseal', extra = '') => `vault-transit:transit/${key}?address=${vault.url}${extra}`;
  const open = (token: string, key?: string, extra?: string) => vaultTransit(uri(key, extra), { storeDir: dir, env: { VAULT_TOKEN: token } });

  beforeAll(async () => {
    vault = await startVault({
      keys: ['modelseal', 'other'],
      principals: [
        { token: SERVER_TOKEN, update: ['transit/decrypt/modelseal', 'transit/decrypt/other'] },
        { token: ADMIN_TOKEN, update: ['transit/encrypt/modelseal', 'transit/decrypt/modelseal', 'transit/encrypt/other'] },
        { token: CI_TOKEN, update: ['transit/encrypt/modelseal'] },
      ],
    });
  });
  afterAll(() => vault.close());

  it('wraps with encrypt and unwraps with decrypt, the aad as associated_data; the uri holds no token', async () => {
    const admin = await open(ADMIN_TOKEN);
    const server = await open(SERVER_TOKEN);
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await admin.wrap(key, aadFor('m', 'k1'));
    expect(new TextDecoder().decode(wrapped)).toMatch(/^vault:v1:/);
    expect(await server.unwrap(wrapped, aadFor('m', 'k1'))).toEqual(key);
    expect(server.uri).not.toContain(SERVER_TOKEN);
    expect(server.id).toBe(admin.id);
  });

  it('binds the aad, and another Transit key or altered bytes: master_key_wrong', async () => {
    const admin = await open(ADMIN_TOKEN);
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await admin.wrap(key, aadFor('m', 'k1'));
    const moved = await failure(admin.unwrap(wrapped, aadFor('other-model', 'k1')));
    expect(moved.code).toBe('master_key_wrong');
    expectNoKeyBytes(moved.message, key, wrapped.subarray('vault:v1:'.length));
    expect(moved.message).toContain('message authentication failed');
    const other = await open(SERVER_TOKEN, 'other');
    expect((await failure(other.unwrap(wrapped, aadFor('m', 'k1')))).code).toBe('master_key_wrong');
    expect((await failure(admin.unwrap(enc.encode('not a vault ciphertext'), aadFor('m', 'k1')))).code).toBe('master_key_wrong');
    expect(other.id).not.toBe(admin.id);
  });

  it('CI route: a token with only update on transit/encrypt seals a new version, the server unwraps it, the CI cannot decrypt an older one', async () => {
    const admin = await open(ADMIN_TOKEN);
    const ci = await open(CI_TOKEN);
    const server = await open(SERVER_TOKEN);
    const older = await admin.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    const made = await ci.generate!(aadFor('m', 'k2'));
    expect(await server.unwrap(made.wrapped, aadFor('m', 'k2'))).toEqual(made.key);
    const refused = await failure(ci.unwrap(older, aadFor('m', 'k1')));
    expect(refused.code).toBe('master_key_unavailable');
    expect(refused.message).toContain('"update" capability on transit/decrypt/modelseal');
    const secret = new Uint8Array(randomBytes(32));
    expectNoKeyBytes(await everythingInError(server.wrap(secret, aadFor('m', 'k3'))), secret);
  });

  it('?seal-only=true: generates, refuses to unwrap without asking Vault', async () => {
    const ci = await open(CI_TOKEN, 'modelseal', '&seal-only=true');
    expect(ci.sealOnly).toBe(true);
    const made = await ci.generate!(aadFor('m', 'k2'));
    expect(await (await open(SERVER_TOKEN)).unwrap(made.wrapped, aadFor('m', 'k2'))).toEqual(made.key);
    const before = vault.calls.length;
    expect((await failure(ci.unwrap(made.wrapped, aadFor('m', 'k2')))).code).toBe('master_key_missing');
    expect(vault.calls.length).toBe(before);
  });

  it('check() asks capabilities-self: ok for the server token, refused for a token with no right on the key', async () => {
    await (await open(SERVER_TOKEN)).check!();
    const f = await failure((await open(CI_TOKEN, 'other')).check!());
    expect(f.code).toBe('master_key_unavailable');
    expect(f.message).toContain('no "update" capability');
    expect((await failure((await open('hvs.revoked')).check!())).message).toContain('token was refused');
  });

  it('sealed (503), 5xx, never answering, closed port: master_key_unavailable, bounded by ?timeout=', async () => {
    const admin = await open(ADMIN_TOKEN, undefined, '&timeout=400');
    const wrapped = await admin.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    vault.sealed = true;
    try {
      expect((await failure(admin.unwrap(wrapped, aadFor('m', 'k1')))).message).toContain('Vault is sealed');
    } finally {
      vault.sealed = false;
    }
    vault.mode = 'error';
    try {
      expect((await failure(admin.unwrap(wrapped, aadFor('m', 'k1')))).code).toBe('master_key_unavailable');
    } finally {
      vault.mode = 'ok';
    }
    vault.mode = 'hang';
    try {
      const f = await failure(admin.unwrap(wrapped, aadFor('m', 'k1')));
      expect(f.code).toBe('master_key_unavailable');
      expect(f.message).toContain('no answer within 400 ms');
    } finally {
      vault.mode = 'ok';
    }
    const dead = await startVault({ keys: [], principals: [] });
    const address = dead.url;
    await dead.close();
    const gone = await vaultTransit(`vault-transit:transit/modelseal?address=${address}`, { storeDir: dir, env: { VAULT_TOKEN: ADMIN_TOKEN } });
    const f = await failure(gone.unwrap(wrapped, aadFor('m', 'k1')));
    expect(f.code).toBe('master_key_unavailable');
    expect(f.message).toContain('cannot reach Vault');
  });

  it('reads the token from ?token-file= (relative to the store) on every call, never from the URI', async () => {
    await writeFile(join(dir, 'vault-token'), `${ADMIN_TOKEN}\n`);
    const p = await vaultTransit(uri('modelseal', '&token-file=vault-token'), { storeDir: dir, env: {} });
    const wrapped = await p.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    await writeFile(join(dir, 'vault-token'), `${CI_TOKEN}\n`);
    expect((await failure(p.unwrap(wrapped, aadFor('m', 'k1')))).message).toContain('transit/decrypt/modelseal');
  });

  it('a bad URI or no token/address is config_invalid', async () => {
    expect((await failure(vaultTransit('vault-transit:modelseal', { storeDir: dir, env: { VAULT_TOKEN: 't', VAULT_ADDR: vault.url } }))).code).toBe('config_invalid');
    expect((await failure(vaultTransit('vault-transit:transit/k', { storeDir: dir, env: { VAULT_TOKEN: 't' } }))).message).toContain('VAULT_ADDR');
    expect((await failure(vaultTransit(uri(), { storeDir: dir, env: {} }))).message).toContain('VAULT_TOKEN');
    expect((await failure(vaultTransit(`${uri()}&token=abc`, { storeDir: dir, env: { VAULT_TOKEN: 't' } }))).message).toContain('unknown option "token"');
  });
});

describe('gcp-kms: (stand-in: checks our side of the Cloud KMS REST API, through the official client)', () => {
  let gcp: GcpKmsStandIn;
  const opened: MasterKeyProvider[] = [];
  const SERVER = 'ya29.server-' + randomBytes(8).toString('hex');
  const ADMIN = 'ya29.admin-' + randomBytes(8).toString('hex');
  const CI = 'ya29.ci-' + randomBytes(8).toString('hex');

  async function open(token: string, key = 0, extra = ''): Promise<MasterKeyProvider> {
    const p = await gcpKms(`gcp-kms:${gcp.names[key]}?endpoint=${gcp.url}${extra}`, { storeDir: dir, env: { GOOGLE_OAUTH_ACCESS_TOKEN: token } });
    opened.push(p);
    return p;
  }

  beforeAll(async () => {
    gcp = await startGcpKms({
      keys: 2,
      principals: [
        { token: SERVER, permissions: ['cloudkms.cryptoKeyVersions.useToDecrypt', 'cloudkms.cryptoKeys.get'] },
        { token: ADMIN, permissions: ['cloudkms.cryptoKeyVersions.useToEncrypt', 'cloudkms.cryptoKeyVersions.useToDecrypt'] },
        { token: CI, permissions: ['cloudkms.cryptoKeyVersions.useToEncrypt'] },
      ],
    });
  });
  afterAll(async () => {
    for (const p of opened) await p.close?.();
    await gcp.close();
  });

  it('wraps with encrypt and unwraps with decrypt, the aad as additionalAuthenticatedData', async () => {
    const admin = await open(ADMIN);
    const server = await open(SERVER);
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await admin.wrap(key, aadFor('m', 'k1'));
    expect(await server.unwrap(wrapped, aadFor('m', 'k1'))).toEqual(key);
    expect(server.uri).not.toContain(SERVER);
    expect(gcp.calls.map((c) => c.op)).toEqual(expect.arrayContaining(['encrypt', 'decrypt']));
  });

  it('binds the aad; another key or altered bytes: master_key_wrong', async () => {
    const admin = await open(ADMIN);
    const key = new Uint8Array(randomBytes(32));
    const wrapped = await admin.wrap(key, aadFor('m', 'k1'));
    const moved = await failure(admin.unwrap(wrapped, aadFor('other', 'k1')));
    expect(moved.code).toBe('master_key_wrong');
    expect(moved.message).toContain('Decryption failed');
    expectNoKeyBytes(moved.message, key, wrapped);
    const other = await open(ADMIN, 1);
    expect((await failure(other.unwrap(wrapped, aadFor('m', 'k1')))).code).toBe('master_key_wrong');
    expect(other.id).not.toBe(admin.id);
  });

  it('CI route: an encrypt-only caller seals a new version, the server unwraps it, the CI cannot decrypt an older one', async () => {
    const admin = await open(ADMIN);
    const ci = await open(CI);
    const server = await open(SERVER);
    const older = await admin.wrap(new Uint8Array(randomBytes(32)), aadFor('m', 'k1'));
    const made = await ci.generate!(aadFor('m', 'k2'));
    expect(await server.unwrap(made.wrapped, aadFor('m', 'k2'))).toEqual(made.key);
    const refused = await failure(ci.unwrap(older, aadFor('m', 'k1')));
    expect(refused.code).toBe('master_key_unavailable');
    expect(refused.message).toContain('cloudkms.cryptoKeyVersions.useToDecrypt');
    // google-auth's error object holds the request body: the provider must not pass it on.
    const secret = new Uint8Array(randomBytes(32));
    expectNoKeyBytes(await everythingInError(server.wrap(secret, aadFor('m', 'k3'))), secret);
  });

  it('?seal-only=true: generates, refuses to unwrap without asking Cloud KMS, and has no check()', async () => {
    const ci = await open(CI, 0, '&seal-only=true');
    expect(ci.sealOnly).toBe(true);
    expect(ci.check).toBeUndefined();
    const made = await ci.generate!(aadFor('m', 'k2'));
    expect(await (await open(SERVER)).unwrap(made.wrapped, aadFor('m', 'k2'))).toEqual(made.key);
    const before = gcp.calls.length;
    expect((await failure(ci.unwrap(made.wrapped, aadFor('m', 'k2')))).code).toBe('master_key_missing');
    expect(gcp.calls.length).toBe(before);
  });

  it('check() reads the key; 503 and a service that never answers: master_key_unavailable, bounded', async () => {
    const server = await open(SERVER, 0, '&timeout=400');
    await server.check!();
    gcp.mode = 'error';
    try {
      expect((await failure(server.check!())).code).toBe('master_key_unavailable');
    } finally {
      gcp.mode = 'ok';
    }
    gcp.mode = 'hang';
    try {
      const f = await failure(server.unwrap(new Uint8Array(64), aadFor('m', 'k1')));
      expect(f.code).toBe('master_key_unavailable');
      expect(f.message).toContain('no answer within 400 ms');
    } finally {
      gcp.mode = 'ok';
    }
    expect((await failure((await open('ya29.unknown')).check!())).code).toBe('master_key_unavailable');
  });

  it('a bad key name is config_invalid', async () => {
    expect((await failure(gcpKms('gcp-kms:projects/p/keyRings/r', { storeDir: dir, env: {} }))).code).toBe('config_invalid');
  });
});

describe('optional SDKs', () => {
  it('a package that is not installed gives missing_dependency naming it', async () => {
    const pkg = 'modelseal-test-not-installed-sdk';
    const f = await failure(importOptional(pkg, 'the test: master key', () => import(pkg)));
    expect(f.code).toBe('missing_dependency');
    expect(f.message).toContain(`npm install ${pkg}`);
    // Another missing module (a broken install) is not reported as this package missing.
    await expect(importOptional('some-other-package', 'x', () => import(pkg))).rejects.toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    expect(missingDependency('@aws-sdk/client-kms', 'the aws-kms: master key').message).toContain('npm install @aws-sdk/client-kms');
  });

  it('the compiled providers, run where the SDKs are not installed, say which package to install', async () => {
    // Copies dist's provider modules (they import only node:* and format/errors.js eagerly) into a
    // folder with no node_modules above it, so the SDK import really fails. Needs `npm run build`.
    const root = join(import.meta.dirname, '../..');
    const bare = await mkdtemp(join(tmpdir(), 'modelseal-nosdk-'));
    try {
      await mkdir(join(bare, 'format'), { recursive: true });
      await cp(join(root, 'dist/keystore/master'), join(bare, 'keystore/master'), { recursive: true });
      await cp(join(root, 'dist/format/errors.js'), join(bare, 'format/errors.js'));
      await writeFile(join(bare, 'package.json'), '{"type":"module"}');
      const script = `
        const out = {};
        for (const [file, uri] of [['aws-kms', 'aws-kms:arn:aws:kms:eu-west-1:111122223333:key/k'], ['gcp-kms', 'gcp-kms:projects/p-1234/locations/l/keyRings/r/cryptoKeys/k']]) {
          const m = await import('./keystore/master/' + file + '.js');
          try { await m.createMasterKey(uri, { storeDir: '.', env: {} }); out[file] = 'opened'; }
          catch (e) { out[file] = e.code + ': ' + e.message; }
        }
        console.log(JSON.stringify(out));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: bare, encoding: 'utf8' });
      expect(run.stderr).toBe('');
      const out = JSON.parse(run.stdout) as Record<string, string>;
      expect(out['aws-kms']).toMatch(/^missing_dependency: .*npm install @aws-sdk\/client-kms/);
      expect(out['gcp-kms']).toMatch(/^missing_dependency: .*npm install @google-cloud\/kms/);
    } finally {
      await rm(bare, { recursive: true, force: true });
    }
  });
});
