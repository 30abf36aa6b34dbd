/**
 * The memory plan: where every value of a plan lives, for one set of input shapes.
 *
 * Graph inputs, graph outputs and constants keep their own memory. Intermediate values on a host
 * device whose size is known get an offset in that device's arena, chosen greedily by size with
 * best fit among the values whose lifetimes overlap (the TFLite "greedy by size" strategy). Values
 * that are views of others (Reshape, Squeeze, ... return their input's memory relabelled) share
 * their source's place for the union of their lifetimes; an elementwise node whose input dies at
 * that node writes its output in the input's place; and the inputs of a Concat whose parts are
 * contiguous runs of its output (nothing but ones before the axis, as a batch of one along
 * channels) are placed in their runs of the output, so the Concat finds them there and copies
 * nothing.
 */

import { HOST_DEVICE } from '../backends/backend.js';
import { bitsOf, bytesPerElement, type DataType } from '../core/dtype.js';
import { intAttribute, staticShape, type Node, type ValueType } from '../ir/graph.js';
import type { Plan } from './plan.js';

export type AllocationKind = 'graph input' | 'graph output' | 'constant' | 'arena' | 'dynamic';

export interface Placement {
  readonly device: string;
  readonly offset: number;
  readonly bytes: number;
}

export interface MemoryPlan {
  /** Allocation kind of every slot. */
  readonly kinds: readonly AllocationKind[];
  /** Arena places of the slots of kind 'arena'. */
  readonly placements: ReadonlyMap<number, Placement>;
  /** Arena size per device. */
  readonly arenaBytes: ReadonlyMap<string, number>;
  /** Sum of the sizes of all intermediate values of known size: what a plan without reuse would hold. */
  readonly intermediateBytes: number;
  /** The step at which the most arena bytes are live, and the values live then, largest first. */
  readonly peakStep: number;
  readonly liveAtPeak: readonly { name: string; bytes: number }[];
}

/** Arena offsets are multiples of this, enough for any typed array and for SIMD loads. */
const ALIGNMENT = 64;

/** Operators whose output is a view of their first input's memory (see backends/reference/kernels/shape.ts). */
const VIEW_OPS = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/** Elementwise operators whose kernels may write their output over their first input. */
const IN_PLACE_OPS = new Set([
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Clip',
  'HardSigmoid',
  'HardSwish',
  'Elu',
  'Selu',
  'Gelu',
  'Softplus',
  'Abs',
  'Neg',
  'Exp',
  'Log',
  'Sqrt',
  'Reciprocal',
  'Erf',
  'Add',
  'Sub',
  'Mul',
  'Div',
]);

interface Group {
  slots: number[];
  bytes: number;
  first: number;
  last: number;
  device: string;
  offset?: number;
  /** A group placed inside another's place, `delta` bytes in (a Concat's input in its output). */
  within?: { group: Group; delta: number };
}

export function planMemory(plan: Plan, types: ReadonlyMap<string, ValueType>): MemoryPlan {
  const kinds = classify(plan, types);
  const lifetime = lifetimes(plan);
  const grouped = groupValues(plan, kinds, types, lifetime);
  placeConcatInputs(plan, types, grouped);
  const groups = grouped.filter((g) => g.within === undefined);
  const arenaBytes = new Map<string, number>();
  for (const device of new Set(groups.map((g) => g.device))) {
    arenaBytes.set(device, placeGreedyBySize(groups.filter((g) => g.device === device)));
  }
  const placements = new Map<number, Placement>();
  for (const g of grouped) {
    const offset = g.within ? g.within.group.offset! + g.within.delta : g.offset!;
    for (const slot of g.slots) placements.set(slot, { device: g.device, offset, bytes: g.bytes });
  }
  let intermediateBytes = 0;
  plan.slots.forEach((slot, id) => {
    const bytes = valueBytes(types.get(slot.name));
    if (slot.kind === 'intermediate' && bytes !== undefined && !isViewOutput(plan, id))
      intermediateBytes += bytes;
  });
  const peak = peakOf(groups, plan);
  return { kinds, placements, arenaBytes, intermediateBytes, peakStep: peak.step, liveAtPeak: peak.live };
}

