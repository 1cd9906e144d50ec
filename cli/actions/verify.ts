// What `modelseal verify` does (defined in cli/commands/verify.ts): decrypt and check every file, write nothing.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { printError, toModelsealError } from '../errors.js';
import { formatBytes, note, printJson, printLine } from '../output.js';
import { withoutInputExcerpts } from '../safe-text.js';
import { createProgress } from '../progress.js';
import { openSealedAny, openSealedShards, readSealedManifest, unlock } from '../sealed-model.js';
import { openStore } from '../store.js';

/** Options of `modelseal verify`. */
export interface VerifyCommandOptions {
  store?: string;
  /** Master key URI (--master-key, else $MODELSEAL_MASTER_KEY, else the store's master.key). */
  masterKey?: string;
  json?: boolean;
  /** Refuse a sealing the keystore has no record of (default true; `keys publish` checks before recording). */
  requirePublished?: boolean;
}

/** The verdict on an intact sealed model. */
export interface VerifySummary {
  ok: true;
  path: string;
  /** What the sealing holds: a TF.js model, or files. */
  kind: 'tfjs' | 'files';
  /** Files kind: how many files. */
  fileCount?: number;
  modelId: string;
  keyId: string;
  /** The manifest's sealing digest, recorded in the keystore. */
  sealing: string;
  keyState: string;
  shards: number;
  weightBytes: number;
  sealedBytes: number;
  chunkLength: number;
  shardLength: number;
}

/**
 * Checks that the keystore vouches for the sealing, then the manifest, the key commitment of every
 * file, every chunk's tag, every length, and every file's digest.
 */
export async function collectVerify(manifestPath: string, opts: VerifyCommandOptions): Promise<VerifySummary> {
  const files = await readSealedManifest(manifestPath);
  const store = await openStore(opts.store, { masterKey: opts.masterKey });
  const { record, key } = await unlock(store, files.manifest, { requirePublished: opts.requirePublished ?? true });
  const opened = await openSealedAny(files, key);
  const payloadBytes = opened.kind === 'files' ? opened.header.totalBytes : opened.header.weightBytes;
  const progress = createProgress('verifying', payloadBytes, { json: opts.json ?? false });
  let done = 0;
  try {
    await openSealedShards(files, opened, key, (index) => {
      done += opened.shards[index]!.plaintextLength;
      progress.update(done);
    });
  } finally {
    progress.stop();
  }
  const manifestSize = (await stat(files.path)).size;
  const headerSize = 'size' in files.manifest.header ? files.manifest.header.size : 0;
  return {
    ok: true,
    path: resolve(files.path),
    kind: opened.kind,
    ...(opened.kind === 'files' ? { fileCount: opened.files.length } : {}),
    modelId: files.manifest.modelId,
    keyId: files.manifest.keyId,
    sealing: files.manifest.sealing,
    keyState: record.state,
    shards: opened.shards.length,
    weightBytes: payloadBytes,
    sealedBytes: manifestSize + headerSize + opened.shards.reduce((n, s) => n + s.sealedLength, 0),
    chunkLength: files.manifest.chunkLength,
    shardLength: files.manifest.shardLength,
  };
}

/** Prints the verdict: `ok …` on stdout (or JSON). */
export function printVerify(summary: VerifySummary, opts: { json?: boolean }): void {
  if (opts.json) {
    printJson(summary);
    return;
  }
  const what = summary.kind === 'files' ? `${summary.fileCount} file${summary.fileCount === 1 ? '' : 's'}, ${formatBytes(summary.weightBytes)}` : `${formatBytes(summary.weightBytes)} of weights`;
  printLine(`ok ${summary.path}: model ${summary.modelId}, key ${summary.keyId}, ${summary.shards} shard${summary.shards === 1 ? '' : 's'}, ${what} intact`);
  if (summary.keyState !== 'active') note(`key ${summary.keyId} is ${summary.keyState}${summary.keyState === 'revoked' ? ': the key server will not release it' : ''}`);
}

/** The action of `verify`: with --json, a failure is also a JSON verdict on stdout. */
export async function runVerify(manifestPath: string, opts: VerifyCommandOptions): Promise<void> {
  try {
    printVerify(await collectVerify(manifestPath, opts), opts);
  } catch (err) {
    if (!opts.json) throw err;
    const e = toModelsealError(err);
    printJson({ ok: false, error: { code: e.code, message: withoutInputExcerpts(e.message), ...(e.file === undefined ? {} : { file: e.file }) } });
    process.exitCode = printError(e);
  }
}
