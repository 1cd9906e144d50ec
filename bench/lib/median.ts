// The benches' median, apart from measure.ts (which imports Node modules) so that page bundles can use it.

/** The median of `values`. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
