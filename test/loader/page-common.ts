// What the browser page scripts share (bundled into each by esbuild; browser code, no Node): hex and
// SHA-256 of bytes, a fingerprint of a loaded graph model (every weight's digest and one
// prediction's bytes) to compare with the plain model's, and fetches that log the order of a
// load's requests (shared with the Node tests). tfjs is passed in, so a page without a runtime can
// use the rest without bundling it.

import type * as tfTypes from '@tensorflow/tfjs';

/** A loaded model's fingerprint: SHA-256 (hex) of every weight tensor's bytes by name, and the prediction's bytes (hex). */
export interface ModelFingerprint {
  weights: Record<string, string>;
  prediction: string;
}

/** Lowercase hex of `bytes`. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 of `bytes`, hex. */
export async function sha256(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource)));
}

/** Fingerprints `model` (a fixed input, one prediction), then disposes it. */
export async function fingerprint(tf: typeof tfTypes, model: tfTypes.GraphModel): Promise<ModelFingerprint> {
  const weights: Record<string, string> = {};
  for (const [name, tensors] of Object.entries(model.weights)) {
    const data = tensors[0]!.dataSync() as Float32Array | Int32Array;
    weights[name] = await sha256(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  const input = model.inputs[0]!;
  const shape = (input.shape ?? [1]).map((d) => (d === -1 ? 1 : d));
  const size = shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(Float32Array.from({ length: size }, (_, i) => ((i * 7919) % 1000) / 1000), shape, 'float32');
  const y = model.predict(x) as tfTypes.Tensor;
  const out = y.dataSync() as Float32Array;
  const prediction = hex(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  tf.dispose([x, y]);
  model.dispose();
  return { weights, prediction };
}

/** Loads the plain model at `url` on the CPU backend and fingerprints it. */
export async function loadPlain(tf: typeof tfTypes, url: string): Promise<ModelFingerprint> {
  await tf.setBackend('cpu');
  return fingerprint(tf, await tf.loadGraphModel(url));
}

/** A caught error as the tests compare it: its code (when it has one) and message. */
export function errorOf(err: unknown): { code: string | undefined; message: string; retryAfter?: number } {
  const retryAfter = (err as { retryAfter?: number }).retryAfter;
  return { code: (err as { code?: string }).code, message: (err as Error).message, ...(retryAfter === undefined ? {} : { retryAfter }) };
}

type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

/** A fetch that logs requests in order ("manifest sent", "release sent", "file sent", "manifest answered") and answers model.json only once `hold` (if set) resolves. */
export function loggingFetch(log: string[], hold?: Promise<void>): FetchFunction {
  return async (input, init) => {
    const what = input.endsWith('/v2/release') ? 'release' : input.endsWith('/model.json') ? 'manifest' : 'file';
    log.push(`${what} sent`);
    if (what === 'manifest' && hold) await hold;
    const response = await fetch(input, init);
    if (what === 'manifest') log.push('manifest answered');
    return response;
  };
}

/**
 * A logging fetch whose manifest answer waits for the release request, at most 5 s: with the early
 * release the log reads manifest sent, release sent, manifest answered; without it the release
 * comes after the answer (and the load 5 s later), so a regression fails on the order, not a hang.
 */
export function releaseFirstFetch(log: string[]): FetchFunction {
  let released!: () => void;
  const releaseSent = new Promise<void>((resolve) => (released = resolve));
  const fallback = setTimeout(() => released(), 5000);
  const fetchFn = loggingFetch(log, releaseSent);
  return (input, init) => {
    if (input.endsWith('/v2/release')) {
      clearTimeout(fallback);
      released();
    }
    return fetchFn(input, init);
  };
}
