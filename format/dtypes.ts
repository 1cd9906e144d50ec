// Byte sizes of TF.js weight dtypes (tfjs's DTYPE_VALUE_SIZE_MAP, plus the quantized ones), for
// the CLI's checks before sealing and the loader's weight stream.

/** Bytes per value of each fixed-size TF.js weight dtype (strings have no fixed size). */
export const DTYPE_VALUE_SIZE: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** A weight spec as model.json lists it: quantized weights are stored in their quantization dtype. */
export interface WeightSpecLike {
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string } | undefined;
}

/** Byte length of each weight, in order, or undefined when one cannot be known up front (strings). */
export function weightByteLengths(specs: readonly WeightSpecLike[]): number[] | undefined {
  const out: number[] = [];
  for (const spec of specs) {
    const size = DTYPE_VALUE_SIZE[spec.quantization?.dtype ?? spec.dtype];
    // typeof, not undefined: a dtype such as "constructor" would find Object.prototype's.
    if (typeof size !== 'number') return undefined;
    out.push(size * spec.shape.reduce((a, b) => a * b, 1));
  }
  return out;
}
