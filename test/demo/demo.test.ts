// The demo end to end, as `npm run demo` runs it (examples/demo/main.ts): `--check-only` checks the
// sealed load in Node; without it the demo serves the page, which Debian's Chromium opens; the faces the page draws are
// compared with the plain model's output on the same input, computed here in Node.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFaces, INPUT_SIZE, runRaw, type Face } from '../../examples/web/src/blazeface.js';
import { launchChromium } from '../helpers/chromium.js';
import { PLAIN_MODEL, ROOT, startDemoProcess, waitForLine, type DemoProcess } from './demo-process.js';
import { calculateJwkThumbprint, decodeJwt, type JWK } from 'jose';
import { FileKeyStore } from '../../keyserver/index.js';

const RESULTS = join(ROOT, 'test-results', 'demo');

/** Loads the plain BlazeFace from disk, the way a publisher would use it before sealing. */
async function loadPlainModel(): Promise<tf.GraphModel> {
  const modelJson = JSON.parse(readFileSync(PLAIN_MODEL, 'utf8')) as tf.io.ModelJSON;
  const weights = new Uint8Array(readFileSync(join(dirname(PLAIN_MODEL), modelJson.weightsManifest[0]!.paths[0]!)));
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
    weightData: weights.buffer,
  }));
}

describe('modelseal demo', () => {
  let browser: Browser;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('--check-only seals the sample model, loads it sealed in Node and prints an exact check', async () => {
    const demo = startDemoProcess(['--check-only']);
    try {
      const code = await demo.exited;
      expect(demo.stderr()).toContain('sealed the sample model');
      expect(code).toBe(0);
      expect(demo.stdout()).toMatch(/^check: sealed prediction equals plain prediction \(max \|diff\| = 0 over 4 outputs\)$/m);
      expect(demo.stdout()).not.toContain('demo page:');
    } finally {
      await demo.stop();
    }
  });

  it('a taken port is an io_error naming the port and the flag to change (exit 1)', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const demo = startDemoProcess(['--key-port', String(port), '--check-only']);
    try {
      expect(await demo.exited).toBe(1);
      expect(demo.stderr()).toContain(`modelseal: error [io_error]: cannot listen on 127.0.0.1:${port}: the port is in use`);
      expect(demo.stderr()).toContain('hint: pass --key-port with another port, or --key-port 0 for a free one');
      expect(demo.stdout()).toBe('');
    } finally {
      await demo.stop();
      await new Promise((r) => blocker.close(r));
    }
  });

  it('is not part of the npm package: no demo code, page or plain sample model, and no demo command in the bin', () => {
    const listing = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(listing) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/cli/main.js');
    expect(files.filter((f) => /(^|\/)demo(\/|\.)|^examples\/|blazeface|sample\.jpg/.test(f))).toEqual([]);
    const help = execFileSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/^\s+seal /m);
    expect(help).not.toMatch(/^\s+demo /m);
  });

  describe('the demo page in Chromium', () => {
    let demo: DemoProcess;
    let pageUrl: string;
    beforeAll(async () => {
      demo = startDemoProcess();
      pageUrl = await waitForLine(demo, 'demo page:');
      await waitForLine(demo, 'check:');
    });
    afterAll(async () => {
      // SIGTERM closes the servers in order; the process then exits 0.
      expect(await demo.stop()).toBe(0);
    });

    it('prints both URLs on 127.0.0.1 and a passing check', () => {
      expect(pageUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(demo.stdout()).toMatch(/^key server: http:\/\/127\.0\.0\.1:\d+$/m);
      expect(demo.stdout()).toMatch(/^check: sealed prediction equals plain prediction/m);
    });

    it('loads the sealed model, draws the faces the plain model finds, and reaches ready', async () => {
      const page = await browser.newPage({ viewport: { width: 820, height: 760 } });
      // The release request: its token must be bound (cnf.jkt) to the key it sends.
      const releases: Array<{ authorization: string; body: string }> = [];
      page.on('request', (request) => {
        if (request.url().endsWith('/v2/release')) releases.push({ authorization: request.headers()['authorization'] ?? '', body: request.postData() ?? '' });
      });
      try {
        await page.goto(pageUrl);
        await page.waitForFunction(() => document.body.dataset['state'] !== 'loading', undefined, { timeout: 60_000 });
        const status = await page.textContent('#status');
        expect(await page.evaluate(() => document.body.dataset['state']), status ?? '').toBe('ready');
        expect(status).toMatch(/^ready: sealed model loaded and decrypted in \d+ ms; 1 face\(s\) found$/);
        const result = await page.evaluate(() => window.modelsealDemo!);
        // The progress the page showed went from 0 to 1 without going back.
        expect(result.progress.length).toBeGreaterThanOrEqual(2);
        // The first report came before the end: progress was shown while loading, not only at the end.
        expect(result.progress[0]).toBeLessThan(1);
        expect(result.progress.at(-1)).toBe(1);
        for (let i = 1; i < result.progress.length; i++) expect(result.progress[i]!).toBeGreaterThanOrEqual(result.progress[i - 1]!);
        expect(await page.evaluate(() => (document.getElementById('progress') as HTMLProgressElement).value)).toBe(1);

        expect(releases).toHaveLength(1);
        const claims = decodeJwt(releases[0]!.authorization.replace(/^Bearer /, ''));
        const { epk } = JSON.parse(releases[0]!.body) as { epk: JWK };
        expect((claims['cnf'] as { jkt?: string } | undefined)?.jkt).toBe(await calculateJwkThumbprint(epk, 'sha256'));

        // Beside the result: the stages with their times, in load order.
        expect(result.stages.map((st) => st.name)).toEqual(['manifest', 'session token (your backend)', 'key release', 'encrypted header', 'encrypted weights', 'running the model']);
        for (const st of result.stages) expect(st.endMs).toBeGreaterThanOrEqual(st.startMs);
        expect(await page.locator('#stages tr').count()).toBe(1 + result.stages.length);
        // ...and what a visitor's Network tab shows: no topology, ciphertext, the wrapped key only.
        const manifestRow = result.requests.find((r) => r.url.endsWith('/model.json'));
        expect(manifestRow?.preview).toContain('"sealing"');
        expect(manifestRow?.preview).not.toContain('modelTopology');
        const releaseRow = result.requests.find((r) => r.url.endsWith('/v2/release'));
        expect(releaseRow?.method).toBe('POST');
        expect(releaseRow?.preview).toMatch(/"key":"eyJ/);
        const sealedRows = result.requests.filter((r) => r.url.endsWith('.sealed'));
        expect(sealedRows.length).toBeGreaterThanOrEqual(2);
        for (const r of sealedRows) expect(r.preview).toMatch(/^[0-9a-f]{2}( [0-9a-f]{2}){15} …$/);
        const networkText = (await page.textContent('#network')) ?? '';
        expect(networkText).toContain('v2/release');
        // The content key, from the demo's keystore, appears nowhere on the page.
        const { store } = await FileKeyStore.open(demo.store);
        const [record] = await store.list();
        const contentKey = (await store.get(record!.modelId, record!.keyId))!.key;
        const pageText = (await page.textContent('body')) ?? '';
        for (const form of [Buffer.from(contentKey).toString('base64url'), Buffer.from(contentKey).toString('hex'), Buffer.from(contentKey).toString('base64')]) {
          expect(pageText).not.toContain(form);
        }

        mkdirSync(RESULTS, { recursive: true });
        await page.screenshot({ path: join(RESULTS, 'demo-page.png'), fullPage: true });

        // The plain model, in Node, on the exact input the page fed the sealed model.
        expect(result.input).toHaveLength(INPUT_SIZE * INPUT_SIZE * 3);
        const plain = await loadPlainModel();
        const input = tf.tensor4d(result.input, [1, INPUT_SIZE, INPUT_SIZE, 3]);
        const expected = decodeFaces(await runRaw(tf, plain, input));
        input.dispose();
        plain.dispose();

        expect(expected.length).toBe(1);
        expect(expected[0]!.score).toBeGreaterThan(0.9);
        expect(result.faces.length).toBe(expected.length);
        const diff = maxDiff(result.faces, expected);
        // Same weights, same tfjs CPU kernels, same JS engine: measured 0 here; the bound allows another V8.
        expect(diff).toBeLessThan(1e-5);

        // The page shows what it drew.
        const facesText = await page.textContent('#faces');
        expect(facesText).toContain(`face 1: score ${expected[0]!.score.toFixed(3)}`);
      } finally {
        await page.close();
      }
    });

    it('shows the error and sets state error when the key server refuses the session', async () => {
      const page = await browser.newPage();
      // A tampered token: the signature no longer matches, so the key server answers 401 invalid_token.
      await page.route('**/api/session?*', async (route) => {
        const response = await route.fetch();
        const session = (await response.json()) as { token: string };
        const [h, p, s] = session.token.split('.');
        await route.fulfill({ response, json: { ...session, token: `${h}.${p}.${s!.slice(0, -4)}AAAA` } });
      });
      try {
        await page.goto(pageUrl);
        await page.waitForFunction(() => document.body.dataset['state'] !== 'loading', undefined, { timeout: 60_000 });
        expect(await page.evaluate(() => document.body.dataset['state'])).toBe('error');
        const status = await page.textContent('#status');
        expect(status).toMatch(/^error \[key_denied\]: /);
        expect(status).toContain('invalid_token');
        await page.screenshot({ path: join(RESULTS, 'demo-page-error.png') });
      } finally {
        await page.close();
      }
    });
  });
});

function maxDiff(a: Face[], b: Face[]): number {
  let max = 0;
  a.forEach((face, i) => {
    max = Math.max(max, Math.abs(face.score - b[i]!.score));
    face.box.forEach((v, k) => { max = Math.max(max, Math.abs(v - b[i]!.box[k]!)); });
  });
  return max;
}
