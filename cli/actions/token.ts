// What `modelseal token` does (defined in cli/commands/token.ts): mint a development session token
// with the store's token.secret.

import { mintDevToken } from '../../keyserver/mint.js';
import { note, printLine } from '../output.js';
import { openStore } from '../store.js';

/** Options of `modelseal token`, as commander parses them (ttl in milliseconds). */
export interface TokenCommandOptions {
  model: string[];
  ttl: number;
  sub?: string;
  jkt?: string;
  store?: string;
  masterKey?: string;
}

/** Prints an HS256 session token (for development, demos and tests) on stdout. */
export async function runToken(opts: TokenCommandOptions): Promise<void> {
  // The key server's default tokens.maxLifetimeSeconds; a server configured higher takes such a token.
  if (opts.ttl > 86_400_000) note(`a token that lives longer than 24 h is refused by a key server at its default tokens.maxLifetimeSeconds (86400); this one lives ${Math.round(opts.ttl / 3_600_000)} h`);
  const store = await openStore(opts.store, { masterKey: opts.masterKey, create: true });
  const token = await mintDevToken({
    store,
    models: opts.model,
    ttl: Math.max(1, Math.round(opts.ttl / 1000)),
    ...(opts.sub !== undefined ? { sub: opts.sub } : {}),
    ...(opts.jkt !== undefined ? { cnfJkt: opts.jkt } : {}),
  });
  printLine(token);
}
