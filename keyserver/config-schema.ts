// The key server's configuration as a JSON Schema (draft-07) with its defaults. Ajv validates every
// configuration against it (config.ts); docs/keyserver-config.schema.json is this object, written by
// scripts/make-config-schema.ts (a test checks they agree), for operators and their editors.
//
// `x-rule` is an annotation of our own: what a valid value is, in words, for error messages
// ("config port: must be an integer from 0 to 65535, got 70000"). Other validators ignore it.
// Checks a schema cannot say well (an origin is an origin, a URL's scheme and host, a master-key
// URI's scheme, one deadline not beyond another) are made in config.ts after the schema.

import { MODEL_PATTERN } from '../format/ids.js';
import type { KeyServerConfig, ModelPolicy } from './config.js';

/** Signature algorithms a session-token key may allow (never `none`). */
export const TOKEN_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'EdDSA', 'Ed25519', 'ES256', 'ES384', 'PS256', 'RS256'] as const;

/** Longest offline lease a policy may grant: 30 days. */
export const MAX_OFFLINE_LEASE_SECONDS = 30 * 86_400;

type Schema = Record<string, unknown>;

const int = (minimum: number, maximum: number, description: string, dflt?: number): Schema => ({ type: 'integer', minimum, maximum, description, ...(dflt === undefined ? {} : { default: dflt }) });

/** A list of non-empty strings; a single string is read as a list of one. */
const stringList = (description: string, minItems: number, dflt?: string[]): Schema => ({
  description,
  'x-rule': minItems > 0 ? 'a non-empty string or a list of non-empty strings' : 'a list of non-empty strings',
  anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems, items: { type: 'string', minLength: 1 } }],
  ...(dflt === undefined ? {} : { default: dflt }),
});

const HMAC = TOKEN_ALGORITHMS.filter((a) => a.startsWith('HS'));
const ASYMMETRIC = TOKEN_ALGORITHMS.filter((a) => !a.startsWith('HS'));

/** The algorithms member of a token key of one kind. */
const algorithmsOf = (allowed: readonly string[], rule: string): Schema => ({
  properties: {
    algorithms: {
      anyOf: [
        { type: 'string', enum: allowed, 'x-rule': rule },
        { type: 'array', items: { type: 'string', enum: allowed, 'x-rule': rule } },
      ],
    },
  },
});

const whenType = (type: string, then: Schema): Schema => ({ if: { type: 'object', required: ['type'], properties: { type: { const: type } } }, then });

/** One entry of tokens.keys. */
export const TOKEN_KEY_SCHEMA: Schema = {
  type: 'object',
  description: 'One accepted session-token signing key and the algorithms it may be used with.',
  'x-rule': 'an object with a type',
  required: ['type'],
  additionalProperties: false,
  properties: {
    type: {
      enum: ['store-secret', 'secret', 'jwks-file', 'jwks-url'],
      'x-rule': 'store-secret, secret, jwks-file or jwks-url',
      description: "store-secret: the store's token.secret (the embedded default, for `modelseal token`); secret: an HMAC secret in base64url; jwks-file: a JWKS document on disk; jwks-url: a JWKS fetched and cached over https.",
    },
    algorithms: {
      description: 'Algorithms this key may verify (default: HS256 for secrets, EdDSA and ES256 for a JWKS).',
      'x-rule': 'a list of allowed algorithm names',
      anyOf: [
        { type: 'string', enum: TOKEN_ALGORITHMS, 'x-rule': `one of ${TOKEN_ALGORITHMS.join(', ')}` },
        { type: 'array', minItems: 1, items: { type: 'string', enum: TOKEN_ALGORITHMS, 'x-rule': `one of ${TOKEN_ALGORITHMS.join(', ')}` } },
      ],
    },
    secret: { type: 'string', writeOnly: true, pattern: '^[A-Za-z0-9_-]{43,}$', 'x-rule': 'at least 32 bytes in base64url', description: 'type secret: the HMAC secret, at least 32 bytes in base64url.' },
    path: { type: 'string', minLength: 1, 'x-rule': 'the path of a JWKS file', description: 'type jwks-file: the JWKS file (relative to the working folder).' },
    url: { type: 'string', minLength: 1, 'x-rule': 'an https URL (http only for localhost)', description: 'type jwks-url: the JWKS URL (https; http only for localhost).' },
  },
  allOf: [
    whenType('store-secret', algorithmsOf(HMAC, 'a shared secret can only verify HS256/HS384/HS512')),
    whenType('secret', { required: ['secret'], ...algorithmsOf(HMAC, 'a shared secret can only verify HS256/HS384/HS512') }),
    whenType('jwks-file', { required: ['path'], ...algorithmsOf(ASYMMETRIC, 'a JWKS holds public keys: allow EdDSA, ES256 or another asymmetric algorithm, never HS*') }),
    whenType('jwks-url', { required: ['url'], ...algorithmsOf(ASYMMETRIC, 'a JWKS holds public keys: allow EdDSA, ES256 or another asymmetric algorithm, never HS*') }),
  ],
};

