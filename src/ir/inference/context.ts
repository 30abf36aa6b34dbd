/**
 * The `RuleContext` a rule receives: one node's inputs looked up in the current scope, its
 * attributes read with their ONNX types checked, and subgraph inference handed back to the engine.
 */

import type { DataType } from '../../core/dtype.js';
import type { Tensor } from '../../core/tensor.js';
import type { Attribute, Dim, Graph, Node, ValueType } from '../graph.js';
import { InferenceConflict, type KnownValue, type RuleContext, type TensorType } from './rule.js';
import type { Scope } from './scope.js';

type AttributeValue<T extends Attribute['type']> = Extract<Attribute, { type: T }>['value'];

/** What the engine does for a rule's subgraphs: infer one in a scope, and recall its output values. */
export interface Subgraphs {
  infer(
    graph: Graph,
    inputs: (ValueType | undefined)[],
    values: (KnownValue | undefined)[],
    outer: Scope,
  ): (ValueType | undefined)[];
  values(graph: Graph): (KnownValue | undefined)[];
}

export class NodeContext implements RuleContext {
  constructor(
    readonly node: Node,
    private readonly scope: Scope,
    private readonly subgraphs: Subgraphs,
  ) {}

  get opset(): number {
    return this.node.opset;
  }

  get outputCount(): number {
    return this.node.outputs.length;
  }

  get inputCount(): number {
    return this.node.inputs.length;
  }

  hasInput(i: number): boolean {
    return (this.node.inputs[i] ?? '') !== '';
  }

  inputType(i: number): ValueType | undefined {
    return this.hasInput(i) ? this.scope.type(this.node.inputs[i]!) : undefined;
  }

  tensor(i: number): TensorType | undefined {
    const type = this.inputType(i);
    return type?.kind === 'tensor' ? type : undefined;
  }

  elemType(i: number): DataType | undefined {
    return this.tensor(i)?.elemType;
  }

  shape(i: number): Dim[] | undefined {
    return this.tensor(i)?.shape;
  }

  value(i: number): KnownValue | undefined {
    return this.hasInput(i) ? this.scope.value(this.node.inputs[i]!) : undefined;
  }

  has(name: string): boolean {
    return this.node.attributes.has(name);
  }

  attribute(name: string): Attribute | undefined {
    return this.node.attributes.get(name);
  }

  int(name: string, fallback: number): number {
    return this.#typed(name, 'int') ?? fallback;
  }

  float(name: string, fallback: number): number {
    return this.#typed(name, 'float') ?? fallback;
  }

  string(name: string, fallback: string): string {
    return this.#typed(name, 'string') ?? fallback;
  }

  ints(name: string): number[] | undefined {
    return this.#typed(name, 'ints');
  }

  floats(name: string): number[] | undefined {
    return this.#typed(name, 'floats');
  }

  strings(name: string): string[] | undefined {
    return this.#typed(name, 'strings');
  }

  tensorAttribute(name: string): Tensor | undefined {
    const attribute = this.attribute(name);
    if (attribute?.type === 'sparse_tensor') return attribute.value;
    return this.#typed(name, 'tensor');
  }

  graph(name: string): Graph | undefined {
    return this.#typed(name, 'graph');
  }

  inferSubgraph(
    graph: Graph,
    inputs: (ValueType | undefined)[],
    values: (KnownValue | undefined)[] = [],
  ): (ValueType | undefined)[] {
    return this.subgraphs.infer(graph, inputs, values, this.scope);
  }

  subgraphValues(graph: Graph): (KnownValue | undefined)[] {
    return this.subgraphs.values(graph);
  }

  readonly fail = (reason: string): never => {
    throw new InferenceConflict(reason);
  };

  #typed<T extends Attribute['type']>(name: string, type: T): AttributeValue<T> | undefined {
    const attribute = this.node.attributes.get(name);
    if (!attribute) return undefined;
    if (attribute.type !== type) {
      this.fail(`attribute '${name}' is of type ${attribute.type}, expected ${type}`);
    }
    return attribute.value as AttributeValue<T> | undefined;
  }
}
