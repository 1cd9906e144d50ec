// The plain side of the ONNX benches: a file set fetched from the static server, as the runtime
// would be handed it without modelseal. Browser-safe (bench/lib/onnx-page.ts bundles it).

/** Fetches `<base>/<path>` for every path, in parallel; relative path → bytes. */
export async function fetchSet(base: string, paths: string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  await Promise.all(paths.map(async (path) => {
    const response = await fetch(`${base}/${path}`);
    if (!response.ok) throw new Error(`${base}/${path}: HTTP ${response.status}`);
    out.set(path, new Uint8Array(await response.arrayBuffer()));
  }));
  return out;
}
