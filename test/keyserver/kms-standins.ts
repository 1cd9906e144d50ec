// Stand-ins for the cloud master-key services, for tests only. No AWS KMS, Vault or Cloud KMS
// emulator is installable here, so each one is a small HTTP server on 127.0.0.1:0 that implements
// the documented request and answer shapes of the calls modelseal makes, their error shapes, and a
// per-principal permission list. They check OUR side of each protocol (what we send, how we read
// answers and errors), not the real service: a service that behaves differently from its
// documentation would not be caught here.
//
// - AWS KMS: JSON 1.1 protocol (`X-Amz-Target: TrentService.<Op>`, `__type` errors). The SigV4
//   `Authorization` header the official client makes is checked cryptographically: the stand-in
//   recomputes the signature with @smithy/signature-v4 (the SDK's own signer) from the principal's
//   stored secret, over the headers the client said it signed, and refuses a mismatch.
// - Vault Transit: `X-Vault-Token`, `{data: …}` answers and `{errors: […]}` failures, ACL by path.
// - Google Cloud KMS: the REST (HTTP/JSON) surface, `Authorization: Bearer`, `{error: {code,
//   status, message}}` failures. The token is an opaque string the stand-in maps to a principal.
//
// Their "crypto" is AES-256-GCM from node:crypto under a key that never leaves the stand-in.

import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';

/** How the stand-in behaves: answer, fail with the service's 5xx, or accept and never answer. */
export type StandInMode = 'ok' | 'error' | 'hang';

interface Running {
  url: string;
  port: number;
  mode: StandInMode;
  /** Every request seen: operation and the principal that made it (after authentication). */
  calls: { op: string; principal: string | undefined }[];
  close(): Promise<void>;
}

async function listen(handler: (req: IncomingMessage, body: Buffer, res: ServerResponse, state: Running) => Promise<void> | void): Promise<Running> {
  const hanging = new Set<ServerResponse>();
  const state: Running = {
    url: '',
    port: 0,
    mode: 'ok',
    calls: [],
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.mode === 'hang') {
        hanging.add(res);
        return;
      }
      Promise.resolve(handler(req, Buffer.concat(chunks), res, state)).catch((err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`stand-in bug: ${String(err)}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as { port: number }).port;
  state.url = `http://127.0.0.1:${state.port}`;
  return state;
}

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type }).end(JSON.stringify(body));
}

// AES-256-GCM "service key": blob = keyTag (16) ‖ iv (12) ‖ ciphertext ‖ tag (16).
class ServiceKey {
  readonly tag: Buffer;
  readonly #key = randomBytes(32);
  constructor(name: string) {
    this.tag = createHash('sha256').update(name).digest().subarray(0, 16);
  }
  seal(plain: Buffer, aad: Buffer): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(aad);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([this.tag, iv, ct, c.getAuthTag()]);
  }
  /** undefined when the blob is not for this key, null when authentication fails. */
  open(blob: Buffer, aad: Buffer): Buffer | undefined | null {
    if (blob.length < 44 || !blob.subarray(0, 16).equals(this.tag)) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, blob.subarray(16, 28)).setAAD(aad);
      d.setAuthTag(blob.subarray(blob.length - 16));
      return Buffer.concat([d.update(blob.subarray(28, blob.length - 16)), d.final()]);
    } catch {
      return null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// AWS KMS

/** An IAM principal of the AWS stand-in: its access key pair and the KMS actions it may call. */
export interface AwsPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  allow: ('Encrypt' | 'Decrypt' | 'GenerateDataKey' | 'DescribeKey')[];
}

/** A running AWS KMS stand-in. */
export interface AwsKmsStandIn extends Running {
  region: string;
  /** The ARNs of the keys it holds. */
  arns: string[];
  /** How many requests had a signature that did not match (each one was refused). */
  badSignatures: number;
}

