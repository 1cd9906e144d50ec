// The contract every master-key provider meets (file, PKCS#11, cloud KMS, Vault Transit).
// A provider wraps 32-byte content keys; the keystore stores only the wrapped form.

/** Wraps and unwraps content keys; `openMasterKey(uri)` picks the provider from the URI's scheme. */
export interface MasterKeyProvider {
  /** Short public id of the master key, stored in keys.json to detect a wrong master key. */
  readonly id: string;
  /** The URI with every secret removed (no PIN, token or credential), for messages and logs. */
  readonly uri: string;
  /** Wraps a content key; `aad` binds it to its model id and key id. */
  wrap(plain: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** Unwraps; a wrong key or altered bytes throw `master_key_wrong`, an outage `master_key_unavailable`. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /**
   * Makes a new 32-byte content key and its wrapped form without needing the right to unwrap
   * (a KMS "generate data key" permission, or a public key); absent: random bytes, then `wrap`.
   */
  generate?(aad: Uint8Array): Promise<{ key: Uint8Array; wrapped: Uint8Array }>;
  /** Resolves when the provider is usable now; rejects with `master_key_unavailable` (for /readyz). */
  check?(): Promise<void>;
  /**
   * True for the public half of a sealing key (the CI route): `wrap`/`generate` work, `unwrap`
   * always refuses, so `seal` makes a new key version instead of reusing the active one.
   */
  readonly sealOnly?: boolean;
  /** Releases sessions and connections. */
  close?(): Promise<void>;
}

/** What a provider may need from its surroundings when it is opened. */
export interface MasterKeyContext {
  /** The keystore folder (relative `file:` paths resolve against it). */
  storeDir: string;
  /** Environment to read secrets from (PINs, tokens, credentials): never the command line. */
  env: Record<string, string | undefined>;
  /** HTTP client for HTTP-based providers (Vault); defaults to the global fetch. */
  fetch?: typeof fetch;
}
