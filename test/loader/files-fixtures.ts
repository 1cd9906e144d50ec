// Fixtures of the generic-form loader tests: a folder of files (a transformers.js-like layout with
// an ONNX graph and its external data), sealed with sealFiles into a folder a static server serves.

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filesInMemory, sealFiles, type SealOptions } from '../../format/index.js';
import type { FileKeyStore } from '../../keyserver/index.js';

/** A folder as a list of files (path → bytes), in the order sealFiles gets them. */
export type PlainFolder = Array<{ path: string; data: Uint8Array }>;

/** A model folder of several files: small text files, an empty file, and two that span many shards. */
export function sampleFolder(): PlainFolder {
  const text = (s: string) => new Uint8Array(Buffer.from(s));
  return [
    { path: 'config.json', data: text('{"model_type":"bert","hidden_size":32}\n') },
    { path: 'empty.txt', data: new Uint8Array(0) },
    { path: 'onnx/model.onnx', data: new Uint8Array(randomBytes(150_001)) },
    { path: 'onnx/model.onnx_data', data: new Uint8Array(randomBytes(400_000)) },
    { path: 'tokenizer.json', data: text(JSON.stringify({ version: '1.0', model: { vocab: { a: 0, b: 1 } } })) },
  ];
}

/** Seals `folder` under a fresh key version of `modelId` (recorded) and writes the sealed folder `dir`. */
export async function sealFolderInto(
  store: FileKeyStore,
  modelId: string,
  folder: PlainFolder,
  dir: string,
  options: Partial<Pick<SealOptions, 'chunkLength' | 'shardLength' | 'headerMode' | 'keyServer'>> = {},
): Promise<{ keyId: string; key: Uint8Array; sealing: string }> {
  const { record, key } = await store.rotate(modelId);
  const sealed = await sealFiles(filesInMemory(folder), { modelId, keyId: record.keyId, contentKey: key, ...options });
  await store.publish(modelId, record.keyId, sealed.manifest.sealing);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(sealed.manifest));
  await Promise.all(sealed.files.map((f) => writeFile(join(dir, f.path), f.bytes)));
  return { keyId: record.keyId, key: key.slice(), sealing: sealed.manifest.sealing };
}

/** Reads a whole stream into one array. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return new Uint8Array(Buffer.concat(parts));
}
