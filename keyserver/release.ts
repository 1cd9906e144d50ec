// POST /v2/release (docs/PROTOCOL.md): the schema of its body and the checks, in order, that stand
// between a request and a content key wrapped to the client's ephemeral key.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DIGEST_PATTERN, ID_PATTERN } from '../format/manifest.js';
import type { KeyRecord } from '../keystore/file-store.js';
import type { KeyServerConfig, ModelPolicy } from './config.js';
import type { ReleaseCounter } from './counter.js';
import { WireError } from './errors.js';
import { matchesPattern, offlineLease, originRefusal, type NamedPolicy } from './policy.js';
import type { Limit } from './rate-limits.js';
import type { RequestState } from './request-state.js';
import type { Session, SessionVerifier } from './session.js';
import type { KeySnapshot } from './snapshot.js';
import { importClientKey, wrapContentKey, type ClientKey, type ServerEphemeralKeys } from './wrap.js';

/** The path of the key-release endpoint (protocol version 2, docs/PROTOCOL.md). */
export const RELEASE_PATH = '/v2/release';

/** The JSON body of POST /v2/release. */
export interface ReleaseRequest {
  modelId: string;
  keyId: string;
  /** The manifest's `sealing` digest: the key is released only for a sealing the keystore records. */
  sealing: string;
  epk: Record<string, unknown>;
  /** Asks for an offline lease; granted only when the model's policy has `offlineLeaseSeconds` > 0. */
  offline?: boolean;
}

/** The JSON answer of POST /v2/release. */
export interface ReleaseResponse {
  /** Compact JWE whose plaintext is the 32-byte content key. */
  key: string;
  /** When the release expires (ISO 8601); equals the JWE header `exp`. */
  expiresAt: string;
  /** When the offline lease ends (ISO 8601), present only when one is granted; equals the JWE header `lease`. */
  leaseExpiresAt?: string;
}

const idSchema = { type: 'string', minLength: 1, maxLength: 128, pattern: ID_PATTERN.source } as const;
const b64 = { type: 'string', minLength: 1, maxLength: 128 } as const;
const releaseSchema = {
  type: 'object',
  required: ['modelId', 'keyId', 'sealing', 'epk'],
  additionalProperties: false,
  properties: {
    modelId: idSchema,
    keyId: idSchema,
    sealing: { type: 'string', minLength: 43, maxLength: 43, pattern: DIGEST_PATTERN.source },
    offline: { type: 'boolean' },
    epk: {
      type: 'object',
      required: ['kty', 'crv', 'x'],
      additionalProperties: false,
      properties: {
        kty: { type: 'string', maxLength: 8 },
        crv: { type: 'string', maxLength: 16 },
        x: b64,
        y: b64,
        // Private members are accepted by the schema only so the handler can name them in its refusal.
        d: b64,
        k: b64,
        alg: { type: 'string', maxLength: 32 },
        use: { type: 'string', maxLength: 8 },
        kid: { type: 'string', maxLength: 128 },
        ext: { type: 'boolean' },
        key_ops: { type: 'array', maxItems: 8, items: { type: 'string', maxLength: 16 } },
      },
    },
  },
} as const;

/** What the release route reads and counts. */
export interface ReleaseDeps {
  config: KeyServerConfig;
  sessions: SessionVerifier;
  snapshot: KeySnapshot;
  counter: ReleaseCounter;
  limit: Limit;
  policies: (modelId: string) => NamedPolicy;
  serverKeys: ServerEphemeralKeys;
}

/** The session token of an `Authorization: Bearer` header; `invalid_token` without one. */
function bearerToken(auth: string | undefined): string {
  const match = typeof auth === 'string' ? /^Bearer +([A-Za-z0-9_.~+/-]+=*) *$/i.exec(auth) : null;
  if (!match) throw new WireError('invalid_token', 'send Authorization: Bearer <session token>');
  return match[1]!;
}

/** Verifies the token, then its subject's rate limit, its model scope and the request's origin. */
async function authorize(req: FastifyRequest, state: RequestState, deps: ReleaseDeps, modelId: string, { name, policy }: NamedPolicy): Promise<Session> {
  const session = await deps.sessions.verify(bearerToken(req.headers.authorization));
  state.audit.sub = session.sub;
  state.audit.jti = session.jti;
  state.verified = true;
  await deps.limit('subject', name, policy.ratePerSubject, session.sub ?? session.jti ?? 'anonymous');
  if (!session.models.some((p) => matchesPattern(p, modelId))) throw new WireError('forbidden_model', `the token's models claim does not include ${modelId}`);
  const refusal = originRefusal(policy, req.headers.origin, modelId);
  if (refusal !== undefined) throw new WireError('origin_not_allowed', refusal);
  return session;
}

