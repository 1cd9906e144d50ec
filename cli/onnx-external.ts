// The external-data files an ONNX model references (TensorProto.external_data `location`), read
// from the protobuf wire format with protobufjs's Reader: only the messages that can hold a tensor
// (the graph, its subgraphs, the model's functions and training graphs, as onnx's
// external_data_helper walks them) are entered, and every other field (raw_data included) is
// skipped without being decoded.
// Field numbers from onnx/onnx.proto3 (ONNX IR version 10).

import protobuf from 'protobufjs/minimal.js';

const LENGTH_DELIMITED = 2;
/** TensorProto.DataLocation.EXTERNAL */
const EXTERNAL = 1;
/** Nesting deeper than this (subgraphs of subgraphs…) is refused rather than followed. */
const MAX_DEPTH = 64;

type Reader = protobuf.Reader;

/** Thrown when the bytes are not an ONNX ModelProto this reader can walk. */
export class OnnxParseError extends Error {
  override readonly name = 'OnnxParseError';
}

interface Walk {
  locations: Set<string>;
  /** Tensors marked EXTERNAL that name no location (an invalid model). */
  missing: number;
}

/** Calls `field(number, reader, end)` for each length-delimited field of the message ending at `end`; skips the rest. */
function fields(reader: Reader, end: number, field: (number: number, end: number) => void): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 0) throw new OnnxParseError('field number 0');
    if (wireType === LENGTH_DELIMITED) {
      const length = reader.uint32();
      const fieldEnd = reader.pos + length;
      if (fieldEnd > end) throw new OnnxParseError('a field runs past the end of its message');
      field(number, fieldEnd);
      reader.pos = fieldEnd;
    } else {
      reader.skipType(wireType);
    }
  }
  if (reader.pos !== end) throw new OnnxParseError('a message runs past its declared length');
}

function tensor(reader: Reader, end: number, walk: Walk): void {
  let location: string | undefined;
  let external = false;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 14 && wireType === 0) {
      external = reader.int32() === EXTERNAL;
    } else if (number === 13 && wireType === LENGTH_DELIMITED) {
      const entryEnd = reader.uint32() + reader.pos;
      if (entryEnd > end) throw new OnnxParseError('an external_data entry runs past its tensor');
      let key: string | undefined;
      let value: string | undefined;
      while (reader.pos < entryEnd) {
        const t = reader.uint32();
        if (t === ((1 << 3) | LENGTH_DELIMITED)) key = reader.string();
        else if (t === ((2 << 3) | LENGTH_DELIMITED)) value = reader.string();
        else reader.skipType(t & 7);
      }
      if (key === 'location' && value !== undefined) location = value;
    } else {
      reader.skipType(wireType);
    }
  }
  if (external) {
    if (location === undefined) walk.missing++;
    else walk.locations.add(location);
  }
}

function graph(reader: Reader, end: number, walk: Walk, depth: number): void {
  if (depth > MAX_DEPTH) throw new OnnxParseError(`graphs nested more than ${MAX_DEPTH} deep`);
  fields(reader, end, (number, fieldEnd) => {
    if (number === 5) tensor(reader, fieldEnd, walk); // initializer
    else if (number === 15) sparse(reader, fieldEnd, walk); // sparse_initializer
    else if (number === 1) node(reader, fieldEnd, walk, depth); // node
  });
}

/** A FunctionProto (ModelProto.functions): its nodes' attributes, and its attributes' defaults, can hold tensors. */
function functionProto(reader: Reader, end: number, walk: Walk): void {
  fields(reader, end, (number, fieldEnd) => {
    if (number === 7) node(reader, fieldEnd, walk, 1); // node
    else if (number === 11) attribute(reader, fieldEnd, walk, 1); // attribute_proto (IR version 9)
  });
}

/** A TrainingInfoProto (ModelProto.training_info): two graphs. */
function trainingInfo(reader: Reader, end: number, walk: Walk): void {
  fields(reader, end, (number, fieldEnd) => {
    if (number === 1 || number === 2) graph(reader, fieldEnd, walk, 1); // initialization, algorithm
  });
}

function sparse(reader: Reader, end: number, walk: Walk): void {
  fields(reader, end, (number, fieldEnd) => {
    if (number === 1 || number === 2) tensor(reader, fieldEnd, walk); // values, indices
  });
}

function node(reader: Reader, end: number, walk: Walk, depth: number): void {
  fields(reader, end, (number, fieldEnd) => {
    if (number === 5) attribute(reader, fieldEnd, walk, depth); // attribute
  });
}

function attribute(reader: Reader, end: number, walk: Walk, depth: number): void {
  fields(reader, end, (number, fieldEnd) => {
    if (number === 5 || number === 10) tensor(reader, fieldEnd, walk); // t, tensors
    else if (number === 6 || number === 11) graph(reader, fieldEnd, walk, depth + 1); // g, graphs
    else if (number === 22 || number === 23) sparse(reader, fieldEnd, walk); // sparse_tensor(s)
  });
}

/**
 * The `location` of every tensor stored outside the model (data_location EXTERNAL), as the model
 * writes them, in first-seen order. Throws OnnxParseError when the bytes are not a ModelProto.
 */
export function onnxExternalLocations(bytes: Uint8Array): string[] {
  const reader = protobuf.Reader.create(bytes);
  const walk: Walk = { locations: new Set(), missing: 0 };
  let sawGraph = false;
  try {
    fields(reader, bytes.length, (number, fieldEnd) => {
      if (number === 7) {
        sawGraph = true;
        graph(reader, fieldEnd, walk, 0);
      } else if (number === 25) {
        functionProto(reader, fieldEnd, walk); // functions
      } else if (number === 20) {
        trainingInfo(reader, fieldEnd, walk); // training_info
      }
    });
  } catch (err) {
    if (err instanceof OnnxParseError) throw err;
    // protobufjs throws RangeError (index out of range) on truncated or non-protobuf input.
    throw new OnnxParseError((err as Error).message);
  }
  if (!sawGraph) throw new OnnxParseError('it has no graph (ModelProto field 7)');
  if (walk.missing > 0) throw new OnnxParseError(`${walk.missing} tensor${walk.missing === 1 ? ' is' : 's are'} marked external but name no location`);
  return [...walk.locations];
}
