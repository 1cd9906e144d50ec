// Configuration (file < environment < flags, validated at start) and the two CLI commands:
// `modelseal token` and `modelseal serve` (URL on stdout, SIGHUP reload, graceful SIGTERM).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { DEFAULT_CONFIG, FileKeyStore, createKeyServer, loadConfig, resolveConfig, WIRE_ERRORS } from '../../keyserver/index.js';
import { isModelsealError } from '../../format/index.js';
import { request } from 'node:http';
import { ROOT, run, serveBin } from '../helpers/bin.js';
import { clientKey, release, rotatePublished, TEST_SEALING, until } from './helpers.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isModelsealError(err, 'config_invalid')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected config_invalid');
}

describe('config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelseal-cfg-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('precedence: defaults < file < MODELSEAL_* environment < flags', async () => {
    const file = join(dir, 'c.json');
    await writeFile(file, JSON.stringify({ port: 1001, host: '0.0.0.0', bodyLimit: 4096, models: { face: { releasesPerToken: 3 } } }));
    expect(loadConfig({ env: {} }).port).toBe(DEFAULT_CONFIG.port);
    const fromFile = loadConfig({ file, env: {} });
    expect(fromFile).toMatchObject({ port: 1001, host: '0.0.0.0', bodyLimit: 4096 });
    expect(fromFile.models['face']).toEqual({ releasesPerToken: 3 });
    const fromEnv = loadConfig({ file, env: { MODELSEAL_PORT: '2002', MODELSEAL_TRUST_PROXY: '10.0.0.0/8,127.0.0.1', MODELSEAL_TOKEN_AUDIENCE: 'a,b' } });
    expect(fromEnv).toMatchObject({ port: 2002, host: '0.0.0.0', trustProxy: ['10.0.0.0/8', '127.0.0.1'] });
    expect(fromEnv.tokens.audience).toEqual(['a', 'b']);
    expect(loadConfig({ file, env: { MODELSEAL_PORT: '2002' }, flags: { port: 3003 } }).port).toBe(3003);
    // MODELSEAL_CONFIG names the file when --config is absent.
    expect(loadConfig({ env: { MODELSEAL_CONFIG: file } }).port).toBe(1001);
    // A file an editor saved with a byte order mark reads the same.
    const bom = join(dir, 'bom.json');
    await writeFile(bom, `\uFEFF${JSON.stringify({ port: 1004 })}`);
    expect(loadConfig({ file: bom, env: {} }).port).toBe(1004);
  });

  it('bad values are config_invalid naming the setting', () => {
    expect(configError(() => resolveConfig({ port: 70000 }))).toContain('port');
    expect(configError(() => resolveConfig({ prot: 1 }))).toContain('unknown setting');
    expect(configError(() => resolveConfig({ models: { face: { origins: ['https://a.example/'] } } }))).toContain('not an origin');
    expect(configError(() => resolveConfig({ models: { face: { limit: 1 } } }))).toContain('unknown setting');
    expect(configError(() => resolveConfig({ tokens: { keys: [{ type: 'store-secret', algorithms: ['none'] }] } }))).toContain('"none" is not allowed');
    expect(configError(() => resolveConfig({ tokens: { keys: [{ type: 'jwks-file', path: 'x.json', algorithms: ['HS256'] }] } }))).toContain('never HS');
    expect(configError(() => resolveConfig({ tokens: { keys: [{ type: 'secret', secret: 'x', algorithms: ['EdDSA'] }] } }))).toContain('HS256');
    expect(configError(() => resolveConfig({ tokens: { keys: [{ type: 'jwks-url', url: 'http://idp.example/jwks' }] } }))).toContain('https');
    expect(configError(() => resolveConfig({ tokens: { clockSkewSeconds: 3600 } }))).toContain('clockSkewSeconds');
    expect(configError(() => resolveConfig({ ipv6PrefixLength: 129 }))).toContain('ipv6PrefixLength');
    expect(configError(() => resolveConfig({ requestTimeoutMs: 1000, headersTimeoutMs: 2000 }))).toContain('must not exceed requestTimeoutMs');
    expect(configError(() => resolveConfig({ maxConnections: 0 }))).toContain('maxConnections');
    expect(configError(() => resolveConfig({ auditFieldMaxLength: 8 }))).toContain('auditFieldMaxLength');
    expect(configError(() => resolveConfig({ auditUnverifiedPerAddress: -1 }))).toContain('auditUnverifiedPerAddress');
    expect(configError(() => loadConfig({ env: { MODELSEAL_PORT: 'eighty' } }))).toContain('MODELSEAL_PORT');
    expect(configError(() => loadConfig({ file: join(dir, 'missing.json'), env: {} }))).toContain('missing.json');
  });

  it('a JWKS file that is missing fails at start, not at the first request', async () => {
    const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
    await expect(createKeyServer({ store, config: { logLevel: 'silent', auditLog: null, tokens: { keys: [{ type: 'jwks-file', path: join(dir, 'nope.json') }] } } })).rejects.toMatchObject({ code: 'config_invalid', message: expect.stringContaining('nope.json') });
  });

  it('every wire error code is documented in docs/PROTOCOL.md', async () => {
    const doc = await readFile(join(ROOT, 'docs/PROTOCOL.md'), 'utf8');
    for (const [code, { status }] of Object.entries(WIRE_ERRORS)) {
      expect(doc, code).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    }
  });
});

