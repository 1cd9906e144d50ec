// The configuration schema: the published docs/keyserver-config.schema.json is the one the key
// server validates with, it is a valid draft-07 schema whose defaults are DEFAULT_CONFIG, the
// documented example config passes it, and Ajv's failures read as messages naming the setting.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { DEFAULT_CONFIG, resolveConfig } from '../../keyserver/index.js';
import { CONFIG_SCHEMA } from '../../keyserver/config.js';
import { isModelsealError } from '../../format/errors.js';
import { configSchemaText } from '../../scripts/make-config-schema.js';

const ROOT = join(import.meta.dirname, '../..');
const PUBLISHED = join(ROOT, 'docs/keyserver-config.schema.json');

function configError(input: Record<string, unknown>): string {
  try {
    resolveConfig(input);
  } catch (err) {
    expect(isModelsealError(err, 'config_invalid')).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`expected config_invalid for ${JSON.stringify(input)}`);
}

/** An Ajv of its own (meta-schema checked, strict) over the published file, not the server's copy. */
function publishedValidator() {
  const ajv = new Ajv({ allowUnionTypes: true, strict: true, strictRequired: false });
  ajv.addVocabulary(['x-rule']);
  const schema = JSON.parse(readFileSync(PUBLISHED, 'utf8')) as Record<string, unknown>;
  expect(ajv.validateSchema(schema), JSON.stringify(ajv.errors)).toBe(true);
  return ajv.compile(schema);
}

