// Key server throughput: autocannon against the real server in a child process, releases next to
// /healthz of the same server (the baseline ratio), at concurrency 1, 16 and 64; then scale-out:
// one process, one process on Redis, and `modelseal serve --workers 2` on Redis (the built CLI, a
// real redis-server), at concurrency 16 and 64, as ratios against one process; then an in-process
// breakdown of one release's work (token check, epk import, JWE) to say where the time goes.
// The bench sets generous limits for itself; the defaults stay safe. It asserts nothing.

import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { freePort } from '../test/keyserver/redis-server.js';
import { FileKeyStore, ServerEphemeralKeys, SessionVerifier, createKeyServer, importClientKey, mintDevToken, resolveConfig, wrapContentKey } from '../keyserver/index.js';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const DURATION = Number(process.env['BENCH_SECONDS'] ?? 3);
const SEALING = 'q7aGJUSj8ivyZH4DLydOb1jdPYrEI-UUL0vwhDS0RHw';
const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const BENCH_LIMITS = {
  logLevel: 'warn',
  reloadIntervalMs: 2000,
  defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 1_000_000_000, ratePerAddress: 1_000_000_000 },
};

async function serveChild(dir: string, wrapAlgorithm: string): Promise<void> {
  const server = await createKeyServer({ store: dir, config: { ...BENCH_LIMITS, wrapAlgorithm } as never });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${url}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

/** The URL a server child prints as its first stdout line, and a stop that sends SIGTERM and waits. */
async function servedBy(child: ChildProcessByStdio<null, Readable, null>, what: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
  const stop = () => new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
  return { url, stop };
}

async function startChild(dir: string, wrapAlgorithm: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const tsx = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [fileURLToPath(import.meta.url), '--serve', dir, wrapAlgorithm], { stdio: ['ignore', 'pipe', 'inherit'] });
  return servedBy(child, 'server child');
}

async function run(url: string, path: string, connections: number, body?: string, token?: string): Promise<CannonResult> {
  const opts: Record<string, unknown> = { url: `${url}${path}`, connections, duration: DURATION, pipelining: 1 };
  if (body) {
    opts['method'] = 'POST';
    opts['body'] = body;
    opts['headers'] = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  }
  return autocannon(opts);
}

function timeIt(n: number, fn: () => unknown): Promise<number> {
  return (async () => {
    for (let i = 0; i < Math.min(50, n); i++) await fn();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn();
    return ((performance.now() - t0) / n) * 1000;
  })();
}

