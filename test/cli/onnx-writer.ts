// Writes small ONNX ModelProto files with protobufjs's Writer, for the tests of `seal model.onnx`:
// tensors inline (raw_data) and external (data_location EXTERNAL with a location), in the graph's
// initializers, in a subgraph of a node attribute, and (extras) in a model function and a training
// graph. Field numbers from onnx/onnx.proto3.

import protobuf from 'protobufjs/minimal.js';

/** One initializer: inline bytes, or stored in an external file at an offset. */
export type TensorSpec = { name: string; raw: Uint8Array } | { name: string; location: string; offset?: number; length?: number };

const LEN = 2;

function tensor(w: protobuf.Writer, field: number, t: TensorSpec): void {
  w.uint32((field << 3) | LEN).fork();
  w.uint32((1 << 3) | LEN).fork().int64(4).ldelim(); // dims: packed [4]
  w.uint32((2 << 3) | 0).int32(1); // data_type FLOAT
  w.uint32((8 << 3) | LEN).string(t.name);
  if ('raw' in t) {
    w.uint32((9 << 3) | LEN).bytes(t.raw);
  } else {
    const entry = (key: string, value: string) => w.uint32((13 << 3) | LEN).fork().uint32((1 << 3) | LEN).string(key).uint32((2 << 3) | LEN).string(value).ldelim();
    entry('location', t.location);
    if (t.offset !== undefined) entry('offset', String(t.offset));
    if (t.length !== undefined) entry('length', String(t.length));
    w.uint32((14 << 3) | 0).int32(1); // data_location EXTERNAL
  }
  w.ldelim();
}

/** Tensors outside the main graph: a function's Constant nodes and attribute defaults, a training graph's initializers. */
export interface OnnxExtras {
  functionConstants?: TensorSpec[];
  functionDefaults?: TensorSpec[];
  training?: TensorSpec[];
}

/** An attribute named `name` holding tensor `t` (type TENSOR), as field `field` of the open message. */
function tensorAttribute(w: protobuf.Writer, field: number, name: string, t: TensorSpec): void {
  w.uint32((field << 3) | LEN).fork();
  w.uint32((1 << 3) | LEN).string(name);
  tensor(w, 5, t); // t
  w.uint32((20 << 3) | 0).int32(4); // type TENSOR
  w.ldelim();
}

function writeExtras(w: protobuf.Writer, extras: OnnxExtras): void {
  if (extras.training?.length) {
    w.uint32((20 << 3) | LEN).fork(); // training_info
    w.uint32((1 << 3) | LEN).fork(); // initialization graph
    for (const t of extras.training) tensor(w, 5, t);
    w.ldelim();
    w.ldelim();
  }
  if (extras.functionConstants?.length || extras.functionDefaults?.length) {
    w.uint32((25 << 3) | LEN).fork(); // functions
    w.uint32((1 << 3) | LEN).string('sealed_fn');
    for (const t of extras.functionConstants ?? []) {
      w.uint32((7 << 3) | LEN).fork(); // node
      w.uint32((4 << 3) | LEN).string('Constant');
      tensorAttribute(w, 5, 'value', t);
      w.ldelim();
    }
    for (const t of extras.functionDefaults ?? []) tensorAttribute(w, 11, t.name, t); // attribute_proto
    w.uint32((10 << 3) | LEN).string('modelseal.test'); // domain
    w.ldelim();
  }
}

/** A ModelProto whose graph has `initializers`, and an If node whose then_branch subgraph has `subgraph` initializers. */
export function onnxModel(initializers: TensorSpec[], subgraph: TensorSpec[] = [], extras: OnnxExtras = {}): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 0).int64(9); // ir_version
  w.uint32((2 << 3) | LEN).string('modelseal-test'); // producer_name
  w.uint32((7 << 3) | LEN).fork(); // graph
  w.uint32((2 << 3) | LEN).string('main'); // name
  if (subgraph.length > 0) {
    w.uint32((1 << 3) | LEN).fork(); // node
    w.uint32((4 << 3) | LEN).string('If'); // op_type
    w.uint32((5 << 3) | LEN).fork(); // attribute
    w.uint32((1 << 3) | LEN).string('then_branch');
    w.uint32((6 << 3) | LEN).fork(); // g
    for (const t of subgraph) tensor(w, 5, t);
    w.ldelim();
    w.uint32((20 << 3) | 0).int32(5); // type GRAPH
    w.ldelim();
    w.ldelim();
  }
  for (const t of initializers) tensor(w, 5, t);
  w.ldelim();
  w.uint32((8 << 3) | LEN).fork().uint32((2 << 3) | 0).int64(17).ldelim(); // opset_import { version: 17 }
  writeExtras(w, extras);
  return w.finish();
}
