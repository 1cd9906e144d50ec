// BlazeFace (MediaPipe's short-range face detector, as converted in @vladmandic/human, MIT) pre- and
// post-processing. Shared by the demo page, `modelseal demo` and the tests so that all three decode
// the model's output the same way. Decoding is plain JavaScript on the output arrays, not tf ops, so
// that the result depends only on the model's raw output.
import type * as tfTypes from '@tensorflow/tfjs';

/** The model's square input side, in pixels. */
export const INPUT_SIZE = 256;

/** One detected face: box corners in [0, 1] image coordinates, and the detector's confidence. */
export interface Face {
  box: [x1: number, y1: number, x2: number, y2: number];
  score: number;
}

/** Tuning for {@link decodeFaces}. */
export interface DecodeOptions {
  minScore?: number;
  iouThreshold?: number;
  maxFaces?: number;
}

/** Resizes an RGB image tensor to the model's input and scales it to [-1, 1], as BlazeFace was trained. */
export function preprocess(tf: typeof tfTypes, image: tfTypes.Tensor3D): tfTypes.Tensor4D {
  return tf.tidy(() => {
    const resized = tf.image.resizeBilinear(image.toFloat().expandDims(0) as tfTypes.Tensor4D, [INPUT_SIZE, INPUT_SIZE]);
    return resized.div(127.5).sub(1) as tfTypes.Tensor4D;
  });
}

/**
 * Runs the model and returns its output as one row per anchor: [logit, dx, dy, w, h, 12 landmark values].
 * The converted model answers with four tensors (scores and boxes for the 512 anchors of the 16×16 grid
 * and the 384 anchors of the 8×8 grid); they are ordered by size, as the human library does.
 */
export async function runRaw(tf: typeof tfTypes, model: tfTypes.GraphModel, input: tfTypes.Tensor4D): Promise<Float32Array> {
  const outputs = model.execute(input) as tfTypes.Tensor[];
  const joined = tf.tidy(() => {
    const [s384, s512, b384, b512] = [...outputs].sort((a, b) => a.size - b.size) as tfTypes.Tensor3D[];
    const rows512 = tf.concat([s512!, b512!], 2);
    const rows384 = tf.concat([s384!, b384!], 2);
    return tf.concat([rows512, rows384], 1);
  });
  tf.dispose(outputs);
  const data = (await joined.data()) as Float32Array;
  joined.dispose();
  return data;
}

/** The anchor centres, in input pixels, in the order of the model's rows. */
function anchors(): [number, number][] {
  const out: [number, number][] = [];
  for (const [stride, perCell] of [[16, 2], [32, 6]] as const) {
    const cells = INPUT_SIZE / stride;
    for (let y = 0; y < cells; y++) {
      for (let x = 0; x < cells; x++) {
        for (let n = 0; n < perCell; n++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
      }
    }
  }
  return out;
}

const ROW = 17;

/** Turns the raw output rows into faces: sigmoid scores, anchor-relative boxes, greedy non-max suppression. */
export function decodeFaces(raw: Float32Array, options: DecodeOptions = {}): Face[] {
  const minScore = options.minScore ?? 0.5;
  const iouThreshold = options.iouThreshold ?? 0.3;
  const maxFaces = options.maxFaces ?? 10;
  const centres = anchors();
  if (raw.length !== centres.length * ROW) throw new Error(`blazeface: expected ${centres.length * ROW} outputs, got ${raw.length}`);
  const candidates: Face[] = [];
  for (let i = 0; i < centres.length; i++) {
    const r = i * ROW;
    const score = 1 / (1 + Math.exp(-raw[r]!));
    if (score < minScore) continue;
    const [ax, ay] = centres[i]!;
    const cx = (raw[r + 1]! + ax) / INPUT_SIZE;
    const cy = (raw[r + 2]! + ay) / INPUT_SIZE;
    const w = raw[r + 3]! / INPUT_SIZE;
    const h = raw[r + 4]! / INPUT_SIZE;
    candidates.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score });
  }
  candidates.sort((a, b) => b.score - a.score);
  const kept: Face[] = [];
  for (const face of candidates) {
    if (kept.length >= maxFaces) break;
    if (kept.every((k) => iou(k.box, face.box) <= iouThreshold)) kept.push(face);
  }
  return kept;
}

function iou(a: Face['box'], b: Face['box']): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}
