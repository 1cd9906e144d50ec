// Key server configuration: defaults < JSON file < MODELSEAL_* environment < command-line flags.
// Validated once at start so a bad value is a clear `config_invalid` error, not a crash later.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ModelsealError } from '../format/errors.js';
import { masterKeyScheme } from '../keystore/master/index.js';
import { MODEL_PATTERN } from '../format/ids.js';

/** Signature algorithms a session-token key may allow (never `none`). */
export const TOKEN_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'EdDSA', 'Ed25519', 'ES256', 'ES384', 'PS256', 'RS256'] as const;

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

/** Longest offline lease a policy may grant: 30 days. */
export const MAX_OFFLINE_LEASE_SECONDS = 30 * 86_400;

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

/** Safe defaults: loopback, small bodies, modest rate limits, capped releases per token. */
export const DEFAULT_CONFIG: KeyServerConfig = {
  host: '127.0.0.1',
  port: 8787,
  store: undefined,
  masterKey: undefined,
  masterKeyCacheSeconds: 300,
  logLevel: 'info',
  trustProxy: false,
  bodyLimit: 8192,
  bodyDrainLimit: 8 << 20,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
  ipv6PrefixLength: 64,
  reloadIntervalMs: 2000,
  releaseTtlSeconds: 300,
  wrapAlgorithm: 'ECDH-ES+A256KW',
  serverKeyReuseSeconds: 0,
  auditLog: undefined,
  auditFieldMaxLength: 256,
  auditUnverifiedPerAddress: 20,
  auditUnverifiedWindowMs: 60_000,
  tokens: {
    issuer: ['modelseal-dev'],
    audience: ['modelseal'],
    clockSkewSeconds: 30,
    maxLifetimeSeconds: 86_400,
    keys: [{ type: 'store-secret', algorithms: ['HS256'] }],
  },
  rateWindowMs: 60_000,
  redis: undefined,
  redisKeyPrefix: 'modelseal:',
  redisCommandTimeoutMs: 1000,
  rateLimitFailOpen: false,
  defaults: { origins: null, releasesPerToken: 100, ratePerSubject: 120, ratePerAddress: 300, offlineLeaseSeconds: 0 },
  models: {},
};

/** A deep-partial configuration, as a file, the environment or flags give it. */
export type KeyServerConfigInput = Partial<Omit<KeyServerConfig, 'tokens' | 'defaults'>> & {
  tokens?: Partial<KeyServerConfig['tokens']>;
  defaults?: Partial<ModelPolicy>;
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const TOP_KEYS = new Set(Object.keys(DEFAULT_CONFIG));
const TOKEN_KEYS = new Set(Object.keys(DEFAULT_CONFIG.tokens));
const POLICY_KEYS = new Set(Object.keys(DEFAULT_CONFIG.defaults));

function invalid(where: string, message: string): ModelsealError {
  return new ModelsealError('config_invalid', `config ${where}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function intIn(where: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(where, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

function stringList(where: string, v: unknown, allowEmpty = false): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s.length === 0) || (!allowEmpty && list.length === 0)) {
    throw invalid(where, 'must be a non-empty string or a list of non-empty strings');
  }
  return list as string[];
}

function checkPolicy(where: string, p: unknown, partial: boolean): Partial<ModelPolicy> {
  if (!isObject(p)) throw invalid(where, 'must be an object');
  const out: Partial<ModelPolicy> = {};
  for (const k of Object.keys(p)) if (!POLICY_KEYS.has(k)) throw invalid(`${where}.${k}`, `unknown setting (known: ${[...POLICY_KEYS].join(', ')})`);
  if (p['origins'] !== undefined) {
    if (p['origins'] === null) out.origins = null;
    else {
      out.origins = stringList(`${where}.origins`, p['origins'], true);
      for (const o of out.origins) {
        let u: URL | undefined;
        try {
          u = new URL(o);
        } catch {
          u = undefined;
        }
        if (!u || u.origin !== o) throw invalid(`${where}.origins`, `${JSON.stringify(o)} is not an origin: write scheme://host[:port] with no path or trailing slash`);
      }
    }
  }
  if (p['releasesPerToken'] !== undefined) out.releasesPerToken = intIn(`${where}.releasesPerToken`, p['releasesPerToken'], 0, 1e9);
  if (p['ratePerSubject'] !== undefined) out.ratePerSubject = intIn(`${where}.ratePerSubject`, p['ratePerSubject'], 1, 1e9);
  if (p['ratePerAddress'] !== undefined) out.ratePerAddress = intIn(`${where}.ratePerAddress`, p['ratePerAddress'], 1, 1e9);
  if (p['offlineLeaseSeconds'] !== undefined) out.offlineLeaseSeconds = intIn(`${where}.offlineLeaseSeconds`, p['offlineLeaseSeconds'], 0, MAX_OFFLINE_LEASE_SECONDS);
  if (!partial) for (const k of POLICY_KEYS) if ((out as Record<string, unknown>)[k] === undefined) throw invalid(`${where}.${k}`, 'is required');
  return out;
}

