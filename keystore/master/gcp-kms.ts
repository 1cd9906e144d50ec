// Master key in Google Cloud KMS:
// `gcp-kms:projects/P/locations/L/keyRings/R/cryptoKeys/K[?endpoint=…&timeout=…&seal-only=true]` (docs/OPERATIONS.md).
// Wrap and unwrap are the key's Encrypt and Decrypt with the aad as additionalAuthenticatedData.
// Cloud KMS has no "generate data key": generate makes 32 random bytes here and calls Encrypt,
// which needs only cloudkms.cryptoKeyVersions.useToEncrypt (the CI route: an encrypt-only role).

import { randomBytes } from 'node:crypto';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import type { MasterKeyContext, MasterKeyProvider } from './types.js';
import { checkContentKey, configInvalid, fromBase64, importOptional, query, remoteKeyId, sealOnlyOption, sealOnlyRefusal, splitUri, timeoutOption, unavailable, urlOption, wrongKey } from './remote.js';

const SCHEME = 'gcp-kms';
const PACKAGE = '@google-cloud/kms';
const NAME = /^projects\/[a-z0-9-]{4,63}\/locations\/[a-z0-9-]+\/keyRings\/[A-Za-z0-9_-]{1,63}\/cryptoKeys\/[A-Za-z0-9_-]{1,63}$/;

// gRPC status codes, as google-gax reports them on its errors (also for the REST transport).
const GRPC = { INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * Opens a `gcp-kms:` master key over the client's HTTP/JSON transport. Credentials: an OAuth access
 * token in `GOOGLE_OAUTH_ACCESS_TOKEN` (ctx.env), else Application Default Credentials.
 */
export async function createMasterKey(uri: string, ctx: MasterKeyContext): Promise<MasterKeyProvider> {
  const { body: name, options } = splitUri(uri, SCHEME, ['endpoint', 'timeout', 'seal-only']);
  if (!NAME.test(name)) throw configInvalid(uri, 'expected gcp-kms:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY');
  const endpointRaw = options.get('endpoint');
  const endpoint = endpointRaw === undefined ? undefined : new URL(urlOption(uri, 'endpoint', endpointRaw));
  if (endpoint && endpoint.pathname !== '/') throw configInvalid(uri, 'endpoint must be a scheme, host and port only (no path)');
  const timeoutMs = timeoutOption(uri, options);
  const sealOnly = sealOnlyOption(uri, options);
  const feature = 'the gcp-kms: master key';
  const kms = await importOptional(PACKAGE, feature, () => import('@google-cloud/kms'));

  const token = ctx.env['GOOGLE_OAUTH_ACCESS_TOKEN'];
  let authClient: object | undefined;
  if (token) {
    // google-auth-library comes with @google-cloud/kms; a fixed token is never refreshed.
    const gal = await importOptional('google-auth-library', feature, () => import('google-auth-library'));
    const oauth = new gal.OAuth2Client();
    oauth.setCredentials({ access_token: token });
    authClient = oauth;
  }
  const client: KeyManagementServiceClient = new kms.KeyManagementServiceClient({
    fallback: true,
    ...(authClient ? { authClient: authClient as never } : {}),
    ...(endpoint
      ? {
          apiEndpoint: endpoint.hostname.replace(/^\[|\]$/g, ''),
          port: Number(endpoint.port || (endpoint.protocol === 'https:' ? 443 : 80)),
          protocol: endpoint.protocol.slice(0, -1),
        }
      : {}),
  } as ConstructorParameters<typeof kms.KeyManagementServiceClient>[0]);
  const publicUri = `${SCHEME}:${name}${query([['endpoint', endpoint?.origin], ['seal-only', sealOnly ? 'true' : undefined]])}`;

  async function call<T>(what: string, permission: string, run: (opts: { timeout: number; maxRetries: number }) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    // google-gax bounds each attempt; the race bounds the whole call, retries included.
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('deadline'), { code: GRPC.DEADLINE_EXCEEDED })), timeoutMs);
    });
    try {
      return await Promise.race([run({ timeout: timeoutMs, maxRetries: 2 }), deadline]);
    } catch (err) {
      throw classify(publicUri, what, permission, timeoutMs, err);
    } finally {
      clearTimeout(timer);
    }
  }

  const encrypt = async (plain: Uint8Array, aad: Uint8Array, what: string): Promise<Uint8Array> => {
    const [out] = await call(what, 'cloudkms.cryptoKeyVersions.useToEncrypt', (o) =>
      client.encrypt({ name, plaintext: Buffer.from(plain), additionalAuthenticatedData: Buffer.from(aad) }, o));
    const ct = bytes(out.ciphertext);
    if (!ct || ct.length === 0) throw unavailable(publicUri, what, 'the answer has no ciphertext');
    return ct;
  };

  const provider: MasterKeyProvider = {
    id: remoteKeyId(SCHEME, name),
    uri: publicUri,
    sealOnly,
    async wrap(plain, aad) {
      checkContentKey(publicUri, plain, 'wrap');
      return encrypt(plain, aad, 'Encrypt');
    },
    async unwrap(wrapped, aad) {
      if (sealOnly) throw sealOnlyRefusal(publicUri);
      const [out] = await call('Decrypt', 'cloudkms.cryptoKeyVersions.useToDecrypt', (o) =>
        client.decrypt({ name, ciphertext: Buffer.from(wrapped), additionalAuthenticatedData: Buffer.from(aad) }, o));
      const plain = bytes(out.plaintext);
      if (!plain) throw unavailable(publicUri, 'Decrypt', 'the answer has no plaintext');
      return checkContentKey(publicUri, plain, 'Decrypt');
    },
    async generate(aad) {
      const key = new Uint8Array(randomBytes(32));
      return { key, wrapped: await encrypt(key, aad, 'Encrypt (generate)') };
    },
    async check() {
      const [key] = await call('GetCryptoKey', 'cloudkms.cryptoKeys.get', (o) => client.getCryptoKey({ name }, o));
      const state = key.primary?.state;
      if (state !== 'ENABLED' && state !== 1) throw unavailable(publicUri, 'GetCryptoKey', `the primary key version is ${String(state ?? 'missing')}, not ENABLED`);
    },
    async close() {
      await client.close();
    },
  };
  // An encrypt-only (CI) caller has no cloudkms.cryptoKeys.get to show; /readyz is the key server's.
  if (sealOnly) delete provider.check;
  return provider;
}

