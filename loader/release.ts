// The key-release client (docs/PROTOCOL.md): an ephemeral ECDH key pair, POST /v2/release, and the
// content key unwrapped from the compact JWE straight into a non-extractable CryptoKey.

import { calculateJwkThumbprint, compactDecrypt } from 'jose';
import { importInputKey } from '../format/chunked.js';
import { isModelsealError, ModelsealError } from '../format/errors.js';
import { abortedError } from './abort.js';
import { Deadline, networkReason, readBytes } from './files.js';
import type { SealedManifest } from '../format/manifest.js';
import type { ReadGate } from './shard-body.js';
import type { FetchFunction, TokenRequest, TokenSource } from './options.js';
import { serverHint } from './server-codes.js';
import { traced, traceEnd, traceStart } from './trace.js';

/** Longest Retry-After the loader waits out before retrying a 429 once. */
const MAX_RETRY_WAIT_SECONDS = 5;
/** A key release answer is a few hundred bytes; a larger body is not one (and is not read whole). */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** What a key release names, from the manifest or, when the app pins all of it, from the app. */
export type ReleaseTarget = Pick<SealedManifest, 'modelId' | 'keyId' | 'sealing'>;

/** What releaseContentKey needs. */
export interface ReleaseRequest {
  /** The model, key version and sealing to release for: the manifest's, or the app's pins of them. */
  manifest: ReleaseTarget;
  keyServer: string;
  token: TokenSource;
  fetch: FetchFunction;
  signal: AbortSignal | undefined;
  /** Stall timeout of the release request, in milliseconds. */
  timeoutMs: number;
  /** Ask for an offline lease; `onLease` then hears the lease granted (the JWE header `lease`) or undefined. */
  offline?: { onLease: (lease: number | undefined) => void };
  /** Node only: the Origin header to send (options.origin). */
  origin?: string | undefined;
  /** This load's key pair, when made ahead (ephemeralKeyPair(), e.g. while the manifest downloads); else made here. Use each for one release only. */
  keyPair?: Promise<EphemeralKeyPair> | undefined;
  /** Held from the answer until the key is imported: the load's shard reads wait meanwhile. */
  gate?: ReadGate | undefined;
}

/** One load's ephemeral ECDH key pair: the private key (non-extractable), its public JWK and thumbprint. */
export interface EphemeralKeyPair {
  privateKey: CryptoKey;
  /** `{kty: "OKP", crv: "X25519", x}` or `{kty: "EC", crv: "P-256", x, y}`. */
  epk: { kty: string; crv: string; x: string; y?: string };
  /** RFC 7638 SHA-256 thumbprint of `epk`. */
  jkt: string;
}

/**
 * The curves of a load's key pair, best first. X25519 costs the key server about a third less
 * CPU per release than P-256, and the loader less to make and unwrap (bench/keyserver.ts,
 * docs/LOADER.md); WebCrypto has it in Node 20 and Chromium 133+ (tested), Firefox 130+ and
 * Safari 17+ (by their release notes).
 * Elsewhere P-256, which every WebCrypto has. The server accepts both (docs/PROTOCOL.md).
 */
const CURVES: ReadonlyArray<AlgorithmIdentifier | EcKeyGenParams> = [{ name: 'X25519' }, { name: 'ECDH', namedCurve: 'P-256' }];

/** A key pair on the first of CURVES this WebCrypto has (a failed try costs microseconds, so none is remembered). */
async function generateKeyPair(subtle: SubtleCrypto): Promise<CryptoKeyPair> {
  for (let i = 0; ; i++) {
    try {
      return (await subtle.generateKey(CURVES[i]!, false, ['deriveBits'])) as CryptoKeyPair;
    } catch (err) {
      // A WebCrypto without the curve: NotSupportedError, or a TypeError in older engines.
      if (i === CURVES.length - 1) throw err;
    }
  }
}

/**
 * Makes one load's ephemeral ECDH key pair, X25519 where WebCrypto has it, else P-256. The
 * private key never leaves WebCrypto (extractable: false). It needs nothing from the manifest, so
 * a load makes it while the manifest downloads; each pair serves exactly one release.
 */