// SHA-256 for @smithy/signature-v4, from node:crypto (HMAC when given a secret).
type Source = string | ArrayBuffer | ArrayBufferView;
const asBytes = (d: Source): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
class NodeSha256 {
  readonly #h;
  constructor(secret?: Source) {
    this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', asBytes(secret));
  }
  update(data: Source): void {
    this.#h.update(asBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#h.digest()));
  }
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)\/(\d{8})\/([a-z0-9-]+)\/kms\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** Starts an AWS KMS stand-in holding `keys` symmetric keys in `region`. */
export async function startAwsKms(options: { region?: string; keys?: number; principals: AwsPrincipal[] }): Promise<AwsKmsStandIn> {
  const region = options.region ?? 'eu-west-1';
  const arns = Array.from({ length: options.keys ?? 1 }, (_, i) => `arn:aws:kms:${region}:111122223333:key/0000000${i}-aaaa-bbbb-cccc-dddddddddddd`);
  const keys = new Map(arns.map((a) => [a, new ServiceKey(a)]));
  const principals = new Map(options.principals.map((p) => [p.accessKeyId, p]));
  const type = 'application/x-amz-json-1.1';
  const fail = (res: ServerResponse, status: number, __type: string, message: string) => json(res, status, { __type, message }, type);

  const running = await listen(async (req, body, res, state) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : '';
    if (req.method !== 'POST' || req.url !== '/' || !op || !String(req.headers['content-type']).startsWith(type)) {
      return fail(res, 400, 'UnknownOperationException', `expected POST / with X-Amz-Target: TrentService.<Op> and ${type}`);
    }
    // Authentication: a well-formed SigV4 header whose signature we recompute.
    const auth = AUTH.exec(String(req.headers['authorization'] ?? ''));
    const date = String(req.headers['x-amz-date'] ?? '');
    if (!auth || !/^\d{8}T\d{6}Z$/.test(date) || auth[2] !== date.slice(0, 8)) {
      return fail(res, 400, 'IncompleteSignatureException', 'Authorization must be AWS4-HMAC-SHA256 Credential=…/kms/aws4_request, SignedHeaders=…, Signature=… matching X-Amz-Date');
    }
    const [, akid, , signedRegion, signedList, signature] = auth as unknown as string[];
    const principal = principals.get(akid!);
    if (!principal) return fail(res, 400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    const signedNames = signedList!.split(';');
    if (!signedNames.includes('host') || !signedNames.includes('x-amz-target')) {
      return fail(res, 400, 'IncompleteSignatureException', 'SignedHeaders must include host and x-amz-target');
    }
    const headers: Record<string, string> = {};
    for (const n of signedNames) headers[n] = String(req.headers[n] ?? '');
    const signer = new SignatureV4({ service: 'kms', region: signedRegion!, credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey }, sha256: NodeSha256 });
    const iso = `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${date.slice(9, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`;
    const resigned = await signer.sign(
      { method: 'POST', protocol: 'http:', hostname: '127.0.0.1', port: state.port, path: '/', query: {}, headers, body: body.toString('utf8') },
      { signingDate: new Date(iso), signableHeaders: new Set(signedNames) },
    );
    const expected = /Signature=([0-9a-f]{64})/.exec(String(resigned.headers['authorization']))?.[1];
    if (expected !== signature) {
      (state as AwsKmsStandIn).badSignatures++;
      return fail(res, 400, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
    }
    state.calls.push({ op, principal: akid });
    if (state.mode === 'error') return fail(res, 500, 'KMSInternalException', 'The request was rejected because an internal exception occurred.');
    if (!(principal.allow as string[]).includes(op)) {
      return fail(res, 400, 'AccessDeniedException', `User: arn:aws:iam::111122223333:user/${akid} is not authorized to perform: kms:${op} on resource: ${arns[0]} because no identity-based policy allows the kms:${op} action`);
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return fail(res, 400, 'SerializationException', 'body is not JSON');
    }
    const keyArn = String(input['KeyId'] ?? '');
    const key = keys.get(keyArn);
    if (!key) return fail(res, 400, 'NotFoundException', `Key '${keyArn}' does not exist`);
    const ctx = input['EncryptionContext'] as Record<string, string> | undefined;
    const aad = Buffer.from(JSON.stringify(Object.entries(ctx ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))));
    switch (op) {
      case 'Encrypt': {
        const plain = Buffer.from(String(input['Plaintext'] ?? ''), 'base64');
        if (plain.length < 1 || plain.length > 4096) return fail(res, 400, 'ValidationException', 'Plaintext must be 1 to 4096 bytes');
        return json(res, 200, { CiphertextBlob: key.seal(plain, aad).toString('base64'), KeyId: keyArn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }, type);
      }
      case 'GenerateDataKey': {
        if (input['KeySpec'] !== 'AES_256') return fail(res, 400, 'ValidationException', 'KeySpec must be AES_256 here');
        const plain = randomBytes(32);
        return json(res, 200, { CiphertextBlob: key.seal(plain, aad).toString('base64'), Plaintext: plain.toString('base64'), KeyId: keyArn }, type);
      }
      case 'Decrypt': {
        const blob = Buffer.from(String(input['CiphertextBlob'] ?? ''), 'base64');
        const opened = key.open(blob, aad);
        // Real KMS: a blob from another key with KeyId given → IncorrectKeyException; a bad blob or
        // a different EncryptionContext → InvalidCiphertextException (no detail, by design).
        if (opened === undefined) {
          const other = [...keys.values()].some((k) => blob.subarray(0, 16).equals(k.tag));
          if (other) return fail(res, 400, 'IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
          return fail(res, 400, 'InvalidCiphertextException', '');
        }
        if (opened === null) return fail(res, 400, 'InvalidCiphertextException', '');
        return json(res, 200, { Plaintext: opened.toString('base64'), KeyId: keyArn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }, type);
      }
      case 'DescribeKey':
        return json(res, 200, { KeyMetadata: { Arn: keyArn, KeyId: keyArn.split('/').pop(), KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Enabled: true } }, type);
      default:
        return fail(res, 400, 'UnknownOperationException', `the stand-in does not implement ${op}`);
    }
  });
  return Object.assign(running, { region, arns, badSignatures: 0 });
}