function classify(plan: Plan, types: ReadonlyMap<string, ValueType>): AllocationKind[] {
  const outputs = new Set(plan.outputs);
  return plan.slots.map((slot, id) => {
    if (slot.kind === 'input' || slot.kind === 'outer') return 'graph input';
    if (slot.kind === 'constant') return 'constant';
    if (outputs.has(id)) return 'graph output';
    const arenaCapable = slot.device === HOST_DEVICE && valueBytes(types.get(slot.name)) !== undefined;
    return arenaCapable ? 'arena' : 'dynamic';
  });
}

/** Bytes of a tensor value of fully static shape and fixed-size elements; undefined otherwise. */
export function valueBytes(type: ValueType | undefined): number | undefined {
  const dims = staticShape(type);
  if (!dims || type?.kind !== 'tensor' || type.elemType === 'string') return undefined;
  return dims.reduce((a, b) => a * b, 1) * storageBytes(type.elemType);
}

/** Bytes of one element in Heddle's storage (sub-byte types are unpacked, one a byte). */
export function storageBytes(type: DataType): number {
  return bitsOf(type) < 8 ? 1 : bytesPerElement(type);
}

/** For each slot, the first step that writes it and the last that reads it. */
function lifetimes(plan: Plan): { first: number[]; last: number[] } {
  const first = plan.slots.map(() => -1);
  const last = plan.slots.map(() => -1);
  plan.steps.forEach((step, i) => {
    const writes = step.kind === 'kernel' ? step.outputs : [step.to];
    for (const slot of writes) if (slot >= 0 && first[slot] === -1) first[slot] = i;
    const reads = step.kind === 'kernel' ? [...step.inputs, ...step.releases] : [step.from];
    for (const slot of reads) if (slot >= 0) last[slot] = Math.max(last[slot]!, i);
  });
  return { first, last };
}

function isViewOutput(plan: Plan, slot: number): boolean {
  return plan.steps.some(
    (s) =>
      s.kind === 'kernel' && VIEW_OPS.has(s.node.opType) && s.node.domain === '' && s.outputs[0] === slot,
  );
}

/** Joins views with their sources and in-place outputs with their inputs; returns arena groups. */
function groupValues(
  plan: Plan,
  kinds: AllocationKind[],
  types: ReadonlyMap<string, ValueType>,
  lifetime: { first: number[]; last: number[] },
): Group[] {
  const groupOf = new Map<number, Group>();
  const groups: Group[] = [];
  const join = (group: Group, slot: number) => {
    group.slots.push(slot);
    group.first = Math.min(group.first, lifetime.first[slot]!);
    group.last = Math.max(group.last, lifetime.last[slot]!);
    groupOf.set(slot, group);
  };
  const excluded = new Set<Group>();
  plan.steps.forEach((step, i) => {
    if (step.kind !== 'kernel') return;
    const { node } = step;
    step.outputs.forEach((out, k) => {
      if (out < 0) return;
      const source = step.inputs[0]!;
      const sourceGroup = source >= 0 ? groupOf.get(source) : undefined;
      const isView = k === 0 && node.domain === '' && VIEW_OPS.has(node.opType);
      if (isView) {
        // A view shares its source's memory whatever it is: if the source is not in the arena,
        // neither is the view, and a view returned to the caller keeps its source out of the arena.
        if (sourceGroup && kinds[out] === 'arena') return join(sourceGroup, out);
        if (sourceGroup) excluded.add(sourceGroup);
        return;
      }
      if (kinds[out] !== 'arena') return;
      const bytes = valueBytes(types.get(plan.slots[out]!.name))!;
      const inPlace =
        k === 0 &&
        node.domain === '' &&
        IN_PLACE_OPS.has(node.opType) &&
        sourceGroup !== undefined &&
        sourceGroup.bytes === bytes &&
        sourceGroup.last === i;
      if (inPlace) return join(sourceGroup, out);
      const group: Group = { slots: [], bytes, first: i, last: i, device: plan.slots[out]!.device };
      groups.push(group);
      join(group, out);
    });
  });
  return groups.filter((g) => !excluded.has(g));
}

