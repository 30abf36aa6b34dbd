/**
 * Decoding of ONNX protobuf messages with protobufjs. The interfaces below are the decoded
 * shapes; 64-bit integers arrive as `Long` and are turned into numbers or bigints by the callers
 * that know which they need.
 *
 * `bytes` fields (raw_data above all) are views into the input buffer, not copies.
 */

import protobuf from 'protobufjs';
import Long from 'long';
import { ONNX_PROTO } from './schema.js';

protobuf.util.Long = Long;
protobuf.configure();

export type Int64 = Long | number;

export interface StringStringEntryProto {
  key: string;
  value: string;
}

export interface OperatorSetIdProto {
  domain: string;
  version: Int64;
}

export interface TensorProto {
  dims: Int64[];
  dataType: number;
  segment?: { begin: Int64; end: Int64 } | null;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name: string;
  docString: string;
  rawData: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation: number;
  doubleData: number[];
  uint64Data: Int64[];
}

export interface SparseTensorProto {
  values?: TensorProto | null;
  indices?: TensorProto | null;
  dims: Int64[];
}

export interface TensorShapeProto {
  dim: { dimValue?: Int64 | null; dimParam?: string | null; value?: 'dimValue' | 'dimParam' }[];
}

export interface TypeProto {
  tensorType?: { elemType: number; shape?: TensorShapeProto | null } | null;
  sequenceType?: { elemType?: TypeProto | null } | null;
  mapType?: { keyType: number; valueType?: TypeProto | null } | null;
  optionalType?: { elemType?: TypeProto | null } | null;
  sparseTensorType?: { elemType: number; shape?: TensorShapeProto | null } | null;
  value?: 'tensorType' | 'sequenceType' | 'mapType' | 'optionalType' | 'sparseTensorType';
  denotation: string;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto | null;
  docString: string;
}

export interface AttributeProto {
  name: string;
  refAttrName: string;
  docString: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: TensorProto | null;
  g?: GraphProto | null;
  sparseTensor?: SparseTensorProto | null;
  tp?: TypeProto | null;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  overload: string;
  attribute: AttributeProto[];
  docString: string;
}

export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface FunctionProto {
  name: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString: string;
  opsetImport: OperatorSetIdProto[];
  domain: string;
  overload: string;
}

export interface ModelProto {
  irVersion: Int64;
  opsetImport: OperatorSetIdProto[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: Int64;
  docString: string;
  graph?: GraphProto | null;
  metadataProps: StringStringEntryProto[];
  functions: FunctionProto[];
}

/** Attribute type codes of `AttributeProto.AttributeType`. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

/** The test-data containers of onnx-data.proto: sequences, maps and optionals of tensors. */
export interface SequenceProto {
  name: string;
  elemType: number;
  tensorValues: TensorProto[];
  sequenceValues: SequenceProto[];
  optionalValues: OptionalProto[];
}

export interface OptionalProto {
  name: string;
  elemType: number;
  tensorValue?: TensorProto | null;
  sequenceValue?: SequenceProto | null;
  optionalValue?: OptionalProto | null;
}

/** Element kinds of SequenceProto and OptionalProto. */
export const ContainerElemType = {
  UNDEFINED: 0,
  TENSOR: 1,
  SPARSE_TENSOR: 2,
  SEQUENCE: 3,
  MAP: 4,
  OPTIONAL: 5,
} as const;

const root = protobuf.parse(ONNX_PROTO).root;
const modelType = root.lookupType('onnx.ModelProto');
const tensorType = root.lookupType('onnx.TensorProto');
const sequenceType = root.lookupType('onnx.SequenceProto');
const optionalType = root.lookupType('onnx.OptionalProto');

export function decodeSequenceProto(bytes: Uint8Array): SequenceProto {
  return sequenceType.decode(bytes) as unknown as SequenceProto;
}

export function decodeOptionalProto(bytes: Uint8Array): OptionalProto {
  return optionalType.decode(bytes) as unknown as OptionalProto;
}

export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return modelType.decode(bytes) as unknown as ModelProto;
}

export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  return tensorType.decode(bytes) as unknown as TensorProto;
}

export function encodeModelProto(model: ModelProto): Uint8Array {
  return modelType.encode(modelType.fromObject(model)).finish();
}

export function toNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

export function toBigInt(value: Int64, unsigned = false): bigint {
  if (typeof value === 'number') return BigInt(value);
  const big = (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return unsigned ? big : BigInt.asIntN(64, big);
}
