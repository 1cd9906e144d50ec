// Stall timeouts and bounded answers: a host or key server that stops sending fails the load with
// `timeout` (the default is 30 s; these tests set 300 ms), a slow download that keeps moving does
// not, and a key server's oversized answer is refused without being read whole. Real sockets.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken, FileKeyStore, type KeyServer } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';
import { sealedModel } from '../../loader/index.js';
import { Deadline } from '../../loader/files.js';
import { buildLayersModel, sealInto } from './fixtures.js';
import { caughtModelsealError as failure } from '../helpers/expect-code.js';

type Behaviour = 'stall' | 'trickle' | 'normal';
/** How the host encodes bodies: as they are, every file gzipped (as a CDN may), or shards labelled gzip but sent raw. */
type Encoding = 'identity' | 'gzip' | 'mislabelled';

let root: string;
let storeDir: string;
let keyServer: KeyServer;
let keyUrl: string;
let host: { server: Server; url: string; shard: Behaviour; encoding: Encoding };
const open = new Set<ServerResponse>();

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A static host for the sealed folder whose shard answers stall or trickle, and whose bodies are encoded, when asked to. */
async function startHost(dir: string): Promise<typeof host> {
  const state = { shard: 'normal' as Behaviour, encoding: 'identity' as Encoding };
  const server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    const name = (req.url ?? '/').split('?')[0]!.replace(/^\/m\//, '');
    if (name === 'stall/model.json') return; // never answers
    readFile(join(dir, name)).then((file) => {
      const encode = state.encoding === 'gzip' || (state.encoding === 'mislabelled' && name.startsWith('shard-'));
      // Mislabelled: 70 000 bytes, a size at which Node 20's fetch (undici 6) leaves the read pending
      // for good (64–100 KB did, every time; other sizes fail at once with "incorrect header check").
      const bytes = state.encoding === 'gzip' ? gzipSync(file) : encode ? Buffer.concat([file, Buffer.alloc(70_000)]).subarray(0, 70_000) : file;
      res.writeHead(200, { 'content-length': String(bytes.length), 'access-control-allow-origin': '*', ...(encode ? { 'content-encoding': 'gzip' } : {}) });
      if (!name.startsWith('shard-') || state.shard === 'normal') return void res.end(bytes);
      if (state.shard === 'stall') return void res.write(bytes.subarray(0, 100)); // then nothing
      // Trickle: 16 pieces, one every 60 ms (~1 s in all, over three times the 300 ms timeout).
      let sent = 0;
      const step = Math.ceil(bytes.length / 16);
      const timer = setInterval(() => {
        res.write(bytes.subarray(sent, sent + step));
        sent += step;
        if (sent >= bytes.length) {
          clearInterval(timer);
          res.end();
        }
      }, 60);
    }, () => {
      res.writeHead(404);
      res.end();
    });
  });
  const url = await listen(server);
  return {
    server, url,
    get shard() { return state.shard; }, set shard(b) { state.shard = b; },
    get encoding() { return state.encoding; }, set encoding(e) { state.encoding = e; },
  };
}


const token = () => mintDevToken({ store: storeDir, models: ['*'], ttl: '5m' });

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'modelseal-deadlines-'));
  storeDir = join(root, 'store');
  const { store } = await FileKeyStore.open(storeDir, { create: true });
  // One shard of ~70 KB so the trickle takes many timeouts' worth of time in all.
  await sealInto(store, 'slow', await buildLayersModel(tf, 128), join(root, 'sealed'), { shardLength: 1024 * 1024, headerMode: 'file' });
  ({ server: keyServer, url: keyUrl } = await startKeyServer(storeDir));
  host = await startHost(join(root, 'sealed'));
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await new Promise<void>((r) => (host?.server ? host.server.close(() => r()) : r()));
  await keyServer?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('stall timeouts', () => {
  it('a host that never answers the manifest → timeout, naming the URL', async () => {
    const e = await failure(sealedModel(`${host.url}/m/stall/model.json`, { token: await token(), keyServer: keyUrl, timeoutMs: 300 }).load());
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/stall\/model\.json sent nothing for 0\.3 s.*raise options\.timeoutMs/);
  });

  it('a shard that stops mid-body → timeout naming the shard; one that trickles slower than the timeout in all still loads', async () => {
    host.shard = 'stall';
    const e = await failure(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: keyUrl, timeoutMs: 300 }).load());
    expect(e.code).toBe('timeout');
    expect(e.file).toMatch(/shard-1-of-1\.sealed$/);
    host.shard = 'trickle';
    const model = await tf.loadLayersModel(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: keyUrl, timeoutMs: 300 }));
    model.dispose();
    host.shard = 'normal';
  });

  it('a token provider that never settles → token_unavailable after timeoutMs; with the signal fired first → aborted', async () => {
    const never = () => new Promise<string>(() => undefined);
    const e = await failure(sealedModel(`${host.url}/m/model.json`, { token: never, keyServer: keyUrl, timeoutMs: 300 }).load());
    expect(e.code).toBe('token_unavailable');
    expect(e.message).toContain('the token provider did not answer within 0.3 s');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const aborted = await failure(sealedModel(`${host.url}/m/model.json`, { token: never, keyServer: keyUrl, timeoutMs: 60_000, signal: controller.signal }).load());
    expect(aborted.code).toBe('aborted');
  });

  it('a key server that never answers → timeout; one whose answer is huge → key_server_error without reading it all', async () => {
    const silent = createServer(() => undefined);
    let sent = 0;
    const huge = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const write = () => {
        while (sent < 8 * 1024 * 1024 && res.write(Buffer.alloc(64 * 1024, 0x20))) sent += 64 * 1024;
        if (sent < 8 * 1024 * 1024) res.once('drain', write);
        else res.end();
      };
      write();
    });
    const silentUrl = await listen(silent);
    const hugeUrl = await listen(huge);
    try {
      const t = await failure(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: silentUrl, timeoutMs: 300 }).load());
      expect(t.code).toBe('timeout');
      expect(t.message).toContain('/v2/release sent nothing for 0.3 s');
      const big = await failure(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: hugeUrl }).load());
      expect(big.code).toBe('key_server_error');
      expect(big.message).toMatch(/answer is larger than 65536 bytes/);
      expect(sent).toBeLessThan(8 * 1024 * 1024);
    } finally {
      silent.closeAllConnections();
      huge.closeAllConnections();
      await Promise.all([new Promise((r) => silent.close(r)), new Promise((r) => huge.close(r))]);
    }
  });
});

