// Identifier rules shared by the CLI, the keystore and the key server: one copy of each pattern and
// of the sentence that explains it.

/** What a model id or key id must be (manifest.ts ID_PATTERN), in words for error messages. */
export const ID_RULE = '1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit';

/** A model id or a pattern with `*` wildcards (`face-*`), as a token's `models` claim and policy entries name models. */
export const MODEL_PATTERN = /^[A-Za-z0-9*][A-Za-z0-9._*-]{0,127}$/;

/** A SHA-256 digest in canonical unpadded base64url: 43 characters whose last one carries no stray bits, so no other spelling of one digest matches. */
export const DIGEST_PATTERN = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** An RFC 7638 SHA-256 JWK thumbprint (RFC 7800 `cnf.jkt`): a digest, spelt as DIGEST_PATTERN says. */
export const JKT_PATTERN = DIGEST_PATTERN;

/** Longest `sub` and `jti` claim the key server takes, in characters (and the shortest is 1). */
export const MAX_CLAIM_LENGTH = 256;
