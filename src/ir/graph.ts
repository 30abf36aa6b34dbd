/**
 * Heddle's graph: typed values and nodes, with each node's opset version resolved, attributes
 * decoded (subgraphs are Graphs themselves), and initializers as Tensors.
 */

import type { DataType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';

/** A dimension: a known size, a symbolic name (`"batch"`), or unknown (`null`). */
export type Dim = number | string | null;

export type ValueType =
  | { kind: 'tensor'; elemType: DataType; shape?: Dim[] }
  | { kind: 'sparse_tensor'; elemType: DataType; shape?: Dim[] }
  | { kind: 'sequence'; elem?: ValueType }
  | { kind: 'map'; key: DataType; value?: ValueType }
  | { kind: 'optional'; elem?: ValueType };

export interface ValueInfo {
  name: string;
  type?: ValueType;
}

export type Attribute =
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'tensor'; value: Tensor }
  | { name: string; type: 'graph'; value: Graph }
  | { name: string; type: 'floats'; value: number[] }
  | { name: string; type: 'ints'; value: number[] }
  | { name: string; type: 'strings'; value: string[] }
  | { name: string; type: 'tensors'; value: Tensor[] }
  | { name: string; type: 'graphs'; value: Graph[] }
  | { name: string; type: 'sparse_tensor'; value: Tensor }
  | { name: string; type: 'sparse_tensors'; value: Tensor[] }
  | { name: string; type: 'type_proto'; value: ValueType }
  | { name: string; type: 'type_protos'; value: ValueType[] };

export type AttributeType = Attribute['type'];

export const DEFAULT_DOMAIN = '';
/** Heddle's own operators (fused nodes made by passes). */
export const HEDDLE_DOMAIN = 'com.heddle';

/** The domain of ONNX's training operators: the optimizers and Gradient. */
export const TRAINING_DOMAIN = 'ai.onnx.preview.training';

export interface Node {
  /** The node's name, or a generated `OpType_N` when the model left it empty. */
  name: string;
  opType: string;
  /** '' for ai.onnx. */
  domain: string;
  /** The opset version of the node's domain that the node was written against. */
  opset: number;
  /** Value names; '' marks an omitted optional input or output. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Attribute>;
}

export interface Graph {
  name: string;
  nodes: Node[];
  /** Inputs the caller feeds (initializers excluded). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** Constants, including those a caller may override by feeding the same name. */
  initializers: Map<string, Tensor>;
  /** Initializers that are also listed as graph inputs, so a feed may replace them. */
  overridableInitializers: ValueInfo[];
  /** Declared or inferred types of values, graph inputs and outputs included. */
  valueTypes: Map<string, ValueType>;
  /** Opset version per domain, inherited by subgraphs. */
  opsets: ReadonlyMap<string, number>;
}

export interface Model {
  /** How errors name the model: its file name or "<bytes>". */
  source: string;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  opsets: ReadonlyMap<string, number>;
  metadata: Map<string, string>;
  graph: Graph;
}

/** A tensor type's dims when every one of them is a known size; undefined otherwise. */
export function staticShape(type: ValueType | undefined): number[] | undefined {
  if (type?.kind !== 'tensor' || !type.shape) return undefined;
  return type.shape.every((d): d is number => typeof d === 'number') ? (type.shape as number[]) : undefined;
}

export function opLabel(node: Pick<Node, 'domain' | 'opType'>): string {
  return node.domain && node.domain !== DEFAULT_DOMAIN ? `${node.domain}::${node.opType}` : node.opType;
}

// Attribute readers for code that reads a node without a reference KernelContext (graph passes,
// the cost model, Gradient's rules, the wasm kernels): each gives the value when the node sets the
// attribute with that type.

/** An int attribute, else `fallback` (undefined without one: where the default depends on more). */
export function intAttribute(node: Node, name: string, fallback: number): number;
export function intAttribute(node: Node, name: string): number | undefined;
export function intAttribute(node: Node, name: string, fallback?: number): number | undefined {
  const found = node.attributes.get(name);
  return found?.type === 'int' ? found.value : fallback;
}

export function intsAttribute(node: Node, name: string): number[] | undefined {
  const found = node.attributes.get(name);
  return found?.type === 'ints' ? found.value : undefined;
}

/** A float attribute, also read from an int where a model wrote one (as `alpha: 1`). */
export function floatAttribute(node: Node, name: string, fallback: number): number {
  const found = node.attributes.get(name);
  return found?.type === 'float' || found?.type === 'int' ? found.value : fallback;
}

export function stringAttribute(node: Node, name: string, fallback: string): string {
  const found = node.attributes.get(name);
  return found?.type === 'string' ? found.value : fallback;
}

export function stringsAttribute(node: Node, name: string): string[] | undefined {
  const found = node.attributes.get(name);
  return found?.type === 'strings' ? found.value : undefined;
}

export function describeType(type: ValueType | undefined): string {
  if (!type) return 'unknown';
  switch (type.kind) {
    case 'tensor':
    case 'sparse_tensor': {
      const shape = type.shape ? `[${type.shape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '[?]';
      return `${type.kind === 'sparse_tensor' ? 'sparse ' : ''}${type.elemType}${shape}`;
    }
    case 'sequence':
      return `sequence<${describeType(type.elem)}>`;
    case 'optional':
      return `optional<${describeType(type.elem)}>`;
    case 'map':
      return `map<${type.key}, ${describeType(type.value)}>`;
  }
}

/** The graphs a node's attributes hold: the bodies of If, Loop and Scan. */
export function subgraphsOf(node: Node): Graph[] {
  const graphs: Graph[] = [];
  for (const attr of node.attributes.values()) {
    if (attr.type === 'graph') graphs.push(attr.value);
    if (attr.type === 'graphs') graphs.push(...attr.value);
  }
  return graphs;
}

/** Visits a graph's nodes and, depth first, those of every subgraph in their attributes. */
export function* allNodes(graph: Graph): Generator<{ node: Node; graph: Graph }> {
  for (const node of graph.nodes) {
    yield { node, graph };
    for (const g of subgraphsOf(node)) yield* allNodes(g);
  }
}

/** Values a node reads: its inputs and, for control flow, what its subgraphs read from outside. */
export function readsOf(node: Node): string[] {
  const reads = node.inputs.filter((i) => i !== '');
  for (const g of subgraphsOf(node)) reads.push(...outerReads(g));
  return reads;
}

/** Names a subgraph reads that it does not define itself. */
export function outerReads(graph: Graph): string[] {
  const defined = new Set<string>([...graph.inputs.map((v) => v.name), ...graph.initializers.keys()]);
  const reads = new Set<string>();
  for (const node of graph.nodes) {
    for (const name of readsOf(node)) if (!defined.has(name)) reads.add(name);
    for (const out of node.outputs) defined.add(out);
  }
  for (const out of graph.outputs) if (!defined.has(out.name)) reads.add(out.name);
  return [...reads];
}
