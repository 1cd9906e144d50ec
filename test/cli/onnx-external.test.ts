// The ONNX external-data reader (cli/onnx-external.ts) on tensors outside the main graph: a model
// function's Constant nodes and attribute defaults, and a training graph's initializers. onnx's
// external_data_helper moves such tensors out too, so `seal model.onnx` must find their files.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { onnxExternalLocations } from '../../cli/onnx-external.js';
import { onnxModel } from './onnx-writer.js';

const { onnx } = onnxProto;

describe('onnxExternalLocations', () => {
  const model = onnxModel([{ name: 'w', location: 'model.onnx_data' }], [], {
    functionConstants: [{ name: 'c', location: 'fn_const.bin' }],
    functionDefaults: [{ name: 'alpha', location: 'fn_default.bin' }],
    training: [{ name: 'moment', location: 'train.bin' }, { name: 'inline', raw: new Uint8Array(16) }],
  });

  it('finds the files of tensors in model functions and training graphs, after the graph\'s', () => {
    // The bytes are a ModelProto as onnx's own schema reads it (onnx-proto predates attribute_proto, and skips it).
    const decoded = onnx.ModelProto.decode(model);
    expect(decoded.functions[0]!.node![0]!.attribute![0]!.t!.externalData!.map((e) => e.value)).toContain('fn_const.bin');
    expect(decoded.trainingInfo[0]!.initialization!.initializer![0]!.externalData!.map((e) => e.value)).toContain('train.bin');
    expect(onnxExternalLocations(model)).toEqual(['model.onnx_data', 'train.bin', 'fn_const.bin', 'fn_default.bin']);
  });

  it('refuses a truncated model rather than list part of it', () => {
    expect(() => onnxExternalLocations(model.subarray(0, model.length - 5))).toThrow(/past|range|length/i);
  });
});