const POLICY_DEFAULTS: ModelPolicy = { origins: null, releasesPerToken: 100, ratePerSubject: 120, ratePerAddress: 300, offlineLeaseSeconds: 0 };

/** The policy members, with defaults (for `defaults`) or without (a `models` entry, merged over `defaults`). */
function policy(withDefaults: boolean, description: string): Schema {
  const d = <K extends keyof ModelPolicy>(k: K) => (withDefaults ? { default: POLICY_DEFAULTS[k] } : {});
  const properties = {
    origins: {
      type: ['array', 'null', 'string'],
      minLength: 1,
      items: { type: 'string', minLength: 1 },
      'x-rule': 'a list of origins (scheme://host[:port]), one origin, or null to allow any origin',
      description: 'Origins allowed to load the model (exact scheme://host[:port]); null allows any origin, [] none.',
      ...d('origins'),
    },
    releasesPerToken: { ...int(0, 1e9, 'Releases per token jti; 0 means no cap (then tokens need no jti).'), ...d('releasesPerToken') },
    ratePerSubject: { ...int(1, 1e9, 'Releases per token subject (sub, else jti) per rate window.'), ...d('ratePerSubject') },
    ratePerAddress: { ...int(1, 1e9, 'Requests per client address per rate window.'), ...d('ratePerAddress') },
    offlineLeaseSeconds: { ...int(0, MAX_OFFLINE_LEASE_SECONDS, 'Offline lease granted to a release that asks for one (offline: true), in seconds; 0 grants none.'), ...d('offlineLeaseSeconds') },
  } satisfies Record<keyof ModelPolicy, Schema>;
  return { type: 'object', description, additionalProperties: false, properties, ...(withDefaults ? { default: {} } : {}) };
}

const tokens: Schema = {
  type: 'object',
  description: 'How session tokens are verified.',
  additionalProperties: false,
  default: {},
  properties: {
    issuer: stringList('Accepted iss values.', 1, ['modelseal-dev']),
    audience: stringList('Accepted aud values.', 1, ['modelseal']),
    clockSkewSeconds: int(0, 300, 'Tolerance for exp and nbf, in seconds.', 30),
    maxLifetimeSeconds: int(0, 31_536_000, 'Refuse tokens whose exp − iat (or exp − now) exceeds this; 0 turns the check off.', 86_400),
    keys: { type: 'array', minItems: 1, items: TOKEN_KEY_SCHEMA, 'x-rule': 'a non-empty list of token keys', description: 'Token verification keys; a token must verify with one of them.', default: [{ type: 'store-secret', algorithms: ['HS256'] }] },
  } satisfies Record<keyof KeyServerConfig['tokens'], Schema>,
};

