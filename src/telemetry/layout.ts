/**
 * How the trace writers lay a trace out for viewers. Viewers draw each thread as one stack of
 * properly nested slices, but a track may hold spans that overlap without nesting (an
 * asynchronous device runs several kernels at once). So each track is split into lanes, as few as
 * a greedy pass finds, each a stack of properly nested spans: the first lane keeps the track's
 * name, the others are numbered. Times become whole nanoseconds from the trace's first event, so
 * the formats' own rounding can never push a child's end past its parent's.
 */

import { MAIN_TRACK, type CounterSample, type Span, type Trace, type TrackInfo } from './trace.js';

/** The one process a trace shows: every track is one of its threads. */
export const TRACE_PROCESS_ID = 1;
export const TRACE_PROCESS_NAME = 'heddle';

/** A span with its times in nanoseconds from the layout's origin. */
export interface PlacedSpan {
  span: Span;
  start: number;
  end: number;
}

export interface Lane {
  track: TrackInfo;
  /** The track's name for its first lane, 'name #2', 'name #3'... for the others. */
  name: string;
  /** By start, the longer first where two start together; any two either nest or are disjoint. */
  spans: PlacedSpan[];
}

export interface CounterSeries {
  name: string;
  track: string;
  /** By time, with times in nanoseconds from the layout's origin. */
  samples: { time: number; value: number }[];
}

export interface Layout {
  /** The earliest time in the trace, in microseconds on the shared clock: time zero of the layout. */
  origin: number;
  /** Every track's lanes, tracks in the trace's order (a track with no spans keeps one empty lane). */
  lanes: Lane[];
  counters: CounterSeries[];
}

export function layoutTrace(trace: Trace): Layout {
  const origin = earliestTime(trace);
  const nanos = (time: number) => Math.round((time - origin) * 1000);
  const spansByTrack = new Map<string, PlacedSpan[]>();
  for (const span of trace.spans) {
    const placed = { span, start: nanos(span.start), end: nanos(span.end) };
    const list = spansByTrack.get(span.track);
    if (list) list.push(placed);
    else spansByTrack.set(span.track, [placed]);
  }
  const lanes = tracksOf(trace).flatMap((track) => splitIntoLanes(track, spansByTrack.get(track.name) ?? []));
  return { origin, lanes, counters: counterSeries(trace.counters, nanos) };
}

function earliestTime(trace: Trace): number {
  let earliest = Infinity;
  for (const span of trace.spans) earliest = Math.min(earliest, span.start);
  for (const sample of trace.counters) earliest = Math.min(earliest, sample.time);
  return Number.isFinite(earliest) ? earliest : 0;
}

/** The trace's tracks, then any track a span or counter names without having been declared. */
function tracksOf(trace: Trace): TrackInfo[] {
  const tracks = [...trace.tracks];
  const known = new Set(tracks.map((t) => t.name));
  for (const { track } of [...trace.spans, ...trace.counters]) {
    if (known.has(track)) continue;
    known.add(track);
    tracks.push({ name: track, kind: track === MAIN_TRACK ? 'main' : 'worker' });
  }
  return tracks;
}

/**
 * Puts each span, earliest first, in the first lane where it nests inside the innermost span
 * still open there (or where nothing is open): spans that overlap without nesting go to
 * different lanes.
 */
function splitIntoLanes(track: TrackInfo, spans: PlacedSpan[]): Lane[] {
  const ordered = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
  const lanes: { spans: PlacedSpan[]; open: PlacedSpan[] }[] = [];
  for (const placed of ordered) {
    let lane = lanes.find(({ open }) => {
      while (open.length > 0 && open[open.length - 1]!.end <= placed.start) open.pop();
      return open.length === 0 || open[open.length - 1]!.end >= placed.end;
    });
    if (!lane) {
      lane = { spans: [], open: [] };
      lanes.push(lane);
    }
    lane.spans.push(placed);
    lane.open.push(placed);
  }
  if (lanes.length === 0) lanes.push({ spans: [], open: [] });
  return lanes.map((lane, i) => ({
    track,
    name: i === 0 ? track.name : `${track.name} #${i + 1}`,
    spans: lane.spans,
  }));
}

function counterSeries(samples: readonly CounterSample[], nanos: (time: number) => number): CounterSeries[] {
  const series = new Map<string, CounterSeries>();
  for (const sample of samples) {
    const key = `${sample.track}\u0000${sample.name}`;
    let entry = series.get(key);
    if (!entry) {
      entry = { name: sample.name, track: sample.track, samples: [] };
      series.set(key, entry);
    }
    entry.samples.push({ time: nanos(sample.time), value: sample.value });
  }
  for (const entry of series.values()) entry.samples.sort((a, b) => a.time - b.time);
  return [...series.values()];
}