describe('CLI: token and serve', () => {
  let dir: string;
  let store: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelseal-serve-'));
    store = join(dir, 'store');
    await rotatePublished((await FileKeyStore.open(store, { create: true })).store, 'face');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], env: Record<string, string> = {}) => run(args, { env });

  it('token prints a JWT with the models, sub, jkt and ttl asked for', () => {
    const jkt = 'A'.repeat(43);
    const r = cli(['token', '--model', 'face', '--model', 'hand-*', '--ttl', '90s', '--sub', 'alice', '--jkt', jkt, '--store', store]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const claims = decodeJwt(r.stdout.trim());
    expect(claims).toMatchObject({ models: ['face', 'hand-*'], sub: 'alice', cnf: { jkt }, iss: 'modelseal-dev', aud: 'modelseal' });
    expect(claims.exp! - claims.iat!).toBe(90);
    expect(typeof claims.jti).toBe('string');
  });

  it('token: bad options are usage errors (exit 2)', () => {
    const bad = cli(['token', '--model', 'face', '--ttl', 'soon', '--store', store]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--ttl');
    const none = cli(['token', '--store', store]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--model');
    // Tokens every key server refuses: a sub outside 1–256 characters, a jkt no SHA-256 digest spells.
    for (const args of [['--sub', ''], ['--sub', 'x'.repeat(257)], ['--jkt', `${'A'.repeat(42)}B`]]) {
      const r = cli(['token', '--model', 'face', ...args, '--store', store]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`option '${args[0]} `);
    }
    // Longer than the default server takes: minted, with a note.
    const long = cli(['token', '--model', 'face', '--ttl', '2d', '--store', store]);
    expect(long.code).toBe(0);
    expect(long.stderr).toContain('modelseal: a token that lives longer than 24 h is refused by a key server at its default tokens.maxLifetimeSeconds (86400); this one lives 48 h');
  });

  it('serve: a bad config file or environment exits 2 with config_invalid', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ defaults: { releasesPerToken: -1 } }));
    const r = cli(['serve', '--config', file, '--store', store]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [config_invalid]');
    expect(r.stderr).toContain('defaults.releasesPerToken');
    const e = cli(['serve', '--store', store], { MODELSEAL_TRUST_PROXY: '' , MODELSEAL_BODY_LIMIT: '12' });
    expect(e.code).toBe(2);
    expect(e.stderr).toContain('bodyLimit');
  });

  it('serve: prints the URL, releases to a CLI token, reloads on SIGHUP, drains and flushes on SIGTERM', async () => {
    const { child, url, stderr: output, exited } = await serveBin(['--store', store], { env: { MODELSEAL_RELOAD_INTERVAL_MS: '0' } });
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const token = cli(['token', '--model', 'face', '--sub', 'cli-user', '--store', store]).stdout.trim();
      const r = await release(url, token);
      expect(r.status).toBe(200);
      const stored = (await (await FileKeyStore.open(store)).store.get('face', 'k1'))!.key;
      expect(Buffer.from(r.key!).equals(Buffer.from(stored))).toBe(true);

      await (await FileKeyStore.open(store)).store.revoke('face', 'k1');
      child.kill('SIGHUP');
      await until(() => output().includes('keystore reloaded'));
      expect((await release(url, token)).json.error.code).toBe('key_revoked');

      // A request in flight when SIGTERM arrives (half its body sent) still gets its answer.
      const { publicJwk } = await clientKey();
      const body = JSON.stringify({ modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk: publicJwk });
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(`${url}/v2/release`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), authorization: `Bearer ${token}` } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.write(body.slice(0, 20));
        req.once('socket', (sock) =>
          sock.once('connect', () =>
            setTimeout(() => {
              child.kill('SIGTERM');
              setTimeout(() => req.end(body.slice(20)), 300);
            }, 200),
          ),
        );
      });
      const inflight = await answer;
      expect(inflight.status).toBe(403);
      expect(JSON.parse(inflight.text).error.code).toBe('key_revoked');
      expect(await exited).toBe(0);
      expect(output()).toContain('SIGTERM: stopping');
      const audit = (await readFile(join(store, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(audit.some((l) => l.sub === 'cli-user' && l.outcome === 'release')).toBe(true);
      expect(audit.filter((l) => l.reason === 'key_revoked').length).toBe(2);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
