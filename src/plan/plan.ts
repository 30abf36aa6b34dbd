/**
 * The execution plan: the graph's nodes in a valid order, each bound to a prepared kernel of the
 * first backend (in the user's order) that supports it, with the values each step is the last
 * reader of, so the executor can drop them. Plans are data: built once, run many times.
 */

import type { Backend, PreparedKernel } from '../backends/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import { opLabel, readsOf, type Graph, type Node } from '../ir/graph.js';

export interface PlanStep {
  readonly node: Node;
  readonly kernel: PreparedKernel;
  readonly backend: string;
  /** Values this step is the last to read, dropped after it runs. */
  readonly releases: readonly string[];
}

export interface Plan {
  readonly graph: Graph;
  readonly steps: readonly PlanStep[];
}

export function buildPlan(graph: Graph, backends: readonly Backend[], site: ErrorSite): Plan {
  const ordered = topologicalOrder(graph, site);
  const steps = ordered.map((node) => bindNode(node, backends, graph, site));
  return { graph, steps: withReleases(graph, steps) };
}

function bindNode(
  node: Node,
  backends: readonly Backend[],
  graph: Graph,
  site: ErrorSite,
): Omit<PlanStep, 'releases'> {
  const reasons: string[] = [];
  for (const backend of backends) {
    const verdict = backend.supports(node);
    if (verdict === true) {
      try {
        return { node, kernel: backend.prepare(node, graph.initializers), backend: backend.name };
      } catch (error) {
        if (error instanceof HeddleError)
          throw error.within({ ...site, node: node.name, opType: opLabel(node) });
        throw error;
      }
    }
    reasons.push(`${backend.name}: ${verdict}`);
  }
  throw new HeddleError(`no backend can run this node (${reasons.join('; ')})`, {
    ...site,
    node: node.name,
    opType: opLabel(node),
  });
}

/**
 * Orders nodes so every input is produced before it is read. ONNX requires models to be sorted
 * already; this accepts unsorted ones too and names the node that can never run.
 */
function topologicalOrder(graph: Graph, site: ErrorSite): Node[] {
  const producer = new Map<string, Node>();
  for (const node of graph.nodes) {
    for (const out of node.outputs) {
      if (out !== '') producer.set(out, node);
    }
  }
  const state = new Map<Node, 'visiting' | 'done'>();
  const order: Node[] = [];
  const visit = (root: Node) => {
    const stack: { node: Node; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'visiting');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const reads = readsOf(top.node);
      if (top.next < reads.length) {
        const dep = producer.get(reads[top.next++]!);
        if (!dep || dep === top.node) continue;
        const s = state.get(dep);
        if (s === 'visiting') {
          throw new HeddleError('the graph has a cycle through this node', {
            ...site,
            node: dep.name,
            opType: opLabel(dep),
          });
        }
        if (!s) {
          state.set(dep, 'visiting');
          stack.push({ node: dep, next: 0 });
        }
        continue;
      }
      state.set(top.node, 'done');
      order.push(top.node);
      stack.pop();
    }
  };
  for (const node of graph.nodes) if (!state.has(node)) visit(node);
  return order;
}

function withReleases(graph: Graph, steps: Omit<PlanStep, 'releases'>[]): PlanStep[] {
  const kept = new Set(graph.outputs.map((o) => o.name));
  const lastReader = new Map<string, number>();
  steps.forEach((step, i) => {
    for (const name of readsOf(step.node)) lastReader.set(name, i);
  });
  const releases = steps.map(() => [] as string[]);
  for (const [name, i] of lastReader) {
    if (!kept.has(name) && !graph.initializers.has(name)) releases[i]!.push(name);
  }
  return steps.map((step, i) => ({ ...step, releases: releases[i]! }));
}
