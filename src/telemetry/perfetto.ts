/**
 * Writes a trace in Perfetto's protobuf trace format: a `Trace` of `TracePacket`s on one packet
 * sequence. Track descriptors come first (the process, a thread track per lane of each track as
 * `layout.ts` splits them, a counter track per counter under its track's first lane), then the
 * events in time order: a TYPE_SLICE_BEGIN and a TYPE_SLICE_END per span, a TYPE_COUNTER per
 * counter sample. Span arguments become debug annotations. Names are written out, not interned.
 * Timestamps are nanoseconds from the trace's first event.
 */

import protobuf from 'protobufjs';
import { TRACE_PROCESS_ID, TRACE_PROCESS_NAME, layoutTrace, type Lane, type PlacedSpan } from './layout.js';
import { PERFETTO_PROTO } from './perfetto-schema.js';
import { ARENA_BYTES_COUNTER, STEPS_IN_FLIGHT_COUNTER, type Span, type Trace } from './trace.js';

/** The schema's types and enums, parsed when a trace is first written rather than at import. */
function perfettoSchema() {
  const root = protobuf.parse(PERFETTO_PROTO).root;
  return {
    TraceMessage: root.lookupType('perfetto.protos.Trace'),
    EventType: root.lookupEnum('perfetto.protos.TrackEvent.Type').values,
    CounterUnit: root.lookupEnum('perfetto.protos.CounterDescriptor.Unit').values,
    SequenceFlags: root.lookupEnum('perfetto.protos.TracePacket.SequenceFlags').values,
    NestedType: root.lookupEnum('perfetto.protos.DebugAnnotation.NestedValue.NestedType').values,
  };
}
let parsed: ReturnType<typeof perfettoSchema> | undefined;
const schema = () => (parsed ??= perfettoSchema());

/** All packets are written by one writer: one sequence. */
const SEQUENCE_ID = 1;
const PROCESS_UUID = 1;

const COUNTER_UNITS: Record<string, string | undefined> = {
  [ARENA_BYTES_COUNTER]: 'UNIT_SIZE_BYTES',
  [STEPS_IN_FLIGHT_COUNTER]: 'UNIT_COUNT',
};

type Packet = Record<string, unknown>;

interface TimedPacket {
  time: number;
  packet: Packet;
}

export function traceToPerfetto(trace: Trace): Uint8Array {
  const { TraceMessage, EventType, CounterUnit, SequenceFlags } = schema();
  const layout = layoutTrace(trace);
  const descriptors: Packet[] = [
    {
      sequenceFlags: SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED,
      trackDescriptor: {
        uuid: PROCESS_UUID,
        process: { pid: TRACE_PROCESS_ID, processName: TRACE_PROCESS_NAME },
      },
    },
  ];
  const events: TimedPacket[] = [];
  const firstLaneUuid = new Map<string, number>();
  let nextUuid = PROCESS_UUID + 1;
  layout.lanes.forEach((lane, i) => {
    const uuid = nextUuid++;
    if (!firstLaneUuid.has(lane.track.name)) firstLaneUuid.set(lane.track.name, uuid);
    descriptors.push({
      trackDescriptor: {
        uuid,
        parentUuid: PROCESS_UUID,
        name: lane.name,
        thread: { pid: TRACE_PROCESS_ID, tid: i + 1, threadName: lane.name },
      },
    });
    events.push(...sliceEvents(lane, uuid));
  });
  for (const series of layout.counters) {
    const uuid = nextUuid++;
    descriptors.push({
      trackDescriptor: {
        uuid,
        parentUuid: firstLaneUuid.get(series.track) ?? PROCESS_UUID,
        name: series.name,
        counter: { unit: CounterUnit[COUNTER_UNITS[series.name] ?? 'UNIT_UNSPECIFIED'] },
      },
    });
    for (const { time, value } of series.samples) {
      events.push({
        time,
        packet: {
          timestamp: time,
          trackEvent: { type: EventType.TYPE_COUNTER, trackUuid: uuid, doubleCounterValue: value },
        },
      });
    }
  }
  // A stable sort: each lane's events are already in a valid order, which equal times keep.
  events.sort((a, b) => a.time - b.time);
  const packets = [...descriptors, ...events.map((e) => e.packet)].map((packet) => ({
    ...packet,
    trustedPacketSequenceId: SEQUENCE_ID,
  }));
  return TraceMessage.encode({ packet: packets }).finish();
}

/** Begin and end events of a lane's spans, each end written before anything that starts after it. */
function sliceEvents(lane: Lane, uuid: number): TimedPacket[] {
  const { EventType } = schema();
  const events: TimedPacket[] = [];
  const open: PlacedSpan[] = [];
  const closeUntil = (time: number) => {
    while (open.length > 0 && open[open.length - 1]!.end <= time) {
      const { end } = open.pop()!;
      events.push({
        time: end,
        packet: { timestamp: end, trackEvent: { type: EventType.TYPE_SLICE_END, trackUuid: uuid } },
      });
    }
  };
  for (const placed of lane.spans) {
    closeUntil(placed.start);
    events.push({
      time: placed.start,
      packet: { timestamp: placed.start, trackEvent: beginEvent(placed.span, uuid) },
    });
    open.push(placed);
  }
  closeUntil(Infinity);
  return events;
}

function beginEvent(span: Span, uuid: number): Packet {
  const { EventType } = schema();
  return {
    type: EventType.TYPE_SLICE_BEGIN,
    trackUuid: uuid,
    name: span.name,
    categories: [span.category],
    debugAnnotations: Object.entries(span.args ?? {}).map(([name, value]) => ({
      name,
      ...annotationValue(value),
    })),
  };
}

function annotationValue(value: string | number | boolean | readonly (string | number)[]): Packet {
  const { NestedType } = schema();
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number')
    return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  return {
    nestedValue: {
      nestedType: NestedType.ARRAY,
      arrayValues: value.map((item) =>
        typeof item === 'string'
          ? { stringValue: item }
          : Number.isInteger(item)
            ? { intValue: item }
            : { doubleValue: item },
      ),
    },
  };
}