async function breakdown(dir: string): Promise<void> {
  const { store } = await FileKeyStore.open(dir);
  const contentKey = (await store.active('bench'))!.key;
  const config = resolveConfig({});
  const sessions = await SessionVerifier.create(config.tokens, store);
  const token = await mintDevToken({ store, models: ['bench'], ttl: '1h' });
  const epk = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' })).publicKey);
  const x = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519' })).publicKey);
  const client = await importClientKey(epk, 'ECDH-ES+A256KW');
  const clientX = await importClientKey(x, 'ECDH-ES+A256KW');
  const header = { modelId: 'bench', keyId: 'k1', sealing: SEALING, exp: 0 };
  const reused = new ServerEphemeralKeys(60_000);
  const n = 2000;
  const rows: [string, number][] = [
    ['jwtVerify HS256 (token check)', await timeIt(n, () => sessions.verify(token))],
    ['importClientKey P-256 (checks + WebCrypto JWK import)', await timeIt(n, () => importClientKey(epk, 'ECDH-ES+A256KW'))],
    ['RFC 7638 thumbprint (only for cnf.jkt tokens)', await timeIt(n, () => client.thumbprint())],
    ['jose JWE ECDH-ES+A256KW P-256, fresh server key', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES+A256KW'))],
    ['jose JWE ECDH-ES+A256KW P-256, reused server key', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES+A256KW', reused))],
    ['jose JWE ECDH-ES (direct) P-256, reused server key', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES', reused))],
    ['jose JWE ECDH-ES+A256KW X25519, reused server key', await timeIt(n, () => wrapContentKey(contentKey, clientX, header, 'ECDH-ES+A256KW', reused))],
  ];
  // Reference: the raw primitives in node:crypto, without JOSE.
  const peer = createPublicKey({ key: epk as never, format: 'jwk' });
  rows.push(['node:crypto P-256 keygen + ECDH (reference)', await timeIt(n, () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    diffieHellman({ privateKey, publicKey: peer });
  })]);
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const peerRaw = Buffer.concat([Buffer.from([4]), Buffer.from(epk.x!, 'base64url'), Buffer.from(epk.y!, 'base64url')]);
  rows.push(['node:crypto ECDH computeSecret only (reference)', await timeIt(n, () => ecdh.computeSecret(peerRaw))]);
  console.log('\nper-operation cost (µs, in process, one at a time):');
  for (const [name, us] of rows) console.log(`  ${name.padEnd(50)} ${us.toFixed(1).padStart(8)}`);
}

/** `modelseal serve` from the built CLI (npm run bench builds first) with `args`; resolves its URL. */
async function startCli(args: string[], env: Record<string, string>): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return servedBy(child, 'serve');
}

/** One process, one process on Redis, two workers on Redis: releases/s, p50 and p99, ratios to one process. */
async function scaleOut(dir: string, storeDir: string, body: string, token: string): Promise<void> {
  if (spawnSync('redis-server', ['--version']).error) {
    console.log('\nscale-out: skipped (no redis-server; scripts/setup.sh installs it)');
    return;
  }
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const configFile = join(dir, 'bench-scale.json');
    // A cap that is never reached, so every release also takes the per-token count (INCR on Redis).
    await writeFile(configFile, JSON.stringify({ ...BENCH_LIMITS, auditLog: null, defaults: { ...BENCH_LIMITS.defaults, releasesPerToken: 1_000_000_000 } }));
    const env = { MODELSEAL_CONFIG: configFile };
    const redisUrl = `redis://127.0.0.1:${port}`;
    const modes: [string, string[]][] = [
      ['1 process (memory)', []],
      ['1 process on Redis', ['--redis', redisUrl]],
      ['--workers 2 on Redis', ['--redis', redisUrl, '--workers', '2']],
    ];
    const results = new Map<string, Map<number, CannonResult>>();
    for (const [name, args] of modes) {
      const { url, stop } = await startCli(['--store', storeDir, ...args], env);
      try {
        await run(url, '/v2/release', 16, body, token); // warm-up (JIT, Redis connections)
        const byConc = new Map<number, CannonResult>();
        for (const c of [16, 64]) byConc.set(c, await run(url, '/v2/release', c, body, token));
        results.set(name, byConc);
      } finally {
        await stop();
      }
    }
    console.log(`\nscale-out (ECDH-ES+A256KW, P-256 epk, releasesPerToken counted), ${DURATION} s per run, 2 cores shared with the load generator and Redis`);
    console.log('  mode                    conc  releases/s  ratio   p50 ms  p99 ms  non-2xx');
    for (const [name] of modes) {
      for (const c of [16, 64]) {
        const r = results.get(name)!.get(c)!;
        const base = results.get(modes[0]![0])!.get(c)!;
        console.log(`  ${name.padEnd(22)}  ${String(c).padStart(4)}  ${r.requests.average.toFixed(0).padStart(10)}  ${(r.requests.average / base.requests.average).toFixed(2).padStart(5)}  ${String(r.latency.p50).padStart(7)}  ${String(r.latency.p99).padStart(6)}  ${r.non2xx + r.errors}`);
      }
    }
  } finally {
    redis.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serveChild(process.argv[3]!, process.argv[4]!);
  const dir = await mkdtemp(join(tmpdir(), 'modelseal-bench-'));
  try {
    const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
    await store.rotate('bench');
    await store.publish('bench', 'k1', SEALING);
    const token = await mintDevToken({ store, models: ['bench'], ttl: '1h' });
    const epk = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' })).publicKey);
    const body = JSON.stringify({ modelId: 'bench', keyId: 'k1', sealing: SEALING, epk });
    const epkX = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519' })).publicKey);
    const bodyX = JSON.stringify({ modelId: 'bench', keyId: 'k1', sealing: SEALING, epk: epkX });
    for (const alg of ['ECDH-ES+A256KW', 'ECDH-ES']) {
      const { url, stop } = await startChild(store.dir, alg);
      try {
        console.log(`\nkey server (${alg}, P-256 epk), ${DURATION} s per run, server and load generator share 2 cores`);
        console.log('  conc  healthz req/s  release req/s  ratio   release p50 ms  p99 ms  non-2xx');
        for (const c of [1, 16, 64]) {
          const base = await run(url, '/healthz', c);
          const rel = await run(url, '/v2/release', c, body, token);
          const ratio = rel.requests.average / base.requests.average;
          console.log(`  ${String(c).padStart(4)}  ${base.requests.average.toFixed(0).padStart(13)}  ${rel.requests.average.toFixed(0).padStart(13)}  ${ratio.toFixed(3).padStart(5)}   ${String(rel.latency.p50).padStart(14)}  ${String(rel.latency.p99).padStart(6)}  ${rel.non2xx + rel.errors}`);
        }
        // X25519 client keys cost the server less than P-256 ones.
        const x = await run(url, '/v2/release', 16, bodyX, token);
        console.log(`    16  X25519 epk:    ${x.requests.average.toFixed(0).padStart(13)}                ${String(x.latency.p50).padStart(14)}  ${String(x.latency.p99).padStart(6)}  ${x.non2xx + x.errors}`);
      } finally {
        await stop();
      }
    }
    await scaleOut(dir, store.dir, body, token);
    await breakdown(store.dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
