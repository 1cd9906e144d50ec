// modelseal/format: the sealed container. Bytes in, bytes out; WebCrypto only. The operations a
// user calls (seal, open, parse) and their types; the chunk layer and helpers stay internal.
export { ModelsealError, isModelsealError, ERROR_CODES, type ErrorCode, type ModelsealErrorOptions } from './errors.js';
export { FORMAT_VERSION, DEFAULT_SHARD_LENGTH, parseManifest, parseManifestBytes, parseManifestText, type SealedManifest, type HeaderRef, type ShardRef } from './manifest.js';
export { DEFAULT_CHUNK_LENGTH, C2SP_CHUNK_LENGTH } from './chunk-lengths.js';
export { sealModel, type PlainModel, type SealOptions, type SealedModel, type SealedFile, type SealedParts } from './seal.js';
export { sealFiles, filesInMemory, type FilesSource } from './seal-files.js';
export { importInputKey } from './chunk-keys.js';
export {
  openSealing, openHeader, openShard, createShardDecryptor, inlineHeader,
  type OpenOptions, type OpenedSealing, type OpenedHeader, type OpenedFiles, type ShardPlan, type ShardLayout, type FilePlan,
} from './open.js';
export type { FileDecryptor } from './open-file.js';
export { joinChunks } from './chunk-decrypt.js';
export type { ModelJson, SealedHeader, WeightsManifestGroup } from './header.js';
export type { FilesHeader, FileEntry } from './files-header.js';
export { webCryptoChunkCipher, type ChunkCipher, type ChunkCipherFactory, type ChunkSha256 } from './chunk-cipher.js';
export type { HmacSha512 } from './chunk-keys.js';
