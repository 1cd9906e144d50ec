// MediaPipe Tasks (@mediapipe/tasks-vision, its wasm on the CPU) in Debian's Chromium on a sealed
// .tflite: BlazeFace short range from @mediapipe/face_detection, sealed by the CLI, handed to
// FaceDetector as openSealedFileStream's reader and as openSealedFiles's bytes; the detections on two
// real portraits equal the plain model's in the same page, and nothing lands in Cache Storage or
// IndexedDB. A tampered stream makes createFromOptions reject; a page script that wraps stream reads
// gets the plain file whole (the limit THREAT_MODEL.md states).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../helpers/bundle.js';
import { launchChromium } from '../helpers/chromium.js';
import { ROOT, startRuntimeFixture, type RuntimeFixture } from './fixtures.js';
import { FACE_MODEL_NAME, PORTRAITS, SAMPLE_IMAGE, faceModelForTasks, filesOf, tamperedCopy } from './mediapipe-fixtures.js';

type Face = number[];
type MediapipeTest = {
  setup(imageUrl: string, rects: Array<[number, number, number, number]>): Promise<void>;
  plain(url: string): Promise<Face[][]>;
  sealedStream(url: string, path: string, token: string, keyServer: string): Promise<Face[][]>;
  sealedBytes(url: string, path: string, token: string, keyServer: string): Promise<{ faces: Face[][]; wiped: boolean }>;
  streamFailure(url: string, path: string, token: string, keyServer: string): Promise<string>;
  recoverFromReader(url: string, path: string, token: string, keyServer: string): Promise<{ digests: string[]; faces: Face[][] }>;
  storage(): Promise<{ caches: string[]; databases: string[] }>;
};

let fx: RuntimeFixture;
let browser: Browser;
let page: Page;
let tampered: string;
let plain: Face[][];

const call = <K extends keyof MediapipeTest>(name: K, ...args: Parameters<MediapipeTest[K]>) =>
  page.evaluate(({ name, args }) => ((globalThis as unknown as { mediapipeTest: Record<string, (...a: unknown[]) => unknown> }).mediapipeTest[name]!(...args)), { name, args }) as ReturnType<MediapipeTest[K]>;

beforeAll(async () => {
  const script = await bundle(join(import.meta.dirname, 'mediapipe-page.ts'), { format: 'esm' });
  // MediaPipe Tasks refuses a float image model without TFLite metadata: the legacy package's file gets
  // the input metadata Tasks needs (mediapipe-fixtures.ts); the LiteRT.js test shows the network unchanged.
  fx = await startRuntimeFixture({ face: new Map([[FACE_MODEL_NAME, await faceModelForTasks()]]) }, {
    entries: { face: FACE_MODEL_NAME },
    files: {
      '/index.html': '<!doctype html><meta charset="utf-8"><title>modelseal MediaPipe test</title><script type="module" src="/page.js"></script>',
      '/page.js': script,
      '/samples.jpg': new Uint8Array(await readFile(SAMPLE_IMAGE)),
      ...(await filesOf(join(ROOT, 'node_modules/@mediapipe/tasks-vision/wasm'), /^vision_wasm_(nosimd_)?internal\.(js|wasm)$/, '/mediapipe/')),
    },
  });
  tampered = `${fx.server.url}${await tamperedCopy(fx.root, 'face')}`;
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err));
  await page.goto(`${fx.server.url}/index.html`);
  await page.waitForFunction(() => 'mediapipeTest' in globalThis);
  await call('setup', `${fx.server.url}/samples.jpg`, PORTRAITS.map((r) => [...r] as [number, number, number, number]));
  plain = await call('plain', fx.plainUrl('face', FACE_MODEL_NAME));
});
afterAll(async () => {
  await browser?.close();
  await fx?.close();
});

describe('MediaPipe Tasks FaceDetector in Chromium', () => {
  it('the plain model finds one face in each portrait (the control the sealed runs are compared with)', () => {
    expect(plain.map((faces) => faces.length)).toEqual([1, 1]);
    expect(plain.flat(2).every(Number.isFinite)).toBe(true);
    plain.forEach(([face], i) => {
      const [x, y, w, h, score] = face!;
      const [, , width, height] = PORTRAITS[i]!;
      expect(score).toBeGreaterThan(0.5);
      // A face-sized box inside the portrait.
      expect(x! >= 0 && y! >= 0 && x! + w! <= width && y! + h! <= height && w! > width / 8).toBe(true);
    });
  });

  it('modelAssetBuffer = openSealedFileStream(...).getReader(): the same detections; no cache or database', async () => {
    const before = fx.server.requests.length;
    const sealed = await call('sealedStream', fx.sealedUrl('face'), FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    expect(sealed).toEqual(plain);
    expect(fx.server.requests.slice(before).filter((r) => r.includes('/plain/'))).toEqual([]);
    expect(await call('storage')).toEqual({ caches: [], databases: [] });
  });

  it('modelAssetBuffer = openSealedFiles bytes, zeroed once the detector exists: the same detections', async () => {
    const sealed = await call('sealedBytes', fx.sealedUrl('face'), FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    expect(sealed.wiped).toBe(true);
    expect(sealed.faces).toEqual(plain);
    expect(await call('storage')).toEqual({ caches: [], databases: [] });
  });

  it('a stream that fails its check part-way (one flipped byte in the shard): the runtime create call rejects', async () => {
    const outcome = await call('streamFailure', tampered, FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    // The loader's own error comes through the runtime, code and all.
    expect(outcome).toMatch(/^rejected: tampered .*failed authentication/);
  });

  it('the limit: a script that wraps stream reads before the load gets the plain .tflite byte for byte', async () => {
    const { digests, faces } = await call('recoverFromReader', fx.sealedUrl('face'), FACE_MODEL_NAME, await fx.token(), fx.keyServer);
    expect(faces).toEqual(plain);
    // One of the streams read during the load is the plain model file, whole.
    const plainFile = await readFile(join(fx.root, 'www/plain/face', FACE_MODEL_NAME));
    expect(digests).toContain(createHash('sha256').update(plainFile).digest('hex'));
  });
});
