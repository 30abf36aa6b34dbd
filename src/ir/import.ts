/**
 * ModelProto → Model: resolves opset versions per node, decodes attributes and initializers,
 * imports subgraphs, and expands model-local functions (FunctionProto) in place so that the rest
 * of Heddle only ever sees primitive operators.
 */

import { dataTypeFromOnnx, type DataType } from '../core/dtype.js';
import { HeddleError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { LoadedModelProto } from '../onnx/load.js';
import {
  AttributeType as AT,
  toNumber,
  type AttributeProto,
  type FunctionProto,
  type GraphProto,
  type NodeProto,
  type OperatorSetIdProto,
  type TypeProto,
  type ValueInfoProto,
} from '../onnx/proto.js';
import {
  decodeString,
  denseFromSparse,
  rawDataViewBytes,
  tensorFromProto,
  type ExternalDataReader,
} from '../onnx/tensor.js';
import {
  DEFAULT_DOMAIN,
  HEDDLE_DOMAIN,
  type Attribute,
  type Graph,
  type Model,
  type Node,
  type ValueType,
} from './graph.js';
import { attachGradientForwardGraphs } from './gradient-forward.js';

interface ImportContext {
  source: string;
  readExternal?: ExternalDataReader;
  /** Copy raw data even where it could stay a view of the model's bytes (see `copiesFreeTheFile`). */
  copyRawData: boolean;
  functions: Map<string, FunctionProto>;
  expansions: number;
}

export function importModel(loaded: LoadedModelProto): Model {
  const { proto, source } = loaded;
  const opsets = opsetMap(proto.opsetImport, source);
  if (!opsets.has(DEFAULT_DOMAIN) && proto.opsetImport.length === 0) {
    // IR version 3 models written before opset_import existed mean ai.onnx opset 1.
    opsets.set(DEFAULT_DOMAIN, 1);
  }
  const ctx: ImportContext = {
    source,
    readExternal: loaded.readExternal,
    copyRawData: loaded.ownedBytes !== undefined && copiesFreeTheFile(proto.graph!, loaded.ownedBytes),
    functions: new Map(proto.functions.map((f) => [functionKey(f.domain, f.name, f.overload), f])),
    expansions: 0,
  };
  const graph = importGraph(proto.graph!, ctx, opsets);
  return {
    source,
    irVersion: toNumber(proto.irVersion),
    producerName: proto.producerName,
    producerVersion: proto.producerVersion,
    domain: proto.domain,
    modelVersion: toNumber(proto.modelVersion),
    docString: proto.docString,
    opsets,
    metadata: new Map(proto.metadataProps.map((e) => [e.key, e.value])),
    graph,
  };
}

/**
 * Whether the initializers that would view the model file's bytes hold less than half of them:
 * then copying those frees the whole file once the import is done. (A model whose large weights
 * sit misaligned in the file gets them copied anyway, and a few aligned views would otherwise
 * keep the entire file alive beside the copies; a model of aligned weights keeps viewing it.)
 */
function copiesFreeTheFile(graph: GraphProto, fileBytes: Uint8Array): boolean {
  let viewed = 0;
  for (const t of graph.initializer)
    if (t.rawData?.buffer === fileBytes.buffer) viewed += rawDataViewBytes(t);
  return viewed < fileBytes.byteLength / 2;
}

function normalizeDomain(domain: string): string {
  return domain === 'ai.onnx' ? DEFAULT_DOMAIN : domain;
}

function functionKey(domain: string, name: string, overload = ''): string {
  return `${normalizeDomain(domain)}\u0000${name}\u0000${overload}`;
}

function opsetMap(imports: OperatorSetIdProto[], source: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const entry of imports) {
    const version = toNumber(entry.version);
    if (!Number.isInteger(version) || version < 1) {
      throw new HeddleError(`opset import for domain '${entry.domain}' has invalid version ${version}`, {
        model: source,
      });
    }
    map.set(normalizeDomain(entry.domain), version);
  }
  return map;
}

function importGraph(proto: GraphProto, ctx: ImportContext, opsets: ReadonlyMap<string, number>): Graph {
  const initializers = new Map<string, Tensor>();
  for (const t of proto.initializer)
    initializers.set(
      t.name,
      decodeTensor(() => tensorFromProto(t, ctx.readExternal, ctx), t.name, ctx),
    );
  for (const s of proto.sparseInitializer) {
    const name = s.values?.name ?? '';
    initializers.set(
      name,
      decodeTensor(() => denseFromSparse(s, ctx.readExternal), name, ctx),
    );
  }
  const valueTypes = new Map<string, ValueType>();
  for (const vi of [...proto.input, ...proto.output, ...proto.valueInfo]) {
    const type = importType(vi.type);
    if (type) valueTypes.set(vi.name, type);
  }
  const expanded: Node[] = [];
  for (const nodeProto of proto.node) appendNode(nodeProto, opsets, ctx, expanded);
  const inputs = proto.input.filter((vi) => !initializers.has(vi.name)).map(valueInfo);
  const overridable = proto.input.filter((vi) => initializers.has(vi.name)).map(valueInfo);
  const graph: Graph = {
    name: proto.name,
    nodes: expanded,
    inputs,
    outputs: proto.output.map(valueInfo),
    initializers,
    overridableInitializers: overridable,
    valueTypes,
    opsets,
  };
  attachGradientForwardGraphs(graph);
  return graph;
}

