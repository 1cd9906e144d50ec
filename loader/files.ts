// Fetching the public model files (manifest, header, shards) and turning failures into coded errors.

import { concatBytes } from '../format/bytes.js';
import { ModelsealError } from '../format/errors.js';
import { abortedError, abortReason } from './abort.js';
import type { FetchFunction } from './options.js';
import { isNode } from './runtime.js';

/** A `fetch` that also reads file: URLs in Node, where the built-in fetch cannot. */
export function chooseFetch(custom: FetchFunction | undefined): FetchFunction {
  if (custom) return custom;
  return (input, init) => (isFileUrl(input) && isNode() ? fetchNodeFile(input, init) : globalThis.fetch(input, init));
}

function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

interface FileHandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

interface FsPromisesLike {
  open(path: string | URL, flags: string): Promise<FileHandleLike>;
}

// The specifier is a variable so that bundlers leave it alone and the browser build (types: [])
// never sees Node's fs; this branch only runs in Node for file: URLs when no custom fetch is given.
const FS_SPECIFIER = 'node:fs/promises';
const FILE_PIECE = 1024 * 1024;

/** Reads a file: URL as a streaming Response (404 when the file is missing). Node only. */
async function fetchNodeFile(url: string, init?: RequestInit): Promise<Response> {
  const signal = init?.signal ?? undefined;
  if (signal?.aborted) throw abortReason(signal);
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ FS_SPECIFIER)) as FsPromisesLike;
  let handle: FileHandleLike;
  try {
    handle = await fs.open(new URL(url), 'r');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return new Response(null, { status: 404, statusText: 'Not Found' });
    throw err;
  }
  let closed = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await handle.close();
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (signal?.aborted) throw abortReason(signal);
        const piece = new Uint8Array(FILE_PIECE);
        const { bytesRead } = await handle.read(piece, 0, piece.length, null);
        if (bytesRead === 0) {
          await close();
          controller.close();
        } else {
          controller.enqueue(bytesRead === piece.length ? piece : piece.subarray(0, bytesRead));
        }
      } catch (err) {
        await close().catch(() => undefined);
        controller.error(err);
      }
    },
    async cancel() {
      await close();
    },
  });
  return new Response(body, { status: 200 });
}

/**
 * A stall deadline for one request: it fires when the network gave nothing (no response, or no
 * body bytes for a pending read) for `ms` milliseconds. A slow download that keeps moving is not
 * cut, and time the loader spends on its own side (waiting for the key, decrypting) does not
 * count: readers `kick()` before each read and `pause()` after it. Its signal follows `outer`.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #ms: number;
  readonly #what: string;
  readonly #unlink: () => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the current wait on the network began; undefined while paused. */
  #since: number | undefined;
  #fired = false;

  constructor(ms: number, what: string, outer: AbortSignal | undefined) {
    this.#ms = ms;
    this.#what = what;
    const onAbort = () => this.#controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    this.#unlink = () => outer?.removeEventListener('abort', onAbort);
  }

  /** The signal to pass to fetch: aborted by the caller's signal or by the deadline. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the deadline (not the caller) stopped the request. */
  get fired(): boolean {
    return this.#fired;
  }

  /** Stops the stall clock while the loader, not the network, is busy. */
  pause(): void {
    this.#since = undefined;
  }

  /** Restarts the stall clock: call it before waiting on the network. */
  kick(): void {
    if (this.#controller.signal.aborted) return;
    // kick/pause run around every read (several per chunk), so they only note the time: one timer
    // stays armed and, when it fires early, re-arms for what is left of the current wait
    // (a setTimeout/clearTimeout pair per read cost ~1 ms per load, measured: docs/LOADER.md).
    this.#since = performance.now();
    if (this.#timer === undefined) this.#arm(this.#ms);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#since === undefined || this.#controller.signal.aborted) return; // paused: the next kick re-arms
      const left = this.#since + this.#ms - performance.now();
      if (left > 0) {
        this.#arm(left);
        return;
      }
      this.#fired = true;
      this.#controller.abort(this.error());
    }, ms);
  }

  /**
   * Cancels `reader` when the deadline fires or the caller aborts, and returns the unlink. Aborting
   * the fetch does not always end a read already waiting (undici leaves it pending when a body's
   * Content-Encoding is not what it says, so a load hung and a Node program exited mid-load);
   * cancelling the reader does, with `done`, which the reader then reports as this stop.
   */
  cancelOnStop(reader: { cancel(reason?: unknown): Promise<void> }): () => void {
    const signal = this.#controller.signal;
    const onStop = () => void reader.cancel(signal.reason).catch(() => undefined);
    if (signal.aborted) onStop();
    else signal.addEventListener('abort', onStop, { once: true });
    return () => signal.removeEventListener('abort', onStop);
  }

  /** Stops the timer for good (the request is over). */
  clear(): void {
    this.#since = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unlink();
  }

  /** The `timeout` error this deadline reports. */
  error(): ModelsealError {
    return new ModelsealError('timeout', `${this.#what} sent nothing for ${this.#ms / 1000} s, so the loader gave up: check the network and the host, or raise options.timeoutMs`, { file: this.#what });
  }
}

/** Maps a failure while fetching or reading `url` to a coded error (aborts win, then the deadline). */
export function fileError(err: unknown, url: string, signal: AbortSignal | undefined, deadline?: Deadline): ModelsealError {
  if (deadline?.fired) return deadline.error();
  if (signal?.aborted) return abortedError(signal, url);
  if (err instanceof ModelsealError) return err;
  return new ModelsealError('file_unavailable', `could not download ${url}: network error (${networkReason(err)}); check the URL, the network, the host's CORS settings and, in a page with a Content-Security-Policy, that its connect-src lists the host`, { cause: err, file: url });
}

/**
 * A network failure's message with its causes (Node's fetch says "fetch failed" and puts the
 * reason, such as "redirect count exceeded", in `cause`), at most three deep.
 */
export function networkReason(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.includes(message)) parts.push(message);
    if (!(e instanceof Error)) break;
  }
  return parts.join(': ') || 'unknown error';
}

