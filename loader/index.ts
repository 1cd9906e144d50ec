// modelseal: the browser-safe loader. Plug a sealed model into TensorFlow.js, ONNX Runtime or
// transformers.js with one call.
export { sealedModel, SealedModelHandler } from './sealed-model.js';
export { registerSealedRouter, SEALED_SCHEME_PREFIX, type TfWithIo, type SealedRouter } from './router.js';
export { clearOffline, OFFLINE_CACHE, OFFLINE_DATABASE } from './offline.js';
export type { SealedModelOptions, TokenSource, FetchFunction } from './options.js';
export type { ChunkCipher, ChunkCipherFactory } from '../format/chunked.js';
export { ModelsealError, isModelsealError, ERROR_CODES, type ErrorCode } from '../format/errors.js';
export { openSealedFiles } from './sealed-files.js';
export { openSealedFileStream } from './sealed-file-stream.js';
export type { SealedFilesOptions, OpenSealedFilesOptions } from './files-session.js';
export { sealedOnnxSession, onnxModelFromFiles, createOnnxSession, wipeFiles, type SealedOnnxOptions, type OnnxModelInput, type OnnxExternalData, type OnnxRuntimeLike } from './onnx.js';
export { useSealedModel, useSealedFiles, type TransformersEnvLike, type SealedTransformersModel } from './transformers.js';
