// The page script of the Chromium LiteRT.js test, bundled by esbuild with @litertjs/core and the
// loader. LiteRT's wasm comes from the test's static server (/litert/), out of
// node_modules/@litertjs/core/wasm, never from a CDN; it runs on the CPU ('wasm' accelerator).
import { loadAndCompile, loadLiteRt, Tensor } from '@litertjs/core';
import { openSealedFiles, openSealedFileStream } from '../../loader/index.js';
import { fetchBytes, inputTensor, portraits, storage } from './mediapipe-images.js';

/** BlazeFace short range's input side. */
const SIZE = 128;
let inputs: Float32Array[] = [];

/** Compiles `model` for the CPU, calls `compiled`, runs it on every portrait; every output, flattened. */
async function runAll(model: Uint8Array | ReadableStreamDefaultReader<Uint8Array>, compiled?: () => void): Promise<{ shapes: number[][]; outputs: number[][] }> {
  const m = await loadAndCompile(model, { accelerator: 'wasm' });
  compiled?.();
  try {
    const shapes = [...m.getInputDetails(), ...m.getOutputDetails()].map((d) => Array.from(d.shape));
    const outputs: number[][] = [];
    for (const input of inputs) {
      const tensor = new Tensor(input, [1, SIZE, SIZE, 3]);
      const results = await m.run(tensor);
      tensor.delete();
      const flat: number[] = [];
      for (const r of results) {
        flat.push(...Array.from(r.toTypedArray() as Float32Array));
        r.delete();
      }
      outputs.push(flat);
    }
    return { shapes, outputs };
  } finally {
    m.delete();
  }
}

/** What the test calls through page.evaluate. */
const litertTest = {
  async setup(imageUrl: string, rects: Array<[number, number, number, number]>): Promise<void> {
    inputs = (await portraits(imageUrl, rects)).map((image) => inputTensor(image, SIZE));
    await loadLiteRt(new URL('/litert/', location.href).href);
  },
  async plain(url: string): Promise<{ shapes: number[][]; outputs: number[][] }> {
    return runAll(await fetchBytes(url));
  },
  /** loadAndCompile(openSealedFileStream(...).getReader()). */
  async sealedStream(url: string, path: string, token: string, keyServer: string): Promise<{ shapes: number[][]; outputs: number[][] }> {
    const stream = await openSealedFileStream(url, path, { token, keyServer });
    return runAll(stream.getReader());
  },
  /** loadAndCompile(bytes from openSealedFiles), the bytes zeroed once the model is compiled. */
  async sealedBytes(url: string, path: string, token: string, keyServer: string): Promise<{ shapes: number[][]; outputs: number[][]; wiped: boolean }> {
    const bytes = (await openSealedFiles(url, { token, keyServer })).get(path)!;
    const result = await runAll(bytes, () => bytes.fill(0));
    return { ...result, wiped: bytes.length > 0 && bytes.every((b) => b === 0) };
  },
  /** The runtime given the reader of a stream that errors part-way: what its create call does. */
  async streamFailure(url: string, path: string, token: string, keyServer: string): Promise<string> {
    const stream = await openSealedFileStream(url, path, { token, keyServer });
    try {
      await runAll(stream.getReader());
      return 'created';
    } catch (err) {
      return `rejected: ${(err as { code?: string }).code ?? ''} ${String((err as Error).message ?? err)}`;
    }
  },
  storage,
};
(globalThis as unknown as { litertTest: typeof litertTest }).litertTest = litertTest;
