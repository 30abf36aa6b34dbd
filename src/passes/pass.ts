/**
 * Graph passes and the driver that runs them to a fixed point.
 *
 * A pass is a small rewrite with a level, after onnxruntime's: `basic` passes keep the graph's
 * operators (folding, elimination, folding BatchNormalization into Conv), `extended` passes fuse
 * patterns into Heddle's own operators, `all` adds the rest. Every rewrite is recorded, so
 * `heddle inspect --plan` can say what was done to the graph and where.
 */

import { subgraphsOf, type Graph, type Node } from '../ir/graph.js';
import { GraphEditor } from './graph-edit.js';

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

const LEVEL_RANK: Record<OptimizationLevel, number> = { disabled: 0, basic: 1, extended: 2, all: 3 };

export interface Rewrite {
  pass: string;
  /** What was done, for people: "fused Conv 'conv1' + Relu 'relu1' into FusedConv". */
  description: string;
  /** Names of the nodes the rewrite removed or replaced. */
  nodes: string[];
}

export interface PassContext {
  readonly editor: GraphEditor;
  readonly graph: Graph;
  /** Records a rewrite for the report. */
  record(description: string, nodes: readonly Node[]): void;
}

export interface GraphPass {
  readonly name: string;
  readonly level: Exclude<OptimizationLevel, 'disabled'>;
  /** Applies the rewrite wherever it matches; returns whether anything changed. */
  run(ctx: PassContext): boolean;
}

export interface OptimizationReport {
  level: OptimizationLevel;
  nodesBefore: number;
  nodesAfter: number;
  rewrites: Rewrite[];
}

/** Rounds of all passes before the driver gives up on reaching a fixed point. */
const MAX_ROUNDS = 16;

/**
 * Runs every pass up to `level` on the graph and, separately, on each subgraph, round after round
 * until a round changes nothing.
 */
export function optimizeGraph(
  graph: Graph,
  level: OptimizationLevel,
  passes: readonly GraphPass[],
): OptimizationReport {
  const selected = passes.filter((p) => LEVEL_RANK[p.level] <= LEVEL_RANK[level]);
  const report: OptimizationReport = { level, nodesBefore: countNodes(graph), nodesAfter: 0, rewrites: [] };
  if (selected.length > 0) optimizeRecursively(graph, selected, report);
  report.nodesAfter = countNodes(graph);
  return report;
}

function optimizeRecursively(graph: Graph, passes: readonly GraphPass[], report: OptimizationReport): void {
  for (const node of graph.nodes) {
    for (const g of subgraphsOf(node)) optimizeRecursively(g, passes, report);
  }
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let changed = false;
    for (const pass of passes) {
      const editor = new GraphEditor(graph);
      const ctx: PassContext = {
        editor,
        graph,
        record: (description, nodes) =>
          report.rewrites.push({ pass: pass.name, description, nodes: nodes.map((n) => n.name) }),
      };
      if (pass.run(ctx)) changed = true;
    }
    if (!changed) return;
  }
}

function countNodes(graph: Graph): number {
  let count = 0;
  for (const node of graph.nodes) {
    count++;
    for (const g of subgraphsOf(node)) count += countNodes(g);
  }
  return count;
}
