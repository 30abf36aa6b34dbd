/**
 * Runs plans. A run is a loop over the plan's steps reading and writing numbered slots.
 *
 * Steps start in plan order. A kernel whose work goes on past its call returns a promise (a device
 * backend's always; the wasm pool's only when its join waits on the event loop): for a device the
 * loop goes on with the next steps and waits only when a step needs a value still being computed,
 * so independent branches on such backends overlap. Host kernels run inline, which keeps the
 * memory plan's lifetimes true. Between steps a run checks its AbortSignal and deadline; with a
 * signal it also yields to the event loop so the signal can fire.
 *
 * Kernels ask for output memory through `allocateOutput`: slots the memory plan placed in the
 * arena get views of it, the rest get new memory, and every such allocation is counted.
 *
 * A run given a tracer that is on records its steps, copies and waits as spans, and the arena
 * bytes in use and the steps in flight as counters; with tracing off no site does more than test
 * whether the tracer is on.
 */

import { HOST_DEVICE, type Backend, type KernelArgs, type KernelOutputs } from '../backends/backend.js';
import { allocateStorage, storageView, type DataType, type TensorData } from '../core/dtype.js';
import { HeddleError, type ErrorSite } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { RuntimeValue } from '../core/values.js';
import { opLabel, type Graph } from '../ir/graph.js';
import { storageBytes, type MemoryPlan } from '../plan/memory.js';
import type { PlanInstance } from '../plan/instance.js';
import { buildPlan, type KernelStep, type Plan } from '../plan/plan.js';
import { FreshOutputs } from './fresh-outputs.js';
import { RunRecorder } from './run-recorder.js';
import { NO_TRACE, type Tracer } from '../telemetry/trace.js';

/** How a run may be stopped early. */
export interface RunControl {
  signal?: AbortSignal;
  /** `performance.now()` time after which the run stops. */
  deadline?: number;
  /** The timeout the deadline came from, for the error message. */
  timeoutMs?: number;
  /** Where the run records its steps and counters (default `NO_TRACE`: nothing). */
  tracer?: Tracer;
}

/** Counts of tensor memory a session allocated while running (arena creation included). */
export interface AllocationStats {
  /** Tensors whose memory was allocated because the plan had no place for them. */
  tensorAllocations: number;
  tensorBytes: number;
  /** Arenas created (one per concurrent run and shape signature). */
  arenas: number;
  /** Tensor allocations per operator (op type, or domain::op type), to find kernels to improve. */
  byOperator: Record<string, number>;
}

/** Where graph outputs should be written when the caller supplied tensors for them. */
export type OutputBuffers = ReadonlyMap<number, Tensor>;

/**
 * Where a run's values go: the memory plan's places in the run's arena, the caller's output
 * buffers, and the large outputs allocated early.
 */
interface RunMemory {
  readonly plan: MemoryPlan | undefined;
  readonly arena: Uint8Array | undefined;
  readonly given: OutputBuffers;
  readonly fresh: FreshOutputs | undefined;
}

/** Subgraph bodies have no arena and no caller buffers: every value gets memory of its own. */
const SUBGRAPH_MEMORY: RunMemory = { plan: undefined, arena: undefined, given: new Map(), fresh: undefined };

class Frame {
  readonly values: (RuntimeValue | undefined)[];

  constructor(
    readonly plan: Plan,
    readonly parent: Frame | undefined,
  ) {
    this.values = new Array(plan.slots.length);
    for (const [slot, value] of plan.constants) this.values[slot] = value;
    for (const [name, slot] of plan.outerReads) this.values[slot] = parent?.lookup(name);
  }

  lookup(name: string): RuntimeValue | undefined {
    const slot = this.plan.visible.get(name);
    return (slot === undefined ? undefined : this.values[slot]) ?? this.parent?.lookup(name);
  }
}

export class Executor {
  private readonly plans = new WeakMap<Graph, Plan>();
  readonly stats: AllocationStats = { tensorAllocations: 0, tensorBytes: 0, arenas: 0, byOperator: {} };
  /**
   * Storage `allocate` handed out for the step being stored, already accounted for (counted as new
   * memory, or the caller's own output buffer), so `store` does not count it.
   */
  private accountedStorage = new WeakSet<object>();