function decodeTensor(decode: () => Tensor, name: string, ctx: ImportContext): Tensor {
  try {
    return decode();
  } catch (error) {
    if (error instanceof HeddleError) throw error.within({ model: ctx.source, input: name });
    throw error;
  }
}

function valueInfo(vi: ValueInfoProto): { name: string; type?: ValueType } {
  return { name: vi.name, type: importType(vi.type) };
}

export function importType(type: TypeProto | null | undefined): ValueType | undefined {
  if (!type) return undefined;
  if (type.tensorType) {
    const elemType = elemTypeOf(type.tensorType.elemType);
    return elemType && { kind: 'tensor', elemType, shape: importShape(type.tensorType.shape) };
  }
  if (type.sparseTensorType) {
    const elemType = elemTypeOf(type.sparseTensorType.elemType);
    return elemType && { kind: 'sparse_tensor', elemType, shape: importShape(type.sparseTensorType.shape) };
  }
  if (type.sequenceType) return { kind: 'sequence', elem: importType(type.sequenceType.elemType) };
  if (type.optionalType) return { kind: 'optional', elem: importType(type.optionalType.elemType) };
  if (type.mapType) {
    const key = elemTypeOf(type.mapType.keyType);
    return key && { kind: 'map', key, value: importType(type.mapType.valueType) };
  }
  return undefined;
}

function elemTypeOf(code: number): DataType | undefined {
  return dataTypeFromOnnx(code);
}

function importShape(
  shape: { dim: { dimValue?: unknown; dimParam?: string | null; value?: string }[] } | null | undefined,
) {
  if (!shape) return undefined;
  return shape.dim.map((d) => {
    if (d.value === 'dimValue') return toNumber(d.dimValue as never);
    if (d.value === 'dimParam' && d.dimParam) return d.dimParam;
    return null;
  });
}

function appendNode(
  proto: NodeProto,
  opsets: ReadonlyMap<string, number>,
  ctx: ImportContext,
  out: Node[],
): void {
  const domain = normalizeDomain(proto.domain);
  const fn = ctx.functions.get(functionKey(domain, proto.opType, proto.overload));
  if (fn) {
    expandFunction(proto, fn, ctx, out);
    return;
  }
  const name = proto.name || `${proto.opType}_${out.length}`;
  const opset = opsets.get(domain) ?? (domain === HEDDLE_DOMAIN ? 1 : undefined);
  if (opset === undefined) {
    throw new HeddleError(
      `the model imports no opset for domain '${domain || 'ai.onnx'}', which this node uses (missing opset_import)`,
      { model: ctx.source, node: name, opType: proto.opType },
    );
  }
  const attributes = new Map<string, Attribute>();
  for (const a of proto.attribute) {
    try {
      attributes.set(a.name, importAttribute(a, ctx, opsets));
    } catch (error) {
      if (error instanceof HeddleError)
        throw error.within({ model: ctx.source, node: name, opType: proto.opType });
      throw error;
    }
  }
  out.push({
    name,
    opType: proto.opType,
    domain,
    opset,
    inputs: [...proto.input],
    outputs: [...proto.output],
    attributes,
  });
}

function importAttribute(
  a: AttributeProto,
  ctx: ImportContext,
  opsets: ReadonlyMap<string, number>,
): Attribute {
  const name = a.name;
  const tensor = (t: Parameters<typeof tensorFromProto>[0]) => tensorFromProto(t, ctx.readExternal, ctx);
  switch (a.type) {
    case AT.FLOAT:
      return { name, type: 'float', value: a.f };
    case AT.INT:
      return { name, type: 'int', value: toNumber(a.i) };
    case AT.STRING:
      return { name, type: 'string', value: decodeString(a.s) };
    case AT.TENSOR:
      return { name, type: 'tensor', value: tensor(a.t!) };
    case AT.GRAPH:
      return { name, type: 'graph', value: importGraph(a.g!, ctx, opsets) };
    case AT.FLOATS:
      return { name, type: 'floats', value: [...a.floats] };
    case AT.INTS:
      return { name, type: 'ints', value: a.ints.map(toNumber) };
    case AT.STRINGS:
      return { name, type: 'strings', value: a.strings.map(decodeString) };
    case AT.TENSORS:
      return { name, type: 'tensors', value: a.tensors.map(tensor) };
    case AT.GRAPHS:
      return { name, type: 'graphs', value: a.graphs.map((g) => importGraph(g, ctx, opsets)) };
    case AT.SPARSE_TENSOR:
      return { name, type: 'sparse_tensor', value: denseFromSparse(a.sparseTensor!, ctx.readExternal) };
    case AT.SPARSE_TENSORS:
      return {
        name,
        type: 'sparse_tensors',
        value: a.sparseTensors.map((s) => denseFromSparse(s, ctx.readExternal)),
      };
    case AT.TYPE_PROTO:
      return { name, type: 'type_proto', value: requireType(importType(a.tp), name) };
    case AT.TYPE_PROTOS:
      return { name, type: 'type_protos', value: a.typeProtos.map((t) => requireType(importType(t), name)) };
    default:
      return inferLegacyAttribute(a, ctx, opsets);
  }
}

