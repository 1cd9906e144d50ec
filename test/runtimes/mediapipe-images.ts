// Browser side of the MediaPipe and LiteRT.js tests (no Node imports): the portraits cut out of the
// sample photo on a 2D canvas, as ImageData (MediaPipe's CPU input) or as the float tensor the
// face-detection model takes, and the storage check every page runs after a sealed load.

/** Decodes the photo at `url` and cuts out each rectangle (x, y, width, height) as ImageData. */
export async function portraits(url: string, rects: ReadonlyArray<readonly [number, number, number, number]>): Promise<ImageData[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const bitmap = await createImageBitmap(await response.blob());
  return rects.map(([x, y, w, h]) => {
    const canvas = new OffscreenCanvas(w, h);
    const context = canvas.getContext('2d', { willReadFrequently: true })!;
    context.drawImage(bitmap, x, y, w, h, 0, 0, w, h);
    return context.getImageData(0, 0, w, h);
  });
}

/** An image scaled to size×size, as NHWC float32 in [-1, 1] (BlazeFace's input normalisation). */
export function inputTensor(image: ImageData, size: number): Float32Array {
  const source = new OffscreenCanvas(image.width, image.height);
  source.getContext('2d')!.putImageData(image, 0, 0);
  const canvas = new OffscreenCanvas(size, size);
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  context.drawImage(source, 0, 0, size, size);
  const { data } = context.getImageData(0, 0, size, size);
  const out = new Float32Array(size * size * 3);
  for (let i = 0, j = 0; i < data.length; i += 4) {
    out[j++] = data[i]! / 127.5 - 1;
    out[j++] = data[i + 1]! / 127.5 - 1;
    out[j++] = data[i + 2]! / 127.5 - 1;
  }
  return out;
}

/** Names of every Cache Storage cache and IndexedDB database of the page's origin. */
export async function storage(): Promise<{ caches: string[]; databases: string[] }> {
  const databases = (await indexedDB.databases()).map((d) => d.name ?? '');
  return { caches: await caches.keys(), databases };
}

/** Fetches a plain file's bytes (the plain path the sealed one is compared with). */
export async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
