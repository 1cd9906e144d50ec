// What the caller of the loader can do about each error code the key server puts on the wire
// (docs/PROTOCOL.md §Errors). One hint per code, in one place; a test checks that the list matches
// the key server's WIRE_ERRORS exactly. The loader cannot import the key server, hence the copy.

/** The action for each key-server wire code, written for the developer of the app that loads the model. */
export const SERVER_CODE_HINTS: Readonly<Record<string, string>> = {
  malformed_request: 'the key server could not read the loader\'s request: the loader and the key server speak different protocol versions, or a proxy altered the request; update modelseal on both sides',
  invalid_token: 'the session token is not one this key server accepts (the message names the check that failed); fix how the app backend mints it (signing key, iss, aud, nbf, claims) and load with a newly minted token',
  token_expired: 'have the app backend mint a new token for each load (pass `token` as a function, not a fixed string); if newly minted tokens are refused as expired, compare the clocks of the backend and the key server',
  forbidden_model: 'have the app backend mint tokens whose `models` claim covers this model (an exact id or a `*` pattern)',
  origin_not_allowed: 'serve the app from an origin the model\'s policy lists, or have the operator add this one to the model\'s `origins` in the key-server config; from Node, which sends no Origin, pass the loader\'s `origin` option with a listed origin',
  release_limit: 'this token has used every key release its policy allows: mint a new token (a new `jti`) for the next load, and keep the loaded model instead of loading it again',
  key_revoked: 'the key version these files were sealed with is revoked, so no token can unlock them: the publisher reseals the model with the active key version and uploads the new files',
  key_expired: 'the key version these files were sealed with has expired, so no token can unlock them: the publisher reseals the model with a current key version and uploads the new files',
  not_published: 'the key server has no record of this sealing: load the files the publisher\'s `modelseal seal` wrote, unchanged',
  unknown_key: 'this key server holds no key for the manifest\'s modelId and keyId: check that keyServer is this model\'s key server and that the publisher deployed the keystore with this key version',
  not_found: 'the key server has no such endpoint: check that keyServer is the base URL of a modelseal key server (including any path prefix)',
  outdated_client: 'the key server speaks a newer key-release protocol than this loader: update modelseal',
  payload_too_large: 'the key server refused the request\'s size: a proxy in front of it may add to the body, or its bodyLimit is set too low; tell the operator',
  unsupported_media_type: 'the key server did not receive JSON: a proxy in front of it changes the request\'s Content-Type; tell the operator',
  rate_limited: 'the key server is rate limiting this address or session: wait the Retry-After time before loading again, and reuse loaded models instead of reloading them',
  unavailable: 'the key server is running but cannot serve keys right now (keystore, token keys or shared state unreachable): retry after the Retry-After time, with backoff; if it persists, tell the operator',
  internal_error: 'the key server hit a bug: retry later, and tell the operator (the server log has the details)',
};

/** The hint for a wire code; an unknown code (a newer server, or not a modelseal key server) gets one by HTTP status. */
export function serverHint(code: string, status: number): string {
  const hint = Object.hasOwn(SERVER_CODE_HINTS, code) ? SERVER_CODE_HINTS[code] : undefined;
  if (hint !== undefined) return hint;
  if (code === 'unknown') return 'the answer has no modelseal error body: check that keyServer points at a modelseal key server and not at another service or a proxy\'s error page';
  return status >= 500 ? 'the key server failed: retry later, and tell the operator if it persists' : 'the key server refused the request with a code this loader does not know: update modelseal, and see the message';
}
