// What `modelseal seal` does (the command is defined in cli/commands/seal.ts): seal a model for a static host.

import { DEFAULT_CHUNK_LENGTH } from '../../format/chunked.js';
import { DEFAULT_SHARD_LENGTH } from '../../format/manifest.js';
import { sealModel, type SealedModel } from '../../format/seal.js';
import { sealFiles } from '../../format/seal-files.js';
import { nodeChunkCipher } from '../../node/index.js';
import { OutputDir, refuseEmptyOut, withOutputDir } from '../out-dir.js';
import { formatBytes, note, printJson } from '../output.js';
import { readPlainModel } from '../plain-model.js';
import { diskFilesSource, readPlainFiles, type PlainFileSet } from '../plain-files.js';
import { createProgress } from '../progress.js';
import { refuseOutputBesidePlaintext } from '../seal-guard.js';
import { defaultStoreDir } from '../../keystore/file-store.js';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { openStore } from '../store.js';

/** Options of `modelseal seal`, as commander parses them. */
export interface SealCommandOptions {
  out: string;
  modelId: string;
  store?: string;
  /** Master key URI (--master-key, else $MODELSEAL_MASTER_KEY, else the store's master.key). */
  masterKey?: string;
  keyServer?: string;
  shardSize?: number;
  chunkSize?: number;
  header: 'inline' | 'file' | 'auto';
  newKey?: boolean;
  force?: boolean;
  allowInsideSource?: boolean;
  json?: boolean;
  /** False with --no-create-store: a missing keystore is an error, not a new one. */
  createStore?: boolean;
  /** What PATH is: a TF.js model.json, or files (a folder, or one file); default by PATH. */
  kind?: 'tfjs' | 'files';
  /** Folder form: seal hidden files and folders (names starting with "."), left out by default. */
  includeHidden?: boolean;
}

/** What `seal` did: the machine summary `--json` prints. */
export interface SealSummary {
  /** What was sealed: a TF.js model, or files (docs/FORMAT.md §Generic form). */
  kind: 'tfjs' | 'files';
  /** Files kind: how many files the sealing holds (their names are only in the encrypted header). */
  fileCount?: number;
  modelId: string;
  keyId: string;
  /** The sealing digest recorded in the keystore (the manifest's `sealing`). */
  sealing: string;
  keyCreated: boolean;
  store: string;
  out: string;
  header: 'inline' | 'file';
  files: Array<{ path: string; size: number }>;
  sealedBytes: number;
  /** Plaintext bytes sealed: the weights of a TF.js model, or every file of the files kind. */
  weightBytes: number;
  chunkLength: number;
  shardLength: number;
}

/** What PATH is sealed as: a folder or a file not named *.json is files; a *.json file is a TF.js model.json. */
async function kindOf(modelPath: string, explicit: 'tfjs' | 'files' | undefined): Promise<'tfjs' | 'files'> {
  if (explicit) return explicit;
  const st = await stat(resolve(modelPath)).catch(() => undefined);
  // A path that does not exist keeps readPlainModel's error (file_unavailable naming it).
  if (st === undefined) return /\.json$/i.test(modelPath) ? 'tfjs' : 'files';
  return st.isDirectory() || !/\.json$/i.test(modelPath) ? 'files' : 'tfjs';
}

