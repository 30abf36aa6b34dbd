/**
 * `buildProfile`: one or more traced runs of a plan instance, and optionally the machine's
 * measured peaks, analysed into a `Profile`. The first run may pay for specialising the plan and
 * for cold caches, so per-operator figures, the critical path and the memory curve come from the
 * later (steady) runs; a single run is used as it is.
 */

import { isMajor } from '../host/collections.js';
import { HeddleError } from '../core/errors.js';
import type { ProbeResult } from '../probe/index.js';
import type { PlanInstance } from '../plan/instance.js';
import type { Span, Trace, TrackInfo } from '../telemetry/trace.js';
import { criticalPath } from './critical-path.js';
import { memoryProfile } from './memory.js';
import { peaksOf } from './peaks.js';
import { operatorTable, type PeaksOn } from './operators.js';
import {
  PROFILE_FORMAT,
  PROFILE_VERSION,
  type GroupBy,
  type OperatorRow,
  type Peaks,
  type PhaseSummary,
  type Profile,
  type RunSummary,
} from './profile.js';
import { durationOf, spanThreads, tracedRuns, type TracedRun } from './runs.js';
import { median, quantile } from './statistics.js';
import { idleGaps, trackUsage } from './tracks.js';

export interface ProfileInput {
  /** A trace holding at least one run of `instance`. */
  trace: Trace;
  /** The plan and memory plan the traced runs used. */
  instance: PlanInstance;
  model: string;
  inputShapes: Record<string, number[]>;
  groupBy?: GroupBy;
  /** The machine's measured ceilings (`loadProbe()`), to place operators on the roofline. */
  probe?: ProbeResult;
  /** How many of the largest idle gaps to keep (default 10). */
  gapCount?: number;
}

const DEFAULT_GAP_COUNT = 10;

export function buildProfile(input: ProfileInput): Profile {
  const { trace, instance, groupBy = 'op' } = input;
  const plan = instance.plan;
  const runs = tracedRuns(trace, plan);
  if (runs.length === 0) throw new HeddleError('the trace holds no run to profile');
  const steadyIndices = runs.length > 1 ? runs.slice(1).map((_, i) => i + 1) : [0];
  const steady = steadyIndices.map((i) => runs[i]!);
  const representative = medianRun(steadyIndices, runs);
  const typical = runs[representative]!;
  const tracks = tracksOf(trace);
  const usage = trackUsage(tracks, typical);
  const workers = usage.some((t) => t.kind === 'worker' && t.busyUs > 0);
  const peaksOn = input.probe && peaksByThreads(input.probe, workers);
  const operators = operatorTable(plan, steady, groupBy, peaksOn);
  const peaks = peaksOn?.(mostThreads(steady));
  const peaksAtFewerThreads = peaksOn && peaks ? fewerThreadPeaks(operators, peaks, peaksOn) : [];
  const stepDurations = plan.steps.map((_, i) =>
    median(steady.map((run) => (run.planSteps.has(i) ? durationOf(run.planSteps.get(i)!.span) : 0))),
  );
  const stepStarts = plan.steps.map((_, i) => {
    const timed = typical.planSteps.get(i);
    return timed ? timed.span.start - typical.span.start : null;
  });
  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    model: input.model,
    inputShapes: input.inputShapes,
    backends: [...new Set(plan.steps.flatMap((step) => (step.kind === 'kernel' ? [step.backend] : [])))],
    groupBy,
    phases: phaseSummary(trace, runs),
    runs: runSummary(runs, steadyIndices, representative),
    ...(peaks && { peaks }),
    ...(peaksAtFewerThreads.length > 0 && { peaksAtFewerThreads }),
    operators,
    tracks: usage,
    gaps: idleGaps(tracks, typical, plan, input.gapCount ?? DEFAULT_GAP_COUNT),
    criticalPath: criticalPath(plan, stepDurations),
    memory: memoryProfile(instance, stepStarts),
  };
}

function phaseSummary(trace: Trace, runs: readonly TracedRun[]): PhaseSummary {
  const total = (category: Span['category']) =>
    trace.spans.filter((s) => s.category === category).reduce((sum, s) => sum + durationOf(s), 0);
  const durations = runs.map((run) => durationOf(run.span));
  return {
    loadUs: total('load'),
    optimizeUs: total('optimize'),
    planUs: total('plan'),
    prepareUs: total('prepare'),
    compileUs: total('compile'),
    firstRunUs: durations[0]!,
    steadyMedianUs: median(durations.length > 1 ? durations.slice(1) : durations),
  };
}

function runSummary(runs: readonly TracedRun[], steady: number[], representative: number): RunSummary {
  const durations = runs.map((run) => durationOf(run.span));
  let stepSelfUs = 0;
  let runUs = 0;
  for (const i of steady) {
    stepSelfUs += runs[i]!.calls.reduce((sum, call) => sum + call.selfUs, 0);
    runUs += durations[i]!;
  }
  const steadyDurations = steady.map((i) => durations[i]!);
  return {
    durationsUs: durations,
    steady,
    representative,
    coverage: {
      stepSelfUs: stepSelfUs / steady.length,
      runUs: runUs / steady.length,
      ratio: stepSelfUs / runUs,
    },
    collections: runs.map(collectionsOf),
    spreadUs: quantile(steadyDurations, 0.75) - quantile(steadyDurations, 0.25),
  };
}

function collectionsOf(run: TracedRun): RunSummary['collections'][number] {
  const spans = run.spans.filter((s) => s.category === 'gc');
  const major = spans.filter((s) => isMajor(s.name)).length;
  return {
    pauseUs: spans.reduce((sum, s) => sum + durationOf(s), 0),
    major,
    minor: spans.length - major,
  };
}

/**
 * The peaks of rows by the threads their kernels could use, each thread count's made once. Steps
 * on workers run side by side, on many threads at once: the peaks of all threads are theirs to
 * reach, whatever each kernel uses.
 */
function peaksByThreads(probe: ProbeResult, onWorkers: boolean): PeaksOn {
  const made = new Map<number, Peaks | undefined>();
  return (threads) => {
    const counted = onWorkers ? Infinity : threads;
    if (!made.has(counted)) made.set(counted, peaksOf(probe, counted));
    return made.get(counted);
  };
}

/** The most threads a step's kernel could use in `runs`. */
function mostThreads(runs: readonly TracedRun[]): number {
  let most = 1;
  for (const run of runs) for (const call of run.calls) most = Math.max(most, spanThreads(call.span));
  return most;
}

/** The peaks of the fewer threads than `most`'s that rows are placed against, fewest threads first. */
function fewerThreadPeaks(rows: readonly OperatorRow[], most: Peaks, peaksOn: PeaksOn): Peaks[] {
  const counts = new Set(
    rows.flatMap((row) => (row.threads !== undefined && row.threads < most.threads ? [row.threads] : [])),
  );
  return [...counts].sort((a, b) => a - b).flatMap((threads) => peaksOn(threads) ?? []);
}

/** The index of the run whose duration is the median of those at `indices` (the lower one of two). */
function medianRun(indices: readonly number[], runs: readonly TracedRun[]): number {
  const sorted = [...indices].sort((a, b) => durationOf(runs[a]!.span) - durationOf(runs[b]!.span));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The trace's tracks, and any track a span names without the trace declaring it (as a worker). */
function tracksOf(trace: Trace): TrackInfo[] {
  const tracks = [...trace.tracks];
  for (const span of trace.spans) {
    if (!tracks.some((t) => t.name === span.track)) tracks.push({ name: span.track, kind: 'worker' });
  }
  return tracks;
}
