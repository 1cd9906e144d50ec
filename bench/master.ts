// Master-key providers: the file master key against the PKCS#11 one (a real SoftHSM2 token), in
// one run. (1) `modelseal seal` of a 50 MiB model through the built bin; (2) a cold release (every
// release a cache miss: masterKeyCacheSeconds 0, app.inject, no socket); (3) the steady-state
// release rate of `modelseal serve` with the default cache, autocannon at concurrency 16. Each is
// printed with its ratio HSM / file. It asserts nothing.

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { FileKeyStore, buildApp, mintDevToken, openMasterKey, resolveConfig } from '../keyserver/index.js';
import { createSoftHsmToken } from '../test/helpers/softhsm.js';
import { writeSyntheticModel } from '../test/cli/synthetic-model.js';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (opts: Record<string, unknown>) => Promise<CannonResult>;

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const BIN = join(ROOT, 'dist/cli/main.js');
const DURATION = Number(process.env['BENCH_SECONDS'] ?? 3);
const SEALING = 'q7aGJUSj8ivyZH4DLydOb1jdPYrEI-UUL0vwhDS0RHw';
const LIMITS = { logLevel: 'warn', auditLog: null, defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 1_000_000_000, ratePerAddress: 1_000_000_000 } } as const;

const root = await mkdtemp(join(tmpdir(), 'modelseal-bench-master-'));
const hsm = createSoftHsmToken(join(root, 'hsm'));
process.env['SOFTHSM2_CONF'] = hsm.conf;
const model = writeSyntheticModel(join(root, 'model'), 50 * 1024 * 1024);
const kinds = [
  { name: 'file', uri: undefined as string | undefined, env: {} as Record<string, string> },
  { name: 'pkcs11', uri: hsm.uri, env: { MODELSEAL_MASTER_KEY: hsm.uri } as Record<string, string> },
];

function line(what: string, file: number, other: number, unit: string, digits = 1): void {
  process.stdout.write(`${what.padEnd(44)} file ${file.toFixed(digits).padStart(9)} ${unit}   pkcs11 ${other.toFixed(digits).padStart(9)} ${unit}   ratio pkcs11/file ${(other / file).toFixed(3)}\n`);
}

