// Runs the demo's command line (examples/demo/main.ts, what `npm run demo` runs) for the demo tests:
// waits for the printed URLs, keeps stdout and stderr, and stops the process it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (tests run from it, but do not depend on that). */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The demo's entry, run from source through tsx as `npm run demo` runs it. */
export const DEMO = join(ROOT, 'examples', 'demo', 'main.ts');
/** The plain sample model, as the demo seals it. */
export const PLAIN_MODEL = join(ROOT, 'node_modules', '@vladmandic', 'human', 'models', 'blazeface.json');

/** A demo process with its output so far. */
export interface DemoProcess {
  child: ChildProcess;
  store: string;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exits, with its exit code. */
  exited: Promise<number | null>;
  /** SIGTERM, wait for exit, remove the temp store. */
  stop(): Promise<number | null>;
}

/** Starts the demo on free ports with a fresh temp keystore. */
export function startDemoProcess(extra: string[] = []): DemoProcess {
  const store = mkdtempSync(join(tmpdir(), 'modelseal-demo-'));
  // `node --import tsx` rather than the tsx bin: one process, so SIGTERM reaches the demo itself.
  const child = spawn(process.execPath, ['--import', 'tsx', DEMO, '--port', '0', '--key-port', '0', '--store', store, ...extra], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return {
    child,
    store,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const code = await exited;
      rmSync(store, { recursive: true, force: true });
      return code;
    },
  };
}

/** Waits until stdout has a line starting with `prefix`; returns the rest of that line. */
export async function waitForLine(demo: DemoProcess, prefix: string): Promise<string> {
  for (;;) {
    const line = demo.stdout().split('\n').find((l) => l.startsWith(prefix));
    if (line !== undefined) return line.slice(prefix.length).trim();
    if (demo.child.exitCode !== null) {
      throw new Error(`demo exited with ${demo.child.exitCode} before printing "${prefix}"\nstdout:\n${demo.stdout()}\nstderr:\n${demo.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
