/**
 * Memory over a run, from the plan: each value is live from the step that writes it to the last
 * step that reads it (graph outputs to the end of the run, since the caller gets them). Arena
 * values are counted once per place, so views and in-place outputs sharing their source's memory
 * are not counted twice; values with memory of their own (graph outputs, values on a device)
 * count their size. Constants and fed inputs are resident throughout and reported apart.
 */

import { Tensor } from '../core/tensor.js';
import { valueBytes, storageBytes } from '../plan/memory.js';
import type { PlanInstance } from '../plan/instance.js';
import { slotsRead, stepName, writesOf } from './dependencies.js';
import type { LiveValue, MemoryProfile } from './profile.js';

/** A value's memory: an arena place (device and offset) or its own. */
interface Holding {
  key: string;
  slot: number;
  bytes: number;
  kind: LiveValue['kind'];
  first: number;
  last: number;
}

/**
 * The memory profile of `instance`; `stepStartsUs[i]` is when step i started in the
 * representative run (from the run's start; null for a step that left no span).
 */
export function memoryProfile(
  instance: PlanInstance,
  stepStartsUs: readonly (number | null)[],
): MemoryProfile {
  const { plan, memory } = instance;
  const types = plan.graph.valueTypes;
  const outputs = new Set(plan.outputs);
  const { first, last } = lifetimes(instance);
  const holdings: Holding[] = [];
  let unsizedValues = 0;
  plan.slots.forEach((slot, id) => {
    if (slot.kind !== 'intermediate' || first[id]! < 0) return;
    const place = memory?.placements.get(id);
    const bytes = place?.bytes ?? valueBytes(types.get(slot.name));
    if (bytes === undefined) {
      unsizedValues++;
      return;
    }
    const kind = place ? 'arena' : outputs.has(id) ? 'graph output' : 'dynamic';
    const key = place ? `${place.device}@${place.offset}` : `slot ${id}`;
    const end = outputs.has(id) ? plan.steps.length - 1 : Math.max(first[id]!, last[id]!);
    holdings.push({ key, slot: id, bytes, kind, first: first[id]!, last: end });
  });
  const curve = plan.steps.map((_, i) => ({
    step: i,
    timeUs: stepStartsUs[i] ?? null,
    bytes: liveAt(holdings, i).reduce((sum, v) => sum + v.bytes, 0),
  }));
  const peak = curve.reduce((best, point) => (point.bytes > best.bytes ? point : best), {
    step: -1,
    timeUs: null,
    bytes: 0,
  });
  const live = liveAt(holdings, peak.step).map((held) => ({
    name: held.slots.map((s) => plan.slots[s]!.name).join(' = '),
    bytes: held.bytes,
    kind: held.kind,
  }));
  return {
    constantBytes: plan.constants.reduce((sum, [, value]) => sum + tensorBytes(value), 0),
    inputBytes: [...plan.inputs.values()].reduce(
      (sum, slot) => sum + (valueBytes(types.get(plan.slots[slot]!.name)) ?? 0),
      0,
    ),
    arenaBytes: [...(memory?.arenaBytes.values() ?? [])].reduce((a, b) => a + b, 0),
    highWater: {
      bytes: peak.bytes,
      step: peak.step,
      node: peak.step >= 0 ? stepName(plan, plan.steps[peak.step]!) : '',
      timeUs: peak.timeUs,
      live: live.sort((a, b) => b.bytes - a.bytes),
    },
    curve,
    unsizedValues,
  };
}

/** The holdings live at step `i`, those sharing one place merged (their slots listed together). */
function liveAt(
  holdings: readonly Holding[],
  i: number,
): { slots: number[]; bytes: number; kind: LiveValue['kind'] }[] {
  const byPlace = new Map<string, { slots: number[]; bytes: number; kind: LiveValue['kind'] }>();
  for (const held of holdings) {
    if (held.first > i || held.last < i) continue;
    const merged = byPlace.get(held.key);
    if (merged) merged.slots.push(held.slot);
    else byPlace.set(held.key, { slots: [held.slot], bytes: held.bytes, kind: held.kind });
  }
  return [...byPlace.values()];
}

/** For each slot, the first step that writes it and the last that reads it (-1 for none). */
function lifetimes({ plan }: PlanInstance): { first: number[]; last: number[] } {
  const first = plan.slots.map(() => -1);
  const last = plan.slots.map(() => -1);
  plan.steps.forEach((step, i) => {
    for (const slot of writesOf(step)) if (first[slot] === -1) first[slot] = i;
    for (const slot of [...slotsRead(plan, step), ...step.releases]) last[slot] = Math.max(last[slot]!, i);
  });
  return { first, last };
}

function tensorBytes(value: unknown): number {
  return value instanceof Tensor ? value.size * storageBytes(value.type) : 0;
}
