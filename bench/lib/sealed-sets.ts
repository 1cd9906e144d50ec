// Shared by the Chromium runtime benchmarks (bench/transformers.ts, bench/tflite.ts): plain file sets
// written under <root>/www/plain/<name>/ and sealed by the built CLI into <root>/www/sealed/<name>/,
// and the bench servers (startBenchServers: the static server and the key server, each in a child
// process), so their work is not the page's; bench/loader.ts and bench/onnx.ts use those too.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVE_FLAG = '--serve-sealed-sets';

/** A served, sealed copy of some file sets. */
export interface SealedSets {
  root: string;
  /** Base URL of the file server (www/), no trailing slash. */
  files: string;
  keyServer: string;
  /** A dev token for every model, valid for an hour. */
  token: string;
  /** Total plaintext bytes of each set. */
  bytes: Map<string, number>;
  close(): Promise<void>;
}

/**
 * Writes and seals each set (`entries[name]` names the file to seal in the file form; otherwise the
 * folder is sealed), then starts the bench servers.
 */
export async function startSealedSets(label: string, sets: Record<string, Map<string, Uint8Array>>, entries: Record<string, string> = {}): Promise<SealedSets> {
  const { sealPath } = await import('../../test/runtimes/fixtures.js');
  const { FileKeyStore } = await import('../../keystore/file-store.js');
  const { mintDevToken } = await import('../../keyserver/index.js');
  const root = await mkdtemp(join(tmpdir(), `modelseal-bench-${label}-`));
  const storeDir = join(root, 'store');
  let servers: BenchServers | undefined;
  try {
    await FileKeyStore.open(storeDir, { create: true });
    const bytes = new Map<string, number>();
    for (const [name, files] of Object.entries(sets)) {
      for (const [path, data] of files) {
        const full = join(root, 'www/plain', name, path);
        await mkdir(dirname(full), { recursive: true });
        await writeFile(full, data);
      }
      sealPath(join(root, 'www/plain', name, entries[name] ?? ''), join(root, 'www/sealed', name), name, storeDir);
      bytes.set(name, [...files.values()].reduce((n, b) => n + b.byteLength, 0));
    }
    servers = await startBenchServers(root, storeDir);
    const { files, keyServer } = servers;
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '1h' });
    return {
      root, files, keyServer, token, bytes,
      async close() {
        servers!.close();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    servers?.close();
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** The servers a bench loads from. */
export interface BenchServers {
  /** Base URL of the static server over <root>/www, no trailing slash. */
  files: string;
  keyServer: string;
  /** Stops both child processes. */
  close(): void;
}

type ServerRole = 'files' | 'keys' | 'both';

/**
 * Starts the static server over <root>/www and a key server over `storeDir`, each in its own child
 * process: their work is not the loading process's, and a CDN and a key server are separate services,
 * so a key release does not queue behind file sends in one event loop (BENCH_ONE_SERVER=1: one child).
 */
export async function startBenchServers(root: string, storeDir: string): Promise<BenchServers> {
  if (process.env['BENCH_ONE_SERVER']) {
    const both = await forkServer('both', root, storeDir);
    return { files: both.files!, keyServer: both.keyServer!, close: () => both.child.disconnect() };
  }
  const files = await forkServer('files', root, storeDir);
  const keys = await forkServer('keys', root, storeDir).catch((err: unknown) => {
    files.child.disconnect();
    throw err;
  });
  return {
    files: files.files!, keyServer: keys.keyServer!,
    close() {
      files.child.disconnect();
      keys.child.disconnect();
    },
  };
}

async function forkServer(role: ServerRole, root: string, storeDir: string): Promise<{ child: ChildProcess; files?: string; keyServer?: string }> {
  const child = fork(fileURLToPath(import.meta.url), [SERVE_FLAG, role, root, storeDir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const urls = await new Promise<{ files?: string; keyServer?: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { files?: string; keyServer?: string }));
    child.once('exit', (code) => reject(new Error(`bench ${role} server process exited with ${code}`)));
  });
  return { child, ...urls };
}

/** A bench server child: the static server over www/ and/or a key server with caps high enough for a benchmark. */
async function serve(role: ServerRole, root: string, storeDir: string): Promise<void> {
  const { startStaticServer } = await import('../../test/helpers/static-server.js');
  const { createKeyServer } = await import('../../keyserver/index.js');
  const files = role === 'keys' ? undefined : await startStaticServer({ root: join(root, 'www'), cors: true });
  const keys = role === 'files' ? undefined : await createKeyServer({
    store: storeDir,
    // Offline leases only for a release that asks (offline: true): bench/transformers.ts's offline rows.
    config: { logLevel: 'silent', auditLog: null, rateWindowMs: 60_000, defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 100_000, ratePerAddress: 100_000, offlineLeaseSeconds: 3600 } },
  });
  const keyServer = await keys?.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ files: files?.url, keyServer });
  process.on('disconnect', () => {
    void Promise.all([files?.close(), keys?.close()]).then(() => process.exit(0));
  });
}

if (process.argv[2] === SERVE_FLAG) {
  serve(process.argv[3] as ServerRole, process.argv[4]!, process.argv[5]!).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
