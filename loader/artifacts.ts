// The decrypted model.json as tfjs ModelArtifacts, and the one signal the handler can give about
// which tfjs loader it suits.

import type { io } from '@tensorflow/tfjs-core';
import { ModelsealError } from '../format/errors.js';
import type { ModelJson } from '../format/header.js';

/** The fields of model.json that ModelArtifacts carries, copied from the decrypted header when present. */
const ARTIFACT_FIELDS = [
  'modelTopology', 'format', 'generatedBy', 'convertedBy', 'trainingConfig', 'signature',
  'userDefinedMetadata', 'modelInitializer', 'initializerSignature',
] as const;

/** True when the topology is a graph model's (a list of `node`s), as tf.loadGraphModel needs. */
export function isGraphModel(model: ModelJson): boolean {
  return Array.isArray((model.modelTopology as { node?: unknown } | null)?.node) && model['format'] !== 'layers-model';
}

/** ModelArtifacts from the decrypted model.json, without weights; `url` names the model in errors. */
export function artifactsOf(model: ModelJson, url: string): io.ModelArtifacts {
  const artifacts: io.ModelArtifacts = { modelTopology: model.modelTopology as io.ModelArtifacts['modelTopology'] };
  for (const field of ARTIFACT_FIELDS) {
    if (model[field] != null) (artifacts as Record<string, unknown>)[field] = model[field];
  }
  artifacts.weightSpecs = model.weightsManifest.flatMap((group) => group.weights) as unknown as io.WeightsManifestEntry[];
  if (!isGraphModel(model)) guardLayersTopology(model.modelTopology, url);
  return artifacts;
}

/**
 * An IOHandler cannot tell whether tf.loadGraphModel or tf.loadLayersModel called it, and
 * loadGraphModel reads a layers topology's missing `versions` and fails with "Cannot read
 * properties of undefined". That read is the one place to tell: a non-enumerable getter throws a
 * coded error there. tfjs-layers never reads `versions` and walks topologies with Object.keys,
 * which skips it.
 */
function guardLayersTopology(topology: Record<string, unknown>, url: string): void {
  if (topology === null || typeof topology !== 'object' || 'versions' in topology) return;
  Object.defineProperty(topology, 'versions', {
    enumerable: false,
    configurable: true,
    get: () => {
      throw new ModelsealError('model_format_mismatch', `${url} is a TensorFlow.js layers model (a Keras topology, not a graph): tf.loadGraphModel cannot load it; load it with tf.loadLayersModel(sealedModel(...)) instead`, { file: url });
    },
  });
}
