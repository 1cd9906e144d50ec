// modelseal/format: the sealed container. Bytes in, bytes out; WebCrypto only.
export { ModelsealError, isModelsealError, ERROR_CODES, type ErrorCode } from './errors.js';
export {
  DEFAULT_CHUNK_LENGTH, C2SP_CHUNK_LENGTH, FILE_HEAD_LENGTH, TAG_LENGTH, INPUT_KEY_LENGTH,
  sealedLength, plaintextLengthOf, importInputKey, deriveFileKeys, encryptChunked, encryptChunkedParts, decryptChunked,
  ChunkedDecryptor, joinChunks, webCryptoChunkCipher,
  type ChunkCipher, type ChunkCipherFactory, type ChunkedOptions, type ChunkedReadOptions, type FileKeys, type SyncHmacSha512,
} from './chunked.js';
export { headerContext, shardContext, type ContextBase } from './context.js';
export {
  FORMAT_VERSION, DEFAULT_SHARD_LENGTH, ID_PATTERN, parseManifest, parseManifestBytes, parseManifestText,
  type SealedManifest, type HeaderRef, type ShardRef,
} from './manifest.js';
export { validateModelJson, parseModelJsonText, normalizeWeightPath, parseHeader, type ModelJson, type ParsedHeader, type SealedHeader, type WeightsManifestGroup } from './header.js';
export { sealModel, type PlainModel, type SealOptions, type SealedModel, type SealedFile, type SealedParts } from './seal.js';
export { openHeader, openShard, createShardDecryptor, inlineHeader, type OpenOptions, type OpenedHeader, type ShardPlan } from './open.js';
export { shardPlaintextLengths } from './layout.js';
export { toBase64url, fromBase64url, toHex, fromHex } from './bytes.js';
export { Limiter } from './limiter.js';
export { sealFiles, filesInMemory, type FilesSource } from './seal-files.js';
export { openSealing, type OpenedSealing, type OpenedFiles, type FilePlan, type ShardLayout } from './open.js';
export { filePathProblem, filePathListProblem, MAX_FILES, type FilesHeader, type FileEntry } from './files-header.js';
