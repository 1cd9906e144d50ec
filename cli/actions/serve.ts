// What `modelseal serve` does (defined in cli/commands/serve.ts): runs the key server on the local
// keystore until SIGTERM or SIGINT.

import cluster from 'node:cluster';
import { isModelsealError } from '../../format/errors.js';
import { loadConfig, type KeyServerConfigInput } from '../../keyserver/config.js';
import { createKeyServer } from '../../keyserver/server.js';
import { defaultStoreDir } from '../../keystore/file-store.js';
import { EXIT, printError, usageError } from '../errors.js';
import { note, printLine } from '../output.js';
import { releaseSignals } from '../signals.js';
import { openStore } from '../store.js';
import { reportListening, runPrimary } from '../workers.js';

/** Options of `modelseal serve`, as commander parses them. */
export interface ServeCommandOptions {
  host?: string;
  port?: number;
  store?: string;
  masterKey?: string;
  config?: string;
  redis?: string;
  workers?: number;
}

/** Serves until SIGTERM or SIGINT: prints the URL on stdout, logs to stderr, reloads the keystore on SIGHUP. */
export async function runServe(opts: ServeCommandOptions): Promise<void> {
  const flags: KeyServerConfigInput = {};
  if (opts.redis !== undefined) flags.redis = opts.redis;
  if (opts.host !== undefined) flags.host = opts.host;
  if (opts.port !== undefined) flags.port = opts.port;
  if (opts.store !== undefined) flags.store = opts.store;
  if (opts.masterKey !== undefined) flags.masterKey = opts.masterKey;
  let config;
  try {
    config = loadConfig({ ...(opts.config !== undefined ? { file: opts.config } : {}), flags });
  } catch (err) {
    // A bad configuration is a usage error: exit 2 before anything starts.
    if (!isModelsealError(err, 'config_invalid')) throw err;
    printError(err);
    process.exitCode = EXIT.usage;
    return;
  }
  const workers = opts.workers ?? 1;
  if (workers > 1 && config.redis === undefined) {
    // Without shared state every worker would count caps and limits on its own (N × the cap).
    printError(usageError(`--workers ${workers} needs shared state: without Redis each worker would count release caps and rate limits on its own`, 'add --redis redis://host:6379 (or MODELSEAL_REDIS_URL), or run one worker'));
    process.exitCode = EXIT.usage;
    return;
  }
  const store = await openStore(defaultStoreDir(config.store), { create: true, masterKey: config.masterKey });
  if (workers > 1 && cluster.isPrimary) {
    process.exitCode = await runPrimary(workers);
    return;
  }
  let server;
  try {
    server = await createKeyServer({ store, config: { ...config, store: store.dir } });
  } catch (err) {
    if (!isModelsealError(err, 'config_invalid')) throw err;
    printError(err);
    process.exitCode = EXIT.usage;
    return;
  }
  // Each worker answers /metrics with its own counters: label them so a scrape tells them apart.
  if (cluster.isWorker) server.metrics.registry.setDefaultLabels({ worker: String(cluster.worker?.id ?? 0) });
  const url = await server.listen();
  if (cluster.isWorker) reportListening(url);
  else {
    printLine(url);
    note(`key server listening at ${url} (store ${store.dir}, audit log ${server.audit.path ?? 'off'})`);
  }

  // The bin's default SIGINT/SIGTERM handlers exit at once; a server drains first.
  releaseSignals();
  const done = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      note(`${signal}: stopping (finishing in-flight requests, flushing the audit log)`);
      server.close().then(
        () => resolve(signal === 'SIGINT' ? EXIT.interrupted : EXIT.ok),
        (err: unknown) => resolve(printError(err)),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      server.audit.reopen();
      server.reload().then(
        (changed) => {
          if (!changed) server.app.log.info('keystore unchanged');
        },
        (err: unknown) => server.app.log.warn({ msg: (err as Error).message }, 'keystore reload failed; keeping the last good state'),
      );
    });
  });
  process.exitCode = await done;
  await store.close().catch(() => undefined);
  // A worker's IPC channel to the primary would keep it alive after the server closed.
  if (cluster.isWorker) cluster.worker?.disconnect();
}
