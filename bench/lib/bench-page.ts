// One way every Chromium bench opens its page: a static server holding the page's files, headless
// Chromium, a CDP session with the heap profiler on (so a round can collect garbage first), and the
// page's bench entry ready. BENCH_DEBUG=1 prints the page's console, errors and requests.

import type { CDPSession, Page } from 'playwright-core';
import { FRESH_ROUNDS, warmUpOrder, type Sample } from './measure.js';

/** A page to load in: the bench's own, or a fresh one. */
export interface PageTarget {
  page: Page;
  cdp: CDPSession;
}

/** An open bench page; close() stops the browser and the page's server. */
export interface BenchPage {
  page: Page;
  cdp: CDPSession;
  /** The same page in a new browser context (a renderer with no history); close it after use. */
  freshPage(): Promise<{ page: Page; cdp: CDPSession; close(): Promise<void> }>;
  close(): Promise<void>;
}

/**
 * The fresh page rows' samples: per round and kind, the page in a new browser context (a renderer
 * with no history), four warm-up loads ending with the other kind, then `measure`.
 */
export async function freshPageSamples(
  bench: BenchPage,
  rounds: number,
  load: (target: PageTarget, sealed: boolean) => Promise<unknown>,
  measure: (target: PageTarget, sealed: boolean) => Promise<Sample>,
): Promise<{ plain: Sample[]; sealed: Sample[] }> {
  const out = { plain: [] as Sample[], sealed: [] as Sample[] };
  for (let r = 0; r < Math.min(rounds, FRESH_ROUNDS); r++) {
    for (const sealed of [false, true]) {
      const fresh = await bench.freshPage();
      try {
        for (const s of warmUpOrder(sealed)) await load(fresh, s);
        (sealed ? out.sealed : out.plain).push(await measure(fresh, sealed));
      } finally {
        await fresh.close();
      }
    }
  }
  return out;
}

/** Serves `files` (with an /index.html), opens it in Chromium and waits until `globalThis[entry]` exists. */
export async function openBenchPage(files: Record<string, Uint8Array | string>, entry: string): Promise<BenchPage> {
  const { launchChromium } = await import('../../test/helpers/chromium.js');
  const { startStaticServer } = await import('../../test/helpers/static-server.js');
  const server = await startStaticServer({ files });
  const browser = await launchChromium();
  const close = async () => {
    await browser.close();
    await server.close();
  };
  const open = async (page: Page) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('HeapProfiler.enable');
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction((name) => name in globalThis, entry);
    return cdp;
  };
  const freshPage = async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      return { page, cdp: await open(page), close: () => context.close() };
    } catch (err) {
      await context.close();
      throw err;
    }
  };
  try {
    const page = await browser.newPage();
    if (process.env['BENCH_DEBUG']) {
      page.on('console', (m) => console.error('page:', m.text()));
      page.on('pageerror', (e) => console.error('page error:', e));
      page.on('requestfailed', (r) => console.error('failed:', r.url(), r.failure()?.errorText));
      page.on('request', (r) => console.error('request:', r.url()));
    }
    return { page, cdp: await open(page), freshPage, close };
  } catch (err) {
    await close();
    throw err;
  }
}
