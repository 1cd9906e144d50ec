// What the demo page shows beside its result: the stages of a sealed load with their times, and the
// requests a visitor's Network tab sees (manifest, ciphertext, the wrapped key; never the key).
// The page passes `recordingFetch` as the loader's `fetch` option only to observe; the loader works
// the same with the browser's own fetch.

/** One request as the Network tab would list it. */
export interface SeenRequest {
  url: string;
  method: string;
  status: number;
  bytes: number;
  startMs: number;
  endMs: number;
  /** What a visitor sees in the response body: text for JSON, the first bytes in hex otherwise. */
  preview: string;
  /** The whole body, for JSON answers (the manifest names the header file). */
  json?: string;
}

/** A stage of the load with its start and end (ms since the load started). */
export interface Stage {
  name: string;
  startMs: number;
  endMs: number;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function previewOf(body: Uint8Array, contentType: string): string {
  if (contentType.includes('json')) {
    const text = new TextDecoder().decode(body);
    return text.length > 600 ? `${text.slice(0, 600)}…` : text;
  }
  return `${hex(body.subarray(0, 16))}${body.length > 16 ? ' …' : ''}`;
}

/** A fetch for the loader that records every request; times are relative to `origin()` (performance.now()). */
export function recordingFetch(seen: SeenRequest[], origin: () => number): { fetch: (input: string, init?: RequestInit) => Promise<Response>; settled: () => Promise<void> } {
  const pending: Array<Promise<void>> = [];
  const record = async (input: string, init?: RequestInit): Promise<Response> => {
    const startMs = performance.now() - origin();
    const response = await fetch(input, init);
    // Read a copy for the panel; the loader reads the original stream as usual.
    const copy = response.clone();
    pending.push(copy.arrayBuffer().then((buffer) => {
      const body = new Uint8Array(buffer);
      const type = response.headers.get('content-type') ?? '';
      seen.push({
        url: input, method: init?.method ?? 'GET', status: response.status, bytes: body.length, startMs, endMs: performance.now() - origin(),
        preview: previewOf(body, type), ...(type.includes('json') ? { json: new TextDecoder().decode(body) } : {}),
      });
    }, () => undefined));
    return response;
  };
  return { fetch: record, settled: async () => { await Promise.all(pending); } };
}

/** Splits the recorded requests into the stages a sealed load goes through. */
export function stagesOf(seen: SeenRequest[], token: Stage | undefined, modelUrl: string, releasePath: string, run: Stage): Stage[] {
  const span = (name: string, list: SeenRequest[]): Stage[] => list.length === 0 ? [] : [{ name, startMs: Math.min(...list.map((r) => r.startMs)), endMs: Math.max(...list.map((r) => r.endMs)) }];
  const manifest = seen.filter((r) => r.url === modelUrl);
  const release = seen.filter((r) => r.url.endsWith(releasePath));
  const files = seen.filter((r) => r.url !== modelUrl && !r.url.endsWith(releasePath));
  // The manifest names the header file (absent when the header is inline); the rest are shards.
  let headerPath: string | undefined;
  try {
    headerPath = (JSON.parse(manifest[0]?.json ?? '{}') as { header?: { path?: string } }).header?.path;
  } catch {
    headerPath = undefined;
  }
  const headerUrl = headerPath === undefined ? undefined : new URL(headerPath, modelUrl).href;
  const header = files.filter((r) => r.url === headerUrl);
  const shards = files.filter((r) => r.url !== headerUrl);
  return [
    ...span('manifest', manifest),
    ...(token ? [{ ...token, name: 'session token (your backend)' }] : []),
    ...span('key release', release),
    ...span('encrypted header', header),
    ...span('encrypted weights', shards),
    { ...run, name: 'running the model' },
  ];
}

function cell(row: HTMLTableRowElement, text: string, className?: string): void {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
}

/** Fills the stage table. */
export function showStages(table: HTMLTableElement, stages: Stage[]): void {
  for (const s of stages) {
    const row = table.insertRow();
    cell(row, s.name);
    cell(row, `${s.startMs.toFixed(0)} ms`, 'num');
    cell(row, `${(s.endMs - s.startMs).toFixed(0)} ms`, 'num');
  }
}

/** Fills the network table: what any visitor can read from the wire. */
export function showRequests(table: HTMLTableElement, seen: SeenRequest[]): void {
  for (const r of seen.slice().sort((a, b) => a.startMs - b.startMs)) {
    const row = table.insertRow();
    cell(row, `${r.method} ${new URL(r.url).pathname.split('/').slice(-2).join('/')}`);
    cell(row, String(r.status), 'num');
    cell(row, `${r.bytes} B`, 'num');
    cell(row, r.preview, 'preview');
  }
}
