// Shared helpers of the key server tests: a temp keystore, a real server driven in process with
// app.inject (or, where the socket matters, listening on 127.0.0.1 port 0), and a client that
// releases keys the way the loader does (ephemeral key pair, JWE decrypted with jose).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactDecrypt, exportJWK, generateKeyPair, type JWK } from 'jose';
import { FileKeyStore, type ContentKey, type KeyServer, type KeyServerConfigInput, type KeyServerOptions } from '../../keyserver/index.js';
import { startKeyServer } from '../helpers/key-server.js';

/** The sealing digest the fixtures publish for every key version they make (no files behind it). */
export const TEST_SEALING = 'q7aGJUSj8ivyZH4DLydOb1jdPYrEI-UUL0vwhDS0RHw';

/** Rotates `modelId` and publishes TEST_SEALING for the new version, as `modelseal seal` would record a sealing. */
export async function rotatePublished(store: FileKeyStore, modelId: string, options: { retireExpiresAt?: Date } = {}): Promise<ContentKey> {
  const entry = await store.rotate(modelId, options);
  await store.publish(modelId, entry.record.keyId, TEST_SEALING);
  return entry;
}

/**
 * Where a test sends its requests: the server itself (requests go through `app.inject`, no port) or
 * the base URL of a listening server (requests go over a socket with fetch).
 */
export type Target = KeyServer | string;

/** A temp keystore with one model key (`face` k1), its server, and cleanup. */
export interface Fixture {
  dir: string;
  store: FileKeyStore;
  server: KeyServer;
  /** Where requests go: the server (inject) or, when started with `listen`, its URL. */
  target: Target;
  /** The stored content key of face/k1. */
  faceKey: Uint8Array;
  close(): Promise<void>;
}

/** Generous limits so tests that are not about limits never hit them. */
export const RELAXED: KeyServerConfigInput = {
  logLevel: 'silent',
  defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 1_000_000, ratePerAddress: 1_000_000 },
};

/**
 * Creates a store with `face` k1 and a server with `config` over RELAXED (the store's audit log on).
 * The server does not listen unless `listen` is set: then `target` is its URL.
 */
export async function startFixture(config?: KeyServerConfigInput): Promise<Fixture>;
export async function startFixture(config: KeyServerConfigInput, options: { listen: true }): Promise<Fixture & { target: string }>;
export async function startFixture(config: KeyServerConfigInput = {}, options: { listen?: boolean } = {}): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'modelseal-ks-'));
  const { store } = await FileKeyStore.open(join(dir, 'store'), { create: true });
  const face = await rotatePublished(store, 'face');
  const { server, url } = await startKeyServer(store.dir, config, { base: RELAXED, listen: options.listen === true });
  return {
    dir,
    store,
    server,
    target: options.listen ? url : server,
    faceKey: face.key,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A server over `store` with `config` over RELAXED (no audit log unless set), driven by inject; close it after. */
export async function startServer(store: KeyServerOptions['store'], config: KeyServerConfigInput = {}): Promise<KeyServer> {
  return (await startKeyServer(store, { auditLog: null, ...config }, { base: RELAXED, listen: false })).server;
}

/** An HTTP answer: status, headers and the body text. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** One request to `target`: through app.inject for a server, over a socket with fetch for a URL. */
export async function request(target: Target, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const method = init.method ?? 'GET';
  if (typeof target === 'string') {
    const res = await fetch(`${target}${path}`, { method, ...(init.headers ? { headers: init.headers } : {}), ...(init.body !== undefined ? { body: init.body } : {}) });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }
  const res = await target.app.inject({ method: method as 'GET', url: path, ...(init.headers ? { headers: init.headers } : {}), ...(init.body !== undefined ? { payload: init.body } : {}) });
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v));
  }
  return { status: res.statusCode, headers, text: res.body };
}

/** An ephemeral client key pair as the loader makes it. */
export async function clientKey(crv: 'P-256' | 'X25519' = 'P-256'): Promise<{ publicJwk: JWK; privateKey: CryptoKey }> {
  const { publicKey, privateKey } = await generateKeyPair('ECDH-ES+A256KW', { crv });
  return { publicJwk: await exportJWK(publicKey), privateKey: privateKey as CryptoKey };
}

/** A response body of /v2/release: a release or an error (fields are present for their outcome). */
export interface ReleaseJson {
  key: string;
  expiresAt: string;
  error: { code: string; message: string };
}

/**
 * One raw release request. An object `body` without `sealing` gets TEST_SEALING (pass `sealing`
 * to override, or `raw` for a body sent exactly as given).
 */
export async function postRelease(target: Target, options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; json: ReleaseJson }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const body = typeof options.body === 'object' && options.body !== null && !Array.isArray(options.body) && !('sealing' in options.body) ? { sealing: TEST_SEALING, ...options.body } : options.body;
  const { status, headers: answered, text } = await request(target, '/v2/release', { method: 'POST', headers, body: options.raw ?? JSON.stringify(body) });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsable: text };
  }
  return { status, headers: answered, json: json as ReleaseJson };
}

/** Releases `modelId`/`keyId` with a fresh key pair and decrypts the answer; returns status and key. */
export async function release(target: Target, token: string, modelId = 'face', keyId = 'k1', options: { crv?: 'P-256' | 'X25519'; headers?: Record<string, string>; sealing?: string } = {}) {
  const { publicJwk, privateKey } = await clientKey(options.crv);
  const r = await postRelease(target, { token, body: { modelId, keyId, sealing: options.sealing ?? TEST_SEALING, epk: publicJwk }, ...(options.headers ? { headers: options.headers } : {}) });
  if (r.status !== 200) return { ...r, key: undefined, header: undefined };
  const { plaintext, protectedHeader } = await compactDecrypt(r.json.key, privateKey);
  return { ...r, key: plaintext, header: protectedHeader };
}

/** Waits until `check` is true, polling (never a wall-clock assertion: the test timeout bounds it). */
export async function until(check: () => Promise<boolean> | boolean, everyMs = 50): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, everyMs));
}
