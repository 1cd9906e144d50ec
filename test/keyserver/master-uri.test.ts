// Master keys by URI without an HSM: scheme dispatch and its errors, redaction, RFC 7512 parsing,
// the file master key (byte-compatible with stores made before URIs), the sealing key whose public
// half wraps but never unwraps, the config setting, and a missing pkcs11js binding.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore, openMasterKey, resolveConfig } from '../../keyserver/index.js';
import { configFromEnv } from '../../keyserver/config.js';
import { redactUri } from '../../keystore/master/index.js';
import { writeSealingKeyPair } from '../../keystore/master/file.js';
import { parsePkcs11Uri } from '../../keystore/master/pkcs11.js';
import { ROOT } from '../cli/helpers.js';
import { caughtModelsealError as failure } from '../helpers/expect-code.js';

let root: string;
const ctx = () => ({ storeDir: root, env: {} as Record<string, string | undefined> });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelseal-master-uri-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});


describe('openMasterKey', () => {
  it('refuses empty, scheme-less and unknown URIs with config_invalid naming the known schemes', async () => {
    for (const uri of ['', 'master.key', 'kms:abc', 'file :x', 'file:a\nb']) {
      const e = await failure(openMasterKey(uri, ctx()));
      expect(e.code).toBe('config_invalid');
    }
    expect((await failure(openMasterKey('kms:abc', ctx()))).message).toContain('unknown scheme "kms"');
    expect((await failure(openMasterKey('kms:abc', ctx()))).message).toContain('file:, pkcs11:, aws-kms:, vault-transit:, gcp-kms:');
  });

  it('cloud schemes reach their providers (loaded on first use), which keep secrets out of uri', async () => {
    const aws = await openMasterKey('aws-kms:arn:aws:kms:eu-west-1:111122223333:key/abc?region=eu-west-1', ctx());
    expect(aws.uri).toMatch(/^aws-kms:arn:aws:kms:eu-west-1:111122223333:key\/abc/);
    expect(aws.id).toMatch(/^[0-9a-f]{16}$/);
    const vault = await openMasterKey('vault-transit:transit/modelseal?address=http://127.0.0.1:1', { storeDir: root, env: { VAULT_TOKEN: 'hvs.not-shown' } });
    expect(vault.uri).toMatch(/^vault-transit:transit\/modelseal/);
    expect(vault.uri).not.toContain('hvs.not-shown');
    expect(vault.id).not.toBe(aws.id);
    await aws.close?.();
    await vault.close?.();
  });

  it('file: opens the same key as the store default, and a missing file is master_key_missing', async () => {
    const dir = join(root, 'compat');
    const { store } = await FileKeyStore.open(dir, { create: true });
    const k = await store.rotate('m');
    const viaUri = await openMasterKey('file:master.key', { storeDir: dir, env: {} });
    expect(viaUri.id).toBe(store.master.id);
    const { store: again } = await FileKeyStore.open(dir, { master: await openMasterKey(`file:${join(dir, 'master.key')}`, ctx()) });
    expect((await again.get('m', 'k1'))!.key).toEqual(k.key);
    const e = await failure(openMasterKey('file:nothing-here.key', ctx()));
    expect(e.code).toBe('master_key_missing');
    expect(e.message).toContain(join(root, 'nothing-here.key'));
    writeFileSync(join(root, 'damaged.key'), 'modelseal-master-key/1:short\n');
    expect((await failure(openMasterKey('file:damaged.key', ctx()))).code).toBe('master_key_wrong');
  });

  it('a store made before master keys were URIs keeps opening (the id formula is unchanged)', async () => {
    // A master key and keys.json as modelseal 0.1 wrote them: id = sha256("modelseal master key id\0" ‖ raw)[0..16].
    const dir = join(root, 'legacy');
    await FileKeyStore.open(dir, { create: true });
    const raw = Buffer.from(readFileSync(join(dir, 'master.key'), 'utf8').trim().slice('modelseal-master-key/1:'.length), 'base64url');
    const { createHash } = await import('node:crypto');
    const { store } = await FileKeyStore.open(dir);
    expect(store.master.id).toBe(createHash('sha256').update('modelseal master key id\0').update(raw).digest('hex').slice(0, 16));
  });
});

describe('the sealing key (CI route)', () => {
  it('both halves share one id; the public half wraps and generates, only the private half unwraps', async () => {
    const priv = join(root, 'seal.jwk');
    const pub = join(root, 'seal.pub.jwk');
    const { id } = await writeSealingKeyPair(priv, pub);
    expect(readFileSync(pub, 'utf8')).not.toContain('"d"');
    const server = await openMasterKey(`file:${priv}`, ctx());
    const ci = await openMasterKey('file:seal.pub.jwk', ctx());
    expect(server.id).toBe(id);
    expect(ci.id).toBe(id);
    expect(ci.sealOnly).toBe(true);
    expect(server.sealOnly).toBe(false);
    const aad = new TextEncoder().encode('modelseal-keystore/1\0face\0k9');
    const made = await ci.generate!(aad);
    expect(made.key.length).toBe(32);
    expect(await server.unwrap(made.wrapped, aad)).toEqual(made.key);
    const e = await failure(ci.unwrap(made.wrapped, aad));
    expect(e.code).toBe('master_key_missing');
    expect(e.message).toContain('public half of a sealing key');
    // The wrapped key is bound to its key version.
    expect((await failure(server.unwrap(made.wrapped, new TextEncoder().encode('modelseal-keystore/1\0face\0k1')))).code).toBe('master_key_wrong');
    // And refuses to be replaced.
    expect((await failure(writeSealingKeyPair(priv, join(root, 'other.pub.jwk')))).code).toBe('output_exists');
  });
});