export async function ephemeralKeyPair(): Promise<EphemeralKeyPair> {
  const started = traceStart();
  const subtle = globalThis.crypto?.subtle;
  // The first WebCrypto call of a load: an insecure page (plain http, not localhost) has none.
  if (subtle === undefined) {
    throw new ModelsealError('crypto_unavailable', 'this page has no WebCrypto (crypto.subtle), which browsers give only to secure contexts: serve the app over https, or from localhost while developing');
  }
  const pair = await generateKeyPair(subtle);
  const jwk = await subtle.exportKey('jwk', pair.publicKey);
  const { kty, crv, x, y } = jwk;
  const epk = { kty: kty!, crv: crv!, x: x!, ...(y === undefined ? {} : { y }) };
  const jkt = await calculateJwkThumbprint(epk, 'sha256');
  traceEnd('keypair', started);
  return { privateKey: pair.privateKey, epk, jkt };
}

/**
 * The provider's answer, or a rejection when it has not answered within `timeoutMs` (token_unavailable)
 * or the signal fires (aborted): a provider that never settles must not hold the load for good.
 */
async function providerAnswer(provider: () => unknown, signal: AbortSignal | undefined, timeoutMs: number): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelsealError('token_unavailable', `the token provider did not answer within ${timeoutMs / 1000} s; check that the app backend that mints session tokens is reachable, or raise options.timeoutMs`)), timeoutMs);
    onAbort = () => reject(abortedError(signal, 'the session token'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([Promise.resolve().then(provider), stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/** Gets the session token from a string or a provider (bounded by `timeoutMs`); throws `token_unavailable`. */
export async function getToken(source: TokenSource, request: TokenRequest, signal: AbortSignal | undefined, timeoutMs: number): Promise<string> {
  let token: unknown;
  try {
    token = typeof source === 'function' ? await providerAnswer(() => source(request), signal, timeoutMs) : source;
  } catch (cause) {
    if (signal?.aborted) throw abortedError(signal, 'the session token');
    if (isModelsealError(cause, 'token_unavailable')) throw cause;
    throw new ModelsealError('token_unavailable', `the token provider failed: ${(cause as Error)?.message ?? String(cause)}; check that the app backend that mints session tokens is reachable and the user is signed in`, { cause });
  }
  if (typeof token !== 'string' || token.trim().length === 0) {
    throw new ModelsealError('token_unavailable', `the token provider returned ${typeof token === 'string' ? 'an empty string' : typeof token}, not a session token; it must resolve to the JWT the app backend minted`);
  }
  return token.trim();
}

function releaseUrl(keyServer: string): string {
  // Keep any path prefix of the key server URL (https://host/keys → https://host/keys/v2/release).
  return new URL('v2/release', keyServer.endsWith('/') ? keyServer : `${keyServer}/`).href;
}

/** Parses Retry-After (seconds or an HTTP date) into seconds; undefined when absent or unreadable. */
function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal, 'the content key'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal, 'the content key'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Reads the answer's body within MAX_RESPONSE_BYTES and the deadline; a broken connection is `key_server_unreachable`. */
async function readAnswer(response: Response, url: string, request: ReleaseRequest, deadline: Deadline): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(response, url, request.signal, {
      max: MAX_RESPONSE_BYTES,
      tooLarge: () => new ModelsealError('key_server_error', `the key server's answer is larger than ${MAX_RESPONSE_BYTES} bytes: it is not a key release; check that keyServer points at a modelseal key server`, { file: url }),
    }, deadline);
  } catch (err) {
    // readBytes names a network failure as a model file's (file_unavailable); this is the key server's answer.
    if (!isModelsealError(err, 'file_unavailable')) throw err;
    throw new ModelsealError('key_server_unreachable', `the connection to the key server at ${url} broke while it sent its answer (${networkReason(err.cause)}); check the network and the key server, then load again`, { cause: err.cause, file: url });
  }
  return new TextDecoder().decode(bytes);
}

/** A key server's error text as the message quotes it: at most 500 characters, no control or bidirectional-override characters (it reaches logs and terminals). */
function quotedServerText(text: string): string {
  return text.slice(0, 500).replace(/\p{Cc}|[\u202a-\u202e\u2066-\u2069]/gu, ' ');
}

/** The server's `{ error: { code, message } }`; `code` is undefined when the answer has no such body. */
async function readServerError(response: Response, url: string, request: ReleaseRequest, deadline: Deadline): Promise<{ code: string | undefined; message: string }> {
  try {
    const text = await readAnswer(response, url, request, deadline);
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    // A wire code is a short snake_case word; anything else is not a modelseal key server's.
    const code = typeof body.error?.code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(body.error.code) ? body.error.code : undefined;
    const message = typeof body.error?.message === 'string' ? quotedServerText(body.error.message) : '(no message)';
    return { code, message };
  } catch {
    return { code: undefined, message: '(the key server sent no JSON error body)' };
  }
}

/**
 * Turns a key server's error answer into a ModelsealError: the stable loader code by HTTP status
 * (docs/ERRORS.md), the server's wire code, status and Retry-After as fields, and one hint per wire
 * code (server-codes.ts).
 */
async function refusal(response: Response, url: string, request: ReleaseRequest, deadline: Deadline, retryAfter: number | undefined): Promise<ModelsealError> {
  const { manifest } = request;
  const { status } = response;
  const { code, message } = await readServerError(response, url, request, deadline);
  const fields = { file: url, status, ...(code === undefined ? {} : { serverCode: code }), ...(retryAfter === undefined ? {} : { retryAfter }) };
  const what = `model ${manifest.modelId} (key ${manifest.keyId})`;
  const answer = `HTTP ${status} ${code ?? '(no error code)'}: ${message}`;
  const hint = serverHint(code ?? 'unknown', status);
  if (status === 429) {
    return new ModelsealError('rate_limited', `the key server is rate limiting key releases for ${what}${retryAfter === undefined ? '' : `; retry in ${retryAfter} s`}: ${answer}; ${hint}`, fields);
  }
  // A 404 not_found names no endpoint, and a 404 without a modelseal error code is not a key
  // server's answer (a static host or a CDN): the keyServer URL is wrong, which no token fixes.
  if (status === 401 || status === 403 || (status === 404 && code !== undefined && code !== 'not_found')) {
    if (code === 'not_published') {
      return new ModelsealError('not_published', `the key server does not vouch for this sealing of model ${manifest.modelId} (key ${manifest.keyId}, sealing ${manifest.sealing}): ${message}; the files were not made by the publisher's \`modelseal seal\`, or their record was lost; upload the sealed files the publisher made`, fields);
    }
    return new ModelsealError('key_denied', `the key server refused the key for ${what}: ${answer}; ${hint}`, fields);
  }
  return new ModelsealError('key_server_error', `the key server failed to release the key for ${what}: ${answer}; ${hint}`, fields);
}

async function post(request: ReleaseRequest, url: string, body: string, token: string, deadline: Deadline): Promise<Response> {
  const response = await send(request, url, body, token, deadline);
  // Not followed: the token would go to another address (or, cross-origin, be dropped and the release
  // refused as unauthenticated), and a 302 turns the POST into a GET. A browser shows only that it redirected.
  if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
    await response.body?.cancel().catch(() => undefined);
    const location = response.headers.get('location');
    throw new ModelsealError('key_server_error', `the key server URL redirects${response.status ? ` (HTTP ${response.status}${location ? ` to ${quotedServerText(location).slice(0, 200)}` : ''})` : ''}; the loader does not follow redirects of a key release, so that the session token goes only where keyServer says: set keyServer to the address that answers`, { file: url, ...(response.status ? { status: response.status } : {}) });
  }
  return response;
}

async function send(request: ReleaseRequest, url: string, body: string, token: string, deadline: Deadline): Promise<Response> {
  deadline.kick();
  try {
    return await request.fetch(url, {
      method: 'POST',
      // The token is the only credential: no cookies. No `cache: 'no-store'`: Chromium then skips its
      // CORS preflight cache, and every release was preceded by an OPTIONS request to the key server
      // (docs/LOADER.md). Nothing is stored anyway: no HTTP cache reuses a POST's answer, and the key
      // server marks every answer `Cache-Control: no-store` (docs/PROTOCOL.md).
      credentials: 'omit',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...(request.origin === undefined ? {} : { origin: request.origin }) },
      body,
      redirect: 'manual',
      signal: deadline.signal,
    });
  } catch (cause) {
    if (deadline.fired) throw deadline.error();
    if (request.signal?.aborted) throw abortedError(request.signal, 'the content key');
    throw new ModelsealError('key_server_unreachable', `could not reach the key server at ${url}: ${networkReason(cause)}; check the keyServer URL, that the server is running, that it allows this page's origin (CORS), and that the page's Content-Security-Policy connect-src lists it`, { cause, file: url });
  } finally {
    deadline.pause();
  }
}

