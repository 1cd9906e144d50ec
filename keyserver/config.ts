// Key server configuration: defaults < JSON file < MODELSEAL_* environment < command-line flags.
// Validated once at start against the JSON Schema (config-schema.ts, published as
// docs/keyserver-config.schema.json), so a bad value is a clear `config_invalid` error, not a crash later.

import { resolve } from 'node:path';
import { ModelsealError } from '../format/errors.js';
import { isRecord } from '../format/json.js';
import { masterKeyScheme } from '../keystore/master/index.js';
import { readRegularTextSync } from '../keystore/regular-file.js';
import { validateConfig } from './config-validate.js';
import { CONFIG_SCHEMA, schemaDefaults } from './config-schema.js';

export { CONFIG_SCHEMA, TOKEN_ALGORITHMS, MAX_OFFLINE_LEASE_SECONDS } from './config-schema.js';

/** One accepted session-token signing key and the algorithms it may be used with. */
export type TokenKeyConfig =
  /** The store's token.secret (the embedded default, for `modelseal token`). */
  | { type: 'store-secret'; algorithms?: string[] }
  /** An HMAC secret given in base64url (at least 32 bytes). */
  | { type: 'secret'; secret: string; algorithms?: string[] }
  /** A JWKS document on disk (public keys of the app backend). */
  | { type: 'jwks-file'; path: string; algorithms?: string[] }
  /** A JWKS served by the app backend or identity provider, fetched and cached. */
  | { type: 'jwks-url'; url: string; algorithms?: string[] };

/** Release policy of one model (or of every model matching a pattern). */
export interface ModelPolicy {
  /** Origins allowed to load the model (exact `scheme://host[:port]`); null allows any origin. */
  origins: string[] | null;
  /** Maximum releases per token `jti`; 0 means no cap (then tokens need no jti). */
  releasesPerToken: number;
  /** Releases per token subject per rate window. */
  ratePerSubject: number;
  /** Requests per client address per rate window. */
  ratePerAddress: number;
  /** Offline lease granted to a release that asks for one (`offline: true`), in seconds; 0 grants none. */
  offlineLeaseSeconds: number;
}

/** The key server's whole configuration. */
export interface KeyServerConfig {
  host: string;
  port: number;
  /** Keystore folder (`--store`, $MODELSEAL_HOME, ./.modelseal); used by the CLI. */
  store: string | undefined;
  /** Master key URI (`file:PATH`, `pkcs11:…`, `aws-kms:…`, …); undefined: the store's master.key. */
  masterKey: string | undefined;
  /** How long an unwrapped content key stays in memory, in seconds (served while the master key is unreachable); 0: unwrap every release. */
  masterKeyCacheSeconds: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Fastify trustProxy: false, true, a hop count, or addresses/CIDRs of trusted proxies. */
  trustProxy: boolean | number | string | string[];
  /** Largest request body in bytes. */
  bodyLimit: number;
  /** Bytes of an oversized body read and discarded after the 413 (so the client can read it); 0 closes at once. */
  bodyDrainLimit: number;
  /** A request (headers and body) must arrive within this many ms, else 408 and the connection closes. */
  requestTimeoutMs: number;
  /** The request headers must arrive within this many ms (at most requestTimeoutMs). */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this many ms. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; the server closes any connection beyond it at once. */
  maxConnections: number;
  /** IPv6 clients are counted per network of this prefix length (64: one /64 is one client; 128: per address). */
  ipv6PrefixLength: number;
  /** How often to look for keystore changes, in ms; 0 turns polling off (SIGHUP still reloads). */
  reloadIntervalMs: number;
  /** Lifetime of a released key, in seconds (the JWE `exp`; never beyond the token's `exp`). */
  releaseTtlSeconds: number;
  /** JWE key management: ECDH-ES+A256KW (default) or ECDH-ES direct. */
  wrapAlgorithm: 'ECDH-ES+A256KW' | 'ECDH-ES';
  /** How long the server's ECDH-ES key pair is reused, in seconds; 0 (default): a fresh pair per release (opt-in: docs/PROTOCOL.md). */
  serverKeyReuseSeconds: number;
  /** Audit log path; null turns it off; undefined writes `<store>/audit.log`. */
  auditLog: string | null | undefined;
  /** Longest text field in an audit line, in characters; longer ones are cut with a marker. */
  auditFieldMaxLength: number;
  /** Audit lines per client (address group) per window for requests without a verified token; 0: no limit. */
  auditUnverifiedPerAddress: number;
  /** Window of auditUnverifiedPerAddress, in ms. */
  auditUnverifiedWindowMs: number;
  tokens: {
    issuer: string[];
    audience: string[];
    clockSkewSeconds: number;
    /** Refuse tokens whose exp − iat (or exp − now) exceeds this; 0 turns the check off. */
    maxLifetimeSeconds: number;
    keys: TokenKeyConfig[];
  };
  /** Rate window for ratePerSubject and ratePerAddress, in ms (whole seconds, rounded up, on Redis). */
  rateWindowMs: number;
  /** `redis://` or `rediss://` URL of the shared state for replicas and workers; undefined keeps it in memory. */
  redis: string | undefined;
  /** Prefix of every Redis key and channel the key server uses. */
  redisKeyPrefix: string;
  /** A Redis command (or connection attempt) that takes longer fails, and the request gets 503. */
  redisCommandTimeoutMs: number;
  /** While Redis is unreachable, let rate limits through (release caps always fail closed). */
  rateLimitFailOpen: boolean;
  /** Policy for models that no entry of `models` matches, and the base of every entry. */
  defaults: ModelPolicy;
  /** Per-model policy by model id or pattern (`*` matches any run of characters). */
  models: Record<string, Partial<ModelPolicy>>;
}

