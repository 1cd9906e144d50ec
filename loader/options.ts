// Options of sealedModel() and their validation. A wrong option type is the caller's programming
// mistake, so it throws TypeError at construction, the way tf.io.http's handler does.

import type { ChunkCipherFactory } from '../format/chunked.js';
import { ModelsealError } from '../format/errors.js';
import { checkKeyServerUrl, DIGEST_PATTERN, ID_PATTERN, parseManifest, parseManifestBytes, parseManifestText, type SealedManifest } from '../format/manifest.js';
import { isNode } from './runtime.js';

/** What a token provider is told: the model being loaded and the thumbprint of this load's key pair. */
export interface TokenRequest {
  modelId: string;
  keyId: string;
  /** RFC 7638 SHA-256 thumbprint of the ephemeral public key; put it in the token's `cnf.jkt` to bind the token to this load. */
  jkt: string;
}

/** A session token, or a function that fetches one (called once per load, after the key pair exists). */
export type TokenSource = string | ((request: TokenRequest) => string | Promise<string>);

/** The `fetch` signature the loader calls (the global `fetch` by default). */
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

/** Options of {@link sealedModel}. `token` is required, and `keyServer` unless `allowManifestKeyServer` is set. */
export interface SealedModelOptions {
  /** Session token (JWT) from the app's backend, or an async provider of one. */
  token: TokenSource;
  /** Key server base URL, from the app's own configuration (the trusted source). */
  keyServer?: string;
  /**
   * Without `keyServer`, take the key server from the manifest's unauthenticated `keyServer` field:
   * an allow-list of key-server origins (e.g. `['https://keys.example.com']`), or `true` for any
   * (development only: whoever can change model.json then receives the session token).
   */
  allowManifestKeyServer?: boolean | string[];
  /** The model id the app expects; a manifest naming another fails with `unexpected_model` before any key request. */
  modelId?: string;
  /** The key version the app expects (optional; use it to pin one sealing generation). */
  keyId?: string;
  /**
   * The sealing the app expects: the manifest's `sealing` (`modelseal seal --json` prints it). A
   * manifest naming another fails with `unexpected_model` before its key is used. With `modelId`,
   * `keyId` and `keyServer` also set, the key release (token provider and request) needs nothing
   * from the manifest and runs beside the manifest's download instead of after it.
   */
  sealing?: string;
  /**
   * The sealed model.json itself, as the build wrote it (the parsed object, its text or its bytes),
   * e.g. imported into the app's bundle: the loader then does not download it, so the key release,
   * the header and the shards all start at once (one round trip fewer). Checked exactly as a
   * downloaded one (`manifest_invalid`); the files are still fetched relative to the URL.
   */
  manifest?: object | string | Uint8Array;
  /** A request that sends nothing (no response, or no body bytes) for this long fails with `timeout` (default 30000 ms). */
  timeoutMs?: number;
  /** Replaces the global fetch for every request (manifest, header, shards, key release). */
  fetch?: FetchFunction;
  /** Extra fetch options (headers, credentials, mode…) for the model files; never sent to the key server. */
  requestInit?: RequestInit;
  /** Maps a file path from the manifest to the URL to fetch; default: relative to the manifest URL. */
  weightUrlConverter?: (path: string) => string | Promise<string>;
  /** Called with the fraction loaded, from 0 to 1, never decreasing. */
  onProgress?: (fraction: number) => void;
  /** Cancels the load; the load then rejects with code `aborted`. */
  signal?: AbortSignal;
  /** Files downloaded at once (default 4). */
  maxConcurrentRequests?: number;
  /** AES-GCM decrypt calls in flight across all shards (default 4). */
  decryptConcurrency?: number;
  /**
   * Return `getWeightStream` instead of `weightData`, so tfjs builds tensors as chunks decrypt
   * (tfjs ≥ 4.13 graph models). Set it here: tfjs does not pass its own `streamWeights` load option
   * to a handler object.
   */
  streamWeights?: boolean;
  /**
   * The AES-256-GCM chunk implementation. Default: node:crypto when running in Node (WebCrypto
   * with streamWeights), WebCrypto elsewhere; pass `webCryptoChunkCipher` (modelseal/format) to
   * use WebCrypto in Node too.
   */
  cipher?: ChunkCipherFactory;
  /**
   * Keep the sealed files and the key for offline loads when the key server grants a lease
   * (docs/LOADER.md "Offline leases"). Browsers only: in Node the load fails with `offline_unavailable`.
   */
  offline?: boolean;
  /**
   * Node only: the `Origin` header the key-release request sends (e.g. `"https://app.example"`),
   * for models whose key-server policy lists allowed origins. Browsers send the page's origin
   * themselves and forbid setting it, so this option is refused there.
   */
  origin?: string;
}