/**
 * Asks the key server for the model's content key and returns it as a non-extractable HMAC
 * CryptoKey. The raw 32 key bytes exist only between jose's decrypt and the import, then are zeroed.
 */
export async function releaseContentKey(request: ReleaseRequest): Promise<CryptoKey> {
  const { manifest } = request;
  // Ephemeral, per load. It is made before the token is asked for, so the app's backend can bind
  // the token to it (cnf.jkt).
  const { privateKey, epk, jkt } = await (request.keyPair ?? ephemeralKeyPair());
  const token = await traced('token', () => getToken(request.token, { modelId: manifest.modelId, keyId: manifest.keyId, jkt }, request.signal, request.timeoutMs));
  const url = releaseUrl(request.keyServer);
  const body = JSON.stringify({ modelId: manifest.modelId, keyId: manifest.keyId, sealing: manifest.sealing, epk, ...(request.offline ? { offline: true } : {}) });
  const deadline = new Deadline(request.timeoutMs, url, request.signal);
  try {
    return await release(request, privateKey, url, body, token, deadline);
  } finally {
    deadline.clear();
  }
}

async function release(request: ReleaseRequest, privateKey: CryptoKey, url: string, body: string, token: string, deadline: Deadline): Promise<CryptoKey> {
  let response = await traced('release.request', () => post(request, url, body, token, deadline));
  if (response.status === 429) {
    const wait = retryAfterSeconds(response.headers.get('retry-after'));
    if (wait !== undefined && wait <= MAX_RETRY_WAIT_SECONDS) {
      await response.body?.cancel().catch(() => undefined);
      await sleep(wait * 1000, request.signal);
      response = await post(request, url, body, token, deadline);
    }
    if (response.status === 429) throw await refusal(response, url, request, deadline, retryAfterSeconds(response.headers.get('retry-after')) ?? wait);
  }
  if (!response.ok) throw await refusal(response, url, request, deadline, retryAfterSeconds(response.headers.get('retry-after')));
  request.gate?.hold();
  try {
    return await unwrapAnswer(request, privateKey, url, response, deadline);
  } finally {
    request.gate?.open();
  }
}