  /** Backends whose values are host memory: their asynchronous steps complete before the next starts. */
  private readonly hostBackends: ReadonlySet<string>;
  /** The host backend whose memory holds the host arena, when one offers it. */
  private readonly arenaProvider: Backend | undefined;
  /** Whether runs take turns (a backend keeps per-kernel scratch between runs). */
  private readonly exclusiveRuns: boolean;
  /** The run in progress, when runs take turns: the next one starts after it. */
  private turn: Promise<void> = Promise.resolve();
  /**
   * Plans that have run once: only their later runs allocate large outputs early. A first run
   * prepares and tunes kernels, and an output allocated early in it would outlive the collections
   * that causes, be promoted to V8's old generation, and after the caller drops it be freed only by
   * a full collection (which promotes the next run's output the same way).
   */
  private readonly ranBefore = new WeakSet<PlanInstance>();

  constructor(
    private readonly backends: readonly Backend[],
    private readonly site: ErrorSite,
  ) {
    this.hostBackends = new Set(backends.filter((b) => b.device === HOST_DEVICE).map((b) => b.name));
    this.arenaProvider = backends.find((b) => b.device === HOST_DEVICE && b.hostArena !== undefined);
    this.exclusiveRuns = backends.some((b) => b.exclusiveRuns === true);
    for (const backend of backends) backend.retain?.();
  }

  /**
   * The plan of a graph (subgraphs run on host backends only: their kernels run synchronously).
   * A tracer that is on gets a 'prepare' span for each kernel a new plan prepares.
   */
  plan(graph: Graph, subgraph = false, tracer: Tracer = NO_TRACE): Plan {
    let plan = this.plans.get(graph);
    if (!plan) {
      const backends = subgraph
        ? this.backends.filter((b) => b.device === HOST_DEVICE && b.asynchronous !== true)
        : this.backends;
      plan = buildPlan(graph, backends, this.site, tracer);
      this.plans.set(graph, plan);
    }
    return plan;
  }

