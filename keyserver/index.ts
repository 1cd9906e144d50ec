// modelseal/keyserver: the key server and the keystore it reads (Node only).
export { FileKeyStore, defaultStoreDir, type KeyRecord, type KeyState, type ContentKey, type MasterKeyProvider, type KeyStoreReader } from '../keystore/file-store.js';
export { writeFileAtomic } from '../keystore/atomic.js';
export { createKeyServer, type KeyServer, type KeyServerOptions } from './server.js';
export { buildApp, policyFor, type AppOptions, type KeyServerApp, type ReleaseRequest, type ReleaseResponse } from './app.js';
export { mintDevToken, type MintOptions } from './mint.js';
export { loadConfig, resolveConfig, readConfigFile, configFromEnv, DEFAULT_CONFIG, TOKEN_ALGORITHMS, type KeyServerConfig, type KeyServerConfigInput, type ModelPolicy, type TokenKeyConfig } from './config.js';
export { WIRE_ERRORS, WireError, type WireCode, type WireErrorBody } from './errors.js';
export { MemoryReleaseCounter, SharedStateUnavailable, type ReleaseCounter } from './counter.js';
export { MemoryRequestLimiter, type RequestLimiter, type LimitResult } from './limiter.js';
export { AuditLog, type AuditEntry } from './audit.js';
export { SessionVerifier, type Session } from './session.js';
export { importClientKey, wrapContentKey, ServerEphemeralKeys, type ClientKey, type ReleaseHeader } from './wrap.js';
export { openMasterKey, redactUri, DEFAULT_MASTER_KEY_URI, type MasterKeyContext } from '../keystore/master/index.js';
