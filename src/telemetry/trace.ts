/**
 * The tracer's data model: spans on named tracks (a thread, a worker, a device queue), counters,
 * and the clock they share. Every layer may record into a `Tracer`; when tracing is off the tracer
 * is `NO_TRACE`, whose `enabled` is false, and callers skip building anything, so the off switch
 * costs one property read per site.
 *
 * Times are microseconds on one monotonic clock: `performance.timeOrigin + performance.now()`,
 * which worker threads share, so spans from different threads line up.
 */

/** What a span is, for grouping: the phases of a session and the pieces of a run. */
export type SpanCategory =
  | 'load'
  | 'optimize'
  | 'plan'
  | 'prepare'
  | 'run'
  | 'step'
  | 'copy'
  | 'compile'
  /** A garbage collection of the JavaScript engine pausing the main thread, named by its kind. */
  | 'gc'
  /** A worker's state: running, spinning, parked, waiting on a dependency. */
  | 'state';

export interface Span {
  name: string;
  category: SpanCategory;
  /** The track (thread, worker or device queue) the span ran on. */
  track: string;
  /** Microseconds on the shared clock. */
  start: number;
  end: number;
  /** Details: node name, op type, backend, shapes, bytes copied... */
  args?: Record<string, string | number | boolean | readonly (string | number)[]>;
}

/**
 * What a worker is doing, shown on its track as spans of category 'state'. The executor records
 * 'waiting on a dependency' on the main track while it awaits a step still running elsewhere.
 */
export type WorkerState = 'running' | 'spinning' | 'parked' | 'waiting on a dependency';

export const WORKER_STATES: readonly WorkerState[] = [
  'running',
  'spinning',
  'parked',
  'waiting on a dependency',
];

export interface CounterSample {
  /** e.g. 'arena bytes in use', 'ready queue depth'. */
  name: string;
  track: string;
  time: number;
  value: number;
}

export interface TrackInfo {
  name: string;
  kind: 'main' | 'worker' | 'device';
}

/** Everything one traced session (or run) recorded. */
export interface Trace {
  tracks: TrackInfo[];
  spans: Span[];
  counters: CounterSample[];
}

export interface Tracer {
  readonly enabled: boolean;
  /** Records a finished span (start and end already measured with `now()`). */
  span(span: Span): void;
  counter(sample: CounterSample): void;
  track(info: TrackInfo): void;
}

export const MAIN_TRACK = 'main';

/** Bytes of a run's host arena holding live values, from the memory plan and the steps' lifetimes. */
export const ARENA_BYTES_COUNTER = 'arena bytes in use';

/** Steps launched and not finished: the depth of the run's queue of pending work. */
export const STEPS_IN_FLIGHT_COUNTER = 'steps in flight';

/** Microseconds on the clock every thread shares. */
export function now(): number {
  return traceTime(performance.now());
}

/** A `performance.now()` reading in milliseconds on the trace's clock. */
export function traceTime(performanceMs: number): number {
  return (performance.timeOrigin + performanceMs) * 1000;
}

/** The tracer of sessions that do not trace: records nothing. */
export const NO_TRACE: Tracer = {
  enabled: false,
  span: () => {},
  counter: () => {},
  track: () => {},
};

/** A tracer that keeps what it is given, for writing out or analysing afterwards. */
export class RecordingTracer implements Tracer {
  readonly enabled = true;
  private readonly trace: Trace = { tracks: [{ name: MAIN_TRACK, kind: 'main' }], spans: [], counters: [] };

  span(span: Span): void {
    this.trace.spans.push(span);
  }

  counter(sample: CounterSample): void {
    this.trace.counters.push(sample);
  }

  track(info: TrackInfo): void {
    if (!this.trace.tracks.some((t) => t.name === info.name)) this.trace.tracks.push(info);
  }

  /** What was recorded so far (spans sorted by start). */
  snapshot(): Trace {
    return {
      tracks: [...this.trace.tracks],
      spans: [...this.trace.spans].sort((a, b) => a.start - b.start || b.end - a.end),
      counters: [...this.trace.counters].sort((a, b) => a.time - b.time),
    };
  }
}