/** A deep-partial configuration, as a file, the environment or flags give it. */
export type KeyServerConfigInput = Partial<Omit<KeyServerConfig, 'tokens' | 'defaults'>> & {
  tokens?: Partial<KeyServerConfig['tokens']>;
  defaults?: Partial<ModelPolicy>;
};

const NESTED = new Set(['tokens', 'defaults', 'models']);

function invalid(where: string, message: string): ModelsealError {
  return new ModelsealError('config_invalid', `config ${where}: ${message}`);
}


/** Later layers win setting by setting; `tokens`, `defaults` and `models` merge one level down. */
function mergeLayers(layers: unknown[]): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const [i, layer] of layers.entries()) {
    if (layer === undefined) continue;
    if (!isRecord(layer)) throw invalid(`layer ${i}`, 'must be an object');
    for (const [key, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      const into = merged[key];
      if (NESTED.has(key) && isRecord(v) && isRecord(into)) {
        for (const [k, w] of Object.entries(v)) if (w !== undefined) into[k] = w;
      } else merged[key] = isRecord(v) ? { ...v } : v;
    }
  }
  try {
    // A copy, as JSON: Ajv fills defaults in place (never in the caller's objects), and an undefined
    // member at any depth is no setting at all.
    return JSON.parse(JSON.stringify(merged)) as Record<string, unknown>;
  } catch (cause) {
    throw new ModelsealError('config_invalid', `config: settings must be JSON values (${(cause as Error).message})`, { cause });
  }
}

/** Checks the schema cannot express; each names its setting. */
function checkSemantics(c: KeyServerConfig): void {
  if (c.masterKey !== undefined) {
    try {
      masterKeyScheme(c.masterKey);
    } catch (err) {
      throw invalid('masterKey', (err as Error).message);
    }
  }
  checkOrigins('defaults', c.defaults.origins);
  for (const [pattern, p] of Object.entries(c.models)) checkOrigins(`models[${JSON.stringify(pattern)}]`, p.origins);
  c.tokens.keys.forEach((k, i) => checkTokenKey(`tokens.keys[${i}]`, k));
  if (c.redis !== undefined && !isRedisUrl(c.redis)) throw invalid('redis', 'must be a redis:// or rediss:// URL, e.g. redis://redis.internal:6379');
  // Node refuses a headers deadline beyond the request deadline; say which setting to change.
  if (c.headersTimeoutMs > c.requestTimeoutMs) throw invalid('headersTimeoutMs', `must not exceed requestTimeoutMs (${c.requestTimeoutMs}), got ${c.headersTimeoutMs}`);
}

function checkOrigins(where: string, origins: string[] | null | undefined): void {
  for (const o of origins ?? []) {
    if (parseUrl(o)?.origin !== o) throw invalid(`${where}.origins`, `${JSON.stringify(o)} is not an origin: write scheme://host[:port] with no path or trailing slash`);
  }
}

function checkTokenKey(where: string, k: TokenKeyConfig): void {
  if (k.type !== 'jwks-url') return;
  const u = parseUrl(k.url);
  const ok = u !== undefined && (u.protocol === 'https:' || (u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)));
  if (!ok) throw invalid(`${where}.url`, 'must be an https URL (http only for localhost)');
}

