/**
 * Partitioning: which backend runs each node, and why.
 *
 * Each node goes to the first backend in the user's order that supports it, with one exception
 * that saves copies: a node that only rearranges or inspects data (Shape, Reshape, Transpose, ...)
 * stays on the device its inputs already live on when a backend there supports it, since moving
 * its inputs across a device border would cost more than the node itself.
 */

import type { Backend } from '../backends/backend.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import { opLabel, type Graph, type Node } from '../ir/graph.js';

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
    const assignment = assign(node, backends, deviceOf, site);
    for (const out of node.outputs) if (out !== '') deviceOf.set(out, assignment.backend.device);
    assignments.push(assignment);
  }
  return assignments;
}

function assign(
  node: Node,
  backends: readonly Backend[],
  deviceOf: Map<string, string>,
  site: ErrorSite,
): Assignment {
  const refusals: string[] = [];
  const supporting: Backend[] = [];
  for (const backend of backends) {
    const verdict = backend.supports(node);
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
