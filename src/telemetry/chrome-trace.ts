/**
 * Writes a trace as Chrome trace-event JSON (the JSON object format), which Perfetto UI and
 * chrome://tracing open. One process holds every track; each lane of a track (see `layout.ts`)
 * is a thread, named by 'M' metadata events and kept in the trace's track order. Spans are 'X'
 * complete events, properly nested per thread; counters are 'C' events. Times are microseconds
 * from the trace's first event, exact to the nanosecond; `otherData.origin` keeps that instant on
 * the shared clock.
 */

import { TRACE_PROCESS_ID, TRACE_PROCESS_NAME, layoutTrace } from './layout.js';
import type { Span, Trace } from './trace.js';

/** One trace event; the fields each phase needs are in the trace-event format's specification. */
export interface ChromeTraceEvent {
  name: string;
  ph: 'X' | 'C' | 'M';
  pid: number;
  tid: number;
  ts?: number;
  dur?: number;
  cat?: string;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ms';
  otherData: { producer: string; origin: number };
}

export function traceToChromeJson(trace: Trace): string {
  return JSON.stringify(traceToChromeEvents(trace));
}

export function traceToChromeEvents(trace: Trace): ChromeTrace {
  const layout = layoutTrace(trace);
  const pid = TRACE_PROCESS_ID;
  const events: ChromeTraceEvent[] = [
    { name: 'process_name', ph: 'M', pid, tid: 0, args: { name: TRACE_PROCESS_NAME } },
  ];
  const firstTidOfTrack = new Map<string, number>();
  layout.lanes.forEach((lane, i) => {
    const tid = i + 1;
    if (!firstTidOfTrack.has(lane.track.name)) firstTidOfTrack.set(lane.track.name, tid);
    events.push(
      { name: 'thread_name', ph: 'M', pid, tid, args: { name: lane.name } },
      { name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: i } },
    );
    for (const { span, start, end } of lane.spans) events.push(completeEvent(span, start, end, pid, tid));
  });
  for (const series of layout.counters) {
    const tid = firstTidOfTrack.get(series.track) ?? 0;
    for (const sample of series.samples) {
      events.push({
        name: series.name,
        ph: 'C',
        pid,
        tid,
        ts: sample.time / 1000,
        args: { value: sample.value },
      });
    }
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { producer: TRACE_PROCESS_NAME, origin: layout.origin },
  };
}

function completeEvent(span: Span, start: number, end: number, pid: number, tid: number): ChromeTraceEvent {
  return {
    name: span.name,
    cat: span.category,
    ph: 'X',
    pid,
    tid,
    ts: start / 1000,
    dur: (end - start) / 1000,
    args: span.args ?? {},
  };
}
