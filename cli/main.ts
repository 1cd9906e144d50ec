#!/usr/bin/env node
// The `modelseal` bin: runs the program and turns every outcome into a documented exit code.

import { CommanderError } from 'commander';
import { EXIT, printError } from './errors.js';
import { buildProgram } from './program.js';
import { installProcessHandlers } from './signals.js';

installProcessHandlers();

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error, already printed.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    return printError(err);
  }
}

process.exitCode = await main(process.argv);
