/**
 * The recording side of a traced run, kept out of the executor's loop: spans for steps and
 * copies, waiting states, the arena and in-flight counters, and the garbage collections.
 */

import { HOST_DEVICE, type KernelOutputs } from '../backends/backend.js';
import { watchCollections, type Collection, type CollectionWatch } from '../host/collections.js';
import { Tensor } from '../core/tensor.js';
import {
  EmptyOptional,
  TensorMap,
  TensorSequence,
  describeValue,
  type RuntimeValue,
} from '../core/values.js';
import { describeType, opLabel } from '../ir/graph.js';
import { storageBytes, valueBytes, type MemoryPlan } from '../plan/memory.js';
import type { CopyStep, KernelStep, Plan } from '../plan/plan.js';
import {
  ARENA_BYTES_COUNTER,
  MAIN_TRACK,
  STEPS_IN_FLIGHT_COUNTER,
  now,
  traceTime,
  type Tracer,
  type WorkerState,
} from '../telemetry/trace.js';

/**
 * What a traced run records: a span per step on the track it ran on (the main thread for host
 * kernels and copies, the device's own track for kernels that compute off the thread, where they
 * overlap) with the threads its kernel may use, a 'waiting on a dependency' state span whenever
 * the run awaits such a kernel, and the arena bytes in use and steps in flight as counters. Only
 * runs whose tracer is on make one.
 */
export class RunRecorder {
  private inFlight = 0;
  private arenaBytes = 0;
  private readonly arenaByStep: Float64Array | undefined;

  constructor(
    readonly tracer: Tracer,
    plan: Plan,
    memory: MemoryPlan | undefined,
  ) {
    for (const device of new Set(plan.slots.map((s) => s.device))) {
      if (device !== HOST_DEVICE) tracer.track({ name: device, kind: 'device' });
    }
    this.arenaByStep = memory && arenaInUseByStep(plan, memory);
  }

  /** A step starts now; `index`, for steps of the run's own plan, moves the arena counter. */
  launch(index?: number): number {
    const time = now();
    const bytes = index === undefined ? undefined : this.arenaByStep?.[index];
    if (bytes !== undefined && bytes !== this.arenaBytes) this.sampleArena(time, bytes);
    this.countInFlight(time, 1);
    return time;
  }

  ran(
    step: KernelStep,
    plan: Plan,
    start: number,
    inputs: readonly (RuntimeValue | undefined)[],
    outputs: KernelOutputs,
    offThread: boolean,
  ): void {
    const end = now();
    this.countInFlight(end, -1);
    const { node } = step;
    this.tracer.span({
      name: opLabel(node),
      category: 'step',
      track: offThread ? deviceOf(step, plan) : MAIN_TRACK,
      start,
      end,
      args: {
        node: node.name,
        op: opLabel(node),
        backend: step.backend,
        kernel: step.kernel.name,
        threads: threadsOf(step, plan),
        inputs: node.inputs.map((name, i) => shapeOf(inputs[i], name, plan)),
        outputs: node.outputs.map((name, i) => shapeOf(outputs[i], name, plan)),
      },
    });
  }

  copied(step: CopyStep, plan: Plan, start: number, moved: RuntimeValue | undefined): void {
    const end = now();
    this.countInFlight(end, -1);
    const value = plan.slots[step.from]!.name;
    this.tracer.span({
      name: 'copy',
      category: 'copy',
      track: MAIN_TRACK,
      start,
      end,
      args: {
        value,
        bytes: bytesOf(moved) ?? valueBytes(plan.graph.valueTypes.get(value)) ?? 0,
        from: step.fromDevice,
        to: step.toDevice,
      },
    });
  }

  async wait(pending: Promise<unknown>, awaited: string): Promise<void> {
    const start = now();
    await pending;
    this.tracer.span({
      name: 'waiting on a dependency' satisfies WorkerState,
      category: 'state',
      track: MAIN_TRACK,
      start,
      end: now(),
      args: { awaited },
    });
  }

  /** The run is over: its values are gone from the arena. */
  finished(): void {
    if (this.arenaBytes !== 0) this.sampleArena(now(), 0);
  }

  private sampleArena(time: number, bytes: number): void {
    this.arenaBytes = bytes;
    this.tracer.counter({ name: ARENA_BYTES_COUNTER, track: MAIN_TRACK, time, value: bytes });
  }

  private countInFlight(time: number, change: number): void {
    this.inFlight += change;
    this.tracer.counter({ name: STEPS_IN_FLIGHT_COUNTER, track: MAIN_TRACK, time, value: this.inFlight });
  }
}

/** The device a step's outputs live on: the track of a kernel that computes off the thread. */
function deviceOf(step: KernelStep, plan: Plan): string {
  const slot = step.outputs.find((s) => s >= 0);
  return slot === undefined ? step.backend : plan.slots[slot]!.device;
}