/** The key version, if it may be released now for this sealing: known, not revoked, not expired, published. */
async function releasableVersion(snapshot: KeySnapshot, { modelId, keyId, sealing }: ReleaseRequest): Promise<{ record: KeyRecord; nowMs: number; expiryMs: number }> {
  const record = await snapshot.record(modelId, keyId, sealing);
  if (!record) throw new WireError('unknown_key', `${modelId} ${keyId}`);
  if (record.state === 'revoked') throw new WireError('key_revoked', `${modelId} ${keyId}: reseal the model with the active key version`);
  const nowMs = Date.now();
  const expiryMs = record.expiresAt === undefined ? Infinity : Date.parse(record.expiresAt);
  if (expiryMs <= nowMs) throw new WireError('key_expired', `${modelId} ${keyId}`);
  // Every session holds the content key, so a sealing is genuine only if the publisher recorded it.
  if (!record.sealings.includes(sealing)) throw new WireError('not_published', `${modelId} ${keyId} has no published sealing ${sealing}: only files sealed with this keystore (\`modelseal seal\`) are released`);
  return { record, nowMs, expiryMs };
}

/** The client's ephemeral key, bound to the token's `cnf.jkt` when the token names one. */
async function clientKeyOf(epk: Record<string, unknown>, session: Session): Promise<ClientKey> {
  const client = await importClientKey(epk);
  if (session.jkt !== undefined && session.jkt !== (await client.thumbprint())) throw new WireError('invalid_token', 'the token is bound to another key (cnf.jkt)');
  return client;
}

/** Takes one release from the token's cap, when the policy has one. */
async function takeFromCap(deps: ReleaseDeps, session: Session, policy: ModelPolicy, modelId: string, state: RequestState): Promise<void> {
  if (policy.releasesPerToken <= 0) return;
  if (session.jti === undefined) throw new WireError('invalid_token', `model ${modelId} caps releases per token: the token needs a jti`);
  const ok = await deps.counter.take(session.jti, policy.releasesPerToken, session.exp * 1000 + deps.config.tokens.clockSkewSeconds * 1000);
  if (!ok) throw new WireError('release_limit', `at most ${policy.releasesPerToken} per token`);
  state.counted = true;
}

async function release(req: FastifyRequest<{ Body: ReleaseRequest }>, deps: ReleaseDeps): Promise<ReleaseResponse> {
  const state = req.modelseal!;
  const { modelId, keyId, sealing, epk } = req.body;
  state.audit.modelId = modelId;
  state.audit.keyId = keyId;
  const named = deps.policies(modelId);
  await deps.limit('address', named.name, named.policy.ratePerAddress, state.clientGroup);
  const session = await authorize(req, state, deps, modelId, named);
  const { nowMs, expiryMs } = await releasableVersion(deps.snapshot, req.body);
  const client = await clientKeyOf(epk, session);
  await takeFromCap(deps, session, named.policy, modelId, state);

  const contentKey = await deps.snapshot.contentKey(modelId, keyId);
  if (!contentKey) throw new WireError('unknown_key', `${modelId} ${keyId}`);
  // The token bound includes the clock skew, so a token accepted within the skew never yields an already-expired release.
  const exp = Math.floor(Math.min(nowMs + deps.config.releaseTtlSeconds * 1000, (session.exp + deps.config.tokens.clockSkewSeconds) * 1000, expiryMs) / 1000);
  const lease = offlineLease(req.body.offline, named.policy, nowMs, expiryMs);
  if (lease !== undefined) state.audit.lease = new Date(lease * 1000).toISOString();
  const key = await wrapContentKey(contentKey, client, { modelId, keyId, sealing, exp, lease }, deps.config.wrapAlgorithm, deps.serverKeys);
  return { key, expiresAt: new Date(exp * 1000).toISOString(), ...(lease === undefined ? {} : { leaseExpiresAt: state.audit.lease }) };
}

/** Adds POST /v2/release. */
export function addReleaseRoute(app: FastifyInstance, deps: ReleaseDeps): void {
  app.post<{ Body: ReleaseRequest }>(RELEASE_PATH, { schema: { body: releaseSchema }, bodyLimit: deps.config.bodyLimit }, (req) => release(req, deps));
}
