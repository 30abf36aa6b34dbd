/**
 * How busy each track (the main thread, each worker, each device queue) was during a run, and
 * the largest idle intervals with what the track was waiting for. A track is busy while a step,
 * a copy or a compilation runs on it. An idle interval's cause comes from the spans around it:
 * a compilation running at the time; else the producer the next step on the track was waiting
 * for, when it finished during the interval (a copy, or a step elsewhere: a dependency), or a
 * garbage collection pausing the main thread, whichever accounts for more of it (a collection
 * while the main thread waits on a device is not why it waited); else the main thread, which had
 * not yet handed the track its next step or was busy with its own bookkeeping between steps.
 */

import type { Plan } from '../plan/plan.js';
import type { Span, TrackInfo } from '../telemetry/trace.js';
import { stepName, stepPredecessors } from './dependencies.js';
import type { IdleGap, TrackUsage } from './profile.js';
import { durationOf, type TimedSpan, type TracedRun } from './runs.js';

const BUSY_CATEGORIES: ReadonlySet<string> = new Set(['step', 'copy', 'compile']);

/** Busy time and worker states of each track over `run`. */
export function trackUsage(tracks: readonly TrackInfo[], run: TracedRun): TrackUsage[] {
  const runUs = durationOf(run.span);
  return tracks.map((info) => {
    const busyUs = busyIntervals(run, info.name).reduce((sum, [a, b]) => sum + (b - a), 0);
    const states: Record<string, number> = {};
    for (const span of run.spans) {
      if (span.track === info.name && span.category === 'state')
        states[span.name] = (states[span.name] ?? 0) + durationOf(span);
    }
    return { track: info.name, kind: info.kind, utilisation: runUs > 0 ? busyUs / runUs : 0, busyUs, states };
  });
}

/** The `count` longest idle intervals of any track during `run`, each with its cause. */
export function idleGaps(tracks: readonly TrackInfo[], run: TracedRun, plan: Plan, count: number): IdleGap[] {
  const predecessors = stepPredecessors(plan);
  const stepOf = new Map<Span, number>();
  for (const [index, timed] of run.planSteps) stepOf.set(timed.span, index);
  const gaps: IdleGap[] = [];
  for (const { name } of tracks) {
    const busy = busyIntervals(run, name);
    // A track that did nothing in the run (an idle worker) has no gaps to explain.
    if (busy.length === 0) continue;
    let cursor = run.span.start;
    for (const [start, end] of [...busy, [run.span.end, run.span.end] as const]) {
      if (start > cursor) {
        const next = run.calls.find((c) => c.span.track === name && c.span.start === start && !c.nested);
        const nextStep = next ? stepOf.get(next.span) : undefined;
        gaps.push({
          track: name,
          startUs: cursor - run.span.start,
          durationUs: start - cursor,
          ...causeOf(run, plan, [cursor, start], nextStep === undefined ? [] : predecessors[nextStep]!),
        });
      }
      cursor = Math.max(cursor, end);
    }
  }
  return gaps.sort((a, b) => b.durationUs - a.durationUs || a.startUs - b.startUs).slice(0, count);
}

/** Merged intervals during which something ran on `track`. */
function busyIntervals(run: TracedRun, track: string): [number, number][] {
  const spans = run.spans
    .filter((s) => s.track === track && BUSY_CATEGORIES.has(s.category))
    .sort((a, b) => a.start - b.start);
  const merged: [number, number][] = [];
  for (const s of spans) {
    const top = merged[merged.length - 1];
    if (top && s.start <= top[1]) top[1] = Math.max(top[1], s.end);
    else merged.push([s.start, s.end]);
  }
  return merged;
}

function causeOf(
  run: TracedRun,
  plan: Plan,
  [from, to]: [number, number],
  producers: readonly number[],
): Pick<IdleGap, 'cause' | 'detail'> {
  const inGap = (s: Span) => s.start < to && s.end > from;
  const compile = run.spans.find((s) => s.category === 'compile' && inGap(s));
  if (compile) return { cause: 'compilation', detail: compile.name };
  const collections = run.spans.filter((s) => s.category === 'gc' && inGap(s));
  const pausedUs = collections.reduce((sum, s) => sum + Math.min(s.end, to) - Math.max(s.start, from), 0);
  let latest: { step: number; timed: TimedSpan } | undefined;
  for (const step of producers) {
    const timed = run.planSteps.get(step);
    if (timed && timed.span.end > from && (!latest || timed.span.end > latest.timed.span.end))
      latest = { step, timed };
  }
  const waitedUs = latest ? Math.min(latest.timed.span.end, to) - from : 0;
  // Only a collection in the gap makes `pausedUs` positive.
  if (pausedUs > waitedUs) return { cause: 'garbage collection', detail: collections[0]!.name };
  if (latest) {
    const name = stepName(plan, plan.steps[latest.step]!);
    if (latest.timed.span.category === 'copy') return { cause: 'copy', detail: name };
    return { cause: 'dependency', detail: `${name} on ${latest.timed.span.track}` };
  }
  if (from === run.span.start)
    return { cause: 'main thread', detail: 'before the first step: feeds, plan lookup' };
  if (to === run.span.end) return { cause: 'main thread', detail: 'after the last step: outputs' };
  return { cause: 'main thread', detail: 'between steps: executor' };
}
