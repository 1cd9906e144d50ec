// The keystore (Node only): content keys wrapped under a master key, in a folder the CLI writes and
// every key server reads. Shared by cli/ and keyserver/; it imports neither.
export { FileKeyStore, defaultStoreDir, type KeyRecord, type KeyState, type ContentKey, type KeyStoreReader } from './file-store.js';
export { openMasterKey, redactUri, DEFAULT_MASTER_KEY_URI, type MasterKeyContext, type MasterKeyProvider } from './master/index.js';
