/**
 * The executed graph as the profiler sees it: a plan's steps (kernels and copies) with, for each,
 * the steps whose outputs it reads. A step reads its input slots and, for control flow, the
 * values its subgraphs read from the enclosing scope.
 */

import { readsOf, opLabel } from '../ir/graph.js';
import type { Plan, Step } from '../plan/plan.js';

/** For each step of `plan`, the indices of the steps that produce what it reads (each once). */
export function stepPredecessors(plan: Plan): number[][] {
  const producer = new Map<number, number>();
  plan.steps.forEach((step, i) => {
    for (const slot of writesOf(step)) producer.set(slot, i);
  });
  return plan.steps.map((step) => {
    const predecessors = new Set<number>();
    for (const slot of slotsRead(plan, step)) {
      const p = producer.get(slot);
      if (p !== undefined) predecessors.add(p);
    }
    return [...predecessors];
  });
}

export function writesOf(step: Step): number[] {
  return step.kind === 'kernel' ? [...step.outputs].filter((s) => s >= 0) : [step.to];
}

export function slotsRead(plan: Plan, step: Step): number[] {
  if (step.kind === 'copy') return [step.from];
  const slots = [...step.inputs].filter((s) => s >= 0);
  for (const name of readsOf(step.node)) {
    if (step.node.inputs.includes(name)) continue;
    const slot = plan.visible.get(name);
    if (slot !== undefined) slots.push(slot);
  }
  return slots;
}

/** How a step is named in tables: its node, or the copied value and the devices it crosses. */
export function stepName(plan: Plan, step: Step): string {
  if (step.kind === 'kernel') return step.node.name;
  return `${plan.slots[step.from]!.name} ${step.fromDevice}→${step.toDevice}`;
}

export function stepOp(step: Step): string {
  return step.kind === 'kernel' ? opLabel(step.node) : 'copy';
}
