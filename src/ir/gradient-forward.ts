/**
 * The forward graph of ai.onnx.preview.training::Gradient. A Gradient node differentiates a
 * computation made of the OTHER nodes of its graph, which a kernel cannot see: at import, each
 * Gradient node gets a copy of that computation as a graph attribute. The copy takes xs then zs
 * as its inputs (the order of the node's inputs), holds the nodes that lead from them to y, and
 * returns every value those nodes read or write, y first, so that the kernel has the intermediates
 * that the backward pass needs and graph passes cannot fuse them away. Values the copy reads from
 * the rest of the graph (weights, other inputs) come from the enclosing scope, as a control-flow
 * body's do.
 */

import { cloneGraph } from './clone.js';
import { readsOf, TRAINING_DOMAIN, type Graph, type Node, type ValueInfo } from './graph.js';

/** The attribute that holds a Gradient node's forward graph: namespaced, as ONNX defines no such name. */
export const FORWARD_GRAPH_ATTRIBUTE = 'com.heddle.forward';

/**
 * Gives every Gradient node of `graph` (not of its subgraphs, which are imported on their own) its
 * forward graph. A node that has one already comes from a model Heddle saved after optimizing it,
 * whose own forward nodes may since have been fused: the saved copy is the one to differentiate.
 */
export function attachGradientForwardGraphs(graph: Graph): void {
  for (const node of graph.nodes) {
    if (node.domain !== TRAINING_DOMAIN || node.opType !== 'Gradient') continue;
    if (node.attributes.has(FORWARD_GRAPH_ATTRIBUTE)) continue;
    const forward = forwardGraph(graph, node);
    if (forward)
      node.attributes.set(FORWARD_GRAPH_ATTRIBUTE, {
        name: FORWARD_GRAPH_ATTRIBUTE,
        type: 'graph',
        value: forward,
      });
  }
}

/** The forward graph, or undefined when the node's attributes are malformed (its kernel says how). */
function forwardGraph(graph: Graph, gradient: Node): Graph | undefined {
  const xs = gradient.attributes.get('xs');
  const y = gradient.attributes.get('y');
  const zs = gradient.attributes.get('zs') ?? { type: 'strings', value: [] };
  if (xs?.type !== 'strings' || y?.type !== 'string' || zs.type !== 'strings') return undefined;
  const sources = [...xs.value, ...zs.value];
  const nodes = nodesBetween(graph, new Set(sources), y.value);
  const values = new Set<string>([y.value]);
  for (const node of nodes)
    for (const name of [...readsOf(node), ...node.outputs]) if (name !== '') values.add(name);
  const info = (name: string): ValueInfo => ({ name, type: graph.valueTypes.get(name) });
  const typed = [...values, ...sources].filter((name) => graph.valueTypes.has(name));
  return cloneGraph({
    name: `${gradient.name}/forward`,
    nodes,
    inputs: sources.map(info),
    outputs: [...values].map(info),
    initializers: new Map(),
    overridableInitializers: [],
    valueTypes: new Map(typed.map((name) => [name, graph.valueTypes.get(name)!])),
    opsets: graph.opsets,
  });
}

/**
 * The nodes that y depends on and that depend on a source, in an order where producers come
 * first. Nodes that no source reaches are left to the enclosing graph, their outputs read from it.
 */
function nodesBetween(graph: Graph, sources: ReadonlySet<string>, y: string): Node[] {
  const producer = new Map<string, Node>();
  for (const node of graph.nodes) for (const out of node.outputs) if (out !== '') producer.set(out, node);
  const root = sources.has(y) ? undefined : producer.get(y);
  if (!root) return [];
  // Depth first with an explicit stack: a deep graph must not overflow the call stack.
  const reachesSource = new Map<Node, boolean>([[root, false]]);
  const stack: { node: Node; reads: string[]; next: number }[] = [
    { node: root, reads: readsOf(root), next: 0 },
  ];
  const ordered: Node[] = [];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next < top.reads.length) {
      const name = top.reads[top.next++]!;
      const from = sources.has(name) ? undefined : producer.get(name);
      if (from && !reachesSource.has(from)) {
        reachesSource.set(from, false);
        stack.push({ node: from, reads: readsOf(from), next: 0 });
      }
      continue;
    }
    stack.pop();
    const reaches = top.reads.some((name) => {
      const from = producer.get(name);
      return sources.has(name) || (from !== undefined && reachesSource.get(from) === true);
    });
    reachesSource.set(top.node, reaches);
    if (reaches) ordered.push(top.node);
  }
  return ordered;
}