// ---------------------------------------------------------------------------------------------
// Vault Transit

/** A Vault token of the stand-in and the ACL paths on which it has `update`. */
export interface VaultPrincipal {
  token: string;
  update: string[];
}

/** A running Vault stand-in; `sealed` makes every call answer 503 "Vault is sealed". */
export interface VaultStandIn extends Running {
  sealed: boolean;
}

/** Starts a Vault stand-in with Transit mounted at `mount` and aes256-gcm96 keys named `keys`. */
export async function startVault(options: { mount?: string; keys: string[]; principals: VaultPrincipal[] }): Promise<VaultStandIn> {
  const mount = options.mount ?? 'transit';
  const keys = new Map(options.keys.map((k) => [k, new ServiceKey(`vault/${mount}/${k}`)]));
  const tokens = new Map(options.principals.map((p) => [p.token, p]));
  const errors = (res: ServerResponse, status: number, ...list: string[]) => json(res, status, { errors: list });

  const running = await listen((req, body, res, state) => {
    const path = (req.url ?? '').replace(/^\/v1\//, '');
    if (!req.url?.startsWith('/v1/')) return errors(res, 404);
    if ((state as VaultStandIn).sealed) return errors(res, 503, 'Vault is sealed');
    const principal = tokens.get(String(req.headers['x-vault-token'] ?? ''));
    state.calls.push({ op: path, principal: principal?.token });
    if (!principal) return errors(res, 403, 'permission denied');
    if (state.mode === 'error') return errors(res, 500, 'internal error');
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return errors(res, 400, 'failed to parse JSON input');
    }
    if (path === 'sys/capabilities-self') {
      const paths = Array.isArray(input['paths']) ? (input['paths'] as string[]) : [];
      const data: Record<string, string[]> = {};
      for (const p of paths) data[p] = principal.update.includes(p) ? ['update'] : ['deny'];
      return json(res, 200, { ...data, data });
    }
    const m = new RegExp(`^${mount}/(encrypt|decrypt)/([^/]+)$`).exec(path);
    if (!m) return errors(res, 404, `no handler for route "${path}"`);
    // Vault checks the ACL before it looks at the key.
    if (!principal.update.includes(path)) return errors(res, 403, '1 error occurred:\n\t* permission denied\n\n');
    const key = keys.get(m[2]!);
    if (!key) return errors(res, 400, 'encryption key not found');
    const aad = Buffer.from(String(input['associated_data'] ?? ''), 'base64');
    if (m[1] === 'encrypt') {
      const plain = Buffer.from(String(input['plaintext'] ?? ''), 'base64');
      return json(res, 200, { data: { ciphertext: `vault:v1:${key.seal(plain, aad).toString('base64')}`, key_version: 1 } });
    }
    const ct = String(input['ciphertext'] ?? '');
    if (!ct.startsWith('vault:v1:')) return errors(res, 400, 'invalid ciphertext: no prefix');
    // Transit keys are independent: another key's ciphertext also fails authentication.
    const opened = key.open(Buffer.from(ct.slice('vault:v1:'.length), 'base64'), aad) ?? null;
    if (opened === null) return errors(res, 400, 'cipher: message authentication failed');
    return json(res, 200, { data: { plaintext: opened.toString('base64') } });
  });
  return Object.assign(running, { sealed: false });
}