/** Reads the input, gets the key version, seals, and writes the output folder atomically. */
export async function collectSeal(modelPath: string, opts: SealCommandOptions): Promise<SealSummary> {
  refuseEmptyOut(opts.out);
  const kind = await kindOf(modelPath, opts.kind);
  let plainFiles: PlainFileSet | undefined;
  let guardPath: string;
  let plainBytes: number;
  let model: Awaited<ReturnType<typeof readPlainModel>> | undefined;
  if (kind === 'files') {
    plainFiles = await readPlainFiles(modelPath, { includeHidden: opts.includeHidden ?? false, storeDir: defaultStoreDir(opts.store) });
    // The guard looks at the folder that holds the plaintext: the folder itself, or the file's.
    guardPath = plainFiles.form === 'folder' ? resolve(plainFiles.root, 'x') : resolve(modelPath);
    plainBytes = plainFiles.totalBytes;
    if (plainFiles.skippedHidden.length > 0) {
      const shown = plainFiles.skippedHidden.slice(0, 5).join(', ');
      note(`left out ${plainFiles.skippedHidden.length} hidden entr${plainFiles.skippedHidden.length === 1 ? 'y' : 'ies'} (${shown}${plainFiles.skippedHidden.length > 5 ? ', …' : ''}); pass --include-hidden to seal them`);
    }
    if (plainFiles.form === 'folder' && plainFiles.files.some((f) => f.path === 'model.json')) {
      note('the folder has a model.json: every file is sealed as it is (load with openSealedFiles); to seal a TensorFlow.js model for sealedModel, pass its model.json instead');
    }
  } else {
    model = await readPlainModel(modelPath, { storeDir: defaultStoreDir(opts.store) });
    guardPath = model.path;
    plainBytes = model.weightBytes;
  }
  await refuseOutputBesidePlaintext(guardPath, opts);
  const out = await OutputDir.prepare(opts.out, { force: opts.force ?? false, keep: [{ path: defaultStoreDir(opts.store), what: 'the keystore' }] });
  return withOutputDir(out, async () => {
    const store = await openStore(opts.store, { masterKey: opts.masterKey, create: opts.createStore !== false, refusal: '--no-create-store' });
    // The public half of a sealing key (the CI route) cannot unwrap the active key: every seal makes a new version.
    const sealOnly = store.master.sealOnly === true;
    let entry = opts.newKey || sealOnly ? undefined : await store.active(opts.modelId);
    let keyCreated = false;
    if (!entry) {
      const before = (await store.list()).filter((k) => k.modelId === opts.modelId && k.state === 'active');
      entry = await store.rotate(opts.modelId);
      keyCreated = true;
      const retired = before.map((k) => k.keyId).join(', ');
      note(`created key ${entry.record.keyId} for model ${opts.modelId}${sealOnly ? ` (wrapped to the public sealing key ${store.master.uri})` : ''}${retired ? `; ${retired} is now retired (still released for files sealed with it until revoked)` : ''}`);
    }
    const chunkLength = opts.chunkSize ?? DEFAULT_CHUNK_LENGTH;
    const requested = opts.shardSize ?? DEFAULT_SHARD_LENGTH;
    const progress = createProgress('sealing', plainBytes, { json: opts.json ?? false });
    let sealed: SealedModel;
    const sealOptions = {
      modelId: opts.modelId,
      keyId: entry.record.keyId,
      contentKey: entry.key,
      chunkLength,
      shardLength: requested,
      headerMode: opts.header,
      cipher: nodeChunkCipher,
      // node:crypto encrypts on this thread: one chunk call at a time is as fast and skips the limiter.
      concurrency: 1,
      ...(opts.keyServer === undefined ? {} : { keyServer: opts.keyServer }),
      // Each shard goes to the temp folder as soon as it is sealed: memory holds one sealed shard, not the model.
      onShard: (file: { path: string; parts: Uint8Array[] }) => out.writeFile(file.path, file.parts),
      onProgress: (done: number) => progress.update(done),
    };
    try {
      if (plainFiles) {
        const source = diskFilesSource(plainFiles);
        try {
          sealed = await sealFiles(source, sealOptions);
        } finally {
          await source.close();
        }
      } else {
        sealed = await sealModel({ modelJson: model!.modelJsonText, weightFiles: model!.weightFiles }, sealOptions);
      }
    } finally {
      progress.stop();
      entry.key.fill(0);
    }
    if (sealed.manifest.shardLength !== requested) {
      note(`shard size rounded up to ${formatBytes(sealed.manifest.shardLength)}, a multiple of the ${formatBytes(chunkLength)} chunk size`);
    }
    // Recorded before the output appears: the key server vouches only for recorded sealings, and
    // a record whose files never appear harms nothing (nobody else can make a header with its digest).
    await store.publish(opts.modelId, entry.record.keyId, sealed.manifest.sealing);
    const manifestText = `${JSON.stringify(sealed.manifest, null, 2)}\n`;
    for (const file of sealed.files) await out.writeFile(file.path, file.bytes);
    await out.writeFile('model.json', manifestText);
    const header = sealed.manifest.header;
    const files = [
      { path: 'model.json', size: Buffer.byteLength(manifestText) },
      ...('path' in header ? [{ path: header.path, size: header.size }] : []),
      ...sealed.manifest.shards,
    ];
    return {
      kind,
      ...(plainFiles ? { fileCount: plainFiles.files.length } : {}),
      modelId: opts.modelId,
      keyId: entry.record.keyId,
      sealing: sealed.manifest.sealing,
      keyCreated,
      store: store.dir,
      out: out.target,
      header: 'data' in sealed.manifest.header ? 'inline' : 'file',
      files,
      sealedBytes: files.reduce((n, f) => n + f.size, 0),
      weightBytes: plainBytes,
      chunkLength: sealed.manifest.chunkLength,
      shardLength: sealed.manifest.shardLength,
    } satisfies SealSummary;
  });
}

/** Prints the summary: JSON on stdout with --json, else one line for people on stderr. */
export function printSeal(summary: SealSummary, opts: { json?: boolean }): void {
  if (opts.json) {
    printJson(summary);
    return;
  }
  const shards = summary.files.filter((f) => f.path.endsWith('.sealed') && f.path !== 'header.sealed').length;
  const what = summary.kind === 'files' ? `${summary.fileCount} file${summary.fileCount === 1 ? '' : 's'} (${formatBytes(summary.weightBytes)})` : `${formatBytes(summary.weightBytes)} of weights`;
  note(`sealed ${summary.modelId} with key ${summary.keyId}: ${what} in ${shards} shard${shards === 1 ? '' : 's'}, header ${summary.header}, written to ${summary.out}`);
  // What an app pins to load exactly this build (the loader's modelId, keyId and sealing options).
  note(`sealing ${summary.sealing} (pin it in the app with modelId, keyId and sealing)`);
}
