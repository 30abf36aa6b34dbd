/**
 * The contract between the inference engine and the per-operator rules: what a rule sees of its
 * node (input types, input values known at load time, attributes, subgraph inference) and what it
 * gives back (one type per output, and optionally one known value per output).
 */

import type { DataType } from '../../core/dtype.js';
import type { Tensor } from '../../core/tensor.js';
import type { Attribute, Dim, Graph, Node, ValueType } from '../graph.js';

/**
 * A tensor whose elements are known before running the model: an initializer, a Constant, or
 * something computed from them (`Shape → Gather → Concat` chains). Elements are numbers, or, for
 * integer tensors that carry dimensions, the symbolic name of a dimension (`'batch'`), or null
 * where one element is unknown.
 */
export interface KnownValue {
  elemType: DataType;
  shape: number[];
  elements: Dim[];
}

export type TensorType = Extract<ValueType, { kind: 'tensor' }>;

/** The view of one node a rule works from. */
export interface RuleContext {
  readonly node: Node;
  /** The opset version of the node's domain. */
  readonly opset: number;
  /** How many outputs the node names (trailing optional outputs may be absent). */
  readonly outputCount: number;
  /** How many inputs the node names, omitted ones ('') included. */
  readonly inputCount: number;
  /** True when input `i` is given (not omitted, not beyond the end). */
  hasInput(i: number): boolean;
  /** The type of input `i`, when given and known. */
  inputType(i: number): ValueType | undefined;
  /** Input `i` when it is a tensor of known element type. */
  tensor(i: number): TensorType | undefined;
  elemType(i: number): DataType | undefined;
  shape(i: number): Dim[] | undefined;
  /** The value of input `i`, when known at load time. */
  value(i: number): KnownValue | undefined;
  has(name: string): boolean;
  attribute(name: string): Attribute | undefined;
  int(name: string, fallback: number): number;
  float(name: string, fallback: number): number;
  string(name: string, fallback: string): string;
  ints(name: string): number[] | undefined;
  floats(name: string): number[] | undefined;
  strings(name: string): string[] | undefined;
  tensorAttribute(name: string): Tensor | undefined;
  graph(name: string): Graph | undefined;
  /**
   * Infers a subgraph whose formal inputs get `inputs` (refined by the types the subgraph
   * declares) and, where given, the `values` they hold whenever the subgraph runs; returns its
   * output types. The subgraph sees the node's scope.
   */
  inferSubgraph(
    graph: Graph,
    inputs: (ValueType | undefined)[],
    values?: (KnownValue | undefined)[],
  ): (ValueType | undefined)[];
  /** The known values of a subgraph's outputs, as its latest `inferSubgraph` found them. */
  subgraphValues(graph: Graph): (KnownValue | undefined)[];
  /** Stops the rule: the node contradicts its inputs (a finding, not a crash). Safe to pass around unbound. */
  readonly fail: (reason: string) => never;
}

/** One output type per node output; undefined where unknown. */
export type InferredTypes = (ValueType | undefined)[];

export interface InferenceRule {
  /** '' (ai.onnx) when absent. */
  domain?: string;
  op: string;
  infer(ctx: RuleContext): InferredTypes;
  /** Computes output values from known input values; `types` are the outputs `infer` gave. */
  fold?(ctx: RuleContext, types: InferredTypes): (KnownValue | undefined)[];
}

/** What a rule throws through `ctx.fail`: the engine turns it into a finding. */
export class InferenceConflict extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InferenceConflict';
  }
}