describe('PKCS#11 URIs (RFC 7512)', () => {
  it('parses path and query attributes with percent-encoding, id as bytes', () => {
    const u = parsePkcs11Uri('pkcs11:token=My%20Token;object=master;id=%01%ff;type=secret-key?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin');
    expect(u.path).toEqual({ token: 'My Token', object: 'master', id: '01ff', type: 'secret-key' });
    expect(u.query).toEqual({ 'module-path': '/usr/lib/softhsm/libsofthsm2.so', 'pin-source': 'file:/run/pin' });
  });

  it('refuses a PIN in the URI, unknown or repeated attributes, no key name, a wrong type, a slot-id that is no number, a pin-source that is no file', () => {
    const cases: Array<[string, string]> = [
      ['pkcs11:token=a;object=m?pin-value=1234', 'never put the PIN in the URI'],
      ['pkcs11:token=a;objekt=m', 'unknown path attribute "objekt"'],
      ['pkcs11:token=a;object=m;object=n', 'appears twice'],
      ['pkcs11:token=a', 'name the AES key with object=<label> or id=<id>'],
      ['pkcs11:token=a;object=m;type=private', 'type=secret-key'],
      ['pkcs11:token=a;object=m%zz', 'bad percent-encoding'],
      ['pkcs11:token=a;object=m;slot-id=abc', 'slot-id=abc is not a slot number'],
      ['pkcs11:token=a;object=m?pin-source=https://x/pin', 'pin-source=https://x/pin: only a file is read'],
    ];
    for (const [uri, text] of cases) {
      let err: { code: string; message: string } | undefined;
      try {
        parsePkcs11Uri(uri);
      } catch (e) {
        err = e as { code: string; message: string };
      }
      expect(err?.code, uri).toBe('config_invalid');
      expect(err?.message, uri).toContain(text);
      expect(err?.message, uri).not.toContain('1234');
    }
  });

  it('a missing module path or PIN is config_invalid before anything loads', async () => {
    const noModule = await failure(openMasterKey('pkcs11:token=a;object=m?pin-source=file:/run/pin', ctx()));
    expect(noModule.code).toBe('config_invalid');
    expect(noModule.message).toContain('module-path=');
    const noPin = await failure(openMasterKey('pkcs11:token=a;object=m?module-path=/usr/lib/softhsm/libsofthsm2.so', ctx()));
    expect(noPin.code).toBe('config_invalid');
    expect(noPin.message).toContain('MODELSEAL_PKCS11_PIN');
  });

  it('without the pkcs11js package, a pkcs11: URI is missing_dependency naming the package', () => {
    // A resolve hook hides pkcs11js, as on a machine where it was never installed.
    const hook = `data:text/javascript,${encodeURIComponent("export async function resolve(s, c, next) { if (s === 'pkcs11js') { const e = new Error(\"Cannot find package 'pkcs11js'\"); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; } return next(s, c); }")}`;
    const register = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(hook)});`)}`;
    const script = `import { openMasterKey } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/keyserver/index.js')).href)};
      openMasterKey('pkcs11:token=a;object=m?module-path=/usr/lib/softhsm/libsofthsm2.so', { storeDir: '/tmp', env: { MODELSEAL_PKCS11_PIN: 'x' } })
        .then(() => console.log('opened'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', script], { encoding: 'utf8' });
    const out = JSON.parse(r.stdout.trim()) as { code: string; message: string };
    expect(out.code).toBe('missing_dependency');
    expect(out.message).toContain('npm install pkcs11js');
  });
});

describe('redactUri and the masterKey setting', () => {
  it('removes PINs, tokens and userinfo, keeps the rest', () => {
    expect(redactUri('pkcs11:token=a;object=m?pin-value=1234&module-path=/x.so')).toBe('pkcs11:token=a;object=m?pin-value=REDACTED&module-path=/x.so');
    expect(redactUri('vault-transit://user:pw@vault.internal:8200/transit/keys/m?token=s.abc')).toBe('vault-transit://REDACTED@vault.internal:8200/transit/keys/m?token=REDACTED');
    expect(redactUri('file:/etc/modelseal/master.key')).toBe('file:/etc/modelseal/master.key');
    // In a PKCS#11 URI `token` is the token's label, not a secret.
    expect(redactUri('pkcs11:object=m;token=prod?module-path=/x.so&pin-value=9')).toBe('pkcs11:object=m;token=prod?module-path=/x.so&pin-value=REDACTED');
  });

  it('masterKey comes from the config file, MODELSEAL_MASTER_KEY or a flag, and is checked', () => {
    expect(resolveConfig({}).masterKey).toBeUndefined();
    expect(resolveConfig({}).masterKeyCacheSeconds).toBe(300);
    expect(resolveConfig(configFromEnv({ MODELSEAL_MASTER_KEY: 'file:/k', MODELSEAL_MASTER_KEY_CACHE_SECONDS: '30' }))).toMatchObject({ masterKey: 'file:/k', masterKeyCacheSeconds: 30 });
    expect(() => resolveConfig({ masterKey: 'hsm:1' })).toThrow(/config masterKey: .*unknown scheme "hsm"/);
    expect(() => resolveConfig({ masterKey: 7 })).toThrow(/config masterKey: must be a master key URI/);
    expect(() => resolveConfig({ masterKeyCacheSeconds: -1 })).toThrow(/masterKeyCacheSeconds: must be an integer from 0 to 86400/);
  });
});
