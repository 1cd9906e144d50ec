// The test static server: content types, in-memory files over a folder, no escape from the root, close.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStaticServer, type StaticServer } from './static-server.js';

/** A raw GET, so the path reaches the server exactly as written (fetch would normalise `..`). */
function rawGet(url: string, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'GET', path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startStaticServer', () => {
  let root: string;
  let server: StaticServer;

  beforeAll(async () => {
    const base = mkdtempSync(join(tmpdir(), 'modelseal-static-'));
    root = join(base, 'www');
    mkdirSync(join(root, 'models'), { recursive: true });
    writeFileSync(join(root, 'models', 'model.json'), '{"a":1}');
    writeFileSync(join(root, 'models', 'shard-1-of-1.sealed'), new Uint8Array([1, 2, 3]));
    writeFileSync(join(base, 'secret.txt'), 'outside the root');
    server = await startStaticServer({ root, files: { '/index.html': '<p>hi</p>', 'models/model.json': '{"b":2}' }, cors: true });
  });

  afterAll(async () => {
    await server.close();
    rmSync(join(root, '..'), { recursive: true, force: true });
  });

  it('serves folder and in-memory files with their content types; the map wins', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toBe('<p>hi</p>');
    const json = await fetch(`${server.url}/models/model.json`);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(json.headers.get('access-control-allow-origin')).toBe('*');
    expect(await json.json()).toEqual({ b: 2 });
    const shard = await fetch(`${server.url}/models/shard-1-of-1.sealed`);
    expect(shard.headers.get('content-type')).toBe('application/octet-stream');
    expect(new Uint8Array(await shard.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
    server.setFile('/late.js', 'export {}');
    expect((await fetch(`${server.url}/late.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(server.requests).toContain('GET /models/shard-1-of-1.sealed');
  });

  it('answers 404 for missing files and for paths that leave the root, 405 for other methods', async () => {
    expect((await fetch(`${server.url}/nope.bin`)).status).toBe(404);
    const escape = await rawGet(server.url, '/../secret.txt');
    expect(escape.status).toBe(404);
    expect(escape.body).not.toContain('outside the root');
    expect((await rawGet(server.url, '/%2e%2e/secret.txt')).status).toBe(404);
    // Encoded slashes survive URL parsing and decode to `..` segments: the root check must catch them.
    const encoded = await rawGet(server.url, '/models%2f..%2f..%2fsecret.txt');
    expect(encoded.status).toBe(404);
    expect(encoded.body).not.toContain('outside the root');
    expect((await fetch(`${server.url}/index.html`, { method: 'POST' })).status).toBe(405);
  });

  it('stops listening on close', async () => {
    const other = await startStaticServer({ files: { 'a.txt': 'a' } });
    expect(await (await fetch(`${other.url}/a.txt`)).text()).toBe('a');
    await other.close();
    await expect(fetch(`${other.url}/a.txt`)).rejects.toThrow();
  });
});
