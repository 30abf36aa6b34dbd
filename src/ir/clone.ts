/**
 * Deep copies of graphs, so that passes and inference can specialise a graph (to one set of
 * input shapes, say) without touching the original. Tensors are shared: nothing mutates them.
 */

import type { Attribute, Graph, Node } from './graph.js';

export function cloneGraph(graph: Graph): Graph {
  return {
    ...graph,
    nodes: graph.nodes.map(cloneNode),
    inputs: graph.inputs.map((v) => ({ ...v })),
    outputs: graph.outputs.map((v) => ({ ...v })),
    initializers: new Map(graph.initializers),
    overridableInitializers: graph.overridableInitializers.map((v) => ({ ...v })),
    valueTypes: new Map(graph.valueTypes),
  };
}

function cloneNode(node: Node): Node {
  return {
    ...node,
    inputs: [...node.inputs],
    outputs: [...node.outputs],
    attributes: new Map([...node.attributes].map(([name, attr]) => [name, cloneAttribute(attr)])),
  };
}

function cloneAttribute(attr: Attribute): Attribute {
  if (attr.type === 'graph') return { ...attr, value: cloneGraph(attr.value) };
  if (attr.type === 'graphs') return { ...attr, value: attr.value.map(cloneGraph) };
  return attr;
}
