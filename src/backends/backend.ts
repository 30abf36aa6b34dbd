/**
 * The interface every backend offers the planner: what it can run, and a kernel bound to a node.
 * Backends import the IR and core layers only; the planner sees them only through this interface.
 */

import type { ErrorSite } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { RuntimeValue } from '../core/values.js';
import type { Graph, Node } from '../ir/graph.js';

/** What a kernel is handed each time it runs. */
export interface KernelArgs {
  readonly inputs: readonly (RuntimeValue | undefined)[];
  /** Runs a subgraph (If/Loop/Scan bodies) with the current values visible as its outer scope. */
  runSubgraph(graph: Graph, inputs: readonly (RuntimeValue | undefined)[]): RuntimeValue[];
  /** Where errors point: the model. */
  readonly site: ErrorSite;
}

export interface PreparedKernel {
  /** The kernel's name, as traces and errors show it. */
  readonly name: string;
  run(args: KernelArgs): (RuntimeValue | undefined)[];
}

export interface Backend {
  readonly name: string;
  /** `true`, or the reason this backend cannot run the node. */
  supports(node: Node): true | string;
  /** Binds a kernel to the node (attributes read, constants packed); runs once per plan. */
  prepare(node: Node, constants: ReadonlyMap<string, Tensor>): PreparedKernel;
}