/** Reads the answer, unwraps the JWE and checks its header; resolves with the imported content key. */
async function unwrapAnswer(request: ReleaseRequest, privateKey: CryptoKey, url: string, response: Response, deadline: Deadline): Promise<CryptoKey> {
  const { manifest } = request;

  let jwe: string;
  try {
    const answer = JSON.parse(await traced('release.body', () => readAnswer(response, url, request, deadline))) as { key?: unknown };
    if (typeof answer.key !== 'string') throw new Error('no "key" field');
    jwe = answer.key;
  } catch (cause) {
    if (cause instanceof ModelsealError) throw cause;
    if (request.signal?.aborted) throw abortedError(request.signal, 'the content key');
    throw new ModelsealError('key_server_error', `the key server's answer is not a key release ({ "key": "<compact JWE>" }): ${(cause as Error).message}; check that keyServer points at a modelseal key server`, { cause, file: url });
  }

  let plaintext: Uint8Array;
  let header: Record<string, unknown>;
  try {
    const result = await traced('unwrap', () => compactDecrypt(jwe, privateKey, {
      keyManagementAlgorithms: ['ECDH-ES+A256KW', 'ECDH-ES'],
      contentEncryptionAlgorithms: ['A256GCM'],
    }));
    plaintext = result.plaintext;
    header = result.protectedHeader as Record<string, unknown>;
  } catch (cause) {
    throw new ModelsealError('key_server_error', `the key server's answer could not be unwrapped with this session's key (${(cause as Error).message}); check that keyServer points at a modelseal key server`, { cause, file: url });
  }
  try {
    if (header['modelId'] !== manifest.modelId || header['keyId'] !== manifest.keyId) {
      throw new ModelsealError('key_server_error', `the key server released the key for ${String(header['modelId'])}/${String(header['keyId'])}, but the manifest needs ${manifest.modelId}/${manifest.keyId}; check that keyServer is this model's key server`, { file: url });
    }
    // The release vouches for one sealing; the header's digest is checked against it next.
    if (header['sealing'] !== manifest.sealing) {
      throw new ModelsealError('key_server_error', `the key server's release vouches for sealing ${String(header['sealing']).slice(0, 64)}, not this manifest's ${manifest.sealing}; check that keyServer is a modelseal key server of protocol 2`, { file: url });
    }
    const key = await traced('import', () => importInputKey(plaintext));
    // The lease is read from the same authenticated header as the ids and sealing checked above.
    const lease = header['lease'];
    request.offline?.onLease(Number.isSafeInteger(lease) ? (lease as number) : undefined);
    return key;
  } finally {
    plaintext.fill(0);
  }
}
