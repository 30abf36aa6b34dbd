/**
 * The inference walk: each graph's nodes in dependency order, each node's rule applied to the
 * types and known values of its inputs, the result reconciled with what the model declares for
 * that value, and subgraphs inferred inside the scope of the node that holds them.
 */

import type { Tensor } from '../../core/tensor.js';
import { allNodes, opLabel, readsOf, type Graph, type Model, type Node, type ValueType } from '../graph.js';
import { NodeContext, type Subgraphs } from './context.js';
import { isStaticShape } from './dims.js';
import { knownFromTensor } from './known-values.js';
import { InferenceConflict, type InferredTypes, type KnownValue } from './rule.js';
import { findRule } from './rules.js';
import { Scope } from './scope.js';
import { reconcile } from './value-types.js';

export interface InferenceFinding {
  /** The graph's name ('' for an unnamed one). */
  graph: string;
  node?: string;
  opType?: string;
  /** The value the finding is about. */
  value?: string;
  message: string;
}

export interface InferenceReport {
  /** Contradictions: declared types that the inference disproves, and nodes their inputs disprove. */
  findings: InferenceFinding[];
  /** Operators (as `domain::Op` outside ai.onnx) that have no rule; their outputs stay unknown. */
  opsWithoutRules: string[];
  /** Node outputs in all graphs, those with a known type, and those with a fully static shape. */
  outputs: number;
  typedOutputs: number;
  staticOutputs: number;
}

export interface InferenceOptions {
  /** Types to use for graph inputs instead of the declared ones (e.g. the shapes of actual feeds). */
  inputs?: ReadonlyMap<string, ValueType>;
}

/**
 * What each graph declared before any inference wrote into its `valueTypes`, so that running
 * inference again (with other input types) compares with the model, not with an earlier result.
 */
const declarations = new WeakMap<Graph, ReadonlyMap<string, ValueType>>();

/**
 * Fills `graph.valueTypes` of the model's graph and of every subgraph with the types inference
 * can prove. Never throws for a model that contradicts itself: that is a finding in the report.
 */
export function inferShapes(model: Model, options: InferenceOptions = {}): InferenceReport {
  const engine = new Engine();
  engine.inferMain(model.graph, options.inputs ?? new Map());
  return engine.report(model.graph);
}

