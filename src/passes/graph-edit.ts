/**
 * The graph-editing vocabulary passes share: who produces and who reads each value, constant
 * lookup, rewiring uses, and removing or inserting nodes, so each pass states its rewrite and
 * none re-derives the graph's structure by hand.
 *
 * A `GraphEditor` indexes the graph once; its edits keep that index current, so a pass may
 * match and rewrite in one sweep.
 */

import type { Tensor } from '../core/tensor.js';
import {
  HEDDLE_DOMAIN,
  outerReads,
  readsOf,
  subgraphsOf,
  type Attribute,
  type Dim,
  type Graph,
  type Node,
} from '../ir/graph.js';

export class GraphEditor {
  private readonly producers = new Map<string, Node>();
  private readonly readers = new Map<string, Set<Node>>();
  private readonly outputs: Set<string>;
  private readonly overridable: Set<string>;
  private nameCounter = 0;

  constructor(readonly graph: Graph) {
    this.outputs = new Set(graph.outputs.map((o) => o.name));
    this.overridable = new Set(graph.overridableInitializers.map((v) => v.name));
    for (const node of graph.nodes) this.index(node);
  }

  producer(value: string): Node | undefined {
    return this.producers.get(value);
  }

  /** Nodes that read `value`, including nodes whose subgraphs read it from the outer scope. */
  consumers(value: string): Node[] {
    return [...(this.readers.get(value) ?? [])];
  }

  isGraphOutput(value: string): boolean {
    return this.outputs.has(value);
  }

  /** True when only `node` reads `value` and the graph does not return it: it may be folded away. */
  onlyFeeds(value: string, node: Node): boolean {
    const readers = this.readers.get(value);
    return !this.isGraphOutput(value) && readers !== undefined && readers.size === 1 && readers.has(node);
  }

  /**
   * The value's tensor when it is a constant: an initializer the caller cannot override by feeding
   * it, or the output of a Constant node with a tensor value.
   */
  constant(value: string): Tensor | undefined {
    if (value === '' || this.overridable.has(value)) return undefined;
    const init = this.graph.initializers.get(value);
    if (init) return init;
    const node = this.producers.get(value);
    if (node?.opType !== 'Constant' || node.domain !== '') return undefined;
    const attr = node.attributes.get('value');
    return attr?.type === 'tensor' ? attr.value : undefined;
  }

  /** The value's dims as far as they are known (each a size, a symbol or null), or undefined. */
  shape(value: string): Dim[] | undefined {
    const constant = this.constant(value);
    if (constant) return [...constant.dims];
    const type = this.graph.valueTypes.get(value);
    return type?.kind === 'tensor' ? type.shape : undefined;
  }

  /**
   * Points every reader of `from` at `to` instead. When `from` is a graph output its name must
   * survive: `to` is renamed to `from` where a node of this graph produces it, and otherwise an
   * Identity copies `to` into `from`.
   */
  replaceUses(from: string, to: string): void {
    for (const node of this.consumers(from)) this.rewire(node, from, to);
    if (!this.outputs.has(from)) return;
    const producer = this.producers.get(to);
    const renamable = producer !== undefined && !this.outputs.has(to) && !this.graph.initializers.has(to);
    if (renamable) {
      producer.outputs = producer.outputs.map((o) => (o === to ? from : o));
      this.producers.set(from, producer);
      this.producers.delete(to);
      for (const node of this.consumers(to)) this.rewire(node, to, from);
      return;
    }
    const copy: Node = {
      name: this.freshName('Identity'),
      opType: 'Identity',
      domain: '',
      opset: this.opset(''),
      inputs: [to],
      outputs: [from],
      attributes: new Map(),
    };
    this.insert(copy, undefined);
  }

  private rewire(node: Node, from: string, to: string): void {
    node.inputs = node.inputs.map((i) => (i === from ? to : i));
    renameOuterReads(node, from, to);
    this.readers.get(from)?.delete(node);
    this.addConsumer(to, node);
  }

  remove(node: Node): void {
    const i = this.graph.nodes.indexOf(node);
    if (i >= 0) this.graph.nodes.splice(i, 1);
    for (const out of node.outputs) if (this.producers.get(out) === node) this.producers.delete(out);
    for (const input of readsOf(node)) this.readers.get(input)?.delete(node);
  }

