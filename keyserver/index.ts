// modelseal/keyserver: the key server and the keystore it reads (Node only). Operators start it with
// createKeyServer (or `modelseal serve`), embed it with buildApp, and configure it with loadConfig.
export { createKeyServer, type KeyServer, type KeyServerOptions } from './server.js';
export { buildApp, RELEASE_PATH, type AppOptions, type KeyServerApp, type ReleaseRequest, type ReleaseResponse } from './app.js';
export { loadConfig, resolveConfig, DEFAULT_CONFIG, type KeyServerConfig, type KeyServerConfigInput, type ModelPolicy, type TokenKeyConfig } from './config.js';
export { mintDevToken, type MintOptions } from './mint.js';
export { WIRE_ERRORS, type WireCode, type WireErrorBody } from './errors.js';
export { SharedStateUnavailable, type ReleaseCounter } from './counter.js';
export type { RequestLimiter, LimitResult } from './limiter.js';
export { AuditLog, type AuditEntry } from './audit.js';
export type { KeyServerMetrics } from './metrics.js';
export { FileKeyStore, openMasterKey, type KeyRecord, type KeyState, type ContentKey, type KeyStoreReader, type MasterKeyProvider, type MasterKeyContext } from '../keystore/index.js';
