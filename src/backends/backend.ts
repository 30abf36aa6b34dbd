/**
 * The interface every backend offers the planner: what it can run and at what cost, kernels bound
 * to nodes, and the moves of values into and out of its memory. Backends import the IR and core
 * layers only; the planner sees them only through this interface.
 */

import type { DataType } from '../core/dtype.js';
import type { ErrorSite } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { RuntimeValue } from '../core/values.js';
import type { NodeCost } from '../ir/cost.js';
import type { Graph, Node, ValueType } from '../ir/graph.js';

/** The memory space of backends whose values are plain host memory (the reference backend's). */
export const HOST_DEVICE = 'host';

/** What a kernel is handed each time it runs. */
export interface KernelArgs {
  readonly inputs: readonly (RuntimeValue | undefined)[];
  /** Runs a subgraph (If/Loop/Scan bodies) with the current values visible as its outer scope. */
  runSubgraph(graph: Graph, inputs: readonly (RuntimeValue | undefined)[]): RuntimeValue[];
  /**
   * A tensor to write output `index` into: a view of the memory the plan set aside for it when
   * the plan has a place of that size, otherwise new memory.
   */
  allocateOutput(index: number, type: DataType, dims: readonly number[]): Tensor;
  /** Where errors point: the model. */
  readonly site: ErrorSite;
}

export type KernelOutputs = (RuntimeValue | undefined)[];

export interface PreparedKernel {
  /** The kernel's name, as traces and errors show it. */
  readonly name: string;
  /**
   * True when a run writes every element of every output it allocates (a matrix product does), so
   * that a fresh output's memory need not be zeroed first.
   */
  readonly writesWholeOutputs?: boolean;
  /** Runs the kernel; one whose work goes on past the call (off the calling thread) returns a promise. */
  run(args: KernelArgs): KernelOutputs | Promise<KernelOutputs>;
}

/**
 * Host work a run gives the calling thread for the moments it would otherwise spend only on its
 * share of a parallel loop: the workers start on the tiles meanwhile and take over what the
 * calling thread has not reached. The executor's chore is touching the pages of the fresh
 * memory of the run's large outputs (see runtime/fresh-outputs.ts).
 */
export interface CallerChores {
  /** Does about `seconds` of the work; false once none is left. */
  work(seconds: number): boolean;
}

export interface Backend {
  readonly name: string;
  /** The memory space its values live in; `HOST_DEVICE` backends share plain host memory. */
  readonly device: string;
  /**
   * `true`, or the reason this backend cannot run the node. `types` holds what the plan knows of
   * the graph's values (a plan specialised to its inputs knows their shapes).
   */
  supports(node: Node, types?: ReadonlyMap<string, ValueType>): true | string;
  /**
   * Seconds the backend expects to spend on the node, given its analytic cost; undefined when it
   * cannot say. With estimates from every backend that supports a node, the partitioner chooses
   * by time instead of by order alone.
   */
  estimateSeconds?(node: Node, cost: NodeCost): number | undefined;
  /** How fast values move into and out of this backend's memory (devices other than the host). */
  readonly copyBytesPerSecond?: number;
  /**
   * Threads one of its kernels may run on, the calling one included (the wasm backend's pool);
   * absent for a backend whose kernels run on the calling thread alone. Traces and the profile's
   * roofline read it.
   */
  readonly threads?: number;
  /** Binds a kernel to the node (attributes read, constants packed); runs once per plan. */
  prepare(
    node: Node,
    constants: ReadonlyMap<string, Tensor>,
    types?: ReadonlyMap<string, ValueType>,
  ): PreparedKernel;
  /**
   * Host memory of this backend's own for a plan's arena, for a host backend whose kernels work
   * best on values in a memory of theirs (the wasm backend's heap): then values the plan places
   * there reach those kernels without a copy, and host kernels read and write them as usual.
   */
  hostArena?(bytes: number): Uint8Array;
  /** Returns an arena `hostArena` gave. */
  releaseHostArena?(arena: Uint8Array): void;
  /**
   * True when kernels may compute off the calling thread and return promises: such a backend does
   * not run subgraph bodies (If/Loop/Scan), which run synchronously inside their node's kernel.
   */
  readonly asynchronous?: boolean;
  /**
   * True when two runs of one session must not interleave (kernels keep scratch memory between
   * runs): the executor then runs them one after the other.
   */
  readonly exclusiveRuns?: boolean;
  /**
   * Hears that a run starts and ends. The wasm backend keeps its workers awake in between, and
   * has the calling thread do slices of the run's `chores` as each of its parallel loops starts.
   */
  runStarted?(chores?: CallerChores): void;
  runEnded?(chores?: CallerChores): void;
  /** Counts a session using this backend (a backend object may serve several); `dispose` undoes one. */
  retain?(): void;
  /** Work that creating a session may wait for (starting threads), so that the first run does not. */
  initialize?(): Promise<void>;
  /** Ends one session's use; the last one releases what the backend holds (packed weights, scratch). */
  dispose?(): void;
  /** Moves a host value into this backend's memory (backends whose device is not the host). */
  toDevice?(value: RuntimeValue): RuntimeValue;
  /** Moves a value of this backend's memory back to the host. */
  toHost?(value: RuntimeValue): RuntimeValue;
}