// ---------------------------------------------------------------------------------------------
// Google Cloud KMS (REST)

/** A Cloud KMS caller of the stand-in: its bearer token and the IAM permissions it holds. */
export interface GcpPrincipal {
  token: string;
  permissions: ('cloudkms.cryptoKeyVersions.useToEncrypt' | 'cloudkms.cryptoKeyVersions.useToDecrypt' | 'cloudkms.cryptoKeys.get')[];
}

/** A running Cloud KMS stand-in. */
export interface GcpKmsStandIn extends Running {
  /** The key names it holds (projects/…/cryptoKeys/…). */
  names: string[];
}

/** Starts a Cloud KMS stand-in with `keys` symmetric ENCRYPT_DECRYPT keys. */
export async function startGcpKms(options: { keys?: number; principals: GcpPrincipal[] }): Promise<GcpKmsStandIn> {
  const names = Array.from({ length: options.keys ?? 1 }, (_, i) => `projects/modelseal-test/locations/europe-west1/keyRings/ring/cryptoKeys/key${i}`);
  const keys = new Map(names.map((n) => [n, new ServiceKey(n)]));
  const tokens = new Map(options.principals.map((p) => [p.token, p]));
  const status = (res: ServerResponse, code: number, st: string, message: string) => json(res, code, { error: { code, message, status: st } });

  const running = await listen((req, body, res, state) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/:]+)(?::(encrypt|decrypt))?$/.exec(decodeURIComponent(url.pathname));
    const bearer = /^Bearer (.+)$/.exec(String(req.headers['authorization'] ?? ''))?.[1];
    const principal = bearer === undefined ? undefined : tokens.get(bearer);
    state.calls.push({ op: m?.[2] ?? (req.method === 'GET' ? 'get' : url.pathname), principal: principal?.token });
    if (!principal) return status(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.');
    if (!m) return status(res, 404, 'NOT_FOUND', `no route ${req.method} ${url.pathname}`);
    if (state.mode === 'error') return status(res, 503, 'UNAVAILABLE', 'The service is currently unavailable.');
    const [, name, verb] = m as unknown as [string, string, string | undefined];
    const permission = verb === 'encrypt' ? 'cloudkms.cryptoKeyVersions.useToEncrypt' : verb === 'decrypt' ? 'cloudkms.cryptoKeyVersions.useToDecrypt' : 'cloudkms.cryptoKeys.get';
    if (!(principal.permissions as string[]).includes(permission)) {
      return status(res, 403, 'PERMISSION_DENIED', `Permission '${permission}' denied on resource '${name}' (or it may not exist).`);
    }
    const key = keys.get(name);
    if (!key) return status(res, 404, 'NOT_FOUND', `${name} not found.`);
    if (verb === undefined) {
      if (req.method !== 'GET') return status(res, 400, 'INVALID_ARGUMENT', 'expected GET');
      return json(res, 200, { name, purpose: 'ENCRYPT_DECRYPT', primary: { name: `${name}/cryptoKeyVersions/1`, state: 'ENABLED', algorithm: 'GOOGLE_SYMMETRIC_ENCRYPTION' } });
    }
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return status(res, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (input['name'] !== undefined && input['name'] !== name) return status(res, 400, 'INVALID_ARGUMENT', 'name in the body does not match the URL');
    const aad = Buffer.from(String(input['additionalAuthenticatedData'] ?? ''), 'base64');
    if (verb === 'encrypt') {
      const plain = Buffer.from(String(input['plaintext'] ?? ''), 'base64');
      if (plain.length === 0) return status(res, 400, 'INVALID_ARGUMENT', 'plaintext is required');
      return json(res, 200, { name: `${name}/cryptoKeyVersions/1`, ciphertext: key.seal(plain, aad).toString('base64'), protectionLevel: 'SOFTWARE' });
    }
    const opened = key.open(Buffer.from(String(input['ciphertext'] ?? ''), 'base64'), aad);
    if (opened === undefined) return status(res, 400, 'INVALID_ARGUMENT', "Decryption failed: verify that 'name' refers to the correct CryptoKey.");
    if (opened === null) return status(res, 400, 'INVALID_ARGUMENT', 'Decryption failed: the ciphertext is invalid.');
    return json(res, 200, { plaintext: opened.toString('base64'), usedPrimary: true, protectionLevel: 'SOFTWARE' });
  });
  return Object.assign(running, { names });
}