  /** Inserts `node` before `before` (or at the end), keeping the list in dependency order. */
  insert(node: Node, before: Node | undefined): Node {
    const at = before ? this.graph.nodes.indexOf(before) : -1;
    if (at >= 0) this.graph.nodes.splice(at, 0, node);
    else this.graph.nodes.push(node);
    this.index(node);
    return node;
  }

  /** Replaces `nodes` (a matched pattern) with `replacement`, placed where the last of them was. */
  replace(nodes: readonly Node[], replacement: Node): Node {
    const positions = nodes.map((n) => this.graph.nodes.indexOf(n));
    const last = nodes[positions.indexOf(Math.max(...positions))]!;
    this.insert(replacement, last);
    for (const n of nodes) this.remove(n);
    return replacement;
  }

  /** Adds an initializer under a fresh name derived from `hint`, returning the name. */
  addConstant(hint: string, tensor: Tensor): string {
    const name = this.freshValue(hint);
    this.graph.initializers.set(name, tensor);
    return name;
  }

  /** A Heddle-domain node (fused operators), named after what it replaces. */
  heddleNode(
    opType: string,
    name: string,
    inputs: string[],
    outputs: string[],
    attributes: Attribute[] = [],
  ): Node {
    return {
      name,
      opType,
      domain: HEDDLE_DOMAIN,
      opset: 1,
      inputs,
      outputs,
      attributes: new Map(attributes.map((a) => [a.name, a])),
    };
  }

  freshName(prefix: string): string {
    const taken = new Set(this.graph.nodes.map((n) => n.name));
    let name: string;
    do name = `${prefix}_heddle${this.nameCounter++}`;
    while (taken.has(name));
    return name;
  }

  freshValue(hint: string): string {
    let name: string;
    do name = `${hint}_heddle${this.nameCounter++}`;
    while (this.producers.has(name) || this.graph.initializers.has(name) || this.readers.has(name));
    return name;
  }

  opset(domain: string): number {
    return this.graph.opsets.get(domain) ?? 1;
  }

  private index(node: Node): void {
    for (const out of node.outputs) if (out !== '') this.producers.set(out, node);
    for (const input of readsOf(node)) this.addConsumer(input, node);
  }

  private addConsumer(value: string, node: Node): void {
    let set = this.readers.get(value);
    if (!set) this.readers.set(value, (set = new Set()));
    set.add(node);
  }
}

/** Renames outer-scope reads of `from` inside a node's subgraphs. */
function renameOuterReads(node: Node, from: string, to: string): void {
  for (const g of subgraphsOf(node)) {
    if (!outerReads(g).includes(from)) continue;
    for (const inner of g.nodes) {
      inner.inputs = inner.inputs.map((i) => (i === from ? to : i));
      renameOuterReads(inner, from, to);
    }
    g.outputs = g.outputs.map((o) => (o.name === from ? { ...o, name: to } : o));
  }
}

/**
 * Operators that draw random numbers: two runs (or two identical nodes) may differ, so they are
 * never folded or merged. Dropout draws only in training mode; in inference a pass removes it.
 */
const RANDOM_OPS = new Set([
  'RandomUniform',
  'RandomNormal',
  'RandomUniformLike',
  'RandomNormalLike',
  'Bernoulli',
  'Multinomial',
  'Dropout',
]);

export function isRandom(node: Node): boolean {
  return node.domain === '' && RANDOM_OPS.has(node.opType);
}

/** Whether `node` is the ai.onnx operator `opType`. */
export function isOp(node: Node | undefined, opType: string): node is Node {
  return node !== undefined && node.domain === '' && node.opType === opType;
}

/** Whether two shapes (of `GraphEditor.shape`) are equal, every dim known: a size or a symbol. */
export function sameKnownDims(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean {
  return (
    a !== undefined && b !== undefined && a.length === b.length && a.every((d, i) => d !== null && d === b[i])
  );
}

/**
 * Runs `rewrite` on every node that `matches` and is still in the graph (an earlier rewrite of the
 * sweep may have removed it); true when any rewrite changed the graph.
 */
export function rewriteEach(
  editor: GraphEditor,
  matches: (node: Node) => boolean,
  rewrite: (node: Node) => boolean,
): boolean {
  let changed = false;
  for (const node of [...editor.graph.nodes]) {
    const live = editor.producer(node.outputs[0]!) === node;
    if (live && matches(node) && rewrite(node)) changed = true;
  }
  return changed;
}

/** Control flow: its outputs depend on graphs that passes do not look into from outside. */
export function hasSubgraphs(node: Node): boolean {
  return subgraphsOf(node).length > 0;
}
