// What `modelseal inspect` does (defined in cli/commands/inspect.ts): the public facts, and the private ones when the key is here.

import { stat } from 'node:fs/promises';
import { isModelsealError } from '../../format/errors.js';
import type { ModelJson } from '../../format/header.js';
import { formatBytes, note, printJson, printLine } from '../output.js';
import { openSealedAny, readSealedManifest, unlock } from '../sealed-model.js';
import { openStore } from '../store.js';

/** Options of `modelseal inspect`. */
export interface InspectCommandOptions {
  store?: string;
  /** Master key URI (--master-key, else $MODELSEAL_MASTER_KEY, else the store's master.key). */
  masterKey?: string;
  json?: boolean;
}

/** What anyone who downloads the files can see. */
export interface PublicFacts {
  path: string;
  version: string;
  modelId: string;
  keyId: string;
  keyServer: string | null;
  /** The sealing digest the key server must have recorded. */
  sealing: string;
  chunkLength: number;
  shardLength: number;
  header: { inline: boolean; path: string | null; sealedBytes: number };
  shards: number;
  sealedBytes: number;
}

/** What only a key holder sees of a TF.js sealing (decrypted header; no weights are decrypted). */
export interface PrivateFacts {
  kind: 'tfjs';
  keyState: string;
  /** Whether the keystore records this sealing (the key server releases only recorded ones). */
  published: boolean;
  format: string | null;
  generatedBy: string | null;
  convertedBy: string | null;
  weightGroups: number;
  weightFiles: number;
  weights: number;
  parameters: number;
  weightBytes: number;
  dtypes: Record<string, number>;
  quantization: Record<string, number>;
}

/**
 * What only a key holder sees of a files sealing: the kind, the file count and the names are all
 * in the encrypted header (the public manifest does not say which kind it is).
 */
export interface PrivateFilesFacts {
  kind: 'files';
  keyState: string;
  published: boolean;
  fileCount: number;
  totalBytes: number;
  files: Array<{ path: string; bytes: number }>;
}

/** The inspect result; `private` is null when the key is not in the store (`reason` says why). */
export interface InspectResult {
  public: PublicFacts;
  private: PrivateFacts | PrivateFilesFacts | null;
  reason?: string;
}

/** Counts weights, parameters and dtypes of a model.json. */
export function modelFacts(model: ModelJson): Omit<PrivateFacts, 'kind' | 'keyState' | 'published' | 'weightBytes'> {
  const dtypes: Record<string, number> = {};
  const quantization: Record<string, number> = {};
  let weights = 0;
  let parameters = 0;
  for (const group of model.weightsManifest) {
    for (const w of group.weights) {
      weights++;
      parameters += w.shape.reduce((n, d) => n * d, 1);
      dtypes[w.dtype] = (dtypes[w.dtype] ?? 0) + 1;
      const q = (w['quantization'] as { dtype?: string } | undefined)?.dtype;
      if (q !== undefined) quantization[q] = (quantization[q] ?? 0) + 1;
    }
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    format: str(model['format']),
    generatedBy: str(model['generatedBy']),
    convertedBy: str(model['convertedBy']),
    weightGroups: model.weightsManifest.length,
    weightFiles: model.weightsManifest.reduce((n, g) => n + g.paths.length, 0),
    weights,
    parameters,
    dtypes,
    quantization,
  };
}

