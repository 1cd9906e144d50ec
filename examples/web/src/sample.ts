// The sample picture: one portrait cut from @vladmandic/human's assets/samples.jpg (MIT), which the
// demo serves as sample.jpg. [x, y, width, height] in the source image's pixels.

/** The region of sample.jpg that the demo runs the detector on. */
export const SAMPLE_CROP: readonly [number, number, number, number] = [165, 0, 155, 158];