/** Options after validation, defaults applied. */
export interface ResolvedOptions {
  token: TokenSource;
  keyServer: string | undefined;
  allowManifestKeyServer: true | string[] | undefined;
  modelId: string | undefined;
  keyId: string | undefined;
  sealing: string | undefined;
  /** The app's copy of the manifest, parsed and checked; undefined: download it. */
  manifest: SealedManifest | undefined;
  timeoutMs: number;
  fetch: FetchFunction | undefined;
  requestInit: RequestInit;
  weightUrlConverter: ((path: string) => string | Promise<string>) | undefined;
  onProgress: ((fraction: number) => void) | undefined;
  signal: AbortSignal | undefined;
  maxConcurrentRequests: number;
  decryptConcurrency: number;
  streamWeights: boolean;
  cipher: ChunkCipherFactory | undefined;
  offline: boolean;
  origin: string | undefined;
}

const KNOWN = new Set([
  'token', 'keyServer', 'allowManifestKeyServer', 'modelId', 'keyId', 'sealing', 'manifest', 'timeoutMs', 'fetch', 'requestInit', 'weightUrlConverter', 'onProgress', 'signal',
  'maxConcurrentRequests', 'decryptConcurrency', 'streamWeights', 'cipher', 'offline', 'origin',
]);

function positiveInt(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 64) {
    throw new TypeError(`sealedModel: options.${name} must be an integer from 1 to 64, got ${String(value)}`);
  }
  return value as number;
}

function optionalFunction<T>(value: unknown, name: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`sealedModel: options.${name} must be a function, got ${typeof value}`);
  return value as T;
}

function optionalCipher(value: unknown): ChunkCipherFactory | undefined {
  if (value === undefined) return undefined;
  const c = value as Partial<Record<keyof ChunkCipherFactory, unknown>> | null;
  if (typeof c !== 'object' || c === null || typeof c.forFile !== 'function' || typeof c.hmacSha512 !== 'function' || typeof c.sha256 !== 'function') {
    throw new TypeError('sealedModel: options.cipher must be a ChunkCipherFactory ({ forFile, hmacSha512, sha256 }), such as webCryptoChunkCipher from modelseal/format');
  }
  return value as ChunkCipherFactory;
}

/** Default stall timeout of every request the loader makes. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Checks allowManifestKeyServer: true, or a list of origins (`https://host[:port]`). */
function checkAllowList(value: unknown): true | string[] | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return true;
  const bad = () => new TypeError(`sealedModel: options.allowManifestKeyServer must be true or a list of key-server origins such as "https://keys.example.com", got ${JSON.stringify(value)}`);
  if (!Array.isArray(value) || value.length === 0) throw bad();
  return value.map((origin: unknown) => {
    if (typeof origin !== 'string') throw bad();
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      throw bad();
    }
    if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== origin.replace(/\/$/, '')) throw bad();
    return url.origin;
  });
}

/** Checks the Node-only `origin` option: an exact `scheme://host[:port]`, and only outside a browser. */
function checkOrigin(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (!isNode()) {
    throw new TypeError('sealedModel: options.origin works only in Node: a browser sends the page\'s own Origin with the key request and forbids setting it; add the page\'s origin to the model\'s origins in the key-server config instead');
  }
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== value) {
    throw new TypeError(`sealedModel: options.origin must be an origin such as "https://app.example" (scheme://host[:port], no path or trailing slash), got ${JSON.stringify(value)?.slice(0, 80)}`);
  }
  return url.origin;
}

/** Parses and checks the `manifest` option (the app's copy of the sealed model.json); throws manifest_invalid naming the option. */
function appManifest(value: unknown): SealedManifest | undefined {
  if (value === undefined) return undefined;
  const isBytes = value instanceof Uint8Array;
  if (typeof value !== 'string' && !isBytes && (typeof value !== 'object' || value === null)) {
    throw new TypeError('sealedModel: options.manifest must be the sealed model.json: its parsed object, its text or its bytes');
  }
  try {
    return typeof value === 'string' ? parseManifestText(value) : isBytes ? parseManifestBytes(value) : parseManifest(value);
  } catch (err) {
    if (err instanceof ModelsealError) throw new ModelsealError(err.code, `options.manifest: ${err.message}; pass the model.json that \`modelseal seal\` wrote`, { cause: err.cause, file: 'options.manifest' });
    throw err;
  }
}