const properties = {
  host: { type: 'string', minLength: 1, 'x-rule': 'a host name or address', description: 'Listen address.', default: '127.0.0.1' },
  port: int(0, 65535, 'Listen port (0: any free port).', 8787),
  store: { type: 'string', minLength: 1, 'x-rule': 'a folder path', description: 'Keystore folder (default: $MODELSEAL_HOME, else ./.modelseal).' },
  masterKey: { type: 'string', minLength: 1, 'x-rule': 'a master key URI such as file:master.key or pkcs11:token=…;object=…', description: 'Master key URI: file:PATH, pkcs11:…, aws-kms:…, vault-transit:…, gcp-kms:… (default: the store\'s master.key).' },
  masterKeyCacheSeconds: int(0, 86_400, 'How long an unwrapped content key stays in memory, in seconds (served while the master key is unreachable); 0: unwrap on every release.', 300),
  logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], description: 'pino level of the operational log on stderr.', default: 'info' },
  trustProxy: {
    description: 'Fastify trustProxy: false, true, a hop count, or addresses/CIDRs of trusted proxies.',
    'x-rule': 'true, false, a hop count, or a list of trusted proxy addresses/CIDRs',
    anyOf: [{ type: 'boolean' }, { type: 'integer', minimum: 0 }, { type: 'string', minLength: 1 }, { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } }],
    default: false,
  },
  bodyLimit: int(256, 1 << 20, 'Largest request body in bytes.', 8192),
  bodyDrainLimit: int(0, 64 << 20, 'Bytes of an oversized body read and discarded after the 413 (so the client can read it); 0 closes at once.', 8 << 20),
  requestTimeoutMs: int(100, 600_000, 'A request (headers and body) must arrive within this many ms, else 408 and the connection closes.', 10_000),
  headersTimeoutMs: int(100, 600_000, 'The request headers must arrive within this many ms (at most requestTimeoutMs).', 5_000),
  keepAliveTimeoutMs: int(100, 600_000, 'An idle keep-alive connection is closed after this many ms.', 5_000),
  maxConnections: int(1, 1_000_000, 'Open connections at most; the server closes any connection beyond it at once.', 1024),
  ipv6PrefixLength: int(16, 128, 'IPv6 clients are counted per network of this prefix length (128: per address).', 64),
  reloadIntervalMs: {
    type: 'integer',
    minimum: 0,
    maximum: 3_600_000,
    not: { minimum: 1, maximum: 49 },
    'x-rule': '0 (no polling) or an integer from 50 to 3600000',
    description: 'How often to look for keystore changes, in ms; 0 turns polling off (SIGHUP still reloads).',
    default: 2000,
  },
  releaseTtlSeconds: int(1, 86_400, "Lifetime of a released key, in seconds (the JWE exp; never beyond the token's exp).", 300),
  wrapAlgorithm: { enum: ['ECDH-ES+A256KW', 'ECDH-ES'], description: 'JWE key management of a release.', default: 'ECDH-ES+A256KW' },
  serverKeyReuseSeconds: int(0, 3600, "How long the server's ECDH-ES key pair is reused, in seconds; 0: a fresh pair per release (reuse is opt-in: docs/PROTOCOL.md).", 0),
  auditLog: { type: ['string', 'null'], minLength: 1, 'x-rule': 'a file path, or null to turn the audit log off', description: 'Audit log path (default: <store>/audit.log); null turns it off.' },
  auditFieldMaxLength: int(32, 65_536, 'Longest text field in an audit line, in characters; longer ones are cut with a marker.', 256),
  auditUnverifiedPerAddress: int(0, 1e9, 'Audit lines per client per window for requests without a verified token; 0: no limit.', 20),
  auditUnverifiedWindowMs: int(100, 86_400_000, 'Window of auditUnverifiedPerAddress, in ms.', 60_000),
  tokens,
  rateWindowMs: int(100, 86_400_000, 'Rate window for ratePerSubject and ratePerAddress, in ms (whole seconds, rounded up, on Redis).', 60_000),
  redis: { type: 'string', pattern: '^rediss?://[^/?#]', 'x-rule': 'a redis:// or rediss:// URL, e.g. redis://redis.internal:6379', description: 'Shared state for replicas and workers; absent keeps it in memory.' },
  redisKeyPrefix: { type: 'string', pattern: '^[A-Za-z0-9:._-]{1,64}$', 'x-rule': '1 to 64 letters, digits, ":", ".", "_" or "-"', description: 'Prefix of every Redis key and channel the key server uses.', default: 'modelseal:' },
  redisCommandTimeoutMs: int(10, 60_000, 'A Redis command (or connection attempt) that takes longer fails, and the request gets 503.', 1000),
  rateLimitFailOpen: { type: 'boolean', description: 'While Redis is unreachable, let rate limits through (release caps always fail closed).', default: false },
  defaults: policy(true, 'Policy for models that no entry of models matches, and the base of every entry.'),
  models: {
    type: 'object',
    'x-rule': 'an object of model id or pattern → policy',
    description: 'Per-model policy by model id or pattern (* matches any run of characters), merged over defaults.',
    propertyNames: { pattern: MODEL_PATTERN.source, 'x-rule': 'a model id, optionally with * wildcards' },
    additionalProperties: policy(false, 'Policy of the models this id or pattern names; unset members come from defaults.'),
    default: {},
  },
} satisfies Record<keyof KeyServerConfig, Schema>;

/** The JSON Schema of a key server configuration file (docs/keyserver-config.schema.json). */
export const CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'modelseal key server configuration',
  description: 'The JSON config file of `modelseal serve --config` (docs/OPERATIONS.md "Configuration"). Environment variables and flags override it.',
  type: 'object',
  additionalProperties: false,
  properties: {
    // Editors find the schema through this member; the server ignores it.
    $schema: { type: 'string', description: 'The schema of this file, for editors (e.g. node_modules/modelseal/docs/keyserver-config.schema.json); ignored by the server.' },
    ...properties,
  },
} as const;

/** The value of every `default` in a schema, recursively: what Ajv fills into an empty document. */
export function schemaDefaults(schema: Schema): unknown {
  const own = structuredClone(schema['default']);
  const props = schema['properties'] as Record<string, Schema> | undefined;
  if (!props || typeof own !== 'object' || own === null || Array.isArray(own)) return own;
  const out = own as Record<string, unknown>;
  for (const [name, member] of Object.entries(props)) {
    if (out[name] !== undefined) continue;
    const value = schemaDefaults(member);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
