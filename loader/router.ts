// Opt-in URL scheme for tf.io: `sealed+https://…/model.json` routes to the sealed-model handler.
// Registering is an explicit call, never a side effect of importing modelseal.

import type { io } from '@tensorflow/tfjs-core';
import { resolveOptions, type SealedModelOptions } from './options.js';
import { SealedModelHandler } from './sealed-model.js';

/** The scheme prefix the router answers: `sealed+` in front of an http(s): or file: URL. */
export const SEALED_SCHEME_PREFIX = 'sealed+';

/** The part of `tf` the router needs (`tf.io.registerLoadRouter`). */
export interface TfWithIo {
  io: { registerLoadRouter(router: SealedRouter): void };
}

/** A tf.io load router: a handler for the URLs it knows, else null. */
export type SealedRouter = (url: string | string[], loadOptions?: io.LoadOptions) => io.IOHandler;

/**
 * Registers a tf.io load router so `tf.loadGraphModel('sealed+https://cdn/model.json')` loads a sealed
 * model with `options`; tfjs's own load options (onProgress, fetchFunc, requestInit,
 * weightUrlConverter, streamWeights) override them per call.
 * @example
 * registerSealedRouter(tf, { token: getSessionToken, keyServer: 'https://keys.example.com' });
 * const model = await tf.loadGraphModel('sealed+https://cdn.example.com/face/model.json', { streamWeights: true });
 */
export function registerSealedRouter(tf: TfWithIo, options: SealedModelOptions): void {
  resolveOptions(options); // fail now, not on the first load
  const router = (url: string | string[], loadOptions?: io.LoadOptions): io.IOHandler | null => {
    if (typeof url !== 'string' || !/^sealed\+(https?|file):/.test(url)) return null;
    const merged: SealedModelOptions = { ...options };
    if (loadOptions?.onProgress) merged.onProgress = loadOptions.onProgress;
    if (loadOptions?.fetchFunc) merged.fetch = loadOptions.fetchFunc as SealedModelOptions['fetch'];
    if (loadOptions?.requestInit) merged.requestInit = loadOptions.requestInit;
    if (loadOptions?.weightUrlConverter) merged.weightUrlConverter = loadOptions.weightUrlConverter;
    if (loadOptions?.streamWeights !== undefined) merged.streamWeights = loadOptions.streamWeights;
    return new SealedModelHandler(url.slice(SEALED_SCHEME_PREFIX.length), merged);
  };
  // tfjs's IORouter type says IOHandler, but its registry skips routers that return null.
  tf.io.registerLoadRouter(router as SealedRouter);
}
