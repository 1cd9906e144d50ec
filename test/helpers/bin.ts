// The one way the tests run the built bin (`node dist/cli/main.js`, run `npm run build` first): to
// completion (run), as a child to watch and signal (spawnBin), or as a key server (serveBin).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built bin the package ships. */
export const BIN = join(ROOT, 'dist/cli/main.js');

/** How to start the bin: extra environment, working folder, user, Node flags before the bin. */
export interface BinOptions {
  /** Added to the test's environment; MODELSEAL_HOME and MODELSEAL_PROGRESS are dropped unless set here. */
  env?: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Node options before the bin, e.g. `['--import', hook]`. */
  nodeArgs?: string[];
}

/** Result of one run to completion. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function spawnArgs(args: string[], options: BinOptions) {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  // The caller's environment must not leak into the CLI under test.
  for (const name of ['MODELSEAL_PROGRESS', 'MODELSEAL_HOME']) if (!options.env || !(name in options.env)) delete env[name];
  const ids = options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid };
  return { argv: [...(options.nodeArgs ?? []), BIN, ...args], spawnOptions: { env, cwd: options.cwd ?? ROOT, ...ids } };
}

/** Runs `node dist/cli/main.js …args` to completion (killed after `timeout` ms) and captures everything. */
export function run(args: string[], options: BinOptions & { timeout?: number } = {}): RunResult {
  const { argv, spawnOptions } = spawnArgs(args, options);
  const r = spawnSync(process.execPath, argv, { encoding: 'utf8', timeout: options.timeout ?? 300_000, ...spawnOptions });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** A running bin: the child, and what it printed so far. */
export interface RunningBin {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when the child has exited and its output is read. */
  done: Promise<RunResult>;
}

/** Starts the bin as a child; `onStderr` sees stderr as it grows and may signal the child. */
export function spawnBin(args: string[], options: BinOptions & { onStderr?: (text: string, child: ChildProcess) => void } = {}): RunningBin {
  const { argv, spawnOptions } = spawnArgs(args, options);
  const child = spawn(process.execPath, argv, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    options.onStderr?.(stderr, child);
  });
  const done = new Promise<RunResult>((r) => child.on('close', (code, signal) => r({ code, signal, stdout, stderr })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** A `modelseal serve` process: its URL, output, exit and stop(). */
export interface ServedBin extends RunningBin {
  url: string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `modelseal serve --port 0 …args`; resolves once it printed its URL (within `timeoutMs`). */
export async function serveBin(args: string[], options: BinOptions & { timeoutMs?: number } = {}): Promise<ServedBin> {
  const running = spawnBin(['serve', '--port', '0', ...args], options);
  const { child } = running;
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (!running.stdout().includes('\n') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (child.exitCode !== null || !running.stdout().includes('\n')) {
    child.kill('SIGKILL');
    throw new Error(`serve did not start: ${running.stderr()}`);
  }
  return {
    ...running,
    url: running.stdout().trim(),
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