function isRedisUrl(text: string): boolean {
  const u = parseUrl(text);
  return u !== undefined && (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
}

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

const asList = (v: string | string[]): string[] => (typeof v === 'string' ? [v] : v);

/** The validated document in the shape the server uses: lists where one string was given, key defaults filled. */
function normalise(c: KeyServerConfig): KeyServerConfig {
  if (typeof c.trustProxy === 'string') c.trustProxy = [c.trustProxy];
  for (const p of [c.defaults, ...Object.values(c.models)]) if (typeof p.origins === 'string') p.origins = [p.origins];
  c.tokens.issuer = asList(c.tokens.issuer);
  c.tokens.audience = asList(c.tokens.audience);
  c.tokens.keys = c.tokens.keys.map((k) => {
    const hmac = k.type === 'store-secret' || k.type === 'secret';
    const algorithms = k.algorithms === undefined ? (hmac ? ['HS256'] : ['EdDSA', 'ES256']) : asList(k.algorithms);
    return k.type === 'jwks-file' ? { ...k, path: resolve(k.path), algorithms } : { ...k, algorithms };
  });
  return c;
}

/**
 * Validates configuration layers (later ones win) against the schema, fills in defaults, and returns
 * the whole configuration; throws ModelsealError `config_invalid` naming the setting.
 * @example const config = resolveConfig({ port: 9000, models: { face: { origins: ['https://app.example.com'] } } });
 */
export function resolveConfig(...layers: (KeyServerConfigInput | Record<string, unknown> | undefined)[]): KeyServerConfig {
  const doc = mergeLayers(layers);
  const failure = validateConfig(doc);
  if (failure !== undefined) throw new ModelsealError('config_invalid', `config ${failure}`);
  delete doc['$schema'];
  const config = normalise(doc as unknown as KeyServerConfig);
  checkSemantics(config);
  return config;
}

/** Safe defaults: loopback, small bodies, modest rate limits, capped releases per token (the schema's `default`s). */
export const DEFAULT_CONFIG: Readonly<KeyServerConfig> = schemaDefaults({ ...CONFIG_SCHEMA, default: {} }) as KeyServerConfig;

/** Reads a JSON config file; a missing or unparsable file is `config_invalid`. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readRegularTextSync(path);
  } catch (cause) {
    throw new ModelsealError('config_invalid', `cannot read config file ${path}: ${(cause as Error).message}`, { cause, file: path });
  }
  try {
    // A byte order mark (editors on Windows write one) is not part of the JSON: skipped, as model.json's is.
    const v: unknown = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
    if (!isRecord(v)) throw new Error('not an object');
    return v;
  } catch (cause) {
    throw new ModelsealError('config_invalid', `config file ${path} is not a JSON object: ${(cause as Error).message}`, { cause, file: path });
  }
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new ModelsealError('config_invalid', `environment ${name}=${JSON.stringify(v)} must be a whole number`);
  return Number(v);
}

/** The configuration layer given by MODELSEAL_* environment variables (docs/OPERATIONS.md lists them). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): KeyServerConfigInput {
  const out: KeyServerConfigInput = {};
  const str = (n: string) => (env[n] === undefined || env[n] === '' ? undefined : env[n]);
  if (str('MODELSEAL_HOST')) out.host = str('MODELSEAL_HOST');
  out.port = envInt(env, 'MODELSEAL_PORT');
  if (str('MODELSEAL_HOME')) out.store = str('MODELSEAL_HOME');
  if (str('MODELSEAL_MASTER_KEY')) out.masterKey = str('MODELSEAL_MASTER_KEY');
  out.masterKeyCacheSeconds = envInt(env, 'MODELSEAL_MASTER_KEY_CACHE_SECONDS');
  if (str('MODELSEAL_LOG_LEVEL')) out.logLevel = str('MODELSEAL_LOG_LEVEL') as KeyServerConfig['logLevel'];
  const tp = str('MODELSEAL_TRUST_PROXY');
  if (tp !== undefined) out.trustProxy = tp === 'true' ? true : tp === 'false' ? false : /^\d+$/.test(tp) ? Number(tp) : tp.split(',').map((s) => s.trim());
  out.bodyLimit = envInt(env, 'MODELSEAL_BODY_LIMIT');
  out.reloadIntervalMs = envInt(env, 'MODELSEAL_RELOAD_INTERVAL_MS');
  out.releaseTtlSeconds = envInt(env, 'MODELSEAL_RELEASE_TTL');
  if (str('MODELSEAL_REDIS_URL')) out.redis = str('MODELSEAL_REDIS_URL');
  if (str('MODELSEAL_REDIS_KEY_PREFIX')) out.redisKeyPrefix = str('MODELSEAL_REDIS_KEY_PREFIX');
  const audit = str('MODELSEAL_AUDIT_LOG');
  if (audit !== undefined) out.auditLog = audit === 'off' ? null : audit;
  const tokens: Partial<KeyServerConfig['tokens']> = {};
  if (str('MODELSEAL_TOKEN_ISSUER')) tokens.issuer = str('MODELSEAL_TOKEN_ISSUER')!.split(',');
  if (str('MODELSEAL_TOKEN_AUDIENCE')) tokens.audience = str('MODELSEAL_TOKEN_AUDIENCE')!.split(',');
  tokens.clockSkewSeconds = envInt(env, 'MODELSEAL_CLOCK_SKEW');
  const keys: TokenKeyConfig[] = [];
  if (str('MODELSEAL_JWKS_URL')) keys.push({ type: 'jwks-url', url: str('MODELSEAL_JWKS_URL')! });
  if (str('MODELSEAL_JWKS_FILE')) keys.push({ type: 'jwks-file', path: str('MODELSEAL_JWKS_FILE')! });
  if (keys.length > 0) tokens.keys = keys;
  if (Object.values(tokens).some((v) => v !== undefined)) out.tokens = tokens;
  return out;
}

/**
 * Loads the configuration: defaults, then the JSON file (`--config` or $MODELSEAL_CONFIG), then
 * MODELSEAL_* variables, then flags; later layers win.
 * @example const config = loadConfig({ flags: { port: 9000 } });
 */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv; flags?: KeyServerConfigInput } = {}): KeyServerConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? (env['MODELSEAL_CONFIG'] || undefined);
  return resolveConfig(file ? readConfigFile(file) : undefined, configFromEnv(env), options.flags);
}