  async run(
    instance: PlanInstance,
    feeds: ReadonlyMap<string, RuntimeValue>,
    control: RunControl = {},
    outputBuffers: OutputBuffers = new Map(),
  ): Promise<RuntimeValue[]> {
    if (!this.exclusiveRuns) return this.runPlan(instance, feeds, control, outputBuffers);
    const run = this.turn.then(() => this.runPlan(instance, feeds, control, outputBuffers));
    // The turn settles to nothing: holding the run's outputs here would keep them alive after the
    // caller drops them, until the next run ends (a whole LM head's logits, in old space by then).
    this.turn = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async runPlan(
    instance: PlanInstance,
    feeds: ReadonlyMap<string, RuntimeValue>,
    control: RunControl,
    outputBuffers: OutputBuffers,
  ): Promise<RuntimeValue[]> {
    const fresh = this.ranBefore.has(instance)
      ? FreshOutputs.forRun(instance.plan, outputBuffers)
      : undefined;
    for (const backend of this.backends) backend.runStarted?.(fresh);
    try {
      const outputs = await this.runSteps(instance, feeds, control, outputBuffers, fresh);
      this.ranBefore.add(instance);
      return outputs;
    } finally {
      for (const backend of this.backends) backend.runEnded?.(fresh);
    }
  }

  private async runSteps(
    instance: PlanInstance,
    feeds: ReadonlyMap<string, RuntimeValue>,
    control: RunControl,
    outputBuffers: OutputBuffers,
    fresh: FreshOutputs | undefined,
  ): Promise<RuntimeValue[]> {
    const { plan } = instance;
    const tracer = control.tracer ?? NO_TRACE;
    const recorder = tracer.enabled ? new RunRecorder(tracer, instance.plan, instance.memory) : undefined;
    const arena = this.takeArena(instance);
    const memory: RunMemory = { plan: instance.memory, arena, given: outputBuffers, fresh };
    try {
      const frame = new Frame(plan, undefined);
      for (const [name, value] of feeds) frame.values[plan.inputs.get(name)!] = value;
      const pending = new Map<number, Promise<void>>();
      for (let i = 0; i < plan.steps.length; i++) {
        if (control.signal) await this.yieldForSignal(control.signal, plan, i);
        if (control.deadline !== undefined) this.checkDeadline(control, plan, i);
        const step = plan.steps[i]!;
        if (pending.size > 0) {
          for (const slot of step.kind === 'kernel' ? step.inputs : [step.from]) {
            const waiting = pending.get(slot);
            if (waiting) await (recorder ? recorder.wait(waiting, plan.slots[slot]!.name) : waiting);
          }
        }
        const start = recorder ? recorder.launch(i) : 0;
        if (step.kind === 'copy') {
          frame.values[step.to] = step.move(frame.values[step.from]!);
          recorder?.copied(step, plan, start, frame.values[step.to]);
          continue;
        }
        const inputs = Array.from(step.inputs, (slot) => (slot < 0 ? undefined : frame.values[slot]));
        const outputs = this.runKernel(step, inputs, frame, memory, recorder);
        if (outputs instanceof Promise && this.hostBackends.has(step.backend)) {
          // Host memory is planned for steps in order: a later step may reuse what this one reads.
          // The calling thread works on the step too, so its span belongs on the main track.
          const values = await outputs;
          this.store(step, frame, inputs, values, memory);
          recorder?.ran(step, plan, start, inputs, values, false);
        } else if (outputs instanceof Promise) {
          const done = outputs.then((values) => {
            this.store(step, frame, inputs, values, memory);
            recorder?.ran(step, plan, start, inputs, values, true);
          });
          for (const slot of step.outputs) if (slot >= 0) pending.set(slot, done);
        } else {
          this.store(step, frame, inputs, outputs, memory);
          recorder?.ran(step, plan, start, inputs, outputs, false);
        }
        for (const slot of step.releases) if (!pending.has(slot)) frame.values[slot] = undefined;
      }
      const outstanding = Promise.all(pending.values());
      await (recorder && pending.size > 0
        ? recorder.wait(outstanding, 'the last asynchronous steps')
        : outstanding);
      return this.collectOutputs(plan, frame, memory);
    } finally {
      recorder?.finished();
      if (arena) instance.freeArenas.push(arena);
    }
  }

  private takeArena(instance: PlanInstance): Uint8Array | undefined {
    const bytes = instance.memory?.arenaBytes.get(HOST_DEVICE) ?? 0;
    if (bytes === 0) return undefined;
    const free = instance.freeArenas.pop();
    if (free) return free;
    this.stats.arenas++;
    this.stats.tensorBytes += bytes;
    return this.arenaProvider?.hostArena!(bytes) ?? new Uint8Array(bytes);
  }

  /** Returns a plan instance's arenas to the backend that gave them. */
  releaseArenas(instance: PlanInstance): void {
    for (const arena of instance.freeArenas.splice(0)) this.arenaProvider?.releaseHostArena?.(arena);
  }

  /** Lets the backends do the start-up work a first run would otherwise wait for. */
  async initialize(): Promise<void> {
    await Promise.all(this.backends.map((backend) => backend.initialize?.()));
  }

  /** Releases what the backends hold for this executor's session. */
  dispose(): void {
    for (const backend of this.backends) backend.dispose?.();
  }

  /** Lets the event loop run, so an abort can arrive, then stops the run if it did. */
  private async yieldForSignal(signal: AbortSignal, plan: Plan, index: number): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (signal.aborted) {
      throw new HeddleError(`the run was cancelled ${progress(plan, index)}`, this.site, {
        cause: signal.reason,
      });
    }
  }

  private checkDeadline(control: RunControl, plan: Plan, index: number): void {
    if (performance.now() > control.deadline!) {
      throw new HeddleError(
        `the run exceeded its timeout of ${control.timeoutMs} ms ${progress(plan, index)}`,
        this.site,
      );
    }
  }

  private runKernel(
    step: KernelStep,
    inputs: readonly (RuntimeValue | undefined)[],
    frame: Frame,
    memory: RunMemory,
    recorder: RunRecorder | undefined,
  ): KernelOutputs | Promise<KernelOutputs> {
    const args: KernelArgs = {
      inputs,
      site: this.site,
      runSubgraph: (graph, inputs) => this.runSubgraph(graph, inputs, frame, recorder),
      allocateOutput: (index, type, dims) => this.allocate(step, index, type, dims, memory),
    };
    try {
      const result = step.kernel.run(args);
      return result instanceof Promise
        ? result.catch((error: unknown) => Promise.reject(this.nodeError(error, step)))
        : result;
    } catch (error) {
      throw this.nodeError(error, step);
    }
  }

