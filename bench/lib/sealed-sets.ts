// Shared by the Chromium runtime benchmarks (bench/transformers.ts, bench/tflite.ts): plain file sets
// written under <root>/www/plain/<name>/ and sealed by the built CLI into <root>/www/sealed/<name>/,
// and a child process that serves www/ and runs the key server, so their work is not the page's.
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
 * folder is sealed), then starts the servers in a child process.
 */
export async function startSealedSets(label: string, sets: Record<string, Map<string, Uint8Array>>, entries: Record<string, string> = {}): Promise<SealedSets> {
  const { sealPath } = await import('../../test/runtimes/fixtures.js');
  const { FileKeyStore } = await import('../../keystore/file-store.js');
  const { mintDevToken } = await import('../../keyserver/index.js');
  const root = await mkdtemp(join(tmpdir(), `modelseal-bench-${label}-`));
  const storeDir = join(root, 'store');
  let child: ChildProcess | undefined;
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
    child = fork(fileURLToPath(import.meta.url), [SERVE_FLAG, root, storeDir], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const started = child;
    const { files, keyServer } = await new Promise<{ files: string; keyServer: string }>((resolve, reject) => {
      started.once('message', (m) => resolve(m as { files: string; keyServer: string }));
      started.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    const token = await mintDevToken({ store: storeDir, models: ['*'], ttl: '1h' });
    return {
      root, files, keyServer, token, bytes,
      async close() {
        started.disconnect();
        await rm(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child?.disconnect();
    await rm(root, { recursive: true, force: true });
    throw err;
  }
}

/** The child process of every bench: the static server over www/ and a key server with caps high enough for a benchmark. */
export async function serveBenchServers(root: string, storeDir: string): Promise<void> {
  const { startStaticServer } = await import('../../test/helpers/static-server.js');
  const { createKeyServer } = await import('../../keyserver/index.js');
  const files = await startStaticServer({ root: join(root, 'www'), cors: true });
  const keys = await createKeyServer({
    store: storeDir,
    config: { logLevel: 'silent', auditLog: null, rateWindowMs: 60_000, defaults: { origins: null, releasesPerToken: 0, ratePerSubject: 100_000, ratePerAddress: 100_000 } },
  });
  const keyServer = await keys.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ files: files.url, keyServer });
  process.on('disconnect', () => {
    void Promise.all([files.close(), keys.close()]).then(() => process.exit(0));
  });
}

if (process.argv[2] === SERVE_FLAG) {
  serveBenchServers(process.argv[3]!, process.argv[4]!).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