function checkTokenKey(where: string, k: unknown): TokenKeyConfig {
  if (!isObject(k)) throw invalid(where, 'must be an object with a type');
  const algorithms = k['algorithms'] === undefined ? undefined : stringList(`${where}.algorithms`, k['algorithms']);
  for (const a of algorithms ?? []) {
    if (!(TOKEN_ALGORITHMS as readonly string[]).includes(a)) throw invalid(`${where}.algorithms`, `${JSON.stringify(a)} is not allowed (allowed: ${TOKEN_ALGORITHMS.join(', ')})`);
  }
  const hmacOnly = (list: string[] | undefined) => {
    if (list?.some((a) => !a.startsWith('HS'))) throw invalid(`${where}.algorithms`, 'a shared secret can only verify HS256/HS384/HS512');
  };
  const asymOnly = (list: string[] | undefined) => {
    if (list?.some((a) => a.startsWith('HS'))) throw invalid(`${where}.algorithms`, 'a JWKS holds public keys: allow EdDSA, ES256 or another asymmetric algorithm, never HS*');
  };
  switch (k['type']) {
    case 'store-secret':
      hmacOnly(algorithms);
      return { type: 'store-secret', algorithms: algorithms ?? ['HS256'] };
    case 'secret': {
      hmacOnly(algorithms);
      const s = k['secret'];
      if (typeof s !== 'string' || !/^[A-Za-z0-9_-]{43,}$/.test(s)) throw invalid(`${where}.secret`, 'must be at least 32 bytes in base64url');
      return { type: 'secret', secret: s, algorithms: algorithms ?? ['HS256'] };
    }
    case 'jwks-file': {
      asymOnly(algorithms);
      if (typeof k['path'] !== 'string' || k['path'] === '') throw invalid(`${where}.path`, 'must be the path of a JWKS file');
      return { type: 'jwks-file', path: resolve(k['path']), algorithms: algorithms ?? ['EdDSA', 'ES256'] };
    }
    case 'jwks-url': {
      asymOnly(algorithms);
      const u = k['url'];
      let ok: boolean;
      try {
        const parsed = new URL(String(u));
        ok = parsed.protocol === 'https:' || (parsed.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname));
      } catch {
        ok = false;
      }
      if (!ok) throw invalid(`${where}.url`, 'must be an https URL (http only for localhost)');
      return { type: 'jwks-url', url: String(u), algorithms: algorithms ?? ['EdDSA', 'ES256'] };
    }
    default:
      throw invalid(`${where}.type`, 'must be store-secret, secret, jwks-file or jwks-url');
  }
}