function requireType(type: ValueType | undefined, name: string): ValueType {
  if (!type) throw new HeddleError(`attribute '${name}' holds a type Heddle cannot read`);
  return type;
}

/** IR version 3 writers sometimes left `type` unset: infer it from the one field that is filled. */
function inferLegacyAttribute(
  a: AttributeProto,
  ctx: ImportContext,
  opsets: ReadonlyMap<string, number>,
): Attribute {
  const candidates: [boolean, number][] = [
    [a.floats.length > 0, AT.FLOATS],
    [a.ints.length > 0, AT.INTS],
    [a.strings.length > 0, AT.STRINGS],
    [a.tensors.length > 0, AT.TENSORS],
    [a.graphs.length > 0, AT.GRAPHS],
    [!!a.t, AT.TENSOR],
    [!!a.g, AT.GRAPH],
    [a.s && a.s.length > 0, AT.STRING],
    [typeof a.i !== 'number' || a.i !== 0, AT.INT],
    [a.f !== 0, AT.FLOAT],
  ];
  const found = candidates.find(([present]) => present);
  if (!found) throw new HeddleError(`attribute '${a.name}' has no type and no value`);
  return importAttribute({ ...a, type: found[1] }, ctx, opsets);
}

/**
 * Inlines a model-local function: its body's values get a unique prefix, its formal inputs and
 * outputs are bound to the caller's names, and attribute references take the caller's values
 * (or the function's defaults).
 */
function expandFunction(call: NodeProto, fn: FunctionProto, ctx: ImportContext, out: Node[]): void {
  const prefix = `${call.name || fn.name}/${ctx.expansions++}/`;
  const rename = new Map<string, string>();
  fn.input.forEach((formal, i) => rename.set(formal, call.input[i] ?? ''));
  fn.output.forEach((formal, i) => rename.set(formal, call.output[i] ?? ''));
  const mapName = (name: string) => (name === '' ? '' : (rename.get(name) ?? prefix + name));
  const callAttributes = new Map(call.attribute.map((a) => [a.name, a]));
  const defaults = new Map(fn.attributeProto.map((a) => [a.name, a]));
  const fnOpsets = opsetMap(fn.opsetImport, ctx.source);
  for (const body of fn.node) {
    const attribute: AttributeProto[] = [];
    for (const a of body.attribute) {
      if (!a.refAttrName) {
        attribute.push(a);
        continue;
      }
      const bound = callAttributes.get(a.refAttrName) ?? defaults.get(a.refAttrName);
      if (bound) attribute.push({ ...bound, name: a.name });
    }
    const renamed: NodeProto = {
      ...body,
      name: prefix + (body.name || body.opType),
      input: body.input.map(mapName),
      output: body.output.map(mapName),
      attribute: attribute.map((a) => renameSubgraphAttribute(a, mapName)),
    };
    appendNode(renamed, fnOpsets, ctx, out);
  }
}

/** Subgraphs in a function body read the body's values by name: rename those references too. */
function renameSubgraphAttribute(a: AttributeProto, mapName: (name: string) => string): AttributeProto {
  if (!a.g && a.graphs.length === 0) return a;
  const renameGraph = (g: GraphProto): GraphProto => {
    const local = new Set<string>([
      ...g.input.map((v) => v.name),
      ...g.initializer.map((t) => t.name),
      ...g.node.flatMap((n) => n.output),
    ]);
    const outer = (name: string) => (name === '' || local.has(name) ? name : mapName(name));
    return {
      ...g,
      node: g.node.map((n) => ({
        ...n,
        input: n.input.map(outer),
        attribute: n.attribute.map((inner) => renameSubgraphAttribute(inner, outer)),
      })),
      output: g.output.map((o) => (local.has(o.name) ? o : { ...o, name: outer(o.name) })),
    };
  };
  return { ...a, g: a.g ? renameGraph(a.g) : a.g, graphs: a.graphs.map(renameGraph) };
}
