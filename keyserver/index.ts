// modelseal/keyserver: the key server and the keystore it reads (Node only).
export { FileKeyStore, defaultStoreDir, type KeyRecord, type KeyState, type ContentKey, type MasterKeyProvider, type KeyStoreReader } from './keystore.js';
export { writeFileAtomic } from './atomic.js';
