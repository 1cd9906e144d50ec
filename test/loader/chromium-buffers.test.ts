// In Debian's Chromium, the loader's chunk buffers are really freed when the pool lets them go, not
// at the next full collection: a buffer handed to a BYOB read or to WebCrypto gets a second owner
// (Blink's wrapper of it), and detaching it from JS then frees nothing. Measured with Chromium's
// own accounting (a memory-infra dump of Blink's ArrayBuffer partition), with no collection
// between the work and the dump. The unstaged decrypt is the control: it shows the dump sees
// buffers Blink still holds.

import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILE_HEAD_LENGTH, TAG_LENGTH } from '../../format/chunked.js';
import { LANDING_BYTES } from '../../loader/shard-body.js';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { arrayBufferPartitionBytes } from '../helpers/memory-dump.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHUNK = 256 * 1024;
const CHUNKS = 16;
const SEALED_SIZE = FILE_HEAD_LENGTH + CHUNKS * (CHUNK + TAG_LENGTH);
const MIB = 1024 * 1024;

interface PageApi {
  mark(bytes: number): void;
  readAll(url: string, sealedSize: number, chunkLength: number): Promise<number>;
  decryptAll(count: number, chunkLength: number, stage: boolean): Promise<number>;
}

let files: StaticServer;
let browser: Browser;
let page: Page;
let cdp: CDPSession;
let renderer: number;

/** This page's renderer: the process whose ArrayBuffer partition grows by a held 8 MiB buffer. */
async function findRenderer(): Promise<number> {
  const before = await arrayBufferPartitionBytes(browser);
  await page.evaluate((bytes) => (globalThis as unknown as { chromiumBuffers: PageApi }).chromiumBuffers.mark(bytes), 8 * MIB);
  const after = await arrayBufferPartitionBytes(browser);
  await page.evaluate(() => (globalThis as unknown as { chromiumBuffers: PageApi }).chromiumBuffers.mark(0));
  const grown = [...after].filter(([pid, bytes]) => bytes - (before.get(pid) ?? 0) >= 8 * MIB).map(([pid]) => pid);
  expect(grown).toHaveLength(1);
  return grown[0]!;
}

/** Bytes the page's ArrayBuffer partition grew by over `work`, without a collection in between. */
async function retainedBy(work: () => Promise<unknown>): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  const before = (await arrayBufferPartitionBytes(browser)).get(renderer) ?? 0;
  await work();
  return ((await arrayBufferPartitionBytes(browser)).get(renderer) ?? 0) - before;
}

beforeAll(async () => {
  const script = await bundle(join(here, 'chromium-buffers-page.ts'), { format: 'iife' });
  files = await startStaticServer({
    files: {
      '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal buffers test</title><script src="/page.js"></script>',
      '/page.js': script,
      '/shard.sealed': randomBytes(SEALED_SIZE),
    },
  });
  browser = await launchChromium();
  page = await browser.newPage();
  cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.enable');
  await page.goto(`${files.url}/index.html`);
  await page.waitForFunction(() => 'chromiumBuffers' in globalThis);
  renderer = await findRenderer();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await files?.close();
});

describe('chunk buffers in Chromium', () => {
  it('a shard body read leaves only its landing buffer allocated once the chunks are given back (not its 16 chunk buffers, 5 MB)', async () => {
    let pieces = 0;
    const retained = await retainedBy(async () => {
      pieces = await page.evaluate(({ url, size, chunk }) => (globalThis as unknown as { chromiumBuffers: PageApi }).chromiumBuffers.readAll(url, size, chunk), { url: `${files.url}/shard.sealed`, size: SEALED_SIZE, chunk: CHUNK });
    });
    expect(pieces).toBe(CHUNKS + 1);
    expect(retained).toBeLessThan(2 * LANDING_BYTES + CHUNK);
  }, 60_000);

  it('decrypt calls through the staging buffer leave the chunk buffers freeable; handed to WebCrypto directly, they stay allocated', async () => {
    const decrypt = (stage: boolean) => retainedBy(async () => {
      const failed = await page.evaluate(({ count, chunk, stage }) => (globalThis as unknown as { chromiumBuffers: PageApi }).chromiumBuffers.decryptAll(count, chunk, stage), { count: CHUNKS, chunk: CHUNK, stage });
      expect(failed).toBe(CHUNKS);
    });
    const unstaged = await decrypt(false);
    const staged = await decrypt(true);
    // The control: 16 chunk buffers of 256 KiB + 16 still owned by Blink.
    expect(unstaged).toBeGreaterThanOrEqual(CHUNKS * CHUNK);
    expect(staged).toBeLessThan(2 * CHUNK);
  }, 60_000);
});
