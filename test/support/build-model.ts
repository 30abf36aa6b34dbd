/**
 * Builds small ONNX models in code for tests: plain objects in the decoded ModelProto shape,
 * encoded by the same protobuf schema Heddle decodes with.
 */

import { onnxCodeOf, type DataType } from '../../src/core/dtype.js';
import { AttributeType, encodeModelProto, type ModelProto } from '../../src/onnx/proto.js';

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<
    string,
    | number
    | number[]
    | string
    | { strings: string[] }
    | { floats: number[] }
    | { float: number }
    | ReturnType<typeof graphAttr>
  >;
}

export interface ValueSpec {
  name: string;
  type: DataType;
  dims?: readonly (number | string)[];
}

export interface TensorSpec {
  name: string;
  type: DataType;
  dims: readonly number[];
  /** Raw little-endian bytes, or numbers written to the typed field that fits the type. */
  raw?: Uint8Array;
  values?: number[];
  external?: { location: string; offset?: number; length?: number };
}

export interface GraphSpec {
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: TensorSpec[];
  name?: string;
}

export interface ModelSpec extends GraphSpec {
  opsets?: Record<string, number>;
  irVersion?: number;
  functions?: {
    name: string;
    domain: string;
    inputs: string[];
    outputs: string[];
    attributes?: string[];
    nodes: (NodeSpec & { refAttributes?: Record<string, string> })[];
    opsets?: Record<string, number>;
  }[];
}

export function graphAttr(graph: GraphSpec) {
  return { graph };
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const opsets = spec.opsets ?? { '': 17 };
  const model = {
    irVersion: spec.irVersion ?? 8,
    producerName: 'heddle-tests',
    opsetImport: Object.entries(opsets).map(([domain, version]) => ({ domain, version })),
    graph: graphProto(spec),
    functions: (spec.functions ?? []).map((f) => ({
      name: f.name,
      domain: f.domain,
      input: f.inputs,
      output: f.outputs,
      attribute: f.attributes ?? [],
      node: f.nodes.map((n) => nodeProto(n, n.refAttributes)),
      opsetImport: Object.entries(f.opsets ?? opsets).map(([domain, version]) => ({ domain, version })),
    })),
  };
  return encodeModelProto(model as unknown as ModelProto);
}

function graphProto(spec: GraphSpec) {
  return {
    name: spec.name ?? 'test',
    node: spec.nodes.map((n) => nodeProto(n)),
    input: spec.inputs.map(valueInfo),
    output: spec.outputs.map(valueInfo),
    initializer: (spec.initializers ?? []).map(tensorProto),
  };
}

function nodeProto(n: NodeSpec, refAttributes: Record<string, string> = {}) {
  const attribute = Object.entries(n.attributes ?? {}).map(([name, value]) => attributeProto(name, value));
  for (const [name, ref] of Object.entries(refAttributes))
    attribute.push({ name, refAttrName: ref, type: AttributeType.INT });
  return {
    name: n.name ?? '',
    opType: n.op,
    domain: n.domain ?? '',
    input: n.inputs,
    output: n.outputs,
    attribute,
  };
}

function attributeProto(
  name: string,
  value: NonNullable<NodeSpec['attributes']>[string],
): Record<string, unknown> {
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  if (typeof value === 'string')
    return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if ('strings' in value) {
    const encoder = new TextEncoder();
    return { name, type: AttributeType.STRINGS, strings: value.strings.map((v) => encoder.encode(v)) };
  }
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.GRAPH, g: graphProto(value.graph) };
}

function valueInfo(v: ValueSpec) {
  const dim = v.dims?.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return {
    name: v.name,
    type: { tensorType: { elemType: onnxCodeOf(v.type), shape: dim ? { dim } : undefined } },
  };
}

export function tensorProto(t: TensorSpec) {
  const base: Record<string, unknown> = { name: t.name, dataType: onnxCodeOf(t.type), dims: t.dims };
  if (t.external) {
    const entries = [{ key: 'location', value: t.external.location }];
    if (t.external.offset !== undefined) entries.push({ key: 'offset', value: String(t.external.offset) });
    if (t.external.length !== undefined) entries.push({ key: 'length', value: String(t.external.length) });
    return { ...base, dataLocation: 1, externalData: entries };
  }
  if (t.raw) return { ...base, rawData: t.raw };
  const values = t.values ?? [];
  if (t.type === 'float32') return { ...base, floatData: values };
  if (t.type === 'float64') return { ...base, doubleData: values };
  if (t.type === 'int64') return { ...base, int64Data: values };
  return { ...base, int32Data: values };
}

export function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