const threadsByPlan = new WeakMap<Plan, ReadonlyMap<string, number>>();

/**
 * The threads a step's kernel may run on: its backend's (the wasm backend's pool), one for a
 * backend that says nothing. A step on a pool is a span on the calling thread's track like any
 * other, so the profile learns from this, not from the tracks, which peaks the step can reach.
 */
function threadsOf(step: KernelStep, plan: Plan): number {
  let byBackend = threadsByPlan.get(plan);
  if (!byBackend) {
    byBackend = new Map(plan.assignments.map(({ backend }) => [backend.name, backend.threads ?? 1]));
    threadsByPlan.set(plan, byBackend);
  }
  return byBackend.get(step.backend) ?? 1;
}

/** A value's type and shape as traces show them; values on a device are described by their static type. */
function shapeOf(value: RuntimeValue | undefined, name: string, plan: Plan): string {
  if (name === '') return 'omitted';
  if (value instanceof Tensor) return `${value.type}[${value.dims.join(', ')}]`;
  if (value instanceof TensorSequence || value instanceof TensorMap || value instanceof EmptyOptional) {
    return describeValue(value);
  }
  return describeType(plan.graph.valueTypes.get(name));
}

function bytesOf(value: RuntimeValue | undefined): number | undefined {
  return value instanceof Tensor ? value.size * storageBytes(value.type) : undefined;
}

const arenaInUseCache = new WeakMap<MemoryPlan, Float64Array>();

/**
 * Bytes of the host arena holding live values at each step: the union of the places of the values
 * alive then, each from the step that writes it to the last that reads it. Views and in-place
 * outputs share their source's place, and the union counts a place once.
 */
function arenaInUseByStep(plan: Plan, memory: MemoryPlan): Float64Array {
  const cached = arenaInUseCache.get(memory);
  if (cached) return cached;
  const first = new Int32Array(plan.slots.length).fill(-1);
  const last = new Int32Array(plan.slots.length).fill(-1);
  plan.steps.forEach((step, i) => {
    const writes = step.kind === 'kernel' ? step.outputs : [step.to];
    for (const slot of writes) if (slot >= 0 && first[slot] === -1) first[slot] = i;
    const reads = step.kind === 'kernel' ? step.inputs : [step.from];
    for (const slot of [...reads, ...step.releases]) if (slot >= 0) last[slot] = i;
  });
  const places = [...memory.placements]
    .filter(([slot, place]) => place.device === HOST_DEVICE && first[slot]! >= 0)
    .map(([slot, place]) => ({
      first: first[slot]!,
      last: Math.max(first[slot]!, last[slot]!),
      offset: place.offset,
      end: place.offset + place.bytes,
    }))
    .sort((a, b) => a.offset - b.offset);
  const inUse = Float64Array.from(plan.steps, (_, i) => {
    let bytes = 0;
    let covered = 0;
    for (const place of places) {
      if (place.first > i || i > place.last) continue;
      bytes += Math.max(0, place.end - Math.max(place.offset, covered));
      covered = Math.max(covered, place.end);
    }
    return bytes;
  });
  arenaInUseCache.set(memory, inUse);
  return inUse;
}

/**
 * The engine's garbage collections during traced runs, as 'gc' spans on the main track of each
 * run's tracer: Node reports them only after the fact, on the event loop, so one watch lasts while
 * any traced run is in flight, and each run, as it ends, waits for the collections not yet
 * delivered (a turn of the event loop) before it resolves.
 */
export class TracedCollections {
  private watch: CollectionWatch | undefined;
  private readonly runs = new Set<{ tracer: Tracer; start: number; end: number }>();

  /**
   * Starts recording for a run into `tracer` from `start` (µs); returns what the run awaits as it
   * ends, at `end` (µs): the collections that began before then. One that begins while the run
   * lets the event loop turn for the entries (the caller's garbage, say) did not pause the run.
   */
  begin(tracer: Tracer, start: number): (end: number) => Promise<void> {
    const run = { tracer, start, end: Infinity };
    this.runs.add(run);
    this.watch ??= watchCollections((collection) => this.record(collection));
    return async (end) => {
      run.end = end;
      await this.watch?.settle();
      this.runs.delete(run);
      if (this.runs.size > 0) return;
      this.watch?.stop();
      this.watch = undefined;
    };
  }

  private record({ kind, start, duration }: Collection): void {
    const startUs = traceTime(start);
    const endUs = startUs + duration * 1000;
    const tracers = new Set<Tracer>();
    for (const run of this.runs) if (endUs > run.start && startUs < run.end) tracers.add(run.tracer);
    for (const tracer of tracers)
      tracer.span({ name: kind, category: 'gc', track: MAIN_TRACK, start: startUs, end: endUs });
  }
}