/** Checks the URL argument; returns it unchanged. */
export function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0) {
    throw new TypeError('sealedModel: the first argument must be the URL of the sealed model.json (a non-empty string)');
  }
  return url;
}

/** Validates options and applies defaults; throws TypeError naming the bad option. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('sealedModel: options are required, at least { token }');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw new TypeError(`sealedModel: unknown option ${JSON.stringify(key)}; known options: ${[...KNOWN].join(', ')}`);
  }
  const token = o['token'];
  if (typeof token !== 'string' && typeof token !== 'function') {
    throw new TypeError('sealedModel: options.token must be the session token (a string) or a function returning one (or a promise of one)');
  }
  const keyServer = o['keyServer'];
  if (keyServer !== undefined) checkKeyServerUrl(keyServer, 'options.keyServer', (field, problem) => new TypeError(`sealedModel: ${field} ${problem}, got ${JSON.stringify(String(keyServer).slice(0, 80))}`));
  const allowManifestKeyServer = checkAllowList(o['allowManifestKeyServer']);
  if (keyServer === undefined && allowManifestKeyServer === undefined) {
    throw new TypeError('sealedModel: options.keyServer is required: pass your key server\'s URL from the app\'s configuration (the manifest\'s keyServer field is not authenticated; set allowManifestKeyServer to an allow-list of key-server origins to use it anyway)');
  }
  for (const name of ['modelId', 'keyId'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'string' || !ID_PATTERN.test(v))) throw new TypeError(`sealedModel: options.${name} must be a model or key id (1 to 128 of A-Z a-z 0-9 . _ -), got ${JSON.stringify(v)}`);
  }
  const sealing = o['sealing'];
  if (sealing !== undefined && (typeof sealing !== 'string' || !DIGEST_PATTERN.test(sealing))) {
    throw new TypeError(`sealedModel: options.sealing must be a sealing as the manifest names it (43 characters of base64url, a SHA-256 digest), got ${JSON.stringify(sealing)?.slice(0, 80)}`);
  }
  const timeoutMs = o['timeoutMs'];
  if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || (timeoutMs as number) < 1)) throw new TypeError(`sealedModel: options.timeoutMs must be a positive integer (milliseconds), got ${String(timeoutMs)}`);
  const requestInit = o['requestInit'];
  if (requestInit !== undefined) {
    if (typeof requestInit !== 'object' || requestInit === null) throw new TypeError('sealedModel: options.requestInit must be an object (a fetch RequestInit)');
    // Same rule as tf.io.http: the loader sends GET requests, a body makes no sense.
    if ((requestInit as RequestInit).body != null) throw new TypeError('sealedModel: options.requestInit must not have a body');
  }
  const signal = o['signal'];
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof (signal as AbortSignal).aborted !== 'boolean')) {
    throw new TypeError('sealedModel: options.signal must be an AbortSignal');
  }
  const streamWeights = o['streamWeights'];
  if (streamWeights !== undefined && typeof streamWeights !== 'boolean') throw new TypeError('sealedModel: options.streamWeights must be a boolean');
  const offline = o['offline'];
  if (offline !== undefined && typeof offline !== 'boolean') throw new TypeError('sealedModel: options.offline must be a boolean');
  return {
    token: token as TokenSource,
    keyServer: keyServer as string | undefined,
    allowManifestKeyServer,
    modelId: o['modelId'] as string | undefined,
    keyId: o['keyId'] as string | undefined,
    sealing: sealing as string | undefined,
    manifest: appManifest(o['manifest']),
    timeoutMs: (timeoutMs as number | undefined) ?? DEFAULT_TIMEOUT_MS,
    fetch: optionalFunction<FetchFunction>(o['fetch'], 'fetch'),
    requestInit: (requestInit as RequestInit | undefined) ?? {},
    weightUrlConverter: optionalFunction(o['weightUrlConverter'], 'weightUrlConverter'),
    onProgress: optionalFunction(o['onProgress'], 'onProgress'),
    signal: signal as AbortSignal | undefined,
    maxConcurrentRequests: positiveInt(o['maxConcurrentRequests'], 'maxConcurrentRequests', 4),
    decryptConcurrency: positiveInt(o['decryptConcurrency'], 'decryptConcurrency', 4),
    streamWeights: (streamWeights as boolean | undefined) ?? false,
    cipher: optionalCipher(o['cipher']),
    offline: (offline as boolean | undefined) ?? false,
    origin: checkOrigin(o['origin']),
  };
}