describe('encoded bodies', () => {
  it('a host that gzips every file, the sealed header too (Content-Length then counts compressed bytes): loads', async () => {
    host.encoding = 'gzip';
    try {
      const model = await tf.loadLayersModel(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: keyUrl }));
      model.dispose();
    } finally {
      host.encoding = 'identity';
    }
  });

  it('a shard labelled gzip but sent raw, which leaves Node\'s fetch reading forever: timeout at the stall deadline, aborted by the signal', async () => {
    host.encoding = 'mislabelled';
    try {
      const t = await failure(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: keyUrl, timeoutMs: 300 }).load());
      expect(t.code).toBe('timeout');
      expect(t.file).toMatch(/shard-1-of-1\.sealed$/);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const a = await failure(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: keyUrl, signal: controller.signal }).load());
      expect(a.code).toBe('aborted');
    } finally {
      host.encoding = 'identity';
    }
  });
});

describe('key servers that are not quite one', () => {
  type Answer = (res: ServerResponse) => void;
  let answer: Answer = (res) => res.end();
  let requests = 0;
  let fake: { server: Server; url: string } | undefined;
  beforeAll(async () => {
    const server = createServer((req, res) => {
      requests++;
      open.add(res);
      res.on('close', () => open.delete(res));
      req.resume();
      req.on('end', () => answer(res));
    });
    fake = { server, url: await listen(server) };
  });
  afterAll(async () => {
    fake?.server.closeAllConnections();
    await new Promise((r) => (fake ? fake.server.close(r) : r(undefined)));
  });
  const load = async () => failure(sealedModel(`${host.url}/m/model.json`, { token: await token(), keyServer: fake!.url, timeoutMs: 2000 }).load());

  it('a redirect is not followed (the token goes only to keyServer): key_server_error naming it', async () => {
    for (const status of [302, 307, 308]) {
      answer = (res) => res.writeHead(status, { location: `${keyUrl}/v2/release` }).end();
      requests = 0;
      const e = await load();
      expect(e.code).toBe('key_server_error');
      expect(e.message).toContain(`redirects (HTTP ${status} to ${keyUrl}/v2/release)`);
      expect(e.status).toBe(status);
      expect(requests).toBe(1);
    }
  });

  it('a static host\'s 404 without a modelseal error body → key_server_error, not key_denied', async () => {
    answer = (res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
    const e = await load();
    expect(e.code).toBe('key_server_error');
    expect(e.status).toBe(404);
    expect(e.serverCode).toBeUndefined();
  });

  it('the connection breaks mid-answer → key_server_unreachable, not a model file\'s file_unavailable', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"key":"eyJ');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const e = await load();
    expect(e.code).toBe('key_server_unreachable');
    expect(e.message).toMatch(/broke while it sent its answer/);
  });

  it('an error message with control and bidirectional-override characters is quoted without them', async () => {
    answer = (res) => res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'forbidden_model', message: 'a\u0000b\u001b[2Jc\u202ed\u009be' } }));
    const e = await load();
    expect(e.code).toBe('key_denied');
    expect(e.message).toContain('a b [2Jc d e');
    expect(e.message).not.toMatch(/\p{Cc}|\u202e/u);
  });
});

describe('Deadline (one timer per request, re-armed lazily)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('time paused between reads does not count; a wait kicked again and again does not fire; a wait longer than the timeout does', async () => {
    // Timeout 400 ms, reads 50 ms apart: a wide margin, so a loaded machine's late timers do not fire it.
    const d = new Deadline(400, 'test://file', undefined);
    try {
      d.kick();
      await sleep(50);
      d.pause(); // the loader is busy: the armed timer fires meanwhile and must not stop the request
      await sleep(1000);
      expect(d.fired).toBe(false);
      // Kicked every 50 ms for 1.5 timeouts: each read got bytes within the limit.
      for (let i = 0; i < 12; i++) {
        d.kick();
        await sleep(50);
      }
      expect(d.fired).toBe(false);
      expect(d.signal.aborted).toBe(false);
      d.kick();
      await sleep(1000);
      expect(d.fired).toBe(true);
      expect(d.signal.reason).toMatchObject({ code: 'timeout', file: 'test://file' });
    } finally {
      d.clear();
    }
  });

  it('clear() stops it for good, and the caller\'s abort passes through without firing it', async () => {
    const d = new Deadline(100, 'test://file', undefined);
    d.kick();
    d.clear();
    await sleep(300);
    expect(d.fired).toBe(false);
    expect(d.signal.aborted).toBe(false);
    const outer = new AbortController();
    const e = new Deadline(100, 'test://file', outer.signal);
    e.kick();
    outer.abort(new Error('user'));
    await sleep(300);
    expect(e.fired).toBe(false);
    expect((e.signal.reason as Error).message).toBe('user');
    e.clear();
  });
});
