// The same modelseal vectors and Wycheproof vectors, run in a real Chromium: format/ bundled with
// esbuild, served from 127.0.0.1 (a secure context, so crypto.subtle exists), driven by playwright.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../format/bytes.js';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { startStaticServer, type StaticServer } from '../helpers/static-server.js';
import type { ModelsealVector, VectorOutcome } from './vector-runner.js';
import { expectedCodes, type WycheproofOutcome, type WycheproofVector } from './wycheproof-cases.js';

const vectorDir = new URL('../vectors/', import.meta.url);
const vectors: ModelsealVector[] = readdirSync(vectorDir).filter((n) => n.endsWith('.json')).sort()
  .map((n) => JSON.parse(readFileSync(new URL(n, vectorDir), 'utf8')) as ModelsealVector);
const wycheproof: WycheproofVector[] = JSON.parse(readFileSync(new URL('../data/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json', import.meta.url), 'utf8'))
  .testGroups.flatMap((g: { tests: WycheproofVector[] }) => g.tests);

type TestApi = {
  runVector(v: ModelsealVector): Promise<VectorOutcome>;
  runWycheproof(v: WycheproofVector, ct: Uint8Array): Promise<WycheproofOutcome>;
};

describe('format vectors in Chromium', () => {
  let server: StaticServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const script = await bundle(fileURLToPath(new URL('./browser-entry.ts', import.meta.url)), { format: 'iife', globalName: 'modelsealTest' });
    const files: Record<string, Uint8Array | string> = {
      '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal format vectors</title><script src="/format.js"></script>',
      '/format.js': script,
    };
    // Wycheproof ships `ct` zlib-compressed; the page gets the inflated bytes as files.
    for (const v of wycheproof) files[`/wycheproof/${v.tcId}.bin`] = new Uint8Array(inflateSync(fromHex(v.ct)));
    for (const v of vectors) files[`/vectors/${v.vector}.json`] = JSON.stringify(v);
    server = await startStaticServer({ files });
    browser = await launchChromium();
    page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/index.html`);
    expect(errors).toEqual([]);
    expect(await page.evaluate(() => window.isSecureContext && typeof crypto.subtle === 'object')).toBe(true);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('runs every modelseal vector to its expected conclusion', async () => {
    const names = vectors.map((v) => v.vector);
    const outcomes = await page.evaluate(async (list: string[]) => {
      const api = (globalThis as unknown as { modelsealTest: TestApi }).modelsealTest;
      const results: Record<string, VectorOutcome> = {};
      for (const name of list) {
        const v = (await (await fetch(`/vectors/${name}.json`)).json()) as ModelsealVector;
        results[name] = await api.runVector(v);
      }
      return results;
    }, names);
    expect(Object.keys(outcomes)).toHaveLength(vectors.length);
    for (const v of vectors) {
      const outcome = outcomes[v.vector]!;
      if (v.expect === 'success') {
        expect(outcome, v.vector).toMatchObject({ ok: true, header: v.header, weights: v.weights, kind: v.kind ?? 'tfjs', ...(v.contents ? { contents: v.contents } : {}) });
      } else {
        expect(outcome, v.vector).toMatchObject({ ok: false, name: 'ModelsealError', code: v.expect });
        if (!outcome.ok && v.errorFile) expect(outcome.file, v.vector).toContain(v.errorFile);
      }
    }
  });

  it('runs every Wycheproof Cobblestone-256 vector (inflated in Node, fetched by the page)', async () => {
    const outcomes = await page.evaluate(async (list: WycheproofVector[]) => {
      const api = (globalThis as unknown as { modelsealTest: TestApi }).modelsealTest;
      const results: Record<number, WycheproofOutcome> = {};
      for (const v of list) {
        const ct = new Uint8Array(await (await fetch(`/wycheproof/${v.tcId}.bin`)).arrayBuffer());
        results[v.tcId] = await api.runWycheproof(v, ct);
      }
      return results;
    }, wycheproof.map((v) => ({ ...v, ct: '' })));
    expect(Object.keys(outcomes)).toHaveLength(35);
    for (const v of wycheproof) {
      const outcome = outcomes[v.tcId]!;
      if (v.result === 'valid') {
        expect(outcome, `tc${v.tcId}`).toMatchObject({ ok: true, length: v.msgLength, sha512: v.msgSha512, reencrypted: true });
        if (v.aeadKey) expect(outcome, `tc${v.tcId}`).toMatchObject({ aeadKey: v.aeadKey, baseNonce: v.baseNonce });
      } else {
        expect(outcome.ok, `tc${v.tcId}`).toBe(false);
        if (!outcome.ok) expect(expectedCodes(v), `tc${v.tcId}: ${outcome.message}`).toContain(outcome.code);
      }
    }
  });
});
