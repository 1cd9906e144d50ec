// The determined user, shown not told (THREAT_MODEL.md links here). In Debian's Chromium, against the
// real key server and the demo's static server, a user with an ordinary session recovers the sealed
// model's weights byte for byte. These tests PASS: they demonstrate the limit of any scheme that runs a
// model on the user's machine. If one ever fails because the weights could not be recovered, the
// threat model is not suddenly wrong; the test is.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyStore } from '../../keyserver/index.js';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import * as ortNode from 'onnxruntime-node';
import { readdir } from 'node:fs/promises';
import { runSilero, type OrtModule, type OrtSession } from '../runtimes/runners.js';
import { ROOT, SILERO_MODELS, sileroFiles, startRuntimeFixture, type RuntimeFixture } from '../runtimes/fixtures.js';
import type { Loot } from './determined-user-entry.js';
import { PLAIN_MODEL, startDemoProcess, waitForLine, type DemoProcess } from './demo-process.js';

const modelJson = JSON.parse(readFileSync(PLAIN_MODEL, 'utf8')) as tf.io.ModelJSON;
/** The original weight file the publisher sealed (BlazeFace has one). */
const ORIGINAL = new Uint8Array(readFileSync(join(dirname(PLAIN_MODEL), modelJson.weightsManifest[0]!.paths[0]!)));

/** A page script installed before the app runs: it keeps a copy of everything AES-GCM decrypts. */
const HOOK_DECRYPT = `
  window.__captured = [];
  const decrypt = SubtleCrypto.prototype.decrypt;
  SubtleCrypto.prototype.decrypt = async function (algorithm, key, data) {
    const plain = await decrypt.call(this, algorithm, key, data);
    if (algorithm && algorithm.name === 'AES-GCM') {
      window.__captured.push({ key, iv: Array.from(new Uint8Array(algorithm.iv.buffer ?? algorithm.iv, algorithm.iv.byteOffset ?? 0, 12)), plain: new Uint8Array(plain.slice(0)) });
    }
    return plain;
  };
`;

/**
 * What the hook's log becomes in the attacker's hands: decrypted pieces grouped by CryptoKey (one key
 * per encrypted file), each group put in chunk order. C2SP chunk i uses nonce = base nonce XOR i, so the
 * base is the one nonce from which every other lies at a distance below the chunk count.
 */
function reassemble(): Array<{ bytes: number[]; pieces: number }> {
  const captured = (window as unknown as { __captured: Array<{ key: CryptoKey; iv: number[]; plain: Uint8Array }> }).__captured;
  const groups = new Map<CryptoKey, Array<{ iv: bigint; plain: Uint8Array }>>();
  for (const c of captured) {
    const iv = c.iv.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
    groups.set(c.key, [...(groups.get(c.key) ?? []), { iv, plain: c.plain }]);
  }
  const files: Array<{ bytes: number[]; pieces: number }> = [];
  for (const pieces of groups.values()) {
    const n = BigInt(pieces.length);
    const base = pieces.find((p) => pieces.every((q) => (q.iv ^ p.iv) < n))?.iv ?? pieces[0]!.iv;
    const ordered = [...pieces].sort((a, b) => Number((a.iv ^ base) - (b.iv ^ base)));
    const bytes: number[] = [];
    for (const p of ordered) for (const b of p.plain) bytes.push(b);
    files.push({ bytes, pieces: pieces.length });
  }
  return files;
}

