/**
 * Partitioning: which backend runs each node, and why.
 *
 * By cost where it can be had: when the node's analytic cost is known (static shapes, as in a
 * plan specialised to its inputs) and every backend that supports it can estimate its time, the
 * node goes where that time plus the time to copy its inputs there is least (the user's order
 * breaks ties). Otherwise by order: the first backend in the user's order that supports it, with
 * one exception that saves copies: a node that only rearranges or inspects data (Shape, Reshape,
 * Transpose, ...) stays on the device its inputs already live on when a backend there supports it.
 */

import { HOST_DEVICE, type Backend } from '../backends/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import { graphNodeCost, valueTypeIn } from '../ir/cost.js';
import { opLabel, type Graph, type Node } from '../ir/graph.js';
import { valueBytes } from './memory.js';

export interface Assignment {
  node: Node;
  backend: Backend;
  /** Why this backend: shown by `heddle inspect --plan`. */
  cause: string;
}

/** Operators whose cost is moving bytes, not computing: cheaper to run where their input is. */
const DATA_MOVEMENT_OPS = new Set([
  'Identity',
  'Shape',
  'Size',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Transpose',
  'Concat',
  'Slice',
  'Gather',
  'Expand',
  'Split',
  'Cast',
]);

export function partition(
  graph: Graph,
  nodes: readonly Node[],
  backends: readonly Backend[],
  site: ErrorSite,
): Assignment[] {
  const deviceOf = new Map<string, string>();
  const hostDevice = backends.find((b) => b.toDevice === undefined)?.device;
  for (const input of graph.inputs) if (hostDevice) deviceOf.set(input.name, hostDevice);
  const assignments: Assignment[] = [];
  for (const node of nodes) {
    const assignment = assign(node, backends, graph, deviceOf, site);
    for (const out of node.outputs) if (out !== '') deviceOf.set(out, assignment.backend.device);
    assignments.push(assignment);
  }
  return assignments;
}

function assign(
  node: Node,
  backends: readonly Backend[],
  graph: Graph,
  deviceOf: Map<string, string>,
  site: ErrorSite,
): Assignment {
  const refusals: string[] = [];
  const supporting: Backend[] = [];
  for (const backend of backends) {
    const verdict = backend.supports(node, graph.valueTypes);
    if (verdict === true) supporting.push(backend);
    else refusals.push(`${backend.name}: ${verdict}`);
  }
  const first = supporting[0];
  if (!first) {
    throw new HeddleError(`no backend can run this node (${refusals.join('; ')})`, {
      ...site,
      node: node.name,
      opType: opLabel(node),
    });
  }
  const byCost = cheapest(node, supporting, graph, deviceOf);
  if (byCost) return byCost;
  const inputDevices = new Set(
    node.inputs.filter((i) => i !== '' && deviceOf.has(i)).map((i) => deviceOf.get(i)!),
  );
  if (DATA_MOVEMENT_OPS.has(node.opType) && node.domain === '' && inputDevices.size === 1) {
    const [inputDevice] = inputDevices;
    const local = supporting.find((b) => b.device === inputDevice);
    if (local && local !== first) {
      return {
        node,
        backend: local,
        cause: `${node.opType} only moves data and its input is already on ${inputDevice}: a copy to ${first.device} would cost more than the node`,
      };
    }
  }
  const skipped = refusals.length > 0 && backends.indexOf(first) > 0 ? ` (${refusals.join('; ')})` : '';
  const cause =
    backends.length === 1
      ? 'the only backend'
      : backends.indexOf(first) === 0
        ? 'first backend in order that supports it'
        : `first backend in order that supports it${skipped}`;
  return { node, backend: first, cause };
}

/**
 * The supporting backend with the least estimated time for the node, its inputs' copies
 * included; undefined when the cost or any estimate is unknown, or only one backend can run it.
 */
function cheapest(
  node: Node,
  supporting: readonly Backend[],
  graph: Graph,
  deviceOf: ReadonlyMap<string, string>,
): Assignment | undefined {
  if (supporting.length < 2) return undefined;
  const cost = graphNodeCost(node, graph);
  if (!cost) return undefined;
  const estimates: { backend: Backend; compute: number; copy: number }[] = [];
  for (const backend of supporting) {
    const compute = backend.estimateSeconds?.(node, cost);
    if (compute === undefined) return undefined;
    estimates.push({ backend, compute, copy: copySeconds(node, backend, graph, deviceOf, supporting) });
  }
  const best = estimates.reduce((a, b) => (b.compute + b.copy < a.compute + a.copy ? b : a));
  const others = estimates
    .filter((e) => e !== best)
    .map((e) => `${formatMs(e.compute + e.copy)} on ${e.backend.name}`)
    .join(', ');
  const copying = best.copy > 0 ? `, ${formatMs(best.copy)} of it copying inputs` : '';
  return {
    node,
    backend: best.backend,
    cause: `least estimated time: ${formatMs(best.compute + best.copy)}${copying}, against ${others}`,
  };
}

/** Seconds to bring the node's tensor inputs that live elsewhere into `backend`'s memory. */
function copySeconds(
  node: Node,
  backend: Backend,
  graph: Graph,
  deviceOf: ReadonlyMap<string, string>,
  backends: readonly Backend[],
): number {
  let seconds = 0;
  for (const input of node.inputs) {
    const device = input === '' ? undefined : (deviceOf.get(input) ?? HOST_DEVICE);
    if (device === undefined || device === backend.device || graph.initializers.has(input)) continue;
    const bytes = valueBytes(valueTypeIn(graph, input)) ?? 0;
    const ends = [backend, ...backends.filter((b) => b.device === device)];
    const rate = Math.min(...ends.map((b) => b.copyBytesPerSecond ?? Infinity));
    seconds += Number.isFinite(rate) ? bytes / rate : 0;
  }
  return seconds;
}

function formatMs(seconds: number): string {
  const ms = seconds * 1000;
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`;
}
