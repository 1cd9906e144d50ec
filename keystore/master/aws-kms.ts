// Master key in AWS KMS: `aws-kms:<key ARN>[?region=…&endpoint=…&timeout=…&seal-only=true]` (docs/OPERATIONS.md).
// Content keys are wrapped by KMS Encrypt/GenerateDataKey and unwrapped by Decrypt; the master key
// never leaves KMS. The aad (model id and key id) travels as the EncryptionContext, which KMS binds
// to the ciphertext and writes to CloudTrail, so every unwrap is logged with the key it was for.

import type { KMSClient as KMSClientType } from '@aws-sdk/client-kms';
import type { MasterKeyContext, MasterKeyProvider } from './types.js';
import { checkContentKey, configInvalid, importOptional, query, remoteKeyId, sealOnlyOption, sealOnlyRefusal, splitUri, timeoutOption, unavailable, urlOption, wrongKey } from './remote.js';

const SCHEME = 'aws-kms';
const PACKAGE = '@aws-sdk/client-kms';
/** The one EncryptionContext entry modelseal sets: base64url of the aad. */
export const AWS_CONTEXT_KEY = 'modelseal-aad';
const ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso(?:-[a-z])?):kms:([a-z0-9-]+):([0-9]{12}):(key|alias)\/([A-Za-z0-9/_+=,.@-]+)$/;

// Errors in which KMS says "this ciphertext (with this context) is not for this key".
const WRONG = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

/** Opens an `aws-kms:` master key; credentials come from `AWS_*` in ctx.env or the SDK's default chain. */
export async function createMasterKey(uri: string, ctx: MasterKeyContext): Promise<MasterKeyProvider> {
  const { body: arn, options } = splitUri(uri, SCHEME, ['region', 'endpoint', 'timeout', 'seal-only']);
  const m = ARN.exec(arn);
  if (!m) throw configInvalid(uri, 'expected aws-kms:arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (or …:alias/NAME)');
  const region = options.get('region') ?? m[2]!;
  if (!/^[a-z0-9-]+$/.test(region)) throw configInvalid(uri, 'region must look like us-east-1');
  const endpointRaw = options.get('endpoint');
  const endpoint = endpointRaw === undefined ? undefined : urlOption(uri, 'endpoint', endpointRaw);
  const timeoutMs = timeoutOption(uri, options);
  const sealOnly = sealOnlyOption(uri, options);
  const sdk = await importOptional(PACKAGE, 'the aws-kms: master key', () => import('@aws-sdk/client-kms'));

  const accessKeyId = ctx.env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = ctx.env['AWS_SECRET_ACCESS_KEY'];
  const sessionToken = ctx.env['AWS_SESSION_TOKEN'];
  const client: KMSClientType = new sdk.KMSClient({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    // Keys in ctx.env win; without them the SDK's chain (profile, web identity, container, IMDS) applies.
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } } : {}),
    maxAttempts: 3,
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
  });
  const publicUri = `${SCHEME}:${arn}${query([['endpoint', endpoint], ['seal-only', sealOnly ? 'true' : undefined]])}`;

  // One deadline for the whole call, retries included, so a dead KMS costs at most timeoutMs.
  async function call<T>(what: string, permission: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(AbortSignal.timeout(timeoutMs));
    } catch (err) {
      throw classify(publicUri, what, permission, timeoutMs, err);
    }
  }
  const context = (aad: Uint8Array) => ({ [AWS_CONTEXT_KEY]: Buffer.from(aad).toString('base64url') });

  const provider: MasterKeyProvider = {
    id: remoteKeyId(SCHEME, arn),
    uri: publicUri,
    sealOnly,
    async wrap(plain, aad) {
      checkContentKey(publicUri, plain, 'wrap');
      const out = await call('Encrypt', 'kms:Encrypt', (abortSignal) =>
        client.send(new sdk.EncryptCommand({ KeyId: arn, Plaintext: plain, EncryptionContext: context(aad) }), { abortSignal }));
      if (!out.CiphertextBlob) throw unavailable(publicUri, 'Encrypt', 'the answer has no CiphertextBlob');
      return out.CiphertextBlob;
    },
    async unwrap(wrapped, aad) {
      if (sealOnly) throw sealOnlyRefusal(publicUri);
      // KeyId pins the key: a ciphertext from another KMS key fails with IncorrectKeyException.
      const out = await call('Decrypt', 'kms:Decrypt', (abortSignal) =>
        client.send(new sdk.DecryptCommand({ KeyId: arn, CiphertextBlob: wrapped, EncryptionContext: context(aad) }), { abortSignal }));
      if (!out.Plaintext) throw unavailable(publicUri, 'Decrypt', 'the answer has no Plaintext');
      return checkContentKey(publicUri, out.Plaintext, 'Decrypt');
    },
    async generate(aad) {
      const out = await call('GenerateDataKey', 'kms:GenerateDataKey', (abortSignal) =>
        client.send(new sdk.GenerateDataKeyCommand({ KeyId: arn, KeySpec: 'AES_256', EncryptionContext: context(aad) }), { abortSignal }));
      if (!out.Plaintext || !out.CiphertextBlob) throw unavailable(publicUri, 'GenerateDataKey', 'the answer has no Plaintext or CiphertextBlob');
      return { key: checkContentKey(publicUri, out.Plaintext, 'GenerateDataKey'), wrapped: out.CiphertextBlob };
    },
    async check() {
      const out = await call('DescribeKey', 'kms:DescribeKey', (abortSignal) =>
        client.send(new sdk.DescribeKeyCommand({ KeyId: arn }), { abortSignal }));
      const state = out.KeyMetadata?.KeyState;
      if (state !== 'Enabled') throw unavailable(publicUri, 'DescribeKey', `the key is ${state ?? 'in an unknown state'}, not Enabled`);
    },
    async close() {
      client.destroy();
    },
  };
  // A seal-only (CI) principal has no kms:DescribeKey to show; /readyz is the key server's.
  if (sealOnly) delete provider.check;
  return provider;
}

/** Maps an SDK or network error to master_key_wrong (KMS says: not this key/context) or master_key_unavailable. */
function classify(uri: string, what: string, permission: string, timeoutMs: number, err: unknown): Error {
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const name = e.name ?? 'Error';
  if (WRONG.has(name) && what === 'Decrypt') return wrongKey(uri, `KMS answered ${name}`, err);
  if (name === 'AbortError' || name === 'TimeoutError' || e.code === 'ETIMEDOUT') {
    return unavailable(uri, what, `no answer within ${timeoutMs} ms (raise ?timeout= if KMS is slow from here)`, err);
  }
  if (name === 'AccessDeniedException') {
    return unavailable(uri, what, `access denied: the AWS principal needs ${permission} on this key (key policy or IAM policy)`, err);
  }
  if (name === 'CredentialsProviderError') {
    return unavailable(uri, what, 'no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or a role)', err);
  }
  if (name === 'UnrecognizedClientException' || name === 'InvalidSignatureException' || name === 'ExpiredTokenException') {
    return unavailable(uri, what, `AWS refused the credentials (${name}): check the access key, secret and session token`, err);
  }
  if (name === 'NotFoundException' || name === 'DisabledException' || name === 'KMSInvalidStateException' || name === 'KeyUnavailableException') {
    return unavailable(uri, what, `KMS answered ${name}: the key is missing, disabled or pending deletion`, err);
  }
  const status = e.$metadata?.httpStatusCode;
  const detail = status === undefined ? (e.code ?? name) : `${name} (HTTP ${status})`;
  return unavailable(uri, what, `${detail}: ${String(e.message ?? '').slice(0, 200)}`, err);
}