/** Validates a partial configuration and fills in defaults; throws ModelsealError `config_invalid`. */
export function resolveConfig(...layers: (KeyServerConfigInput | Record<string, unknown> | undefined)[]): KeyServerConfig {
  const c: KeyServerConfig = structuredClone(DEFAULT_CONFIG);
  for (const [i, layer] of layers.entries()) {
    if (layer === undefined) continue;
    if (!isObject(layer)) throw invalid(`layer ${i}`, 'must be an object');
    for (const [key, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      if (!TOP_KEYS.has(key)) throw invalid(key, `unknown setting (known: ${[...TOP_KEYS].join(', ')})`);
      switch (key) {
        case 'host':
          if (typeof v !== 'string' || v === '') throw invalid('host', 'must be a host name or address');
          c.host = v;
          break;
        case 'port':
          c.port = intIn('port', v, 0, 65535);
          break;
        case 'store':
          if (typeof v !== 'string' || v === '') throw invalid('store', 'must be a folder path');
          c.store = v;
          break;
        case 'masterKey':
          if (typeof v !== 'string' || v === '') throw invalid('masterKey', 'must be a master key URI such as file:master.key or pkcs11:token=…;object=…');
          try {
            masterKeyScheme(v);
          } catch (err) {
            throw invalid('masterKey', (err as Error).message);
          }
          c.masterKey = v;
          break;
        case 'masterKeyCacheSeconds':
          c.masterKeyCacheSeconds = intIn('masterKeyCacheSeconds', v, 0, 86_400);
          break;
        case 'logLevel':
          if (typeof v !== 'string' || !LOG_LEVELS.includes(v)) throw invalid('logLevel', `must be one of ${LOG_LEVELS.join(', ')}`);
          c.logLevel = v as KeyServerConfig['logLevel'];
          break;
        case 'trustProxy':
          if (typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v) && v >= 0)) c.trustProxy = v;
          else if (typeof v === 'string' || Array.isArray(v)) c.trustProxy = stringList('trustProxy', v);
          else throw invalid('trustProxy', 'must be true, false, a hop count, or a list of trusted proxy addresses/CIDRs');
          break;
        case 'bodyLimit':
          c.bodyLimit = intIn('bodyLimit', v, 256, 1 << 20);
          break;
        case 'bodyDrainLimit':
          c.bodyDrainLimit = intIn('bodyDrainLimit', v, 0, 64 << 20);
          break;
        case 'requestTimeoutMs':
          c.requestTimeoutMs = intIn('requestTimeoutMs', v, 100, 600_000);
          break;
        case 'headersTimeoutMs':
          c.headersTimeoutMs = intIn('headersTimeoutMs', v, 100, 600_000);
          break;
        case 'keepAliveTimeoutMs':
          c.keepAliveTimeoutMs = intIn('keepAliveTimeoutMs', v, 100, 600_000);
          break;
        case 'maxConnections':
          c.maxConnections = intIn('maxConnections', v, 1, 1_000_000);
          break;
        case 'ipv6PrefixLength':
          c.ipv6PrefixLength = intIn('ipv6PrefixLength', v, 16, 128);
          break;
        case 'reloadIntervalMs':
          c.reloadIntervalMs = v === 0 ? 0 : intIn('reloadIntervalMs', v, 50, 3_600_000);
          break;
        case 'releaseTtlSeconds':
          c.releaseTtlSeconds = intIn('releaseTtlSeconds', v, 1, 86_400);
          break;
        case 'wrapAlgorithm':
          if (v !== 'ECDH-ES+A256KW' && v !== 'ECDH-ES') throw invalid('wrapAlgorithm', 'must be ECDH-ES+A256KW or ECDH-ES');
          c.wrapAlgorithm = v;
          break;
        case 'serverKeyReuseSeconds':
          c.serverKeyReuseSeconds = intIn('serverKeyReuseSeconds', v, 0, 3600);
          break;
        case 'auditLog':
          if (v !== null && (typeof v !== 'string' || v === '')) throw invalid('auditLog', 'must be a file path, or null to turn the audit log off');
          c.auditLog = v as string | null;
          break;
        case 'auditFieldMaxLength':
          c.auditFieldMaxLength = intIn('auditFieldMaxLength', v, 32, 65_536);
          break;
        case 'auditUnverifiedPerAddress':
          c.auditUnverifiedPerAddress = intIn('auditUnverifiedPerAddress', v, 0, 1e9);
          break;
        case 'auditUnverifiedWindowMs':
          c.auditUnverifiedWindowMs = intIn('auditUnverifiedWindowMs', v, 100, 86_400_000);
          break;
        case 'rateWindowMs':
          c.rateWindowMs = intIn('rateWindowMs', v, 100, 86_400_000);
          break;
        case 'redis': {
          let u: URL | undefined;
          try {
            u = typeof v === 'string' ? new URL(v) : undefined;
          } catch {
            u = undefined;
          }
          if (!u || (u.protocol !== 'redis:' && u.protocol !== 'rediss:') || u.hostname === '') throw invalid('redis', 'must be a redis:// or rediss:// URL, e.g. redis://redis.internal:6379');
          c.redis = v as string;
          break;
        }
        case 'redisKeyPrefix':
          if (typeof v !== 'string' || !/^[A-Za-z0-9:._-]{1,64}$/.test(v)) throw invalid('redisKeyPrefix', 'must be 1 to 64 letters, digits, ":", ".", "_" or "-"');
          c.redisKeyPrefix = v;
          break;
        case 'redisCommandTimeoutMs':
          c.redisCommandTimeoutMs = intIn('redisCommandTimeoutMs', v, 10, 60_000);
          break;
        case 'rateLimitFailOpen':
          if (typeof v !== 'boolean') throw invalid('rateLimitFailOpen', 'must be true or false');
          c.rateLimitFailOpen = v;
          break;
        case 'tokens': {
          if (!isObject(v)) throw invalid('tokens', 'must be an object');
          for (const [tk, tv] of Object.entries(v)) {
            if (tv === undefined) continue;
            if (!TOKEN_KEYS.has(tk)) throw invalid(`tokens.${tk}`, `unknown setting (known: ${[...TOKEN_KEYS].join(', ')})`);
            if (tk === 'issuer') c.tokens.issuer = stringList('tokens.issuer', tv);
            else if (tk === 'audience') c.tokens.audience = stringList('tokens.audience', tv);
            else if (tk === 'clockSkewSeconds') c.tokens.clockSkewSeconds = intIn('tokens.clockSkewSeconds', tv, 0, 300);
            else if (tk === 'maxLifetimeSeconds') c.tokens.maxLifetimeSeconds = intIn('tokens.maxLifetimeSeconds', tv, 0, 31_536_000);
            else if (tk === 'keys') {
              if (!Array.isArray(tv) || tv.length === 0) throw invalid('tokens.keys', 'must be a non-empty list of token keys');
              c.tokens.keys = tv.map((k, j) => checkTokenKey(`tokens.keys[${j}]`, k));
            }
          }
          break;
        }
        case 'defaults':
          Object.assign(c.defaults, checkPolicy('defaults', v, true));
          break;
        case 'models': {
          if (!isObject(v)) throw invalid('models', 'must be an object of model id or pattern → policy');
          for (const [pattern, p] of Object.entries(v)) {
            if (!MODEL_PATTERN.test(pattern)) throw invalid(`models[${JSON.stringify(pattern)}]`, 'must be a model id, optionally with * wildcards');
            c.models[pattern] = checkPolicy(`models[${JSON.stringify(pattern)}]`, p, true);
          }
          break;
        }
      }
    }
  }
  // Node refuses a headers deadline beyond the request deadline; say which setting to change.
  if (c.headersTimeoutMs > c.requestTimeoutMs) throw invalid('headersTimeoutMs', `must not exceed requestTimeoutMs (${c.requestTimeoutMs}), got ${c.headersTimeoutMs}`);
  return c;
}

/** Reads a JSON config file; a missing or unparsable file is `config_invalid`. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ModelsealError('config_invalid', `cannot read config file ${path}: ${(cause as Error).message}`, { cause, file: path });
  }
  try {
    const v: unknown = JSON.parse(text);
    if (!isObject(v)) throw new Error('not an object');
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
