// `modelseal serve`: the definition; the key server (Fastify, pino, prom-client) loads only when it runs,
// from cli/actions/serve.ts.

import { Command, InvalidArgumentError } from 'commander';
import type { ServeCommandOptions } from '../actions/serve.js';
import { masterKeyOption, parsePort, storeOption } from '../options.js';

function parseWorkers(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 256) throw new InvalidArgumentError('expected a number of worker processes from 1 to 256.');
  return n;
}

/** The `serve` command: prints the URL on stdout, logs to stderr, reloads the keystore on SIGHUP. */
export const serveCommand = new Command('serve')
  .description('run the key server on the local keystore (config: file < MODELSEAL_* environment < flags; see docs/OPERATIONS.md)')
  .option('--host <host>', 'address to listen on (default 127.0.0.1)')
  .option('--port <port>', 'port to listen on, 0 for any free port (default 8787)', parsePort)
  .addOption(storeOption())
  .addOption(masterKeyOption())
  .option('--config <file>', 'JSON config file (default: $MODELSEAL_CONFIG)')
  .option('--redis <url>', 'shared state for replicas and workers: redis:// or rediss:// URL (default: $MODELSEAL_REDIS_URL; none: in memory)')
  .option('--workers <n>', 'worker processes sharing the port (node:cluster); more than 1 needs --redis (default 1)', parseWorkers)
  .action(async (opts: ServeCommandOptions) => {
    const { runServe } = await import('../actions/serve.js');
    await runServe(opts);
  });