/** Reads the manifest, and the header when the store holds the key. */
export async function collectInspect(manifestPath: string, opts: InspectCommandOptions): Promise<InspectResult> {
  const files = await readSealedManifest(manifestPath);
  const m = files.manifest;
  const headerBytes = 'size' in m.header ? m.header.size : Math.floor((m.header.data.length * 3) / 4);
  const publicFacts: PublicFacts = {
    path: files.path,
    version: m.modelseal,
    modelId: m.modelId,
    keyId: m.keyId,
    keyServer: m.keyServer ?? null,
    sealing: m.sealing,
    chunkLength: m.chunkLength,
    shardLength: m.shardLength,
    header: { inline: 'data' in m.header, path: 'path' in m.header ? m.header.path : null, sealedBytes: headerBytes },
    shards: m.shards.length,
    sealedBytes: (await stat(files.path)).size + ('size' in m.header ? m.header.size : 0) + m.shards.reduce((n, s) => n + s.size, 0),
  };
  let unlocked;
  try {
    // An unrecorded sealing is still inspected: `published` says what the key server would do.
    unlocked = await unlock(await openStore(opts.store, { masterKey: opts.masterKey }), m, { requirePublished: false });
  } catch (err) {
    if (!isModelsealError(err, 'key_not_found')) throw err;
    return { public: publicFacts, private: null, reason: err.message };
  }
  const opened = await openSealedAny(files, unlocked.key);
  const published = unlocked.record.sealings.includes(m.sealing);
  if (opened.kind === 'files') {
    return {
      public: publicFacts,
      private: { kind: 'files', keyState: unlocked.record.state, published, fileCount: opened.files.length, totalBytes: opened.header.totalBytes, files: opened.files.map((f) => ({ path: f.path, bytes: f.bytes })) },
    };
  }
  return {
    public: publicFacts,
    private: { kind: 'tfjs', keyState: unlocked.record.state, published, ...modelFacts(opened.model), weightBytes: opened.header.weightBytes },
  };
}

const counts = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ×${v}`).join(', ') || 'none';

/** Prints the facts: JSON, or `field: value` lines, on stdout. */
export function printInspect(result: InspectResult, opts: { json?: boolean }): void {
  if (opts.json) {
    printJson(result);
  } else {
    const p = result.public;
    const lines = [
      `file: ${p.path}`,
      `format version: ${p.version}`,
      `model id: ${p.modelId}`,
      `key id: ${p.keyId}`,
      `key server: ${p.keyServer ?? '(none recorded)'}`,
      `sealing: ${p.sealing}`,
      `chunk length: ${p.chunkLength} (${formatBytes(p.chunkLength)})`,
      `shard length: ${p.shardLength} (${formatBytes(p.shardLength)})`,
      `header: ${p.header.inline ? 'inline' : p.header.path}, ${formatBytes(p.header.sealedBytes)} sealed`,
      `shards: ${p.shards}`,
      `sealed size: ${formatBytes(p.sealedBytes)}`,
    ];
    const s = result.private;
    if (s?.kind === 'files') {
      lines.push(
        `key state: ${s.keyState}`,
        `published: ${s.published ? 'yes' : 'no (the keystore has no record of this sealing: the key server will refuse it)'}`,
        'kind: files',
        `files: ${s.fileCount} (${formatBytes(s.totalBytes)})`,
        ...s.files.map((f) => `  ${f.path} (${f.bytes} bytes)`),
      );
    } else if (s) {
      lines.push(
        `key state: ${s.keyState}`,
        'kind: tfjs (TensorFlow.js model)',
        `published: ${s.published ? 'yes' : 'no (the keystore has no record of this sealing: the key server will refuse it)'}`,
        `model format: ${s.format ?? '(not set)'}`,
        `generated by: ${s.generatedBy ?? '(not set)'}`,
        `converted by: ${s.convertedBy ?? '(not set)'}`,
        `weight groups: ${s.weightGroups} (${s.weightFiles} original file${s.weightFiles === 1 ? '' : 's'})`,
        `weights: ${s.weights}`,
        `parameters: ${s.parameters}`,
        `weight bytes: ${s.weightBytes} (${formatBytes(s.weightBytes)})`,
        `dtypes: ${counts(s.dtypes)}`,
        `quantization: ${counts(s.quantization)}`,
      );
    }
    for (const line of lines) printLine(line);
  }
  if (result.reason !== undefined) note(`private facts hidden: ${result.reason}`);
}
