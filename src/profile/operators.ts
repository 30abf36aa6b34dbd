/**
 * The per-operator table: every step and copy call of the steady runs, grouped by node, by op
 * type, or by op type and input shapes, with self times per run, the analytic cost of the calls
 * (ir/cost.ts, from the plan's static shapes) and where that puts them against the measured
 * roofline of the threads their kernels could use. A call nested in another step (a subgraph's
 * node) has its own row, found by the node its span names; its cost is counted only when it is a
 * node of the plan's own graph.
 */

import { describeType, type Graph } from '../ir/graph.js';
import { graphNodeCost, valueTypeIn, type NodeCost } from '../ir/cost.js';
import { valueBytes } from '../plan/memory.js';
import type { Plan, Step } from '../plan/plan.js';
import { stepName, stepOp } from './dependencies.js';
import { placeOnRoofline } from './peaks.js';
import type { GroupBy, OperatorRow, Peaks } from './profile.js';
import { durationOf, spanArg, spanNode, spanThreads, type TimedSpan, type TracedRun } from './runs.js';

/** The peaks of a row whose kernels could use `threads` threads; undefined when none were measured. */
export type PeaksOn = (threads: number) => Peaks | undefined;

/** What the table knows of one call, whichever run it is from. */
interface CallInfo {
  node: string;
  op: string;
  backend: string;
  shapes: string;
  cost?: NodeCost;
}

interface Group {
  op: string;
  node?: string;
  backends: Set<string>;
  shapes: Set<string>;
  calls: number;
  /** The most threads a call's kernel could use. */
  threads: number;
  selfUs: number;
  samplesUs: number[];
  flops: number;
  bytes: number;
  costed: boolean;
}

export function operatorTable(
  plan: Plan,
  runs: readonly TracedRun[],
  groupBy: GroupBy,
  peaksOn: PeaksOn | undefined,
): OperatorRow[] {
  const describe = callDescriber(plan, runs);
  const groups = new Map<string, Group>();
  runs.forEach((run, r) => {
    for (const call of run.calls) {
      const info = describe(call);
      const key = groupBy === 'node' ? info.node : groupBy === 'op' ? info.op : `${info.op} ${info.shapes}`;
      let group = groups.get(key);
      if (!group) {
        group = emptyGroup(info.op, groupBy === 'node' ? info.node : undefined, runs.length);
        groups.set(key, group);
      }
      group.backends.add(info.backend);
      group.shapes.add(info.shapes);
      group.calls++;
      group.threads = Math.max(group.threads, spanThreads(call.span));
      group.selfUs += call.selfUs;
      group.samplesUs[r]! += call.selfUs;
      if (info.cost) {
        group.flops += info.cost.flops;
        group.bytes += info.cost.bytesRead + info.cost.bytesWritten;
      } else group.costed = false;
    }
  });
  const runCount = Math.max(1, runs.length);
  const meanRunUs = runs.reduce((sum, run) => sum + durationOf(run.span), 0) / runCount;
  const rows = [...groups].map(([key, g]) => row(key, g, runCount, meanRunUs, peaksOn?.(g.threads)));
  return rows.sort((a, b) => b.totalUs - a.totalUs);
}

function emptyGroup(op: string, node: string | undefined, runs: number): Group {
  return {
    op,
    node,
    backends: new Set(),
    shapes: new Set(),
    calls: 0,
    threads: 1,
    selfUs: 0,
    samplesUs: new Array<number>(runs).fill(0),
    flops: 0,
    bytes: 0,
    costed: true,
  };
}

