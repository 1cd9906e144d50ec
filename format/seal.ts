// Sealing a TF.js model: its model.json goes into the encrypted header, its weight bytes,
// concatenated in weightsManifest order, into the shards (docs/FORMAT.md §Sealing).

import { ModelsealError } from './errors.js';
import { parseModelJsonText, validateModelJson, type SealedHeader } from './header.js';
import { sealingLengths, sealPayload, type SealedModel, type SealOptions } from './seal-core.js';

export type { SealOptions, SealedModel, SealedFile, SealedParts } from './seal-core.js';

/** A plain TF.js model in memory: its model.json and its weight files in weightsManifest order. */
export interface PlainModel {
  /** The model.json text as read (kept byte for byte in the header), or its parsed object (serialised). */
  modelJson: string | object;
  /** One entry per path, group by group, in the order model.json lists them. */
  weightFiles: Uint8Array[];
}

/** Seals a TF.js model: encrypted header plus encrypted shards, under one content key version. */
export async function sealModel(model: PlainModel, options: SealOptions): Promise<SealedModel> {
  const modelJsonText = typeof model.modelJson === 'string' ? model.modelJson : JSON.stringify(model.modelJson);
  const modelJson = typeof model.modelJson === 'string' ? parseModelJsonText(model.modelJson) : validateModelJson(model.modelJson);
  const lengths = sealingLengths(options);
  const expected = modelJson.weightsManifest.reduce((n, g) => n + g.paths.length, 0);
  if (model.weightFiles.length !== expected) {
    throw new ModelsealError('model_invalid', `model.json lists ${expected} weight files but ${model.weightFiles.length} were given`);
  }
  const weightFiles: number[][] = [];
  let next = 0;
  for (const group of modelJson.weightsManifest) weightFiles.push(group.paths.map(() => model.weightFiles[next++]!.length));
  const weightBytes = model.weightFiles.reduce((n, f) => n + f.length, 0);
  return sealPayload({
    totalBytes: weightBytes,
    // Weight files are sliced across shard boundaries without concatenating the whole model.
    reader: () => {
      const cursor = new WeightCursor(model.weightFiles);
      return (length) => cursor.take(length);
    },
    header: (sealingId, shardDigests): SealedHeader => ({ sealingId, weightBytes, weightFiles, shardDigests, modelJson: modelJsonText }),
    headerName: 'model.json',
    recheck: false,
  }, options, lengths);
}

/** Reads consecutive byte ranges across a list of arrays, copying only when a range spans files. */
class WeightCursor {
  #file = 0;
  #offset = 0;
  constructor(private readonly files: Uint8Array[]) {}

  take(length: number): Uint8Array {
    const current = this.files[this.#file];
    // A range inside one file (ending at its end included) is a view, not a copy.
    if (current && current.length - this.#offset >= length) {
      const view = current.subarray(this.#offset, this.#offset + length);
      this.#offset += length;
      if (this.#offset === current.length) {
        this.#file++;
        this.#offset = 0;
      }
      return view;
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const file = this.files[this.#file]!;
      const n = Math.min(length - filled, file.length - this.#offset);
      out.set(file.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      this.#offset += n;
      if (this.#offset === file.length) {
        this.#file++;
        this.#offset = 0;
      }
    }
    return out;
  }
}
