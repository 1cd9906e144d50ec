// The page script of the Chromium MediaPipe Tasks test, bundled by esbuild with @mediapipe/tasks-vision
// and the loader. The vision wasm comes from the test's static server (/mediapipe/), out of
// node_modules/@mediapipe/tasks-vision/wasm, never from a CDN.
import { FaceDetector, FilesetResolver } from '@mediapipe/tasks-vision';

/** What FilesetResolver resolves to (the package does not export its name). */
type WasmFileset = Awaited<ReturnType<typeof FilesetResolver.forVisionTasks>>;
import { openSealedFiles, openSealedFileStream } from '../../loader/index.js';
import { fetchBytes, portraits, storage } from './mediapipe-images.js';

/** One detection, flattened for an exact comparison: box, score, then the six keypoints (x, y). */
type Face = number[];

let fileset: Promise<WasmFileset> | undefined;
let images: ImageData[] = [];

/** Creates a FaceDetector from `asset` on the CPU, calls `created`, runs it on every portrait, closes it. */
async function detectAll(asset: Uint8Array | ReadableStreamDefaultReader, created?: () => void): Promise<Face[][]> {
  const detector = await FaceDetector.createFromOptions(await fileset!, { baseOptions: { modelAssetBuffer: asset, delegate: 'CPU' }, runningMode: 'IMAGE' });
  created?.();
  try {
    return images.map((image) => detector.detect(image).detections.map((d) => {
      const b = d.boundingBox!;
      return [b.originX, b.originY, b.width, b.height, d.categories[0]!.score, ...d.keypoints.flatMap((k) => [k.x, k.y])];
    }));
  } finally {
    detector.close();
  }
}

/** What the test calls through page.evaluate. */
const mediapipeTest = {
  async setup(imageUrl: string, rects: Array<[number, number, number, number]>): Promise<void> {
    images = await portraits(imageUrl, rects);
    // No trailing slash: it appends '/vision_wasm_internal.js' (or the no-SIMD build's name).
    fileset = FilesetResolver.forVisionTasks(new URL('/mediapipe', location.href).href);
  },
  async plain(url: string): Promise<Face[][]> {
    return detectAll(await fetchBytes(url));
  },
  /** modelAssetBuffer: the reader of openSealedFileStream's stream. */
  async sealedStream(url: string, path: string, token: string, keyServer: string): Promise<Face[][]> {
    const stream = await openSealedFileStream(url, path, { token, keyServer });
    return detectAll(stream.getReader());
  },
  /** modelAssetBuffer: the bytes openSealedFiles returns, zeroed as soon as the detector exists. */
  async sealedBytes(url: string, path: string, token: string, keyServer: string): Promise<{ faces: Face[][]; wiped: boolean }> {
    const bytes = (await openSealedFiles(url, { token, keyServer })).get(path)!;
    const faces = await detectAll(bytes, () => bytes.fill(0));
    return { faces, wiped: bytes.length > 0 && bytes.every((b) => b === 0) };
  },
  /** The runtime given the reader of a stream that errors part-way: what its create call does. */
  async streamFailure(url: string, path: string, token: string, keyServer: string): Promise<string> {
    const stream = await openSealedFileStream(url, path, { token, keyServer });
    try {
      await detectAll(stream.getReader());
      return 'created';
    } catch (err) {
      return `rejected: ${(err as { code?: string }).code ?? ''} ${String((err as Error).message ?? err)}`;
    }
  },
  /**
   * The limit, shown: a page script that wraps ReadableStreamDefaultReader.prototype.read before the
   * load records what every stream reader reads (the loader's own downloads included). Returns the
   * SHA-256 of each reader's bytes, and the detections made meanwhile.
   */
  async recoverFromReader(url: string, path: string, token: string, keyServer: string): Promise<{ digests: string[]; faces: Face[][] }> {
    const read = ReadableStreamDefaultReader.prototype.read;
    const seen = new Map<object, Uint8Array[]>();
    ReadableStreamDefaultReader.prototype.read = async function (this: ReadableStreamDefaultReader) {
      const result = await read.call(this);
      if (!result.done && result.value instanceof Uint8Array) {
        if (!seen.has(this)) seen.set(this, []);
        seen.get(this)!.push(result.value.slice());
      }
      return result;
    } as typeof read;
    let faces: Face[][];
    try {
      const stream = await openSealedFileStream(url, path, { token, keyServer });
      faces = await detectAll(stream.getReader());
    } finally {
      ReadableStreamDefaultReader.prototype.read = read;
    }
    const digests: string[] = [];
    for (const chunks of seen.values()) {
      const bytes = new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
      digests.push(Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) => b.toString(16).padStart(2, '0')).join(''));
    }
    return { digests, faces };
  },
  storage,
};
(globalThis as unknown as { mediapipeTest: typeof mediapipeTest }).mediapipeTest = mediapipeTest;
