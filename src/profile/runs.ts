/**
 * A trace cut into runs: each `run` span with the spans recorded inside it, every span's self
 * time (its duration less that of the spans nested in it on its track), and the run's top-level
 * steps and copies matched to the plan's steps by the node, or the copied value and its
 * destination, that their args name. Steps nested in another step (the bodies of If, Loop and
 * Scan) are calls of their own operators, but time of their enclosing step on the executed graph.
 */

import type { Plan } from '../plan/plan.js';
import type { Span, Trace } from '../telemetry/trace.js';

export interface TimedSpan {
  span: Span;
  selfUs: number;
  /** Whether a step or copy encloses it on its track. */
  nested: boolean;
}

export interface TracedRun {
  span: Span;
  /** Every step and copy span inside the run, nested ones included, by start. */
  calls: TimedSpan[];
  /** Plan step index → its top-level span in this run (absent when the step left no span). */
  planSteps: Map<number, TimedSpan>;
  /** Every span inside the run window other than the run itself, on any track. */
  spans: Span[];
}

const CALL_CATEGORIES: ReadonlySet<string> = new Set(['step', 'copy']);

export function durationOf(span: Span): number {
  return span.end - span.start;
}

/** The runs of `trace`, in order, each matched against `plan`. */
export function tracedRuns(trace: Trace, plan: Plan): TracedRun[] {
  const timed = timeSpans(trace.spans);
  return trace.spans
    .filter((s) => s.category === 'run')
    .sort((a, b) => a.start - b.start)
    .map((run) => {
      const inside = (s: Span) => s !== run && s.start >= run.start && s.end <= run.end;
      const calls = timed.filter((t) => CALL_CATEGORIES.has(t.span.category) && inside(t.span));
      const topLevel = calls.filter((c) => !c.nested);
      return {
        span: run,
        calls,
        planSteps: matchPlanSteps(plan, topLevel),
        spans: trace.spans.filter(inside),
      };
    });
}

/**
 * Self times of every span: its duration less that of the spans directly inside it on its track.
 * Spans on a device track may overlap without nesting (kernels running at once); only a span that
 * lies wholly inside another is its child. Worker-state spans describe a track rather than work on
 * it, and run spans enclose everything: neither takes part.
 */
function timeSpans(spans: readonly Span[]): TimedSpan[] {
  const byTrack = new Map<string, Span[]>();
  for (const span of spans) {
    if (span.category === 'state' || span.category === 'run') continue;
    const list = byTrack.get(span.track);
    if (list) list.push(span);
    else byTrack.set(span.track, [span]);
  }
  const timed: TimedSpan[] = [];
  for (const trackSpans of byTrack.values()) {
    trackSpans.sort((a, b) => a.start - b.start || b.end - a.end);
    let open: TimedSpan[] = [];
    for (const span of trackSpans) {
      open = open.filter((o) => o.span.end > span.start);
      const enclosing = open.filter((o) => o.span.end >= span.end);
      const entry: TimedSpan = {
        span,
        selfUs: durationOf(span),
        nested: enclosing.some((o) => CALL_CATEGORIES.has(o.span.category)),
      };
      const parent = enclosing[enclosing.length - 1];
      if (parent) parent.selfUs -= durationOf(span);
      open.push(entry);
      timed.push(entry);
    }
  }
  return timed.sort((a, b) => a.span.start - b.span.start);
}

/** Kernel spans by the node their args name, copies by the value and device their args name. */
function matchPlanSteps(plan: Plan, calls: readonly TimedSpan[]): Map<number, TimedSpan> {
  const unmatched = new Map<string, number[]>();
  plan.steps.forEach((step, i) => {
    const key = step.kind === 'kernel' ? step.node.name : copyKey(plan.slots[step.from]!.name, step.toDevice);
    unmatched.set(key, [...(unmatched.get(key) ?? []), i]);
  });
  const matched = new Map<number, TimedSpan>();
  for (const call of calls) {
    const { span } = call;
    const key =
      span.category === 'copy'
        ? copyKey(spanArg(span, 'value') ?? '', spanArg(span, 'to') ?? '')
        : spanNode(span);
    const index = unmatched.get(key)?.shift();
    if (index !== undefined) matched.set(index, call);
  }
  return matched;
}

function copyKey(value: string, device: string): string {
  return `${value}@${device}`;
}

/** The node a step span ran: its `node` arg, else its name. */
export function spanNode(span: Span): string {
  const node = span.args?.node;
  return typeof node === 'string' ? node : span.name;
}

export function spanArg(span: Span, name: string): string | undefined {
  const value = span.args?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** The threads a step span's kernel could use, as its `threads` arg says; one for copies and silent spans. */
export function spanThreads(span: Span): number {
  const threads = span.args?.threads;
  return typeof threads === 'number' ? threads : 1;
}
