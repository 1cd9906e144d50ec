// What only real sockets show (issue 9): a client that resets the connection after its release was
// counted, deadlines on slow connections, the connection limit, and a readable 413 for a huge body.
// Servers listen on 127.0.0.1 port 0; every wait is bounded.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { FileKeyStore, createKeyServer, mintDevToken, type KeyServer, type KeyServerOptions, type ReleaseCounter } from '../../keyserver/index.js';
import { MemoryReleaseCounter } from '../../keyserver/counter.js';
import { RELAXED, clientKey, rotatePublished, TEST_SEALING } from './helpers.js';

type Line = Record<string, unknown>;

/** Polls `check` up to `tries` times, `everyMs` apart; false when it never held. */
async function eventually(check: () => Promise<boolean> | boolean, tries = 200, everyMs = 25): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

function rawRequest(body: string, headers: Record<string, string> = {}): string {
  const head = Object.entries({ host: '127.0.0.1', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `POST /v2/release HTTP/1.1\r\n${head}\r\n${body}`;
}

function open(url: string): Promise<Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

describe('real sockets', () => {
  let dir: string;
  let store: FileKeyStore;
  let epk: JWK;
  const started: KeyServer[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'modelseal-sock-'));
    store = (await FileKeyStore.open(join(dir, 'store'), { create: true })).store;
    await rotatePublished(store, 'face');
    epk = (await clientKey()).publicJwk;
  });
  afterAll(async () => {
    for (const s of started) await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  const start = async (name: string, config: KeyServerOptions['config'] = {}, counter?: ReleaseCounter) => {
    const auditLog = join(dir, `${name}.log`);
    const server = await createKeyServer({ store: store.dir, config: { ...RELAXED, auditLog, ...config, defaults: { ...RELAXED.defaults, ...config.defaults } }, ...(counter ? { counter } : {}) });
    started.push(server);
    const url = await server.listen({ host: '127.0.0.1', port: 0 });
    const lines = async (): Promise<Line[]> => {
      const text = await readFile(auditLog, 'utf8').catch(() => '');
      return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as Line);
    };
    return { server, url, lines };
  };

  it('a client that resets after its release was counted: the consumed release is audited (aborted) and counted in a metric', async () => {
    // The counter waits, after counting, until the test has reset the connection: the reset then
    // lands exactly between the cap consumption and the response.
    const inner = new MemoryReleaseCounter();
    let reached!: () => void;
    const atTake = new Promise<void>((r) => (reached = r));
    let resume!: () => void;
    const resumed = new Promise<void>((r) => (resume = r));
    let hold = true;
    const counter: ReleaseCounter = {
      async take(id, cap, expiresAtMs) {
        const ok = inner.take(id, cap, expiresAtMs);
        if (hold) {
          hold = false;
          reached();
          await resumed;
        }
        return ok;
      },
    };
    const { server, url, lines } = await start('reset', { defaults: { releasesPerToken: 2 } }, counter);
    const serverSockets: Socket[] = [];
    server.app.server.on('connection', (s: Socket) => serverSockets.push(s));
    const token = await mintDevToken({ store, models: ['face'], jti: 'reset-jti', sub: 'bob' });
    const client = await open(url);
    client.on('error', () => undefined);
    client.write(rawRequest(JSON.stringify({ modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk }), { authorization: `Bearer ${token}` }));
    await atTake;
    client.resetAndDestroy();
    expect(await eventually(() => serverSockets.length === 1 && serverSockets[0]!.destroyed)).toBe(true);
    resume();

    expect(await eventually(async () => (await lines()).some((l) => l['outcome'] === 'aborted'))).toBe(true);
    const aborted = (await lines()).filter((l) => l['outcome'] === 'aborted');
    expect(aborted).toEqual([expect.objectContaining({ modelId: 'face', keyId: 'k1', sub: 'bob', jti: 'reset-jti', status: 200, counted: true, reason: null })]);
    const metrics = (await server.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/modelseal_releases_counted_total\{model="face",outcome="aborted"\} 1/);
    expect(metrics).toMatch(/modelseal_requests_aborted_total 1/);
    // The aborted request used one of the token's two releases: one more works, the next is refused.
    const again = async () => (await server.app.inject({ method: 'POST', url: '/v2/release', headers: { authorization: `Bearer ${token}` }, payload: { modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk } })).statusCode;
    expect(await again()).toBe(200);
    expect(await again()).toBe(403);
    const after = await lines();
    expect(after.filter((l) => l['jti'] === 'reset-jti' && l['counted'] === true)).toHaveLength(2);
  });

  it('a client that resets before its body arrived: an aborted line with no status, nothing counted', async () => {
    const { url, lines } = await start('partial');
    const client = await open(url);
    client.on('error', () => undefined);
    const full = rawRequest(JSON.stringify({ modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk }));
    client.write(full.slice(0, full.length - 10));
    expect(await eventually(async () => (await lines()).length > 0, 10, 20)).toBe(false);
    client.resetAndDestroy();
    expect(await eventually(async () => (await lines()).length > 0)).toBe(true);
    expect(await lines()).toEqual([expect.objectContaining({ outcome: 'aborted', status: null, counted: false, client: '127.0.0.1' })]);
  });

  /** Collects what a socket receives and whether the server closed it. */
  const watch = (s: Socket) => {
    const w = { data: '', closed: false };
    s.on('data', (d: Buffer) => (w.data += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => (w.closed = true));
    return w;
  };

  it('deadlines: slow bodies and slow headers are closed (408), an idle keep-alive connection is closed', async () => {
    const { url } = await start('deadlines', { requestTimeoutMs: 300, headersTimeoutMs: 300, keepAliveTimeoutMs: 300 });
    const body = JSON.stringify({ modelId: 'face', keyId: 'k1', sealing: TEST_SEALING, epk });
    // Ten slow-body clients: headers, then the body one byte at a time, far slower than the deadline.
    const slow = await Promise.all(Array.from({ length: 10 }, () => open(url)));
    const slowWatch = slow.map(watch);
    const full = rawRequest(body);
    const head = full.length - body.length;
    for (const s of slow) s.write(full.slice(0, head));
    let sent = head;
    // Bounded: the whole body would take body.length × 50 ms (~8 s); the deadline is 300 ms.
    while (sent < full.length && !slowWatch.every((w) => w.closed)) {
      for (const [i, s] of slow.entries()) if (!slowWatch[i]!.closed) s.write(full[sent]!);
      sent++;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(slowWatch.every((w) => w.closed)).toBe(true);
    expect(sent).toBeLessThan(full.length);
    expect(slowWatch.every((w) => w.data.startsWith('HTTP/1.1 408'))).toBe(true);

    // A connection that never sends a byte.
    const mute = watch(await open(url));
    expect(await eventually(() => mute.closed)).toBe(true);

    // Slow headers: a request line, then nothing more.
    const sh = await open(url);
    const shWatch = watch(sh);
    sh.write('POST /v2/release HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    expect(await eventually(() => shWatch.closed)).toBe(true);

    // Keep-alive: one answered request, then the connection idles until the server closes it.
    const ka = await open(url);
    const kaWatch = watch(ka);
    ka.write(rawRequest(body));
    expect(await eventually(() => kaWatch.data.includes('\r\n\r\n'))).toBe(true);
    expect(kaWatch.data).toMatch(/^HTTP\/1\.1 401/);
    expect(await eventually(() => kaWatch.closed)).toBe(true);
  });

  it('connections beyond maxConnections are closed at once without an answer; a freed slot is usable again', async () => {
    const { server, url } = await start('maxconn', { maxConnections: 3 });
    const held = await Promise.all([open(url), open(url), open(url)]);
    const heldWatch = held.map(watch);
    expect(await eventually(async () => (await new Promise<number>((r) => server.app.server.getConnections((_e, n) => r(n)))) === 3)).toBe(true);
    const extra = watch(await open(url));
    expect(await eventually(() => extra.closed)).toBe(true);
    expect(extra.data).toBe('');
    // The held connections still work.
    held[0]!.write(rawRequest('{}'));
    expect(await eventually(() => heldWatch[0]!.data.includes('\r\n\r\n'))).toBe(true);
    expect(heldWatch[0]!.data).toMatch(/^HTTP\/1\.1 400/);
    // Free one slot: a new connection is served.
    held[1]!.destroy();
    expect(await eventually(async () => (await new Promise<number>((r) => server.app.server.getConnections((_e, n) => r(n)))) === 2)).toBe(true);
    const next = await open(url);
    const nextWatch = watch(next);
    next.write(rawRequest('{}'));
    expect(await eventually(() => nextWatch.data.includes('\r\n\r\n'))).toBe(true);
    expect(nextWatch.data).toMatch(/^HTTP\/1\.1 400/);
    expect((await server.app.inject({ url: '/metrics' })).body).toMatch(/modelseal_connections_dropped_total 1/);
    for (const s of [...held, next]) s.destroy();
  });

  /**
   * Sends a 5 MiB body the way a client that does not read before it has written does (curl, most
   * HTTP libraries), then reads the whole answer until the server closes. A server that closes while
   * the body is still arriving makes the kernel reset the connection, and the client loses the 413.
   */
  const sendHuge = async (url: string, mode: 'length' | 'chunked' | 'close', size = 5 << 20) => {
    const s = await open(url);
    s.pause();
    const head = [
      'POST /v2/release HTTP/1.1',
      'host: 127.0.0.1',
      'content-type: application/json',
      mode === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${size}`,
      ...(mode === 'close' ? ['connection: close'] : []),
    ].join('\r\n');
    const chunk = Buffer.alloc(64 << 10, 0x61);
    const write = (b: Buffer | string) => new Promise<void>((resolve, reject) => s.write(b, (err) => (err ? reject(err) : resolve())));
    const result = { writeError: undefined as string | undefined, readError: undefined as string | undefined, response: '' };
    try {
      await write(`${head}\r\n\r\n`);
      for (let sent = 0; sent < size; sent += chunk.length) await write(mode === 'chunked' ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
      if (mode === 'chunked') await write('0\r\n\r\n');
    } catch (err) {
      result.writeError = (err as NodeJS.ErrnoException).code ?? String(err);
    }
    await new Promise<void>((resolve) => {
      s.on('data', (d: Buffer) => (result.response += d.toString('latin1')));
      s.on('error', (err: NodeJS.ErrnoException) => (result.readError = err.code ?? String(err)));
      s.on('close', () => resolve());
      s.resume();
    });
    return result;
  };

  it('a 5 MiB body: the client reads the 413 and its JSON error, every time (length, chunked, Connection: close)', async () => {
    const { url } = await start('huge');
    for (const mode of ['length', 'chunked', 'close', 'length', 'chunked', 'close'] as const) {
      const r = await sendHuge(url, mode);
      expect(r.writeError, mode).toBeUndefined();
      expect(r.readError, mode).toBeUndefined();
      expect(r.response, mode).toMatch(/^HTTP\/1\.1 413 /);
      const body = r.response.slice(r.response.indexOf('\r\n\r\n') + 4);
      expect(JSON.parse(body).error.code, mode).toBe('payload_too_large');
    }
  });

  it('the drain is bounded: a body beyond bodyDrainLimit is cut off, not read to its end', async () => {
    const { url } = await start('huge-bounded', { bodyDrainLimit: 1 << 20 });
    // 32 MiB is far more than the loopback socket buffers hold, so the server must have stopped reading.
    const chunked = await sendHuge(url, 'chunked', 32 << 20);
    expect(chunked.writeError).toMatch(/EPIPE|ECONNRESET/);
    const declared = await sendHuge(url, 'length', 32 << 20);
    expect(declared.writeError).toMatch(/EPIPE|ECONNRESET/);
  });
});
