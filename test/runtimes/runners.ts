// Runners shared by the Node tests, the Chromium page scripts and the bench (browser-safe: no Node
// imports): fixed inputs fed through any ONNX Runtime module, outputs flattened for comparison.

/** Deterministic pseudo-random floats in [-1, 1) (a fixed LCG: the same model bytes every run). */
export function floats(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** The part of an ONNX Runtime module the runners use (web and node share it). */
export interface OrtModule {
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims?: readonly number[]) => unknown;
}

/** An ONNX Runtime session, as far as the runners use it. */
export interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
  release?(): Promise<void>;
}

/** Silero VAD over eight 512-sample windows (with 64 samples of context) of a chirp with noise, state carried: every output, flattened. */
export async function runSilero(ort: OrtModule, session: OrtSession): Promise<number[]> {
  const window = 512 + 64;
  const noise = floats(window * 8, 11);
  let state = new Float32Array(2 * 128);
  const out: number[] = [];
  for (let w = 0; w < 8; w++) {
    const input = new Float32Array(window);
    for (let i = 0; i < window; i++) input[i] = 0.5 * Math.sin((w * window + i) * (0.01 + w * 0.004)) + 0.1 * noise[w * window + i]!;
    const feeds: Record<string, unknown> = { input: new ort.Tensor('float32', input, [1, window]), state: new ort.Tensor('float32', state, [2, 1, 128]) };
    if (session.inputNames.includes('sr')) feeds['sr'] = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    const result = await session.run(feeds);
    out.push(...Array.from(result[session.outputNames[0]!]!.data as Float32Array));
    state = new Float32Array(result[session.outputNames[1]!]!.data as Float32Array);
  }
  out.push(...Array.from(state));
  return out;
}

/** A model of one float input (the external-data model, PP-OCR's detector) on fixed values of `inputShape`: its first output, flattened. */
export async function runFloatInput(ort: OrtModule, session: OrtSession, inputShape: readonly number[]): Promise<number[]> {
  const x = floats(inputShape.reduce((n, d) => n * d, 1), 9);
  const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x, inputShape) });
  return Array.from(result[session.outputNames[0]!]!.data as Float32Array);
}

