// The modelseal program: one command per file in cli/commands/, added here in one list. A command
// file holds only the definition (options, help); its action imports the work from cli/actions/ when
// it runs, so `--version`, `--help` and usage errors load no keystore, cipher or server code.

import { readFileSync } from 'node:fs';
import { Command, type OutputConfiguration } from 'commander';
import { inspectCommand } from './commands/inspect.js';
import { keysCommand } from './commands/keys.js';
import { openCommand } from './commands/open.js';
import { scanCommand } from './commands/scan.js';
import { sealCommand } from './commands/seal.js';
import { serveCommand } from './commands/serve.js';
import { tokenCommand } from './commands/token.js';
import { verifyCommand } from './commands/verify.js';
import { escapeControls } from './safe-text.js';

// To add a command: import it above and append it here.
const COMMANDS: Command[] = [
  sealCommand,
  openCommand,
  verifyCommand,
  inspectCommand,
  scanCommand,
  keysCommand,
  tokenCommand,
  serveCommand,
];

function packageVersion(): string {
  // cli/program.ts runs from dist/cli/ when built and from cli/ under tsx.
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'modelseal' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}

function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Usage errors from commander print as `modelseal: error [usage]: …` plus a hint, and throw
 * (exitOverride) instead of exiting, so main() picks the exit code: 2 for usage, 0 for --help.
 */
function configureTree(cmd: Command): void {
  const output: OutputConfiguration = {
    outputError: (str, write) => {
      const message = str.trim().replace(/^error: /, '').replace(/\s*\(Did you mean (.*)\?\)$/, ' (did you mean $1?)');
      write(`modelseal: error [usage]: ${escapeControls(message)}\n`);
      write(`hint: run \`${commandPath(cmd)} --help\` for usage\n`);
    },
  };
  cmd.exitOverride().configureOutput(output).showSuggestionAfterError(true);
  for (const sub of cmd.commands) configureTree(sub);
}

/** Builds the modelseal commander program (commander 14; run it with parseAsync). */
export function buildProgram(): Command {
  const program = new Command('modelseal')
    .description('seal TensorFlow.js models: encrypted shards for any static host, keys released per session')
    .version(packageVersion(), '-V, --version')
    .addHelpText('after', '\nexit codes: 0 success, 1 failure, 2 usage error, 130 interrupted. docs: docs/CLI.md');
  for (const command of COMMANDS) program.addCommand(command);
  configureTree(program);
  return program;
}
