// Progress reporting: tfjs's onProgress contract, a fraction from 0 to 1 that never goes back.

/** Share of the progress bar spent before the first shard byte (manifest, key release, header). */
export const SETUP_SHARE = 0.05;

/** Reports a monotonic fraction from 0 to 1. */
export class Progress {
  #last = -1;
  constructor(private readonly callback: ((fraction: number) => void) | undefined) {}

  report(fraction: number): void {
    const f = Math.min(1, Math.max(0, fraction));
    if (!this.callback || f <= this.#last) return;
    this.#last = f;
    this.callback(f);
  }

  /** Reports `received` of `total` ciphertext bytes, stopping short of 1 until decryption has finished too. */
  download(received: number, total: number): void {
    this.report(SETUP_SHARE + (1 - SETUP_SHARE) * 0.999 * (total === 0 ? 1 : received / total));
  }
}