  private allocate(
    step: KernelStep,
    index: number,
    type: DataType,
    dims: readonly number[],
    memory: RunMemory,
  ): Tensor {
    const slot = step.outputs[index] ?? -1;
    const size = dims.reduce((a, b) => a * b, 1);
    const bytes = size * storageBytes(type);
    const given = memory.given.get(slot);
    if (given && given.type === type && given.size === size) {
      this.accountedStorage.add(given.data);
      return given.reshape(dims);
    }
    const early = memory.fresh?.take(slot, type, size);
    if (early) {
      this.count(step, bytes);
      this.accountedStorage.add(early.data);
      return early.reshape(dims);
    }
    const { arena } = memory;
    const place = memory.plan?.placements.get(slot);
    if (arena && place && place.bytes === bytes && type !== 'string') {
      return new Tensor(type, storageView(type, arena.buffer, arena.byteOffset + place.offset, size), dims);
    }
    this.count(step, bytes);
    const storage = allocateStorage(type, size);
    this.accountedStorage.add(storage);
    return new Tensor(type, storage, dims);
  }

  /**
   * Stores a kernel's outputs. A host tensor left in the arena anywhere but its own planned place
   * (a kernel that returned a view of an input the plan did not expect) is copied out, so a later
   * value reusing that memory cannot change it. A host tensor in memory of its own, neither planned
   * nor a view of an input, is counted as an allocation: that is how a kernel that does not ask
   * `allocateOutput` for its memory shows up in the statistics.
   */
  private store(
    step: KernelStep,
    frame: Frame,
    inputs: readonly (RuntimeValue | undefined)[],
    outputs: KernelOutputs,
    memory: RunMemory,
  ): void {
    const { arena } = memory;
    step.node.outputs.forEach((name, i) => {
      const slot = step.outputs[i]!;
      if (slot < 0) return;
      let value = outputs[i];
      if (value === undefined) {
        throw new HeddleError(`the kernel produced no value for output ${i} ('${name}')`, {
          ...this.site,
          node: step.node.name,
          opType: opLabel(step.node),
        });
      }
      if (value instanceof Tensor && !Array.isArray(value.data)) {
        const buffer = (value.data as Uint8Array).buffer;
        if (arena && inArena(value.data, arena)) {
          const place = memory.plan?.placements.get(slot);
          if (!place || byteOffsetOf(value.data) - arena.byteOffset !== place.offset)
            value = this.copyOut(value, step);
        } else if (!this.accountedStorage.has(value.data) && !inputs.some((v) => sharesMemory(v, buffer))) {
          this.count(step, value.size * storageBytes(value.type));
        }
      }
      frame.values[slot] = value;
    });
    this.accountedStorage = new WeakSet();
  }

  private collectOutputs(plan: Plan, frame: Frame, memory: RunMemory): RuntimeValue[] {
    const { arena } = memory;
    return Array.from(plan.outputs, (slot) => {
      const value = frame.values[slot];
      if (value === undefined) {
        throw new HeddleError(`graph output '${plan.slots[slot]!.name}' was never produced`, this.site);
      }
      const given = memory.given.get(slot);
      if (given && value instanceof Tensor && value.data !== given.data)
        return copyInto(given, value, this.site);
      if (!(value instanceof Tensor)) return value;
      // Memory the next run reuses (the arena) or that the model keeps (a constant, returned
      // through a view) must not reach the caller, who may write into what it gets.
      const shared = (arena && inArena(value.data, arena)) || constantBuffers(plan).has(bufferOf(value.data));
      return shared ? this.copyOut(value) : value;
    });
  }

  private count(step: KernelStep | undefined, bytes: number): void {
    this.stats.tensorAllocations++;
    this.stats.tensorBytes += bytes;
    const label = step ? opLabel(step.node) : 'graph output';
    this.stats.byOperator[label] = (this.stats.byOperator[label] ?? 0) + 1;
  }

  private copyOut(tensor: Tensor, step?: KernelStep): Tensor {
    this.count(step, tensor.size * storageBytes(tensor.type));
    const data = tensor.data as Exclude<TensorData, string[]>;
    return new Tensor(tensor.type, data.slice() as TensorData, tensor.dims);
  }

