// The soak's corpus: a seeded PRNG, a few small synthetic models (several shards of small chunks,
// so that shard and chunk boundaries are many), and for each model four sealings under ONE content
// key: the base (published), a second published sealing, an unpublished one, and another model's
// weights sealed with the same key and ids (unpublished).

import { createHash } from 'node:crypto';
import { sealModel, type SealedManifest, type SealOptions } from '../../format/index.js';
import type { FileKeyStore } from '../../keyserver/index.js';

/** sfc32, seeded through SHA-256 of a label: small, fast, and every case replays from (seed, index). */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(label: string) {
    const h = createHash('sha256').update(label).digest();
    this.#a = h.readUInt32LE(0);
    this.#b = h.readUInt32LE(4);
    this.#c = h.readUInt32LE(8);
    this.#d = h.readUInt32LE(12);
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 4294967296) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}

/** A plain model as the soak seals it. */
export interface PlainSoakModel {
  modelId: string;
  /** The model.json text exactly as sealed (the header keeps it byte for byte). */
  modelJsonText: string;
  /** Weight file paths (normalised) and bytes, in manifest order. */
  weightPaths: string[];
  weightFiles: Uint8Array[];
  /** All weight bytes concatenated: what every successful read must return. */
  weights: Uint8Array;
  chunkLength: number;
  shardLength: number;
  headerMode: 'inline' | 'file';
  keyServer?: string;
}

/** One sealing held in memory: the manifest object, the manifest text as served, and the files. */
export interface Sealing {
  manifest: SealedManifest;
  files: Map<string, Uint8Array>;
}

/** A model of the corpus with its four sealings under one key. */
export interface SoakModel {
  plain: PlainSoakModel;
  keyId: string;
  /** The base sealing every case starts from (published). */
  base: Sealing;
  /** Another sealing of the same model, key and ids, also published: swapping to it whole is a valid model. */
  republished: Sealing;
  /** Another sealing of the same model and key, never published. */
  unpublished: Sealing;
  /** Other weights sealed with the same key and ids (unpublished): "another model, same key". */
  foreign: Sealing;
  /** The base sealings of the other models of the corpus (other keys). */
  others: Sealing[];
}

function filler(label: string, length: number): Uint8Array {
  return new Rng(`weights/${label}`).bytes(length);
}

function graphModel(name: string, groups: Array<Array<{ path: string; bytes: number }>>, bom: boolean): string {
  const node = [{ name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' } } }];
  const weightsManifest = groups.map((files, g) => ({
    paths: files.map((f) => f.path),
    weights: files.map((f, i) => ({ name: `${name}/g${g}/w${i}`, shape: [f.bytes / 4], dtype: 'float32' })),
  }));
  const json = { format: 'graph-model', generatedBy: 'soak', convertedBy: 'soak', modelTopology: { node, library: {}, versions: { producer: 1 } }, weightsManifest, userDefinedMetadata: { soak: name } };
  return `${bom ? '\uFEFF' : ''}${JSON.stringify(json, null, 1)}`;
}

/** The plain models: several shards each, boundaries at chunk and shard edges, one without weights. */
export function plainModels(): PlainSoakModel[] {
  const make = (modelId: string, groups: Array<Array<{ path: string; bytes: number }>>, opts: Pick<PlainSoakModel, 'chunkLength' | 'shardLength' | 'headerMode'> & { bom?: boolean; keyServer?: string }): PlainSoakModel => {
    const weightPaths = groups.flat().map((f) => f.path);
    const weightFiles = groups.flat().map((f) => filler(`${modelId}/${f.path}`, f.bytes));
    const weights = Buffer.concat(weightFiles);
    return {
      modelId, modelJsonText: graphModel(modelId, groups, opts.bom ?? false), weightPaths, weightFiles, weights: new Uint8Array(weights),
      chunkLength: opts.chunkLength, shardLength: opts.shardLength, headerMode: opts.headerMode, ...(opts.keyServer ? { keyServer: opts.keyServer } : {}),
    };
  };
  return [
    // 5000 bytes, 3 shards (2048, 2048, 904): file header, a short last shard.
    make('soak-a', [[{ path: 'group1-shard1of2.bin', bytes: 3000 }, { path: 'group1-shard2of2.bin', bytes: 2000 }]], { chunkLength: 1024, shardLength: 2048, headerMode: 'file' }),
    // 6144 bytes = 3 full shards, each ending in an empty final chunk; inline header; three groups, one in a subfolder.
    make('soak-b', [[{ path: 'a.bin', bytes: 2048 }], [{ path: 'sub/b.bin', bytes: 3072 }], [{ path: 'c.bin', bytes: 1024 }]], { chunkLength: 1024, shardLength: 2048, headerMode: 'inline' }),
    // No weights: the header alone.
    make('soak-c', [], { chunkLength: 1024, shardLength: 1024, headerMode: 'file' }),
    // 9000 bytes in 4096-byte shards of 1024-byte chunks; a byte order mark in model.json; keyServer in the manifest.
    make('soak-d', [[{ path: 'w1.bin', bytes: 4000 }, { path: 'w2.bin', bytes: 4000 }, { path: 'w3.bin', bytes: 1000 }]], { chunkLength: 1024, shardLength: 4096, headerMode: 'inline', bom: true, keyServer: 'https://keys.example.com' }),
  ];
}

/** A deterministic random source for sealModel (test use only, as its docs say). */
function fixedRandom(label: string): (n: number) => Uint8Array {
  const rng = new Rng(`seal/${label}`);
  return (n) => rng.bytes(n);
}

async function sealOne(plain: PlainSoakModel, weightFiles: Uint8Array[], keyId: string, contentKey: Uint8Array, label: string): Promise<Sealing> {
  const options: SealOptions = {
    modelId: plain.modelId, keyId, contentKey, chunkLength: plain.chunkLength, shardLength: plain.shardLength, headerMode: plain.headerMode,
    random: fixedRandom(label), ...(plain.keyServer ? { keyServer: plain.keyServer } : {}),
  };
  const sealed = await sealModel({ modelJson: plain.modelJsonText, weightFiles }, options);
  return { manifest: sealed.manifest, files: new Map(sealed.files.map((f) => [f.path, f.bytes])) };
}

/** Makes a key version per model in `store`, seals each model four ways, and publishes two of them. */
export async function buildCorpus(store: FileKeyStore, seed: string): Promise<SoakModel[]> {
  const out: SoakModel[] = [];
  for (const plain of plainModels()) {
    const { record, key } = await store.rotate(plain.modelId);
    const base = await sealOne(plain, plain.weightFiles, record.keyId, key, `${seed}/${plain.modelId}/base`);
    const republished = await sealOne(plain, plain.weightFiles, record.keyId, key, `${seed}/${plain.modelId}/republished`);
    const unpublished = await sealOne(plain, plain.weightFiles, record.keyId, key, `${seed}/${plain.modelId}/unpublished`);
    // Other weights of other sizes (one more chunk per file), same key and ids.
    const otherFiles = plain.weightFiles.map((f, i) => filler(`${plain.modelId}/foreign/${i}`, f.length + 1024));
    const foreign = await sealOne(plain, otherFiles.length ? otherFiles : [], record.keyId, key, `${seed}/${plain.modelId}/foreign`);
    await store.publish(plain.modelId, record.keyId, base.manifest.sealing);
    await store.publish(plain.modelId, record.keyId, republished.manifest.sealing);
    key.fill(0);
    out.push({ plain, keyId: record.keyId, base, republished, unpublished, foreign, others: [] });
  }
  for (const m of out) m.others = out.filter((o) => o !== m).map((o) => o.base);
  return out;
}
