// Key server throughput: autocannon against the real server in a child process, releases next to
// /healthz of the same server (the baseline ratio), at concurrency 1, 16 and 64, with the server's
// ECDH key fresh per release (the default) and, opt-in, reused; then scale-out: one process, one
// process on Redis, and `modelseal serve --workers 2` on Redis (the built CLI, a real
// redis-server), at concurrency 16 and 64, as ratios against one process. Every run also reports
// CPU: the server's (all its processes and threads, from /proc) per request and in cores, and the
// load generator's (this process) in cores, so a run on a busy machine still says what a release
// costs. Last, an in-process breakdown of one release's steps (CPU µs) to say where the time goes.
// The bench sets generous limits for itself; the defaults stay safe. It asserts nothing.

import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { freePort } from '../test/keyserver/redis-server.js';
import { loadAverage } from './lib/machine.js';
import { FileKeyStore, createKeyServer, mintDevToken, resolveConfig } from '../keyserver/index.js';
import { SessionVerifier } from '../keyserver/session.js';
import { ServerEphemeralKeys, importClientKey, wrapContentKey } from '../keyserver/wrap.js';

interface CannonResult {
  requests: { average: number; total: number };
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

async function serveChild(dir: string, wrapAlgorithm: string, reuse: string): Promise<void> {
  const server = await createKeyServer({ store: dir, config: { ...BENCH_LIMITS, wrapAlgorithm, serverKeyReuseSeconds: Number(reuse) } as never });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${url}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

/** CPU ms (user + system) of a process and all its descendants, from /proc; undefined off Linux. */
async function treeCpuMs(root: number): Promise<number | undefined> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  const stats = new Map<number, { ppid: number; ms: number }>();
  const tick = 10; // USER_HZ is 100 on Linux
  await Promise.all(pids.map(async (pid) => {
    try {
      const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
      stats.set(Number(pid), { ppid: Number(f[1]), ms: (Number(f[11]) + Number(f[12])) * tick });
    } catch {
      // The process ended meanwhile.
    }
  }));
  if (!stats.has(root)) return undefined;
  let ms = 0;
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    ms += stats.get(pid)?.ms ?? 0;
    for (const [child, st] of stats) if (st.ppid === pid) todo.push(child);
  }
  return ms;
}

/** What a run cost: the server's CPU µs per request and cores, and this process's (the load generator's) cores. */
interface RunCost {
  serverUsPerReq: number | undefined;
  serverCores: number | undefined;
  loadCores: number;
}