describe('the determined user recovers the weights of a sealed model in the browser', () => {
  let browser: Browser;
  let demo: DemoProcess;
  let pageUrl: string;
  let attackScript: string;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    demo = startDemoProcess();
    [browser, attackScript, pageUrl] = await Promise.all([
      launchChromium(),
      bundle(join(import.meta.dirname, 'determined-user-entry.ts'), { format: 'iife', globalName: 'determinedUser' }),
      waitForLine(demo, 'demo page:'),
    ]);
    await waitForLine(demo, 'check:');
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('with a session and the public loader, model.save() returns the original weight bytes, and model.weights every tensor', async () => {
    const page = await browser.newPage();
    try {
      // On the app's origin, like a user typing in the DevTools console of the real site.
      await page.goto(pageUrl);
      await page.addScriptTag({ content: attackScript });
      const loot = await page.evaluate(() => (window as unknown as { determinedUser: { steal(): Promise<Loot> } }).determinedUser.steal());

      const saved = new Uint8Array(Buffer.from(loot.savedWeights, 'base64'));
      expect(saved.length).toBe(ORIGINAL.length);
      expect(Buffer.compare(saved, ORIGINAL)).toBe(0);
      expect(loot.savedNames).toEqual(modelJson.weightsManifest.flatMap((g) => g.weights.map((w) => w.name)));

      // The dequantised tensors the model runs with, against the plain model loaded here in Node.
      const plain = await tf.loadGraphModel(tf.io.fromMemory({
        modelTopology: modelJson.modelTopology,
        weightSpecs: modelJson.weightsManifest.flatMap((g) => g.weights),
        weightData: ORIGINAL.slice().buffer,
      }));
      const names = Object.keys(plain.weights);
      expect(Object.keys(loot.tensors).sort()).toEqual([...names].sort());
      for (const name of names) {
        const expected = plain.weights[name]![0]!;
        const got = loot.tensors[name]!;
        expect(got.length, name).toBe(expected.size);
        const typed = expected.dtype === 'int32' ? Int32Array.from(got) : Float32Array.from(got);
        expect(Buffer.compare(Buffer.from(typed.buffer), Buffer.from((expected.dataSync() as Float32Array | Int32Array).buffer)), name).toBe(0);
      }
      plain.dispose();
    } finally {
      await page.close();
    }
  });

  it('against the unmodified app, a script that wraps crypto.subtle.decrypt first captures the weights and the content key', async () => {
    const page = await browser.newPage();
    try {
      await page.addInitScript({ content: HOOK_DECRYPT });
      await page.goto(pageUrl);
      await page.waitForFunction(() => document.body.dataset['state'] !== 'loading', undefined, { timeout: 60_000 });
      expect(await page.evaluate(() => document.body.dataset['state'])).toBe('ready');

      const files = await page.evaluate(reassemble);
      // One file is the weights: the longest, in chunk order, equal to the original byte for byte.
      const weights = files.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
      expect(weights.pieces).toBe(Math.floor(ORIGINAL.length / (256 * 1024)) + 1);
      expect(Buffer.compare(Buffer.from(weights.bytes), ORIGINAL)).toBe(0);

      // Another is the sealed header: the original model.json, topology and all.
      const header = files.find((f) => f.bytes[0] === '{'.charCodeAt(0));
      expect(header).toBeDefined();
      const opened = JSON.parse(Buffer.from(header!.bytes).toString('utf8')) as { modelJson: string };
      expect((JSON.parse(opened.modelJson) as tf.io.ModelJSON).modelTopology).toEqual(modelJson.modelTopology);

      // And the 32 bytes jose unwrapped from the key server's JWE are the content key itself: the key
      // is non-extractable only after the loader imports it.
      const { store } = await FileKeyStore.open(demo.store);
      const content = await store.get('blazeface', 'k1');
      expect(content).toBeDefined();
      expect(files.some((f) => f.bytes.length === 32 && Buffer.compare(Buffer.from(f.bytes), Buffer.from(content!.key)) === 0)).toBe(true);
    } finally {
      await page.close();
    }
  });
});

describe('the determined user recovers a sealed ONNX model in the browser', () => {
  let browser: Browser;
  let fx: RuntimeFixture;
  let original: Uint8Array;

  beforeAll(async () => {
    const set = await sileroFiles(SILERO_MODELS.silero16k);
    original = set.get(SILERO_MODELS.silero16k)!;
    const ortDist = join(ROOT, 'node_modules/onnxruntime-web/dist');
    const files: Record<string, Uint8Array | string> = {
      '/index.html': '<!doctype html><meta charset="utf-8"><title>an app with a sealed ONNX model</title><body data-state="loading"><script type="module" src="/app.js"></script></body>',
      '/app.js': await bundle(join(import.meta.dirname, 'determined-onnx-page.ts'), { format: 'esm' }),
    };
    for (const f of await readdir(ortDist)) if (/^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/.test(f)) files[`/ort/${f}`] = new Uint8Array(readFileSync(join(ortDist, f)));
    fx = await startRuntimeFixture({ vad: set }, { files, entries: { vad: SILERO_MODELS.silero16k } });
    fx.server.setFile('/session.json', JSON.stringify({ token: await fx.token(), keyServer: fx.keyServer, modelUrl: '/sealed/vad/model.json' }));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await fx?.close();
  });

  it('a script that wraps crypto.subtle.decrypt before the app runs gets the original .onnx file, which runs like the plain model', async () => {
    // The sealed file on the host is not the model: the bytes on the CDN are useless alone.
    const sealedFiles = (await readdir(join(fx.root, 'www/sealed/vad'))).map((f) => readFileSync(join(fx.root, 'www/sealed/vad', f)));
    expect(sealedFiles.some((b) => b.includes(Buffer.from(original.subarray(0, 4096))))).toBe(false);

    const page = await browser.newPage();
    try {
      await page.addInitScript({ content: HOOK_DECRYPT });
      await page.goto(`${fx.server.url}/index.html`);
      await page.waitForFunction(() => document.body.dataset['state'] !== 'loading', undefined, { timeout: 60_000 });
      expect(await page.evaluate(() => document.body.dataset['state'] + ' ' + document.body.textContent)).toMatch(/^ready/);
      const decrypted = await page.evaluate(reassemble);
      const model = decrypted.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
      const stolen = new Uint8Array(model.bytes);
      expect(stolen.length).toBe(original.length);
      expect(Buffer.compare(Buffer.from(stolen), Buffer.from(original))).toBe(0);

      // The copy is a working model: the same outputs as the publisher's file, in another runtime.
      const plain = (await ortNode.InferenceSession.create(original)) as unknown as OrtSession;
      const copy = (await ortNode.InferenceSession.create(stolen)) as unknown as OrtSession;
      expect(await runSilero(ortNode as unknown as OrtModule, copy)).toEqual(await runSilero(ortNode as unknown as OrtModule, plain));
    } finally {
      await page.close();
    }
  });
});
