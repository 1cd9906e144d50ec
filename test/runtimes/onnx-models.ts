// ONNX models the runtime tests build themselves with onnx-proto (the ONNX protobuf schema): a small
// MatMul/Add graph whose initializers live in several external-data files, and a tiny BERT-shaped
// feature-extraction folder for transformers.js (config, tokenizer, onnx/model.onnx), a two-session
// seq2seq folder, and an image-classification folder.
import onnxProto from 'onnx-proto';
import { concatBytes } from '../../format/bytes.js';

import { floats } from './runners.js';

export { floats };
const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function bytesOf(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}

function encodeModel(graph: ReturnType<typeof onnx.GraphProto.create>, opset = 13): Uint8Array {
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'modelseal-tests', opsetImport: [{ domain: '', version: opset }], graph });
  return onnx.ModelProto.encode(model).finish();
}

/** A model whose initializers live in external-data files, with the plaintext files by relative path. */
export interface ExternalDataModel {
  /** Relative path → bytes: the .onnx file and each data file (paths relative to the model's folder). */
  files: Map<string, Uint8Array>;
  /** The .onnx file's path in `files`. */
  model: string;
  /** The data file names, as the model stores them in `external_data.location`. */
  dataFiles: string[];
  inputName: string;
  inputShape: [number, number];
  outputName: string;
}

/**
 * Y = (X·W1 + B1)·W2 with W1 in one data file, B1 and W2 together (at two offsets) in a second, and a
 * third data file holding a bias B2 under a sub-folder, so that locations with folders are covered.
 * `dir` puts the whole model under a folder (e.g. 'onnx/').
 */
export function externalDataModel(options: { k?: number; n?: number; m?: number; dir?: string } = {}): ExternalDataModel {
  const k = options.k ?? 64;
  const n = options.n ?? 48;
  const m = options.m ?? 16;
  const dir = options.dir ?? '';
  const w1 = floats(k * n, 1);
  const b1 = floats(n, 2);
  const w2 = floats(n * m, 3);
  const b2 = floats(m, 4);
  const fileA = 'weights.onnx_data';
  const fileB = 'weights.onnx_data_1';
  const fileC = 'extra/bias.bin';
  // B1 first, then W2, with 8 bytes of padding between them: offsets the runtime must honour.
  const bBytes = new Uint8Array(b1.byteLength + 8 + w2.byteLength);
  bBytes.set(bytesOf(b1), 0);
  bBytes.set(bytesOf(w2), b1.byteLength + 8);
  const external = (name: string, dims: number[], location: string, offset: number, length: number) =>
    onnx.TensorProto.create({
      name,
      dims,
      dataType: FLOAT,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
  const graph = onnx.GraphProto.create({
    name: 'external-data',
    node: [
      { opType: 'MatMul', input: ['X', 'W1'], output: ['H0'], name: 'mm1' },
      { opType: 'Add', input: ['H0', 'B1'], output: ['H1'], name: 'add1' },
      { opType: 'MatMul', input: ['H1', 'W2'], output: ['H2'], name: 'mm2' },
      { opType: 'Add', input: ['H2', 'B2'], output: ['Y'], name: 'add2' },
    ],
    initializer: [
      external('W1', [k, n], fileA, 0, w1.byteLength),
      external('B1', [n], fileB, 0, b1.byteLength),
      external('W2', [n, m], fileB, b1.byteLength + 8, w2.byteLength),
      external('B2', [m], fileC, 0, b2.byteLength),
    ],
    input: [valueInfo('X', FLOAT, [1, k])],
    output: [valueInfo('Y', FLOAT, [1, m])],
  });
  const files = new Map<string, Uint8Array>([
    [`${dir}model.onnx`, encodeModel(graph)],
    [`${dir}${fileA}`, bytesOf(w1)],
    [`${dir}${fileB}`, bBytes],
    [`${dir}${fileC}`, bytesOf(b2)],
  ]);
  return { files, model: `${dir}model.onnx`, dataFiles: [fileA, fileB, fileC], inputName: 'X', inputShape: [1, k], outputName: 'Y' };
}

/** The words of the tiny tokenizer's vocabulary after the special tokens. */
const WORDS = ['hello', 'world', 'sealed', 'model', 'in', 'memory', 'the', 'a', 'is', 'key', 'server', 'web'];

/** The tiny vocabulary: BERT's special tokens, then WORDS. */
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2));
}

