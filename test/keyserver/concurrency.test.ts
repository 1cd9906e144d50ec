// The embedded keystore shared by processes: two CLI-side writers rotate and revoke in a loop while
// the server reads and releases. No corrupt read, no failed reload, no lost write.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { FileKeyStore, createKeyServer, mintDevToken, type KeyServer } from '../../keyserver/index.js';
import { RELAXED, TEST_SEALING, release, startFixture, type Fixture } from './helpers.js';

const ROOT = join(import.meta.dirname, '../..');
const ROUNDS = 25;

// A writer process: rotates its own model and a shared one, revoking the older versions as it goes.
const WRITER = `
const { FileKeyStore } = await import(${JSON.stringify(join(ROOT, 'dist/keyserver/index.js'))});
const [dir, name, rounds] = process.argv.slice(1);
const { store } = await FileKeyStore.open(dir);
for (let i = 0; i < Number(rounds); i++) {
  const own = await store.rotate(name);
  await store.publish(name, own.record.keyId, ${JSON.stringify(TEST_SEALING)});
  const shared = await store.rotate('shared');
  await store.publish('shared', shared.record.keyId, ${JSON.stringify(TEST_SEALING)});
  if (i > 0) await store.revoke(name, 'k' + i);
  own.key.fill(0);
}
`;

function runWriter(dir: string, name: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRITER, dir, name, String(ROUNDS)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('keystore shared by several processes', () => {
  let f: Fixture & { target: string };
  let server: KeyServer;
  let url: string;
  const logLines: string[] = [];
  beforeAll(async () => {
    // Both servers listen: listen() starts the keystore poll each must run while the writers write.
    f = await startFixture({}, { listen: true });
    // A second server reading the same store, polling fast, with its log captured.
    const logger = pino({ level: 'info' }, { write: (s: string) => void logLines.push(s) });
    server = await createKeyServer({ store: f.store.dir, config: { ...RELAXED, auditLog: null, reloadIntervalMs: 50 }, logger });
    url = await server.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await f?.close();
  });

  it('two writers and a releasing server: every answer is a release or a clean refusal, and nothing is lost', async () => {
    const token = await mintDevToken({ store: f.store, models: ['*'], ttl: '10m' });
    const writers = Promise.all([runWriter(f.store.dir, 'wa'), runWriter(f.store.dir, 'wb')]);
    let done = false;
    void writers.then(() => (done = true));
    const statuses = new Map<number, number>();
    const codes = new Set<string>();
    let releases = 0;
    const reader = (await FileKeyStore.open(f.store.dir)).store;
    while (!done) {
      // Ask for whatever the store lists right now (a separate reader, as a loader would learn it from a manifest).
      const records = await reader.list();
      const pick = records[Math.floor(Math.random() * records.length)]!;
      for (const u of [f.target, url]) {
        const r = await release(u, token, pick.modelId, pick.keyId);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) {
          releases++;
          const stored = (await reader.get(pick.modelId, pick.keyId))!.key;
          expect(Buffer.from(r.key!).equals(Buffer.from(stored))).toBe(true);
        } else {
          codes.add(r.json.error.code);
        }
      }
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
    }
    const results = await writers;
    for (const w of results) {
      expect(w.stderr).toBe('');
      expect(w.code).toBe(0);
    }
    expect(releases).toBeGreaterThan(0);
    for (const status of statuses.keys()) expect([200, 403]).toContain(status);
    // not_published: a release that falls between a writer's rotate and its publish of the sealing.
    for (const code of codes) expect(['key_revoked', 'not_published']).toContain(code);

    // Nothing lost: every rotation of both writers is in the store, and every key unwraps.
    const final = await (await FileKeyStore.open(f.store.dir)).store.list();
    expect(final.filter((k) => k.modelId === 'shared')).toHaveLength(2 * ROUNDS);
    expect(final.filter((k) => k.modelId === 'wa')).toHaveLength(ROUNDS);
    expect(final.filter((k) => k.modelId === 'wa' && k.state === 'revoked')).toHaveLength(ROUNDS - 1);
    for (const k of final) expect((await reader.get(k.modelId, k.keyId))!.key).toHaveLength(32);
    expect(logLines.some((l) => l.includes('keystore reloaded'))).toBe(true);
    expect(logLines.some((l) => l.includes('reload failed'))).toBe(false);

    // After the writers stop, both servers agree with the store.
    await server.reload();
    const last = final.find((k) => k.modelId === 'shared' && k.keyId === `k${2 * ROUNDS}`)!;
    expect(last.state).toBe('active');
    expect((await release(url, token, 'shared', last.keyId)).status).toBe(200);
  });
});
