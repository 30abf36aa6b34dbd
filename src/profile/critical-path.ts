/**
 * The critical path through the executed graph: with as many threads as the graph can use, a run
 * takes as long as its longest chain of dependent steps. Each step's earliest start is the latest
 * finish among the steps it reads from; its slack is how late it could start without delaying
 * the end. What a 2× faster step on the path saves is measured by recomputing the longest chain
 * with that step halved: never more than half the step, less when another chain takes over.
 */

import type { Plan } from '../plan/plan.js';
import type { CriticalPath, CriticalStep, StepSlack } from './profile.js';
import { stepName, stepOp, stepPredecessors } from './dependencies.js';

/** The critical path of `plan` with `durations[i]` µs for step i. */
export function criticalPath(plan: Plan, durations: readonly number[]): CriticalPath {
  const predecessors = stepPredecessors(plan);
  const schedule = longestChains(predecessors, durations);
  const successors = plan.steps.map((): number[] => []);
  predecessors.forEach((preds, i) => preds.forEach((p) => successors[p]!.push(i)));
  const latestFinish = durations.map(() => schedule.length);
  for (let i = plan.steps.length - 1; i >= 0; i--) {
    for (const s of successors[i]!) {
      latestFinish[i] = Math.min(latestFinish[i]!, latestFinish[s]! - durations[s]!);
    }
  }
  const slack: StepSlack[] = plan.steps.map((step, i) => ({
    node: stepName(plan, step),
    op: stepOp(step),
    durationUs: durations[i]!,
    earliestStartUs: schedule.earliestStart[i]!,
    slackUs: Math.max(0, latestFinish[i]! - durations[i]! - schedule.earliestStart[i]!),
  }));
  const steps: CriticalStep[] = pathSteps(predecessors, durations, schedule).map((i) => {
    const halved = durations.map((d, j) => (j === i ? d / 2 : d));
    return {
      node: stepName(plan, plan.steps[i]!),
      op: stepOp(plan.steps[i]!),
      durationUs: durations[i]!,
      savingIfTwiceAsFastUs: schedule.length - longestChains(predecessors, halved).length,
    };
  });
  const workUs = durations.reduce((a, b) => a + b, 0);
  return {
    lengthUs: schedule.length,
    workUs,
    parallelism: schedule.length > 0 ? workUs / schedule.length : 1,
    steps,
    slack: slack.sort((a, b) => a.slackUs - b.slackUs || a.earliestStartUs - b.earliestStartUs),
  };
}

interface Schedule {
  earliestStart: number[];
  length: number;
}

/** Earliest starts in plan order (a topological order: every step reads only earlier steps). */
function longestChains(predecessors: readonly number[][], durations: readonly number[]): Schedule {
  const earliestStart = durations.map(() => 0);
  let length = 0;
  predecessors.forEach((preds, i) => {
    for (const p of preds) earliestStart[i] = Math.max(earliestStart[i]!, earliestStart[p]! + durations[p]!);
    length = Math.max(length, earliestStart[i]! + durations[i]!);
  });
  return { earliestStart, length };
}

/** The chain ending last, walked back through the predecessor that finishes latest. */
function pathSteps(
  predecessors: readonly number[][],
  durations: readonly number[],
  schedule: Schedule,
): number[] {
  const finish = (i: number) => schedule.earliestStart[i]! + durations[i]!;
  let current = -1;
  durations.forEach((_, i) => {
    if (current < 0 || finish(i) > finish(current)) current = i;
  });
  const path: number[] = [];
  while (current >= 0) {
    path.push(current);
    const preds = predecessors[current]!;
    current = preds.reduce((best, p) => (best < 0 || finish(p) > finish(best) ? p : best), -1);
  }
  return path.reverse();
}