/** A WordPiece tokenizer.json over `vocab` (special tokens first), BERT's normalizer and [CLS] … [SEP] template. */
function wordPieceTokenizer(vocab: string[]) {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: vocab.slice(0, 5).map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((t, i) => [t, i])) },
  };
}

const TOKENIZER_CONFIG = {
  tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 64,
  cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]',
};

/** A float initializer: inline, or at `offset` of the external-data file `location`. */
function floatInitializer(name: string, dims: number[], values: Float32Array, location?: string, offset = 0) {
  if (location === undefined) return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: bytesOf(values) });
  return onnx.TensorProto.create({
    name, dims, dataType: FLOAT, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(values.byteLength) }],
  });
}

/** last_hidden_state = E[input_ids] · attention_mask: the tiny BERT model, and the tiny seq2seq model's encoder. */
function maskedEmbeddingGraph(name: string, table: Float32Array, hidden: number, location?: string) {
  return onnx.GraphProto.create({
    name,
    node: [
      { opType: 'Gather', input: ['E', 'input_ids'], output: ['emb'], name: 'gather', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
      { opType: 'Cast', input: ['attention_mask'], output: ['maskf'], name: 'cast', attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }] },
      { opType: 'Unsqueeze', input: ['maskf', 'axes'], output: ['mask3'], name: 'unsqueeze' },
      { opType: 'Mul', input: ['emb', 'mask3'], output: ['last_hidden_state'], name: 'mul' },
    ],
    initializer: [floatInitializer('E', [VOCAB.length, hidden], table, location), onnx.TensorProto.create({ name: 'axes', dims: [1], dataType: INT64, int64Data: [2] })],
    input: [valueInfo('input_ids', INT64, ['batch', 'sequence']), valueInfo('attention_mask', INT64, ['batch', 'sequence'])],
    output: [valueInfo('last_hidden_state', FLOAT, ['batch', 'sequence', hidden])],
  });
}

/** The configuration files every tiny folder has: config.json (with `config`), the tokenizer and its config. */
function textFiles(config: object): Array<[string, Uint8Array]> {
  return [['config.json', jsonBytes(config)], ['tokenizer.json', jsonBytes(wordPieceTokenizer(VOCAB))], ['tokenizer_config.json', jsonBytes(TOKENIZER_CONFIG)]];
}

/**
 * A tiny transformers.js feature-extraction model folder: BERT-shaped config, a WordPiece
 * tokenizer, and onnx/model.onnx computing last_hidden_state = Embedding[input_ids] · mask.
 * With `externalData`, the embedding table goes to onnx/model.onnx_data (transformers.js's naming).
 */
export function tinyTransformersFolder(options: { hidden?: number; externalData?: boolean } = {}): Map<string, Uint8Array> {
  const hidden = options.hidden ?? 8;
  const table = floats(VOCAB.length * hidden, 7);
  const graph = maskedEmbeddingGraph('tiny-bert', table, hidden, options.externalData ? 'model.onnx_data' : undefined);
  const config = {
    model_type: 'bert', architectures: ['BertModel'], hidden_size: hidden, num_attention_heads: 1, num_hidden_layers: 1,
    vocab_size: VOCAB.length, max_position_embeddings: 64, ...(options.externalData ? { 'transformers.js_config': { use_external_data_format: true } } : {}),
  };
  const files = new Map<string, Uint8Array>([...textFiles(config), ['onnx/model.onnx', encodeModel(graph)]]);
  if (options.externalData) files.set('onnx/model.onnx_data', bytesOf(table));
  return files;
}

/**
 * A tiny T5-shaped text2text-generation folder: two ONNX sessions, as transformers.js loads a
 * seq2seq model. onnx/encoder_model.onnx is the masked embedding above; onnx/decoder_model_merged.onnx
 * computes logits = (D[input_ids] + mean over the source of encoder_hidden_states) · W, with no
 * cache inputs (transformers.js then feeds it the last token each step). With `externalData`, each
 * session's weights go to its own `<name>.onnx_data`.
 */
