// `npm run demo [-- options]`: the demo's command line (examples/demo/demo.ts does the work). Runs
// from the TypeScript sources through tsx, so it needs no `npm run build`; the page is bundled only
// when its sources changed (examples/demo/page.ts).

import { Command, CommanderError } from 'commander';
import { printError } from '../../cli/errors.js';
import { parsePort, storeOption } from '../../cli/options.js';
import { note } from '../../cli/output.js';
import { printDemo, startDemo, type DemoOptions, type RunningDemo } from './demo.js';

/** Runs until SIGTERM (exit 0) or Ctrl-C (exit 130), closing both servers first. */
async function serveUntilStopped(demo: RunningDemo): Promise<number> {
  note('open the demo page in a browser; press Ctrl-C to stop');
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      note(`${signal}: closing the demo servers`);
      void demo.close().then(() => resolve(signal === 'SIGINT' ? 130 : 0), () => resolve(1));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

const program = new Command('npm run demo --')
  .description('seal the sample model (BlazeFace), serve the demo page and the key server on 127.0.0.1, and check a sealed load in Node')
  .option('--host <address>', 'address for both servers', '127.0.0.1')
  .option('--port <port>', 'port of the demo page (0 picks a free one)', parsePort, 8080)
  .option('--key-port <port>', 'port of the key server (0 picks a free one)', parsePort, 8787)
  .addOption(storeOption())
  .option('--check-only', 'seal and check the sealed load in Node, then stop the servers and exit')
  .action(async (opts: DemoOptions) => {
    const demo = await startDemo(opts);
    printDemo(demo, opts);
    if (opts.checkOnly || !demo.check.equal) {
      await demo.close();
      process.exitCode = demo.check.equal ? 0 : 1;
      return;
    }
    process.exitCode = await serveUntilStopped(demo);
  });

try {
  await program.exitOverride().parseAsync(process.argv);
} catch (err) {
  // Commander has printed a usage error (exit 2) or the help (exit 0) already.
  process.exitCode = err instanceof CommanderError ? (err.exitCode === 0 ? 0 : 2) : printError(err);
}
