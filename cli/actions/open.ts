// What `modelseal open` does (defined in cli/commands/open.ts): decrypt back to the original files.

import { normalizeWeightPath } from '../../format/header.js';
import { OutputDir, withOutputDir } from '../out-dir.js';
import { formatBytes, note, printJson } from '../output.js';
import { createProgress } from '../progress.js';
import { openSealedAny, openSealedShards, readSealedManifest, unlock } from '../sealed-model.js';
import { openStore } from '../store.js';
import { defaultStoreDir } from '../../keystore/file-store.js';

/** Options of `modelseal open`. */
export interface OpenCommandOptions {
  out: string;
  store?: string;
  /** Master key URI (--master-key, else $MODELSEAL_MASTER_KEY, else the store's master.key). */
  masterKey?: string;
  force?: boolean;
  json?: boolean;
}

/** What `open` wrote. */
export interface OpenSummary {
  /** What the sealing held: a TF.js model (model.json and weight files), or files. */
  kind: 'tfjs' | 'files';
  modelId: string;
  keyId: string;
  out: string;
  files: Array<{ path: string; size: number }>;
  /** Plaintext bytes written from the shards (weights, or every file of the files kind). */
  weightBytes: number;
}

/** Decrypts and checks everything, writing the plain model into a temp folder renamed at the end. */
export async function collectOpen(manifestPath: string, opts: OpenCommandOptions): Promise<OpenSummary> {
  const files = await readSealedManifest(manifestPath);
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  const { record, key } = await unlock(store, files.manifest);
  if (record.state === 'revoked') note(`key ${record.keyId} of ${record.modelId} is revoked: the key server no longer releases it, but this store still opens it`);
  const opened = await openSealedAny(files, key);
  const targets: Array<{ path: string; size: number }> = [];
  let modelText: string | undefined;
  let payloadBytes: number;
  if (opened.kind === 'files') {
    // parseFilesHeaderJson already refused any path that is not a plain relative path, and paths
    // that collide ignoring case (docs/FORMAT.md §File paths).
    for (const f of opened.files) targets.push({ path: f.path, size: f.bytes });
    payloadBytes = opened.header.totalBytes;
  } else {
    const { weightFiles } = opened.header;
    // parseHeader already refused any weight path outside the folder, or two naming one file
    // (docs/FORMAT.md §Weight paths); each is written where the normalised path says.
    opened.model.weightsManifest.forEach((group, g) => group.paths.forEach((path, i) => {
      targets.push({ path: normalizeWeightPath(path)!, size: weightFiles[g]![i]! });
    }));
    // The original model.json, byte for byte as it was sealed.
    modelText = opened.header.modelJson;
    payloadBytes = opened.header.weightBytes;
  }
  // Plaintext: a 0700 temp folder and 0600 files, so nobody else reads them on the way (docs/CLI.md).
  const out = await OutputDir.prepare(opts.out, { force: opts.force ?? false, private: true, keep: [{ path: defaultStoreDir(opts.store), what: 'the keystore' }] });
  return withOutputDir(out, async () => {
    const writer = new WeightWriter(out, targets);
    const progress = createProgress('opening', payloadBytes, { json: opts.json ?? false });
    try {
      await writer.start();
      // Chunk by chunk into the files: a 2 GB file is written as it decrypts, never held whole.
      await openSealedShards(files, opened, key, async (_index, chunks) => {
        for (const chunk of chunks) await writer.write(new Uint8Array(chunk));
        progress.update(writer.written);
      });
      await writer.finish();
    } finally {
      progress.stop();
      await writer.abort();
    }
    if (modelText !== undefined) await out.writeFile('model.json', modelText);
    return {
      kind: opened.kind,
      modelId: files.manifest.modelId,
      keyId: files.manifest.keyId,
      out: out.target,
      files: [...(modelText === undefined ? [] : [{ path: 'model.json', size: Buffer.byteLength(modelText) }]), ...targets],
      weightBytes: payloadBytes,
    };
  });
}

/** Writes the concatenated weight bytes back into the original files, by their recorded sizes. */
class WeightWriter {
  readonly #out: OutputDir;
  readonly #targets: Array<{ path: string; size: number }>;
  #index = -1;
  #left = 0;
  #file: Awaited<ReturnType<OutputDir['openFile']>> | undefined;
  written = 0;

  constructor(out: OutputDir, targets: Array<{ path: string; size: number }>) {
    this.#out = out;
    this.#targets = targets;
  }

  async start(): Promise<void> {
    await this.#next();
  }

  async #next(): Promise<void> {
    // Moves to the next file with bytes left, creating empty files on the way.
    while (this.#left === 0) {
      if (this.#file) {
        const file = this.#file;
        this.#file = undefined;
        await file.close();
      }
      this.#index++;
      const target = this.#targets[this.#index];
      if (!target) return;
      this.#file = await this.#out.openFile(target.path);
      this.#left = target.size;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      if (!this.#file) throw new Error('internal: more weight bytes than the header lists');
      const n = Math.min(this.#left, bytes.length - offset);
      await this.#file.write(bytes.subarray(offset, offset + n));
      offset += n;
      this.#left -= n;
      this.written += n;
      await this.#next();
    }
  }

  async finish(): Promise<void> {
    if (this.#file || this.#index < this.#targets.length) throw new Error('internal: fewer weight bytes than the header lists');
  }

  async abort(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.close().catch(() => undefined);
  }
}

/** Prints the summary: JSON on stdout with --json, else one line on stderr. */
export function printOpen(summary: OpenSummary, opts: { json?: boolean }): void {
  if (opts.json) printJson(summary);
  else if (summary.kind === 'files') note(`opened ${summary.modelId} (key ${summary.keyId}): ${summary.files.length} file${summary.files.length === 1 ? '' : 's'} (${formatBytes(summary.weightBytes)}) written to ${summary.out}`);
  else note(`opened ${summary.modelId} (key ${summary.keyId}): model.json and ${summary.files.length - 1} weight file${summary.files.length === 2 ? '' : 's'} (${formatBytes(summary.weightBytes)}) written to ${summary.out}`);
}
