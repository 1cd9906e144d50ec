// `modelseal seal <model.json> --out <dir> --model-id <id>`: seal a TF.js model for a static host.

import { Command, Option } from 'commander';
import { DEFAULT_CHUNK_LENGTH } from '../../format/chunked.js';
import { DEFAULT_SHARD_LENGTH } from '../../format/manifest.js';
import { sealModel } from '../../format/seal.js';
import { nodeChunkCipher } from '../../node/index.js';
import { parseChunkSize, parseId, parseShardSize, parseUrl, parseMasterKey } from '../options.js';
import { OutputDir, withOutputDir } from '../out-dir.js';
import { formatBytes, note, printJson } from '../output.js';
import { readPlainModel } from '../plain-model.js';
import { createProgress } from '../progress.js';
import { refuseOutputBesidePlaintext } from '../seal-guard.js';
import { MASTER_KEY_HELP, openStore } from '../store.js';

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
}

/** What `seal` did: the machine summary `--json` prints. */
export interface SealSummary {
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
  weightBytes: number;
  chunkLength: number;
  shardLength: number;
}

/** Reads the model, gets the key version, seals, and writes the output folder atomically. */
export async function collectSeal(modelPath: string, opts: SealCommandOptions): Promise<SealSummary> {
  const model = await readPlainModel(modelPath);
  await refuseOutputBesidePlaintext(model.path, opts);
  const out = await OutputDir.prepare(opts.out, { force: opts.force ?? false });
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
    const progress = createProgress('sealing', model.weightBytes, { json: opts.json ?? false });
    let sealed;
    try {
      sealed = await sealModel(
        { modelJson: model.modelJsonText, weightFiles: model.weightFiles },
        {
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
          onShard: (file) => out.writeFile(file.path, file.parts),
          onProgress: (done) => progress.update(done),
        },
      );
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
      modelId: opts.modelId,
      keyId: entry.record.keyId,
      sealing: sealed.manifest.sealing,
      keyCreated,
      store: store.dir,
      out: out.target,
      header: 'data' in sealed.manifest.header ? 'inline' : 'file',
      files,
      sealedBytes: files.reduce((n, f) => n + f.size, 0),
      weightBytes: model.weightBytes,
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
  note(`sealed ${summary.modelId} with key ${summary.keyId}: ${formatBytes(summary.weightBytes)} of weights in ${shards} shard${shards === 1 ? '' : 's'}, header ${summary.header}, written to ${summary.out}`);
}

/** The `seal` command. */
export const sealCommand = new Command('seal')
  .description('seal a TensorFlow.js model (graph or layers) into encrypted shards plus a public model.json')
  .argument('<model.json>', 'the model.json of the model to seal; weight files are read from its folder')
  .requiredOption('--out <dir>', 'output folder (created; must be absent or empty unless --force)')
  .requiredOption('--model-id <id>', 'model id: 1-128 of A-Z a-z 0-9 . _ -', parseId)
  .option('--store <dir>', 'keystore folder (default: $MODELSEAL_HOME, else ./.modelseal)')
  .option('--master-key <uri>', MASTER_KEY_HELP, parseMasterKey)
  .option('--key-server <url>', 'key server URL to record in the manifest', parseUrl)
  .option('--shard-size <bytes>', 'plaintext bytes per shard, e.g. 4MiB (rounded up to a multiple of the chunk size)', parseShardSize)
  .option('--chunk-size <bytes>', 'chunk length, 1KiB to 16MiB (default 256KiB)', parseChunkSize)
  .addOption(new Option('--header <mode>', 'put the encrypted header inline in model.json, in its own file, or decide by size').choices(['inline', 'file', 'auto']).default('auto'))
  .option('--new-key', 'rotate first: seal with a new key version (the previous one is retired)')
  .option('--force', 'replace a non-empty --out folder (atomically)')
  .option('--no-create-store', 'fail instead of creating a missing keystore (for CI; also MODELSEAL_NO_CREATE=1)')
  .option('--allow-inside-source', 'allow --out in a folder that also holds the plaintext model (e.g. both under public/)')
  .option('--json', 'print a machine-readable summary on stdout')
  .action(async (modelPath: string, opts: SealCommandOptions) => {
    printSeal(await collectSeal(modelPath, opts), opts);
  });
