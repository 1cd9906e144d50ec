// The one key-server starter of the tests: a real createKeyServer over a keystore folder, quiet and
// without an audit log unless the config says otherwise, listening on 127.0.0.1 port 0 (the loader
// and browser tests talk to it over a socket, as a page does) or not listening (app.inject).

import { createKeyServer, type KeyServer, type KeyServerConfigInput, type KeyServerOptions } from '../../keyserver/index.js';

/** A started key server: the server, its base URL (empty when not listening) and close(). */
export interface RunningKeyServer {
  server: KeyServer;
  url: string;
  close(): Promise<void>;
}

/** Settings every test server starts from: no log output, no audit log. */
export const QUIET: KeyServerConfigInput = { logLevel: 'silent', auditLog: null };

/**
 * Starts a key server over `store` with `config` merged over QUIET (`defaults` merged member by
 * member) and listens on 127.0.0.1 port 0 unless `listen` is false.
 */
export async function startKeyServer(store: KeyServerOptions['store'], config: KeyServerConfigInput = {}, options: { listen?: boolean; base?: KeyServerConfigInput } & Omit<KeyServerOptions, 'store' | 'config'> = {}): Promise<RunningKeyServer> {
  const { listen = true, base = QUIET, ...rest } = options;
  const merged: KeyServerConfigInput = { ...base, ...config, ...(base.defaults || config.defaults ? { defaults: { ...base.defaults, ...config.defaults } } : {}) };
  const server = await createKeyServer({ ...rest, store, config: merged });
  let url = '';
  try {
    if (listen) url = await server.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await server.close();
    throw err;
  }
  return { server, url, close: () => server.close() };
}

/** Starts servers with startKeyServer and closes them all at once (for an afterAll). */
export class KeyServers {
  private readonly running: RunningKeyServer[] = [];

  /** startKeyServer, remembered for closeAll(). */
  async start(...args: Parameters<typeof startKeyServer>): Promise<RunningKeyServer> {
    const s = await startKeyServer(...args);
    this.running.push(s);
    return s;
  }

  /** Closes every server started here. */
  async closeAll(): Promise<void> {
    for (const s of this.running.splice(0)) await s.close();
  }
}