  /** Runs an If/Loop/Scan body synchronously, its outer reads resolved in the enclosing frame. */
  private runSubgraph(
    graph: Graph,
    inputs: readonly (RuntimeValue | undefined)[],
    outer: Frame,
    recorder: RunRecorder | undefined,
  ): RuntimeValue[] {
    const plan = this.plan(graph, true, recorder?.tracer);
    const frame = new Frame(plan, outer);
    graph.inputs.forEach((input, i) => {
      const value = inputs[i];
      if (value !== undefined) frame.values[plan.inputs.get(input.name)!] = value;
    });
    for (const step of plan.steps) {
      const start = recorder ? recorder.launch() : 0;
      if (step.kind === 'copy') {
        frame.values[step.to] = step.move(frame.values[step.from]!);
        recorder?.copied(step, plan, start, frame.values[step.to]);
        continue;
      }
      const inputs = Array.from(step.inputs, (slot) => (slot < 0 ? undefined : frame.values[slot]));
      const outputs = this.runKernel(step, inputs, frame, SUBGRAPH_MEMORY, recorder);
      if (outputs instanceof Promise) {
        throw new HeddleError(`backend ${step.backend} cannot run inside a subgraph`, this.site);
      }
      this.store(step, frame, inputs, outputs, SUBGRAPH_MEMORY);
      recorder?.ran(step, plan, start, inputs, outputs, false);
      for (const slot of step.releases) frame.values[slot] = undefined;
    }
    return this.collectOutputs(plan, frame, SUBGRAPH_MEMORY);
  }

  private nodeError(error: unknown, step: KernelStep): HeddleError {
    const site = { ...this.site, node: step.node.name, opType: opLabel(step.node) };
    if (error instanceof HeddleError) return error.within(site);
    const message = error instanceof Error ? error.message : String(error);
    return new HeddleError(`the kernel failed: ${message}`, site, { cause: error });
  }
}

function progress(plan: Plan, index: number): string {
  const step = plan.steps[index];
  const next = step?.kind === 'kernel' ? ` (next: node '${step.node.name}')` : '';
  return `after ${index} of ${plan.steps.length} steps${next}`;
}

const constantBufferCache = new WeakMap<Plan, Set<ArrayBufferLike | undefined>>();

/** The buffers holding a plan's host constants. */
function constantBuffers(plan: Plan): Set<ArrayBufferLike | undefined> {
  let buffers = constantBufferCache.get(plan);
  if (!buffers) {
    buffers = new Set(
      plan.constants.map(([, value]) => (value instanceof Tensor ? bufferOf(value.data) : undefined)),
    );
    buffers.delete(undefined);
    constantBufferCache.set(plan, buffers);
  }
  return buffers;
}

function bufferOf(data: TensorData): ArrayBufferLike | undefined {
  return Array.isArray(data) ? undefined : (data as Uint8Array).buffer;
}

/** True when `value` is a host tensor whose storage lies in `buffer` (the output is a view of it). */
function sharesMemory(value: RuntimeValue | undefined, buffer: ArrayBufferLike): boolean {
  return (
    value instanceof Tensor && !Array.isArray(value.data) && (value.data as Uint8Array).buffer === buffer
  );
}

/** True when `data` lies within the arena (which may be a block of a larger memory). */
function inArena(data: TensorData, arena: Uint8Array): boolean {
  if (Array.isArray(data)) return false;
  const view = data as Uint8Array;
  return (
    view.buffer === arena.buffer &&
    view.byteOffset >= arena.byteOffset &&
    view.byteOffset < arena.byteOffset + arena.byteLength
  );
}

function byteOffsetOf(data: TensorData): number {
  return (data as Uint8Array).byteOffset;
}

function copyInto(target: Tensor, source: Tensor, site: ErrorSite): Tensor {
  if (target.type !== source.type || target.size !== source.size) {
    throw new HeddleError(
      `the output buffer given holds ${target.type}[${target.dims.join(', ')}], the output is ${source.type}[${source.dims.join(', ')}]`,
      site,
    );
  }
  (target.data as Float32Array).set(source.data as Float32Array);
  return target.reshape(source.dims);
}