function exampleConfig(): Record<string, unknown> {
  const doc = readFileSync(join(ROOT, 'docs/OPERATIONS.md'), 'utf8');
  const m = /Example production config[^\n]*\n+```json\n([\s\S]*?)\n```/.exec(doc);
  if (!m) throw new Error('docs/OPERATIONS.md has no "Example production config" JSON block');
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

describe('config schema', () => {
  it('docs/keyserver-config.schema.json is the schema the server validates with (regenerate: npx tsx scripts/make-config-schema.ts)', () => {
    expect(readFileSync(PUBLISHED, 'utf8')).toBe(configSchemaText());
    expect(JSON.parse(readFileSync(PUBLISHED, 'utf8'))).toEqual(CONFIG_SCHEMA);
  });

  it('is a valid draft-07 schema; its defaults are DEFAULT_CONFIG and what resolveConfig fills in', () => {
    const validate = publishedValidator();
    expect(validate({})).toBe(true);
    expect(resolveConfig()).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG).toMatchObject({ port: 8787, host: '127.0.0.1', tokens: { keys: [{ type: 'store-secret', algorithms: ['HS256'] }] }, defaults: { releasesPerToken: 100, origins: null } });
  });

  it('the documented production config passes the published schema and the server', () => {
    const example = exampleConfig();
    const validate = publishedValidator();
    expect(validate(structuredClone(example)), JSON.stringify(validate.errors)).toBe(true);
    const c = resolveConfig(example);
    // A single issuer string is read as a list of one; a JWKS key keeps the algorithms it names.
    expect(c.tokens.issuer).toEqual(['https://app.example.com']);
    expect(c.tokens.keys).toEqual([{ type: 'jwks-url', url: 'https://app.example.com/.well-known/jwks.json', algorithms: ['EdDSA', 'ES256'] }]);
    expect(c.models['face-pro']).toEqual({ origins: ['https://pro.example.com'], releasesPerToken: 1 });
    // A file may name its schema for editors; the server ignores that member.
    const named = { $schema: './node_modules/modelseal/docs/keyserver-config.schema.json', ...example };
    expect(validate(structuredClone(named))).toBe(true);
    expect(resolveConfig(named)).toEqual(c);
    // The published schema refuses what the server refuses.
    expect(validate({ ...example, prot: 1 })).toBe(false);
    expect(validate({ tokens: { keys: [{ type: 'jwks-file', path: 'k.json', algorithms: ['HS256'] }] } })).toBe(false);
  });

  it('an unknown member, at any depth, is named with its path and the known settings', () => {
    expect(configError({ tokens: { keys: [{ type: 'jwks-url', url: 'https://idp.example/jwks', extra: 1 }] } })).toBe('config tokens.keys[0].extra: unknown setting (known: type, algorithms, secret, path, url)');
    expect(configError({ tokens: { issuer: 'a', skew: 3 } })).toBe('config tokens.skew: unknown setting (known: issuer, audience, clockSkewSeconds, maxLifetimeSeconds, keys)');
    expect(configError({ models: { 'face-*': { origin: ['https://a.example'] } } })).toBe('config models["face-*"].origin: unknown setting (known: origins, releasesPerToken, ratePerSubject, ratePerAddress, offlineLeaseSeconds)');
  });

  it('a wrong type says what the setting must be and what was given', () => {
    expect(configError({ tokens: 5 })).toBe('config tokens: must be an object, got 5');
    expect(configError({ rateLimitFailOpen: 'yes' })).toBe('config rateLimitFailOpen: must be true or false');
    expect(configError({ port: '8080' })).toBe('config port: must be an integer from 0 to 65535');
    expect(configError({ bodyLimit: 1.5 })).toBe('config bodyLimit: must be an integer from 256 to 1048576, got 1.5');
    expect(configError({ logLevel: 'loud' })).toBe('config logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"');
    expect(configError({ trustProxy: {} })).toBe('config trustProxy: must be true, false, a hop count, or a list of trusted proxy addresses/CIDRs, got {}');
    expect(configError({ reloadIntervalMs: 10 })).toBe('config reloadIntervalMs: must be 0 (no polling) or an integer from 50 to 3600000, got 10');
  });

  it('nested paths are named the way the config file spells them', () => {
    expect(configError({ models: { face: { ratePerAddress: 0 } } })).toBe('config models["face"].ratePerAddress: must be an integer from 1 to 1000000000, got 0');
    expect(configError({ tokens: { keys: [{ type: 'store-secret' }, { type: 'hmac' }] } })).toBe('config tokens.keys[1].type: must be store-secret, secret, jwks-file or jwks-url, got "hmac"');
    expect(configError({ tokens: { keys: [{ type: 'store-secret', algorithms: ['HS256', 'none'] }] } })).toBe('config tokens.keys[0].algorithms[1]: "none" is not allowed (allowed: HS256, HS384, HS512): a shared secret can only verify HS256/HS384/HS512');
    expect(configError({ tokens: { keys: [{ type: 'jwks-file' }] } })).toBe('config tokens.keys[0].path: is required (the path of a JWKS file)');
    expect(configError({ tokens: { keys: [{}] } })).toBe('config tokens.keys[0].type: is required (store-secret, secret, jwks-file or jwks-url)');
    expect(configError({ models: { 'face/pro': {} } })).toBe('config models["face/pro"]: must be a model id, optionally with * wildcards');
    expect(configError({ tokens: { audience: [] } })).toBe('config tokens.audience: must be a non-empty string or a list of non-empty strings, got []');
  });

  it('never repeats a secret or a URL with credentials from the input in the message', () => {
    const secret = 'short-but-secret-value';
    expect(configError({ tokens: { keys: [{ type: 'secret', secret }] } })).not.toContain(secret);
    expect(configError({ redis: 'http://admin:hunter2@cache:6379' })).not.toContain('hunter2');
  });

  it('leaves the caller\'s objects as they were (defaults go into a copy)', () => {
    const layer = { tokens: { issuer: 'a' }, defaults: { releasesPerToken: 3 }, models: { face: {} } };
    const before = structuredClone(layer);
    const c = resolveConfig(layer);
    expect(layer).toEqual(before);
    expect(c.defaults).toEqual({ ...DEFAULT_CONFIG.defaults, releasesPerToken: 3 });
    expect(c.tokens.issuer).toEqual(['a']);
    // An undefined member (as configFromEnv leaves them) is no setting: the default or an earlier layer stands.
    const sparse = resolveConfig({ tokens: { issuer: undefined, audience: ['b'] }, models: { face: { releasesPerToken: undefined, ratePerSubject: 7 } } });
    expect(sparse.tokens).toMatchObject({ issuer: ['modelseal-dev'], audience: ['b'] });
    expect(sparse.models['face']).toEqual({ ratePerSubject: 7 });
    expect(resolveConfig({ tokens: { issuer: 'x' } }, { tokens: { issuer: undefined } }).tokens.issuer).toEqual(['x']);
  });
});
