// Secrets never reach a message or a log line: master-key URIs are shown with them removed.

// Query or path attributes whose value is a secret.
const SECRET_ATTRIBUTES = /^(pin-value|token|secret|password|secret-access-key|session-token|credentials?)$/i;

/**
 * The URI with every secret removed (a PIN, a token, a password, userinfo), safe for logs and messages.
 * @example redactUri('pkcs11:token=a?pin-value=1234') // 'pkcs11:token=a?pin-value=REDACTED'
 */
export function redactUri(uri: string): string {
  if (typeof uri !== 'string') return String(uri);
  // In RFC 7512 URIs only pin-value is secret (`token=` there is the token's label).
  if (/^pkcs11:/i.test(uri)) return uri.replace(/([?&;]pin-value=)[^&;#]*/gi, '$1REDACTED');
  // userinfo (user:password@host) never shows.
  let out = uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, '$1REDACTED@');
  out = out.replace(/([;?&])([^=;?&]+)=([^;?&#]*)/g, (all, sep: string, name: string) => (SECRET_ATTRIBUTES.test(decodeSafe(name)) ? `${sep}${name}=REDACTED` : all));
  return out;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