/**
 * GETs a model file; rejects with `file_unavailable` on a network error or non-2xx status, and
 * `timeout` when `deadline` fires first (the caller kicks it as body bytes arrive).
 */
export async function getFile(fetchFn: FetchFunction, url: string, init: RequestInit, signal: AbortSignal | undefined, deadline?: Deadline): Promise<Response> {
  let response: Response;
  try {
    deadline?.kick();
    response = await fetchFn(url, { ...init, method: 'GET', signal: deadline?.signal ?? signal ?? null });
  } catch (err) {
    throw fileError(err, url, signal, deadline);
  } finally {
    deadline?.pause();
  }
  if (!response.ok) {
    // Drop the error body unread; nothing useful is in it for the caller.
    response.body?.cancel().catch(() => undefined);
    throw new ModelsealError('file_unavailable', `could not download ${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}; ${statusHint(response.status)}`, { file: url, status: response.status });
  }
  return response;
}

/** What to check for a model file's error status. */
function statusHint(status: number): string {
  if (status === 401 || status === 403) return 'the host refused access: check its access rules (a signed URL\'s query is passed on to every file; other credentials go in requestInit or weightUrlConverter)';
  if (status >= 500) return 'the host failed: try again later, and tell its operator if it persists';
  return 'check that every sealed file was uploaded next to model.json';
}

/** Reads a whole small response body (a manifest or header) of at most `limit.max` bytes, mapping failures like getFile does. */
export async function readBytes(
  response: Response,
  url: string,
  signal: AbortSignal | undefined,
  limit: { max: number; tooLarge: () => ModelsealError },
  deadline?: Deadline,
): Promise<Uint8Array> {
  // A hostile or broken host may send far more than a manifest or header can be: stop reading at
  // the limit instead of buffering whatever arrives. The bytes are counted as they are decoded, not
  // by Content-Length, which counts a compressed body's bytes (a CDN may gzip the sealed header).
  try {
    if (!response.body) {
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length > limit.max) throw limit.tooLarge();
      return bytes;
    }
    const reader = response.body.getReader();
    const unlink = deadline?.cancelOnStop(reader);
    const parts: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        deadline?.kick();
        const { done, value } = await reader.read();
        deadline?.pause();
        if (deadline?.signal.aborted) throw deadline.signal.reason;
        if (done) break;
        total += value.byteLength;
        if (total > limit.max) {
          await reader.cancel().catch(() => undefined);
          throw limit.tooLarge();
        }
        parts.push(value);
      }
    } finally {
      unlink?.();
    }
    return concatBytes(...parts);
  } catch (err) {
    if (err instanceof ModelsealError && !deadline?.fired) throw err;
    throw fileError(err, url, signal, deadline);
  }
}

/** Fetches a small file (manifest or header) whole, within `max` bytes and the stall deadline. */
export async function fetchSmallFile(
  fetchFn: FetchFunction,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
  timeoutMs: number,
  limit: { max: number; tooLarge: () => ModelsealError },
): Promise<Uint8Array> {
  const deadline = new Deadline(timeoutMs, url, signal);
  try {
    return await readBytes(await getFile(fetchFn, url, init, signal, deadline), url, signal, limit, deadline);
  } finally {
    deadline.clear();
  }
}

/**
 * Resolves a file path named in the manifest to the URL to fetch: relative to the manifest URL,
 * with the manifest URL's query when the path has none (as `tf.io.http` does for weight files), so
 * that a signed-URL token or a cache-busting `?v=` reaches the header and the shards too.
 */
export async function resolveFileUrl(
  path: string,
  manifestUrl: string,
  converter: ((path: string) => string | Promise<string>) | undefined,
): Promise<string> {
  if (converter) {
    const url = await converter(path);
    if (typeof url !== 'string' || url.length === 0) throw new TypeError(`sealedModel: weightUrlConverter(${JSON.stringify(path)}) must return a URL string`);
    return url;
  }
  const url = new URL(path, manifestUrl);
  const { search, protocol } = new URL(manifestUrl);
  if (search && !url.search && (protocol === 'http:' || protocol === 'https:')) url.search = search;
  return url.href;
}

/** The absolute manifest URL: relative URLs resolve against the page, as fetch would. */
export function absoluteUrl(url: string): string {
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(url, base).href;
  } catch (cause) {
    throw new TypeError(`sealedModel: ${JSON.stringify(url)} is not an absolute URL and there is no page to resolve it against; pass an absolute http(s): or file: URL`, { cause });
  }
}