try {
  // (1) seal 50 MiB: best of three per provider, runs interleaved so drift hits both.
  // BENCH_MASTER_SKIP_SEAL=1 skips it (to rerun only the release parts).
  const sealMs: Record<string, number> = { file: Infinity, pkcs11: Infinity };
  for (let round = 0; round < (process.env['BENCH_MASTER_SKIP_SEAL'] ? 0 : 3); round++) {
    for (const k of kinds) {
      const store = join(root, `seal-store-${k.name}`);
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [BIN, 'seal', model, '--out', join(root, `sealed-${k.name}-${round}`), '--model-id', 'm', '--store', store, '--new-key'], { env: { ...process.env, ...k.env, MODELSEAL_PROGRESS: 'off' }, encoding: 'utf8' });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`seal (${k.name}) failed: ${r.stderr}`);
      sealMs[k.name] = Math.min(sealMs[k.name]!, ms);
    }
  }
  if (Number.isFinite(sealMs['file'])) line('seal 50 MiB (bin, best of 3)', sealMs['file']!, sealMs['pkcs11']!, 'ms', 0);

  // Stores with one published key version each, for the release benchmarks.
  const stores: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  for (const k of kinds) {
    const dir = join(root, `release-store-${k.name}`);
    const master = k.uri === undefined ? undefined : await openMasterKey(k.uri, { storeDir: dir, env: process.env });
    const { store } = await FileKeyStore.open(dir, { create: true, ...(master ? { master } : {}) });
    const e = await store.rotate('face');
    await store.publish('face', e.record.keyId, SEALING);
    stores[k.name] = dir;
    tokens[k.name] = await mintDevToken({ store, models: ['*'], ttl: '1h' });
    await store.close();
  }
  const { publicKey } = await generateKeyPair('ECDH-ES+A256KW', { crv: 'P-256' });
  const body = JSON.stringify({ modelId: 'face', keyId: 'k1', sealing: SEALING, epk: await exportJWK(publicKey) });

  // (2) cold release: with no cache every release unwraps through the provider. Rounds alternate
  // between the providers and the best round counts, so load from other processes hits both alike.
  const N = 600;
  const apps = [];
  for (const k of kinds) {
    const master = k.uri === undefined ? undefined : await openMasterKey(k.uri, { storeDir: stores[k.name]!, env: process.env });
    const { store } = await FileKeyStore.open(stores[k.name]!, master ? { master } : {});
    const { app } = await buildApp({ config: resolveConfig({ ...LIMITS, masterKeyCacheSeconds: 0 }), store });
    const send = () => app.inject({ method: 'POST', url: '/v2/release', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[k.name]}` }, payload: body });
    for (let i = 0; i < 50; i++) await send();
    apps.push({ k, app, store, send });
  }
  // Small blocks, alternating, summed: load from other processes on this shared machine then
  // falls on both providers alike.
  const coldMs: Record<string, number> = { file: 0, pkcs11: 0 };
  const BLOCK = 25;
  for (let block = 0; block < N / BLOCK; block++) {
    for (const { k, send } of apps) {
      const t0 = performance.now();
      for (let i = 0; i < BLOCK; i++) {
        const r = await send();
        if (r.statusCode !== 200) throw new Error(`cold release (${k.name}) answered ${r.statusCode}: ${r.body}`);
      }
      coldMs[k.name]! += performance.now() - t0;
    }
  }
  const coldUs = { file: (coldMs['file']! * 1000) / N, pkcs11: (coldMs['pkcs11']! * 1000) / N };
  for (const { app, store } of apps) {
    await app.close();
    await store.close();
  }
  line(`cold release, cache off (inject, mean of ${N})`, coldUs.file, coldUs.pkcs11, 'µs', 0);

  // (3) steady state: `modelseal serve` (default 300 s cache) under autocannon, c16; both servers
  // run at once and 1-second runs alternate between them.
  const configFile = join(root, 'bench-config.json');
  await writeFile(configFile, JSON.stringify(LIMITS));
  const servers = [];
  for (const k of kinds) {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--store', stores[k.name]!, '--config', configFile], { env: { ...process.env, ...k.env, MODELSEAL_LOG_LEVEL: 'warn', MODELSEAL_AUDIT_LOG: 'off' }, stdio: ['ignore', 'pipe', 'ignore'] });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(out.trim());
      });
      child.once('exit', (code) => reject(new Error(`serve (${k.name}) exited with ${code}`)));
    });
    servers.push({ k, child, url });
  }
  // The server process's own CPU time per release: steadier than the rate when other jobs share the cores.
  const cpuMs = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * (1000 / 100);
  };
  const cpuUsed: Record<string, number> = { file: 0, pkcs11: 0 };
  const done: Record<string, number> = { file: 0, pkcs11: 0 };
  const p99: Record<string, number[]> = { file: [], pkcs11: [] };
  const SLICES = Math.max(2, DURATION * 2);
  for (let slice = -1; slice < SLICES; slice++) {
    // The order flips every slice, so neither server always runs right after the other.
    for (const { k, url, child } of slice % 2 === 0 ? servers : [...servers].reverse()) {
      const opts = { url: `${url}/v2/release`, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[k.name]}` }, body, connections: 16, duration: 1 };
      const cpu0 = cpuMs(child.pid!);
      const r = await autocannon(opts);
      const cpu = cpuMs(child.pid!) - cpu0;
      if (r.non2xx > 0) throw new Error(`${r.non2xx} non-2xx answers from the ${k.name} server`);
      // Slice -1 warms both servers up and is not counted.
      if (slice < 0) continue;
      done[k.name]! += r.requests.average;
      cpuUsed[k.name]! += cpu;
      p99[k.name]!.push(r.latency.p99);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const rate = { file: done['file']! / SLICES, pkcs11: done['pkcs11']! / SLICES };
  for (const { child } of servers) {
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
  line(`steady release rate, cache on (serve, c16, ${SLICES}×1 s)`, rate.file, rate.pkcs11, 'req/s', 0);
  line('server CPU per steady release (utime+stime)', (cpuUsed['file']! * 1000) / done['file']!, (cpuUsed['pkcs11']! * 1000) / done['pkcs11']!, 'µs', 0);
  line('steady release p99, cache on (median slice)', median(p99['file']!), median(p99['pkcs11']!), 'ms', 1);
} finally {
  await rm(root, { recursive: true, force: true });
}