// Bytes fields arrive as Buffer/Uint8Array from the client, or base64 text from some transports.
function bytes(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  return fromBase64(v);
}

/** Maps a client error to master_key_wrong (a Decrypt INVALID_ARGUMENT) or master_key_unavailable. */
function classify(uri: string, what: string, permission: string, timeoutMs: number, err: unknown): Error {
  const { status, text } = describe(err);
  switch (status) {
    case 'INVALID_ARGUMENT':
      // Cloud KMS answers INVALID_ARGUMENT "Decryption failed" for a ciphertext or AAD that does not match.
      return what === 'Decrypt' ? wrongKey(uri, `Cloud KMS: ${text}`, err) : unavailable(uri, what, `Cloud KMS refused the request: ${text}`, err);
    case 'DEADLINE_EXCEEDED':
      return unavailable(uri, what, `no answer within ${timeoutMs} ms (raise ?timeout= if Cloud KMS is slow from here)`, err);
    case 'PERMISSION_DENIED':
      return unavailable(uri, what, `permission denied: the caller needs ${permission} on this key (${text})`, err);
    case 'UNAUTHENTICATED':
      return unavailable(uri, what, 'the credentials were refused (expired access token or wrong account)', err);
    case 'NOT_FOUND':
    case 'FAILED_PRECONDITION':
      return unavailable(uri, what, `the key or its primary version is missing, disabled or destroyed: ${text}`, err);
    default:
      return unavailable(uri, what, `${status ?? 'network error'}: ${text}`, err);
  }
}

const BY_NUMBER = Object.fromEntries(Object.entries(GRPC).map(([k, v]) => [v, k])) as Record<number, string>;
const BY_HTTP: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };

// Errors come in two forms: google-gax's GoogleError (gRPC code number), or, when the auth client
// itself makes the HTTP call and the answer is not 2xx, a GaxiosError carrying the REST error body
// `{error: {code, status, message}}`. Both reduce to the canonical status name and its message.
function describe(err: unknown): { status: string | undefined; text: string } {
  const e = err as { code?: unknown; status?: unknown; message?: string; details?: string; response?: { status?: number; data?: unknown } };
  let body: { error?: { status?: string; message?: string } } | undefined;
  const raw = e.response?.data ?? e.message;
  if (raw !== null && typeof raw === 'object') body = raw as typeof body;
  else if (typeof raw === 'string' && raw.trimStart().startsWith('{')) {
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      body = undefined;
    }
  }
  const http = typeof e.response?.status === 'number' ? e.response.status : undefined;
  const status = body?.error?.status
    ?? (http === undefined ? (typeof e.code === 'number' ? BY_NUMBER[e.code] : undefined) : BY_HTTP[http] ?? (http >= 500 ? 'UNAVAILABLE' : undefined));
  const text = String(body?.error?.message ?? e.details ?? e.message ?? '').slice(0, 200);
  return { status, text };
}
