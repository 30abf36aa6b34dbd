/**
 * `heddle inspect MODEL --plan`: what the planner decided for one set of input shapes, as text,
 * JSON and Graphviz DOT: the passes' rewrites, each node's backend and why, and the memory plan.
 */

import { describeType, opLabel, type Graph } from '../ir/graph.js';
import type { Rewrite } from '../passes/index.js';
import type { PlanInstance } from '../plan/instance.js';
import { formatBytes } from './format.js';

export interface PlanReport {
  model: string;
  optimizationLevel: string;
  inputShapes: Record<string, number[]>;
  nodesBefore: number;
  nodesAfter: number;
  rewrites: Rewrite[];
  steps: number;
  copies: number;
  assignments: { node: string; op: string; backend: string; cause: string }[];
  /** Bytes of the arena that holds every planned intermediate value. */
  arenaPeakBytes: number;
  /** Sum of all intermediate values' sizes: the memory a plan without reuse would need. */
  intermediateBytes: number;
  allocationKinds: Record<string, number>;
  /** Values live when the most arena bytes are, largest first. */
  liveAtPeak: { name: string; bytes: number }[];
}

export function planReport(
  model: string,
  instance: PlanInstance,
  inputShapes: Record<string, number[]>,
): PlanReport {
  const { plan, memory, optimization } = instance;
  const allocationKinds: Record<string, number> = {};
  for (const kind of memory?.kinds ?? []) allocationKinds[kind] = (allocationKinds[kind] ?? 0) + 1;
  return {
    model,
    optimizationLevel: optimization?.level ?? 'disabled',
    inputShapes,
    nodesBefore: optimization?.nodesBefore ?? plan.graph.nodes.length,
    nodesAfter: optimization?.nodesAfter ?? plan.graph.nodes.length,
    rewrites: optimization?.rewrites ?? [],
    steps: plan.steps.length,
    copies: plan.steps.filter((s) => s.kind === 'copy').length,
    assignments: plan.assignments.map((a) => ({
      node: a.node.name,
      op: opLabel(a.node),
      backend: a.backend.name,
      cause: a.cause,
    })),
    arenaPeakBytes: [...(memory?.arenaBytes.values() ?? [])].reduce((a, b) => a + b, 0),
    intermediateBytes: memory?.intermediateBytes ?? 0,
    allocationKinds,
    liveAtPeak: memory?.liveAtPeak.slice(0, 10) ?? [],
  };
}

export function formatPlanReport(report: PlanReport): string {
  const lines: string[] = [];
  const shapes = Object.entries(report.inputShapes).map(([n, d]) => `${n} [${d.join(', ')}]`);
  lines.push(
    `plan for ${report.model} with ${shapes.join(', ') || 'no inputs'}, optimization ${report.optimizationLevel}`,
  );
  lines.push(`nodes: ${report.nodesBefore} before optimization, ${report.nodesAfter} after`);
  lines.push(`steps: ${report.steps} (${report.copies} copies across device borders)`);
  lines.push('', `rewrites (${report.rewrites.length}):`);
  for (const r of report.rewrites) lines.push(`  [${r.pass}] ${r.description}`);
  lines.push('', 'backends:');
  const byBackend = new Map<string, typeof report.assignments>();
  for (const a of report.assignments) byBackend.set(a.backend, [...(byBackend.get(a.backend) ?? []), a]);
  for (const [backend, list] of byBackend) {
    lines.push(`  ${backend}: ${list.length} nodes`);
    const causes = new Map<string, string[]>();
    for (const a of list) causes.set(a.cause, [...(causes.get(a.cause) ?? []), `${a.node} (${a.op})`]);
    for (const [cause, nodes] of causes) {
      const shown =
        nodes.length > 6 ? `${nodes.slice(0, 6).join(', ')}, and ${nodes.length - 6} more` : nodes.join(', ');
      lines.push(`    ${cause}: ${shown}`);
    }
  }
  const ratio = report.intermediateBytes > 0 ? (100 * report.arenaPeakBytes) / report.intermediateBytes : 0;
  lines.push('', 'memory:');
  lines.push(
    `  arena peak ${formatBytes(report.arenaPeakBytes)} against ${formatBytes(report.intermediateBytes)} of intermediates (${ratio.toFixed(1)}%)`,
  );
  lines.push(
    `  values by allocation: ${Object.entries(report.allocationKinds)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ')}`,
  );
  lines.push('  largest values live at the peak:');
  for (const v of report.liveAtPeak) lines.push(`    ${formatBytes(v.bytes).padStart(10)}  ${v.name}`);
  return lines.join('\n');
}

/** The planned graph in Graphviz DOT: nodes coloured by backend, edges labelled with types. */
export function planDot(instance: PlanInstance): string {
  const graph: Graph = instance.plan.graph;
  const backendOf = new Map(instance.plan.assignments.map((a) => [a.node, a.backend.name]));
  const palette = ['#cfe2ff', '#ffe5b4', '#d1f2d1', '#f8d7da', '#e2d9f3'];
  const colors = new Map<string, string>();
  const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  const lines = [
    'digraph heddle {',
    '  rankdir=TB;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
  ];
  const producer = new Map<string, string>();
  graph.nodes.forEach((node, i) => {
    const backend = backendOf.get(node) ?? '?';
    if (!colors.has(backend)) colors.set(backend, palette[colors.size % palette.length]!);
    lines.push(
      `  n${i} [label=${quote(`${opLabel(node)}\n${node.name}\n${backend}`)}, fillcolor=${quote(colors.get(backend)!)}];`,
    );
    for (const out of node.outputs) if (out) producer.set(out, `n${i}`);
  });
  for (const input of graph.inputs) {
    lines.push(
      `  ${quote(`in:${input.name}`)} [label=${quote(input.name)}, shape=ellipse, fillcolor="#ffffff"];`,
    );
    producer.set(input.name, quote(`in:${input.name}`));
  }
  graph.nodes.forEach((node, i) => {
    for (const input of node.inputs) {
      const from = producer.get(input);
      if (from) lines.push(`  ${from} -> n${i} [label=${quote(describeType(graph.valueTypes.get(input)))}];`);
    }
  });
  graph.outputs.forEach((output) => {
    lines.push(
      `  ${quote(`out:${output.name}`)} [label=${quote(output.name)}, shape=ellipse, fillcolor="#ffffff"];`,
    );
    const from = producer.get(output.name);
    if (from) lines.push(`  ${from} -> ${quote(`out:${output.name}`)};`);
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}
