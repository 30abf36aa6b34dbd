/**
 * Model → ModelProto: writes Heddle's graph (optimized or not) back to ONNX, so other tools can
 * open what the passes made. Fused operators keep Heddle's domain, which is imported at version 1.
 */

import { allocateStorage, onnxCodeOf, type TensorData } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { AttributeType, encodeModelProto, type ModelProto } from '../onnx/proto.js';
import { tensorToProto } from '../onnx/encode.js';
import { HEDDLE_DOMAIN, allNodes, type Attribute, type Graph, type Model, type ValueType } from './graph.js';

export function encodeModel(model: Model, graph: Graph = model.graph): Uint8Array {
  const opsets = new Map(model.opsets);
  for (const { node } of allNodes(graph)) if (node.domain === HEDDLE_DOMAIN) opsets.set(HEDDLE_DOMAIN, 1);
  const proto = {
    irVersion: Math.max(model.irVersion, 3),
    producerName: 'heddle',
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: model.modelVersion,
    docString: model.docString,
    opsetImport: [...opsets].map(([domain, version]) => ({ domain, version })),
    metadataProps: [...model.metadata].map(([key, value]) => ({ key, value })),
    graph: graphProto(graph),
  };
  return encodeModelProto(proto as unknown as ModelProto);
}

function graphProto(graph: Graph): Record<string, unknown> {
  const declared = new Set([...graph.inputs, ...graph.outputs].map((v) => v.name));
  const valueInfo = [...graph.valueTypes]
    .filter(([name]) => !declared.has(name) && !graph.initializers.has(name))
    .map(([name, type]) => ({ name, type: typeProto(type) }));
  return {
    name: graph.name,
    node: graph.nodes.map((node) => ({
      name: node.name,
      opType: node.opType,
      domain: node.domain,
      input: node.inputs,
      output: node.outputs,
      attribute: [...node.attributes.values()].map(attributeProto),
    })),
    initializer: [...graph.initializers].map(([name, tensor]) => tensorToProto(name, tensor)),
    input: [...graph.inputs, ...graph.overridableInitializers].map((v) => ({
      name: v.name,
      type: typeProto(v.type),
    })),
    output: graph.outputs.map((v) => ({
      name: v.name,
      type: typeProto(graph.valueTypes.get(v.name) ?? v.type),
    })),
    valueInfo,
  };
}

function typeProto(type: ValueType | undefined): Record<string, unknown> | undefined {
  if (!type) return undefined;
  const shape = (dims?: (number | string | null)[]) =>
    dims && {
      dim: dims.map((d) =>
        typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {},
      ),
    };
  switch (type.kind) {
    case 'tensor':
      return { tensorType: { elemType: onnxCodeOf(type.elemType), shape: shape(type.shape) } };
    case 'sparse_tensor':
      return { sparseTensorType: { elemType: onnxCodeOf(type.elemType), shape: shape(type.shape) } };
    case 'sequence':
      return { sequenceType: { elemType: typeProto(type.elem) } };
    case 'optional':
      return { optionalType: { elemType: typeProto(type.elem) } };
    case 'map':
      return { mapType: { keyType: onnxCodeOf(type.key), valueType: typeProto(type.value) } };
  }
}

function attributeProto(attr: Attribute): Record<string, unknown> {
  const { name } = attr;
  const encoder = new TextEncoder();
  switch (attr.type) {
    case 'float':
      return { name, type: AttributeType.FLOAT, f: attr.value };
    case 'int':
      return { name, type: AttributeType.INT, i: attr.value };
    case 'string':
      return { name, type: AttributeType.STRING, s: encoder.encode(attr.value) };
    case 'tensor':
      return { name, type: AttributeType.TENSOR, t: tensorToProto('', attr.value) };
    case 'graph':
      return { name, type: AttributeType.GRAPH, g: graphProto(attr.value) };
    case 'floats':
      return { name, type: AttributeType.FLOATS, floats: attr.value };
    case 'ints':
      return { name, type: AttributeType.INTS, ints: attr.value };
    case 'strings':
      return { name, type: AttributeType.STRINGS, strings: attr.value.map((s) => encoder.encode(s)) };
    case 'tensors':
      return { name, type: AttributeType.TENSORS, tensors: attr.value.map((t) => tensorToProto('', t)) };
    case 'graphs':
      return { name, type: AttributeType.GRAPHS, graphs: attr.value.map(graphProto) };
    case 'sparse_tensor':
      return { name, type: AttributeType.SPARSE_TENSOR, sparseTensor: sparseProto(attr.value) };
    case 'sparse_tensors':
      return { name, type: AttributeType.SPARSE_TENSORS, sparseTensors: attr.value.map(sparseProto) };
    case 'type_proto':
      return { name, type: AttributeType.TYPE_PROTO, tp: typeProto(attr.value) };
    case 'type_protos':
      return { name, type: AttributeType.TYPE_PROTOS, typeProtos: attr.value.map(typeProto) };
  }
}

/** Sparse attributes were made dense on import: written back with the non-zero elements' flat indices. */
function sparseProto(dense: Tensor): Record<string, unknown> {
  const slots = dense.data as ArrayLike<unknown>;
  const indices: number[] = [];
  for (let i = 0; i < dense.size; i++)
    if (slots[i] !== 0 && slots[i] !== 0n && slots[i] !== '') indices.push(i);
  const values = new Tensor(dense.type, gatherSlots(dense, indices), [indices.length]);
  return {
    values: tensorToProto('', values),
    indices: tensorToProto('', new Tensor('int64', BigInt64Array.from(indices, BigInt), [indices.length])),
    dims: [...dense.dims],
  };
}

function gatherSlots(tensor: Tensor, indices: number[]): TensorData {
  const out = allocateStorage(tensor.type, indices.length) as unknown[];
  indices.forEach((from, to) => (out[to] = (tensor.data as unknown[])[from]));
  return out as unknown as TensorData;
}