function costText(c: RunCost): string {
  const f = (v: number | undefined, d: number) => (v === undefined ? '-' : v.toFixed(d));
  return `${f(c.serverUsPerReq, 0).padStart(7)}  ${f(c.serverCores, 2).padStart(5)}  ${c.loadCores.toFixed(2).padStart(5)}`;
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

async function startChild(dir: string, wrapAlgorithm: string, reuseSeconds: number): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const tsx = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, [fileURLToPath(import.meta.url), '--serve', dir, wrapAlgorithm, String(reuseSeconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return { ...(await servedBy(child, 'server child')), pid: child.pid! };
}

/** One autocannon run; with `serverPid`, also what it cost in CPU (RunCost). */
async function run(url: string, path: string, connections: number, body?: string, token?: string, serverPid?: number): Promise<CannonResult & { cost: RunCost }> {
  const opts: Record<string, unknown> = { url: `${url}${path}`, connections, duration: DURATION, pipelining: 1 };
  if (body) {
    opts['method'] = 'POST';
    opts['body'] = body;
    opts['headers'] = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  }
  const s0 = serverPid === undefined ? undefined : await treeCpuMs(serverPid);
  const l0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await autocannon(opts);
  const wallMs = performance.now() - t0;
  const l = process.cpuUsage(l0);
  const s1 = serverPid === undefined ? undefined : await treeCpuMs(serverPid);
  const serverMs = s0 === undefined || s1 === undefined ? undefined : s1 - s0;
  const cost: RunCost = {
    serverUsPerReq: serverMs === undefined ? undefined : (serverMs * 1000) / Math.max(1, r.requests.total),
    serverCores: serverMs === undefined ? undefined : serverMs / wallMs,
    loadCores: (l.user + l.system) / 1000 / wallMs,
  };
  return { ...r, cost };
}

/** Mean cost of `fn` run one at a time: CPU µs (this process, all threads: WebCrypto jobs run on the libuv pool) and wall µs. */
async function timeIt(n: number, fn: () => unknown): Promise<{ cpu: number; wall: number }> {
  for (let i = 0; i < Math.min(100, n); i++) await fn();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / n, wall: ((performance.now() - t0) / n) * 1000 };
}

async function breakdown(dir: string): Promise<void> {
  const { store } = await FileKeyStore.open(dir);
  const contentKey = (await store.active('bench'))!.key;
  const config = resolveConfig({});
  const sessions = await SessionVerifier.create(config.tokens, store);
  const token = await mintDevToken({ store, models: ['bench'], ttl: '1h' });
  const epk = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' })).publicKey);
  const x = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519' })).publicKey);
  const client = await importClientKey(epk);
  const clientX = await importClientKey(x);
  const header = { modelId: 'bench', keyId: 'k1', sealing: SEALING, exp: 0 };
  const reused = new ServerEphemeralKeys(60_000);
  const hmac = await crypto.subtle.importKey('raw', (await store.tokenSecret()) as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const n = 2000;
  const rows: [string, { cpu: number; wall: number }][] = [
    ['token: jose jwtVerify HS256 alone', await timeIt(n, () => jwtVerify(token, hmac, { algorithms: ['HS256'] }))],
    ['token: SessionVerifier.verify (+ claim checks)', await timeIt(n, () => sessions.verify(token))],
    ['epk: importClientKey P-256 (checks + raw import, on-curve check)', await timeIt(n, () => importClientKey(epk))],
    ['epk: importClientKey X25519 (checks + raw import)', await timeIt(n, () => importClientKey(x))],
    ['epk: RFC 7638 thumbprint (only for cnf.jkt tokens)', await timeIt(n, () => client.thumbprint())],
    ['JWE ECDH-ES+A256KW P-256, fresh server key (the loader\'s fallback)', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES+A256KW'))],
    ['JWE ECDH-ES+A256KW P-256, reused server key (opt-in)', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES+A256KW', reused))],
    ['JWE ECDH-ES (direct) P-256, fresh server key', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES'))],
    ['JWE ECDH-ES (direct) P-256, reused server key', await timeIt(n, () => wrapContentKey(contentKey, client, header, 'ECDH-ES', reused))],
    ['JWE ECDH-ES+A256KW X25519, fresh server key (default)', await timeIt(n, () => wrapContentKey(contentKey, clientX, header, 'ECDH-ES+A256KW'))],
    ['JWE ECDH-ES+A256KW X25519, reused server key', await timeIt(n, () => wrapContentKey(contentKey, clientX, header, 'ECDH-ES+A256KW', reused))],
    ['JWE ECDH-ES (direct) X25519, fresh server key', await timeIt(n, () => wrapContentKey(contentKey, clientX, header, 'ECDH-ES'))],
  ];
  // Reference: the raw primitives in node:crypto, without JOSE.
  const peer = createPublicKey({ key: epk as never, format: 'jwk' });
  rows.push(['reference: node:crypto P-256 keygen + ECDH', await timeIt(n, () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    diffieHellman({ privateKey, publicKey: peer });
  })]);
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const peerRaw = Buffer.concat([Buffer.from([4]), Buffer.from(epk.x!, 'base64url'), Buffer.from(epk.y!, 'base64url')]);
  rows.push(['reference: node:crypto ECDH computeSecret only', await timeIt(n, () => ecdh.computeSecret(peerRaw))]);
  console.log('\nper-step cost of a release (in process, one at a time; CPU µs counts every thread, wall µs the wait):');
  console.log(`  ${'step'.padEnd(66)} ${'CPU µs'.padStart(7)} ${'wall µs'.padStart(8)}`);
  for (const [name, t] of rows) console.log(`  ${name.padEnd(66)} ${t.cpu.toFixed(0).padStart(7)} ${t.wall.toFixed(0).padStart(8)}`);
}

/** `modelseal serve` from the built CLI (npm run bench builds first) with `args`; resolves its URL. */
async function startCli(args: string[], env: Record<string, string>): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  return { ...(await servedBy(child, 'serve')), pid: child.pid! };
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
    const results = new Map<string, Map<number, CannonResult & { cost: RunCost }>>();
    for (const [name, args] of modes) {
      const { url, pid, stop } = await startCli(['--store', storeDir, ...args], env);
      try {
        await run(url, '/v2/release', 16, body, token); // warm-up (JIT, Redis connections)
        const byConc = new Map<number, CannonResult & { cost: RunCost }>();
        for (const c of [16, 64]) byConc.set(c, await run(url, '/v2/release', c, body, token, pid));
        results.set(name, byConc);
      } finally {
        await stop();
      }
    }
    console.log(`\nscale-out (ECDH-ES+A256KW, X25519 epk, fresh server key, releasesPerToken counted), ${DURATION} s per run, 2 cores shared with the load generator and Redis`);
    console.log('  ratio: to 1 process (memory); on Redis: to 1 process on Redis. server µs/req and cores: all its processes and threads; load: the load generator');
    console.log('  mode                    conc  releases/s  ratio  on Redis  p50 ms  p99 ms  non-2xx  server µs/req  cores   load');
    for (const [name] of modes) {
      for (const c of [16, 64]) {
        const r = results.get(name)!.get(c)!;
        const base = results.get(modes[0]![0])!.get(c)!;
        const onRedis = name.includes('Redis') ? (r.requests.average / results.get(modes[1]![0])!.get(c)!.requests.average).toFixed(2) : '';
        console.log(`  ${name.padEnd(22)}  ${String(c).padStart(4)}  ${r.requests.average.toFixed(0).padStart(10)}  ${(r.requests.average / base.requests.average).toFixed(2).padStart(5)}  ${onRedis.padStart(8)}  ${String(r.latency.p50).padStart(6)}  ${String(r.latency.p99).padStart(6)}  ${String(r.non2xx + r.errors).padStart(7)}        ${costText(r.cost)}`);
      }
    }
  } finally {
    redis.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === '--serve') return serveChild(process.argv[3]!, process.argv[4]!, process.argv[5]!);
  const dir = await mkdtemp(join(tmpdir(), 'modelseal-bench-'));
  try {
    const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
    await store.rotate('bench');
    await store.publish('bench', 'k1', SEALING);
    const token = await mintDevToken({ store, models: ['bench'], ttl: '1h' });
    // X25519 is what the loader sends where WebCrypto has it (loader/release.ts); P-256 is its fallback.
    const epk = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'X25519' })).publicKey);
    const body = JSON.stringify({ modelId: 'bench', keyId: 'k1', sealing: SEALING, epk });
    const epkP = await exportJWK((await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' })).publicKey);
    const bodyP = JSON.stringify({ modelId: 'bench', keyId: 'k1', sealing: SEALING, epk: epkP });
    const load = await loadAverage();
    console.log(`load average before the runs: ${load} (other jobs on the machine lower every req/s; the CPU µs/req columns are steadier)`);
    // [wrapAlgorithm, serverKeyReuseSeconds, concurrencies]: the defaults in full, the opt-in reuse at 16 and 64.
    const servers: [string, number, number[]][] = [
      ['ECDH-ES+A256KW', 0, [1, 16, 64]],
      ['ECDH-ES', 0, [1, 16, 64]],
      ['ECDH-ES+A256KW', 10, [16, 64]],
    ];
    for (const [alg, reuse, concs] of servers) {
      const { url, pid, stop } = await startChild(store.dir, alg, reuse);
      try {
        await run(url, '/v2/release', 16, body, token); // warm-up (JIT)
        console.log(`\nkey server (${alg}, X25519 epk, server ECDH key ${reuse === 0 ? 'fresh per release (default)' : `reused for ${reuse} s (opt-in)`}), ${DURATION} s per run, server and load generator share 2 cores`);
        console.log('  conc  healthz req/s  release req/s  ratio   release p50 ms  p99 ms  non-2xx  server µs/release  cores   load');
        for (const c of concs) {
          const base = await run(url, '/healthz', c, undefined, undefined, pid);
          const rel = await run(url, '/v2/release', c, body, token, pid);
          const ratio = rel.requests.average / base.requests.average;
          console.log(`  ${String(c).padStart(4)}  ${base.requests.average.toFixed(0).padStart(13)}  ${rel.requests.average.toFixed(0).padStart(13)}  ${ratio.toFixed(3).padStart(5)}   ${String(rel.latency.p50).padStart(14)}  ${String(rel.latency.p99).padStart(6)}  ${String(rel.non2xx + rel.errors).padStart(7)}            ${costText(rel.cost)}`);
          if (c === 16) console.log(`        (healthz at 16: server ${costText(base.cost).trim().split(/ +/)[0]} µs/request: the HTTP and Fastify floor)`);
        }
        if (reuse !== 0) continue;
        // P-256 client keys (the loader's fallback) cost the server more than X25519 ones.
        const p256 = await run(url, '/v2/release', 16, bodyP, token, pid);
        console.log(`    16  P-256 epk:     ${p256.requests.average.toFixed(0).padStart(13)}                ${String(p256.latency.p50).padStart(14)}  ${String(p256.latency.p99).padStart(6)}  ${String(p256.non2xx + p256.errors).padStart(7)}            ${costText(p256.cost)}`);
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