export function tinySeq2SeqFolder(options: { externalData?: boolean } = {}): Map<string, Uint8Array> {
  const hidden = 8;
  const encoderTable = floats(VOCAB.length * hidden, 21);
  const decoderTable = floats(VOCAB.length * hidden, 22);
  const projection = floats(hidden * VOCAB.length, 23);
  const data = (file: string) => (options.externalData ? `${file}.onnx_data` : undefined);
  const encoder = maskedEmbeddingGraph('tiny-t5-encoder', encoderTable, hidden, data('encoder_model'));
  // The decoder's two tables share one data file, at two offsets, as exporters write them.
  const decoderLocation = data('decoder_model_merged');
  const decoder = onnx.GraphProto.create({
    name: 'tiny-t5-decoder',
    node: [
      { opType: 'Gather', input: ['D', 'input_ids'], output: ['emb'], name: 'gather', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
      { opType: 'ReduceMean', input: ['encoder_hidden_states'], output: ['context'], name: 'mean', attribute: [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1] }, { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      { opType: 'Add', input: ['emb', 'context'], output: ['mixed'], name: 'add' },
      { opType: 'MatMul', input: ['mixed', 'W'], output: ['logits'], name: 'project' },
    ],
    initializer: [
      floatInitializer('D', [VOCAB.length, hidden], decoderTable, decoderLocation),
      floatInitializer('W', [hidden, VOCAB.length], projection, decoderLocation, decoderTable.byteLength),
    ],
    input: [valueInfo('input_ids', INT64, ['batch', 'decoder_sequence']), valueInfo('encoder_hidden_states', FLOAT, ['batch', 'encoder_sequence', hidden])],
    output: [valueInfo('logits', FLOAT, ['batch', 'decoder_sequence', VOCAB.length])],
  });
  const config = {
    model_type: 't5', architectures: ['T5ForConditionalGeneration'], d_model: hidden, d_kv: hidden, num_heads: 1, num_layers: 1, num_decoder_layers: 1,
    vocab_size: VOCAB.length, decoder_start_token_id: 0, pad_token_id: 0, eos_token_id: 3, is_encoder_decoder: true,
    ...(options.externalData ? { 'transformers.js_config': { use_external_data_format: true } } : {}),
  };
  const files = new Map<string, Uint8Array>([...textFiles(config), ['onnx/encoder_model.onnx', encodeModel(encoder)], ['onnx/decoder_model_merged.onnx', encodeModel(decoder)]]);
  if (options.externalData) {
    files.set('onnx/encoder_model.onnx_data', bytesOf(encoderTable));
    files.set('onnx/decoder_model_merged.onnx_data', concatBytes(bytesOf(decoderTable), bytesOf(projection)));
  }
  return files;
}

/** The labels of the tiny image classifier, by class index. */
export const IMAGE_LABELS = ['sealed', 'plain', 'key'];

/**
 * A tiny ViT-shaped image-classification folder: config.json with id2label, a
 * preprocessor_config.json (resize to 8×8, rescale, normalize; named for 3.x/4.x's image
 * processor and 2.x's feature extractor) and onnx/model.onnx computing
 * logits = flatten(pixel_values) · W + b. It has no tokenizer: the pipeline reads the processor file.
 */
export function tinyImageFolder(): Map<string, Uint8Array> {
  const side = 8;
  const inputs = 3 * side * side;
  const weights = floats(inputs * IMAGE_LABELS.length, 31);
  const bias = floats(IMAGE_LABELS.length, 32);
  const graph = onnx.GraphProto.create({
    name: 'tiny-vit',
    node: [
      { opType: 'Flatten', input: ['pixel_values'], output: ['flat'], name: 'flatten', attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
      { opType: 'MatMul', input: ['flat', 'W'], output: ['scores'], name: 'project' },
      { opType: 'Add', input: ['scores', 'b'], output: ['logits'], name: 'bias' },
    ],
    initializer: [floatInitializer('W', [inputs, IMAGE_LABELS.length], weights), floatInitializer('b', [IMAGE_LABELS.length], bias)],
    input: [valueInfo('pixel_values', FLOAT, ['batch', 3, side, side])],
    output: [valueInfo('logits', FLOAT, ['batch', IMAGE_LABELS.length])],
  });
  const config = {
    model_type: 'vit', architectures: ['ViTForImageClassification'], image_size: side, patch_size: side, num_channels: 3,
    hidden_size: 8, num_attention_heads: 1, num_hidden_layers: 1,
    id2label: Object.fromEntries(IMAGE_LABELS.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(IMAGE_LABELS.map((label, i) => [label, i])),
  };
  const preprocessor = {
    image_processor_type: 'ViTImageProcessor', feature_extractor_type: 'ViTFeatureExtractor',
    do_resize: true, size: { height: side, width: side }, resample: 2,
    do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5],
  };
  return new Map([['config.json', jsonBytes(config)], ['preprocessor_config.json', jsonBytes(preprocessor)], ['onnx/model.onnx', encodeModel(graph)]]);
}