/**
 * Puts the inputs of each Concat whose parts are contiguous runs of its output inside the
 * output's group, at their runs: an input qualifies when it is alone in its own arena group (whose
 * bytes are then its own), the Concat is its last reader, and it appears once. The output's group
 * then lives from the first input's birth.
 */
function placeConcatInputs(plan: Plan, types: ReadonlyMap<string, ValueType>, groups: Group[]): void {
  const groupOf = new Map<number, Group>();
  for (const g of groups) for (const slot of g.slots) groupOf.set(slot, g);
  plan.steps.forEach((step, i) => {
    if (step.kind !== 'kernel' || step.node.opType !== 'Concat' || step.node.domain !== '') return;
    const output = groupOf.get(step.outputs[0]!);
    const dims = staticShape(types.get(plan.slots[step.outputs[0]!]!.name));
    if (!output || !dims || !contiguousParts(step.node, dims)) return;
    const inputs = [...step.inputs];
    const parts = inputs.map((slot) => (slot >= 0 ? groupOf.get(slot) : undefined));
    const eligible = parts.every(
      (g, k) =>
        g !== undefined &&
        g !== output &&
        g.within === undefined &&
        g.slots.length === 1 &&
        g.last === i &&
        inputs.indexOf(inputs[k]!) === k,
    );
    if (!eligible) return;
    let delta = 0;
    for (const g of parts as Group[]) {
      g.within = { group: output, delta };
      output.first = Math.min(output.first, g.first);
      delta += g.bytes;
    }
  });
}

/** True when the Concat's parts are contiguous runs of its output: every dimension before the axis is 1. */
function contiguousParts(node: Node, dims: readonly number[]): boolean {
  const requested = intAttribute(node, 'axis') ?? (node.opset < 4 ? 1 : undefined);
  if (requested === undefined) return false;
  const axis = requested < 0 ? requested + dims.length : requested;
  return axis >= 0 && axis < dims.length && dims.slice(0, axis).every((d) => d === 1);
}

/**
 * Largest first, each group goes in the lowest-waste gap between the groups already placed whose
 * lifetimes overlap its own. Returns the arena size.
 */
function placeGreedyBySize(groups: Group[]): number {
  const placed: Group[] = [];
  let size = 0;
  const order = [...groups].sort((a, b) => b.bytes - a.bytes || a.first - b.first);
  for (const group of order) {
    const aligned = Math.ceil(group.bytes / ALIGNMENT) * ALIGNMENT;
    const overlapping = placed
      .filter((p) => p.first <= group.last && group.first <= p.last)
      .sort((a, b) => a.offset! - b.offset!);
    let best: number | undefined;
    let bestWaste = Infinity;
    let cursor = 0;
    for (const p of overlapping) {
      const gap = p.offset! - cursor;
      if (gap >= aligned && gap - aligned < bestWaste) {
        best = cursor;
        bestWaste = gap - aligned;
      }
      cursor = Math.max(cursor, p.offset! + Math.ceil(p.bytes / ALIGNMENT) * ALIGNMENT);
    }
    group.offset = best ?? cursor;
    placed.push(group);
    size = Math.max(size, group.offset + aligned);
  }
  return size;
}

function peakOf(groups: Group[], plan: Plan): { step: number; live: { name: string; bytes: number }[] } {
  let step = -1;
  let most = -1;
  for (let i = 0; i < plan.steps.length; i++) {
    const bytes = groups.filter((g) => g.first <= i && i <= g.last).reduce((sum, g) => sum + g.bytes, 0);
    if (bytes > most) {
      most = bytes;
      step = i;
    }
  }
  const live = groups
    .filter((g) => g.first <= step && step <= g.last)
    .map((g) => ({ name: g.slots.map((s) => plan.slots[s]!.name).join(' = '), bytes: g.bytes }))
    .sort((a, b) => b.bytes - a.bytes);
  return { step, live };
}