function row(key: string, g: Group, runs: number, meanRunUs: number, peaks: Peaks | undefined): OperatorRow {
  const totalUs = g.selfUs / runs;
  const base: OperatorRow = {
    key,
    op: g.op,
    ...(g.node !== undefined && { node: g.node }),
    backends: [...g.backends],
    inputShapes: [...g.shapes],
    calls: g.calls / runs,
    totalUs,
    meanUs: g.calls > 0 ? g.selfUs / g.calls : 0,
    share: meanRunUs > 0 ? totalUs / meanRunUs : 0,
    samplesUs: g.samplesUs,
  };
  if (!g.costed) return base;
  const flops = g.flops / runs;
  const bytes = g.bytes / runs;
  // FLOPs per µs are MFLOP/s: a thousandth of a GFLOP/s.
  const gflops = totalUs > 0 ? flops / totalUs / 1e3 : undefined;
  const gbPerSecond = totalUs > 0 ? bytes / totalUs / 1e3 : undefined;
  const intensity = bytes > 0 ? flops / bytes : undefined;
  const placed = { ...base, flops, bytes, gflops, gbPerSecond, intensity };
  if (!peaks || intensity === undefined || gflops === undefined || gbPerSecond === undefined) return placed;
  return {
    ...placed,
    ...placeOnRoofline(peaks, { gflops, gbPerSecond, intensity, bytesPerCall: g.bytes / g.calls }),
  };
}

/**
 * Describes calls: plan steps (and nodes of the plan's graph) from the plan, other calls
 * (subgraph nodes) from their span's args.
 */
function callDescriber(plan: Plan, runs: readonly TracedRun[]): (call: TimedSpan) => CallInfo {
  const byNode = new Map<string, Step>();
  for (const step of plan.steps) if (step.kind === 'kernel') byNode.set(step.node.name, step);
  const stepOfSpan = new Map<TimedSpan, Step>();
  for (const run of runs)
    for (const [index, timed] of run.planSteps) stepOfSpan.set(timed, plan.steps[index]!);
  const known = new Map<Step, CallInfo>();
  return (call) => {
    const step =
      stepOfSpan.get(call) ?? (call.span.category === 'step' ? byNode.get(spanNode(call.span)) : undefined);
    if (!step) {
      return {
        node: spanNode(call.span),
        op: spanArg(call.span, 'op') ?? call.span.name,
        backend: spanArg(call.span, 'backend') ?? '',
        shapes: argShapes(call.span.args?.inputs),
      };
    }
    let info = known.get(step);
    if (!info) {
      info = stepInfo(plan, step);
      known.set(step, info);
    }
    return info;
  };
}

function stepInfo(plan: Plan, step: Step): CallInfo {
  const graph = plan.graph;
  if (step.kind === 'copy') {
    const value = plan.slots[step.from]!.name;
    const bytes = valueBytes(graph.valueTypes.get(value));
    return {
      node: stepName(plan, step),
      op: stepOp(step),
      backend: `${step.fromDevice}→${step.toDevice}`,
      shapes: shapesOf(graph, [value]),
      ...(bytes !== undefined && { cost: { flops: 0, bytesRead: bytes, bytesWritten: bytes } }),
    };
  }
  return {
    node: step.node.name,
    op: stepOp(step),
    backend: step.backend,
    shapes: shapesOf(graph, step.node.inputs),
    cost: graphNodeCost(step.node, graph),
  };
}

/** Input shapes as "[1,3,224,224] [64,3,7,7]"; "-" for an omitted input, "?" for an unknown shape. */
function shapesOf(graph: Graph, names: readonly string[]): string {
  return names
    .map((name) => {
      if (name === '') return '-';
      const type = valueTypeIn(graph, name);
      if (type?.kind !== 'tensor' || !type.shape) return describeType(type);
      return `[${type.shape.map((d) => d ?? '?').join(',')}]`;
    })
    .join(' ');
}

/** Shapes from a step span's `inputs` arg ("float32[1, 3, 224, 224]" each), written as `shapesOf` writes them. */
function argShapes(inputs: unknown): string {
  if (!Array.isArray(inputs)) return '?';
  return inputs
    .map((text) => {
      const dims = /^\w+\[(.*)\]$/.exec(String(text))?.[1];
      return dims === undefined ? String(text) : `[${dims.replace(/\s/g, '')}]`;
    })
    .join(' ');
}