class Engine {
  /** Keyed by their text: a loop body inferred twice finds the same things twice. */
  readonly #findings = new Map<string, InferenceFinding>();
  readonly #withoutRules = new Set<string>();
  readonly #subgraphValues = new WeakMap<Graph, (KnownValue | undefined)[]>();
  readonly #subgraphs: Subgraphs = {
    infer: (graph, inputs, values, outer) => this.inferSubgraph(graph, inputs, values, outer),
    values: (graph) => this.#subgraphValues.get(graph) ?? [],
  };

  inferMain(graph: Graph, inputTypes: ReadonlyMap<string, ValueType>): void {
    const declared = declaredTypes(graph);
    const scope = new Scope();
    for (const input of graph.inputs) {
      const given = inputTypes.get(input.name);
      this.#define(graph, scope, declared, input.name, given ?? declared.get(input.name) ?? input.type);
    }
    // A caller may feed its own value for these, so only their declared type is certain.
    const overridable = new Set(graph.overridableInitializers.map((vi) => vi.name));
    for (const vi of graph.overridableInitializers) {
      const tensor = graph.initializers.get(vi.name)!;
      const type = inputTypes.get(vi.name) ?? declared.get(vi.name) ?? vi.type ?? typeOfTensor(tensor);
      this.#define(graph, scope, declared, vi.name, type);
    }
    this.#inferBody(graph, scope, declared, overridable);
  }

  /** Infers a subgraph given the types (and any known values) of its formal inputs; returns its output types. */
  inferSubgraph(
    graph: Graph,
    inputs: (ValueType | undefined)[],
    values: (KnownValue | undefined)[],
    outer: Scope,
  ): (ValueType | undefined)[] {
    const declared = declaredTypes(graph);
    const scope = new Scope(outer);
    graph.inputs.forEach((input, i) =>
      this.#define(graph, scope, declared, input.name, inputs[i], values[i]),
    );
    this.#inferBody(graph, scope, declared, new Set());
    const outputValues = graph.outputs.map((output) => scope.value(output.name));
    this.#subgraphValues.set(graph, outputValues);
    return graph.outputs.map((output) => scope.type(output.name) ?? declared.get(output.name));
  }

  report(main: Graph): InferenceReport {
    const report: InferenceReport = {
      findings: [...this.#findings.values()],
      opsWithoutRules: [...this.#withoutRules].sort(),
      outputs: 0,
      typedOutputs: 0,
      staticOutputs: 0,
    };
    for (const { node, graph } of allNodes(main)) {
      for (const name of node.outputs.filter((output) => output !== '')) {
        const type = graph.valueTypes.get(name);
        report.outputs++;
        if (!type) continue;
        report.typedOutputs++;
        if ('shape' in type && isStaticShape(type.shape)) report.staticOutputs++;
      }
    }
    return report;
  }

  #inferBody(
    graph: Graph,
    scope: Scope,
    declared: ReadonlyMap<string, ValueType>,
    overridable: Set<string>,
  ): void {
    for (const [name, tensor] of graph.initializers) {
      if (overridable.has(name)) continue;
      this.#define(graph, scope, declared, name, typeOfTensor(tensor), knownFromTensor(tensor));
    }
    const { order, cyclic } = dependencyOrder(graph);
    if (cyclic.length > 0) {
      this.#find({
        graph: graph.name,
        message: `nodes ${cyclic.map((n) => `'${n.name}'`).join(', ')} depend on each other in a cycle`,
      });
    }
    for (const node of [...order, ...cyclic]) this.#inferNode(graph, node, scope, declared);
  }

  #inferNode(graph: Graph, node: Node, scope: Scope, declared: ReadonlyMap<string, ValueType>): void {
    const rule = findRule(node.domain, node.opType);
    let types: InferredTypes = [];
    let values: (KnownValue | undefined)[] = [];
    if (!rule) {
      this.#withoutRules.add(opLabel(node));
    } else {
      const ctx = new NodeContext(node, scope, this.#subgraphs);
      try {
        types = rule.infer(ctx);
        if (rule.fold) values = rule.fold(ctx, types);
      } catch (error) {
        // A rule that breaks must not make a model unloadable: it is reported, and its outputs stay unknown.
        const message =
          error instanceof InferenceConflict ? error.reason : `the inference rule failed: ${String(error)}`;
        this.#find({ graph: graph.name, node: node.name, opType: opLabel(node), message });
        types = [];
        values = [];
      }
    }
    node.outputs.forEach((name, i) => {
      if (!name) return;
      const value = values[i];
      const type = value ? typeOfValue(value) : types[i];
      this.#define(graph, scope, declared, name, type, value, node);
    });
  }

  /** Records a value's type: the inferred one reconciled with the declared one, conflicts reported. */
  #define(
    graph: Graph,
    scope: Scope,
    declared: ReadonlyMap<string, ValueType>,
    name: string,
    inferred: ValueType | undefined,
    value?: KnownValue,
    node?: Node,
  ): void {
    const { type, conflicts } = reconcile(declared.get(name), inferred);
    for (const message of conflicts) {
      this.#find({
        graph: graph.name,
        node: node?.name,
        opType: node && opLabel(node),
        value: name,
        message,
      });
    }
    if (type) graph.valueTypes.set(name, type);
    else graph.valueTypes.delete(name);
    scope.define(name, type, value);
  }

  #find(finding: InferenceFinding): void {
    this.#findings.set(JSON.stringify(finding), finding);
  }
}

function declaredTypes(graph: Graph): ReadonlyMap<string, ValueType> {
  let declared = declarations.get(graph);
  if (!declared) {
    declared = new Map(graph.valueTypes);
    declarations.set(graph, declared);
  }
  return declared;
}

function typeOfTensor(tensor: Tensor): ValueType {
  return { kind: 'tensor', elemType: tensor.type, shape: [...tensor.dims] };
}

function typeOfValue(value: KnownValue): ValueType {
  return { kind: 'tensor', elemType: value.elemType, shape: [...value.shape] };
}

/**
 * Kahn's order over the nodes, counting as a node's inputs the outer values its subgraphs read.
 * Nodes left over (a cycle) come back separately, in model order.
 */
function dependencyOrder(graph: Graph): { order: Node[]; cyclic: Node[] } {
  const producer = new Map<string, number>();
  graph.nodes.forEach((node, i) => node.outputs.forEach((name) => name && producer.set(name, i)));
  const pending = new Array<number>(graph.nodes.length).fill(0);
  const consumers = graph.nodes.map((): number[] => []);
  graph.nodes.forEach((node, i) => {
    for (const name of new Set(readsOf(node))) {
      const from = producer.get(name);
      if (from === undefined || from === i) continue;
      pending[i]!++;
      consumers[from]!.push(i);
    }
  });
  const ready = graph.nodes.map((_, i) => i).filter((i) => pending[i] === 0);
  const order: Node[] = [];
  const done = new Set<number>();
  for (let next = 0; next < ready.length; next++) {
    const i = ready[next]!;
    order.push(graph.nodes[i]!);
    done.add(i);
    for (const consumer of consumers[i]!) if (--pending[consumer]! === 0) ready.push(consumer);
  }
  return { order, cyclic: graph.nodes.filter((_, i) => !done.has(i)) };
}
