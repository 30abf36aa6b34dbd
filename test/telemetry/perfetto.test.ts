/**
 * The Perfetto protobuf trace, decoded with a schema transcribed apart from the writer's
 * (test/support/perfetto-schema.ts): one packet sequence, a process track, a thread track per
 * lane and a counter track per counter; every slice begins and ends on its own track, nested;
 * counter values and slice arguments as recorded.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../../src/index.js';
import { traceToPerfetto } from '../../src/telemetry/perfetto.js';
import {
  ARENA_BYTES_COUNTER,
  MAIN_TRACK,
  STEPS_IN_FLIGHT_COUNTER,
  type Trace,
} from '../../src/telemetry/trace.js';
import { decodePerfettoTrace, type DecodedPacket } from '../support/perfetto-schema.js';
import { diamond, testDevice } from '../support/test-device.js';
import { tinyCnn, tinyCnnFeeds } from '../support/tracer.js';

interface Slice {
  name: string;
  track: number;
  start: number;
  end: number;
  depth: number;
}

/**
 * Checks the packet stream's structure and pairs each track's begin and end events like a call
 * stack; returns the slices and the counter values per counter track name.
 */
function readTrace(packets: DecodedPacket[]): {
  threads: Map<number, string>;
  slices: Slice[];
  counters: Map<string, number[]>;
  units: Map<string, string | undefined>;
} {
  assert.ok(
    packets.every((p) => p.trustedPacketSequenceId === 1),
    'every packet is on sequence 1',
  );
  assert.equal(packets[0]!.sequenceFlags, 1, 'the first packet clears the incremental state');
  const descriptors = packets.flatMap((p) => (p.trackDescriptor ? [p.trackDescriptor] : []));
  const uuids = descriptors.map((d) => d.uuid!);
  assert.equal(new Set(uuids).size, uuids.length, 'track uuids are unique');
  const processes = descriptors.filter((d) => d.process);
  assert.equal(processes.length, 1, 'one process track');
  assert.deepEqual(processes[0]!.process, { pid: 1, processName: 'heddle', cmdline: [] });
  const threads = new Map<number, string>();
  const counterNames = new Map<number, string>();
  const units = new Map<string, string | undefined>();
  for (const d of descriptors) {
    if (d.thread) {
      assert.equal(d.parentUuid, processes[0]!.uuid, 'threads belong to the process');
      assert.equal(d.thread.threadName, d.name);
      threads.set(d.uuid!, d.thread.threadName!);
    }
    if (d.counter) {
      counterNames.set(d.uuid!, d.name!);
      units.set(d.name!, d.counter.unit);
    }
  }
  const slices: Slice[] = [];
  const counters = new Map<string, number[]>();
  const open = new Map<number, Omit<Slice, 'end'>[]>();
  const lastTime = new Map<number, number>();
  for (const { trackEvent: event, timestamp } of packets) {
    if (!event) continue;
    const track = event.trackUuid!;
    assert.ok(timestamp! >= (lastTime.get(track) ?? 0), `events of track ${track} come in time order`);
    lastTime.set(track, timestamp!);
    if (event.type === 'TYPE_COUNTER') {
      const name = counterNames.get(track);
      assert.ok(name, 'counter values go to counter tracks');
      counters.set(name, [...(counters.get(name) ?? []), event.doubleCounterValue!]);
      continue;
    }
    assert.ok(threads.has(track), 'slices go to thread tracks');
    const stack = open.get(track) ?? [];
    open.set(track, stack);
    if (event.type === 'TYPE_SLICE_BEGIN') {
      stack.push({ name: event.name!, track, start: timestamp!, depth: stack.length });
    } else {
      assert.equal(event.type, 'TYPE_SLICE_END');
      const begun = stack.pop();
      assert.ok(begun, `an end on track ${threads.get(track)} has a begin`);
      slices.push({ ...begun, end: timestamp! });
    }
  }
  for (const [track, stack] of open)
    assert.equal(stack.length, 0, `every slice on ${threads.get(track)} ends`);
  return { threads, slices, counters, units };
}

function sortedNames(names: string[]): string[] {
  return [...names].sort();
}

/**
 * The slices are the trace's spans: the same names, and for each name the same durations to the
 * nanosecond (an end paired with the wrong begin would change them).
 */
function assertSlicesAreSpans(slices: Slice[], trace: Trace): void {
  assert.deepEqual(sortedNames(slices.map((s) => s.name)), sortedNames(trace.spans.map((s) => s.name)));
  const durationsByName = (list: { name: string; nanos: number }[]) => {
    const byName = new Map<string, number[]>();
    for (const { name, nanos } of list) byName.set(name, [...(byName.get(name) ?? []), nanos]);
    for (const durations of byName.values()) durations.sort((a, b) => a - b);
    return byName;
  };
  const written = durationsByName(slices.map((s) => ({ name: s.name, nanos: s.end - s.start })));
  const recorded = durationsByName(
    trace.spans.map((s) => ({ name: s.name, nanos: (s.end - s.start) * 1000 })),
  );
  for (const [name, durations] of recorded) {
    durations.forEach((nanos, i) => {
      assert.ok(Math.abs(written.get(name)![i]! - nanos) <= 1, `'${name}' lasts as long as recorded`);
    });
  }
}

function countersOf(trace: Trace, name: string): number[] {
  return trace.counters.filter((c) => c.name === name).map((c) => c.value);
}

test('a traced tiny CNN decodes with Perfetto schema: tracks, slices and counters as recorded', async () => {
  const session = await InferenceSession.create(tinyCnn, { trace: true });
  await session.run(tinyCnnFeeds());
  const trace = session.trace()!;
  const { threads, slices, counters, units } = readTrace(decodePerfettoTrace(traceToPerfetto(trace)));

  assert.deepEqual([...threads.values()], [MAIN_TRACK]);
  assertSlicesAreSpans(slices, trace);
  const run = slices.find((s) => s.name === 'run')!;
  assert.ok(
    slices.filter((s) => s.depth > run.depth && s.start >= run.start && s.end <= run.end).length >=
      trace.spans.filter((s) => s.category === 'step').length,
    'the steps nest in the run',
  );
  assert.deepEqual(counters.get(ARENA_BYTES_COUNTER), countersOf(trace, ARENA_BYTES_COUNTER));
  assert.deepEqual(counters.get(STEPS_IN_FLIGHT_COUNTER), countersOf(trace, STEPS_IN_FLIGHT_COUNTER));
  assert.equal(units.get(ARENA_BYTES_COUNTER), 'UNIT_SIZE_BYTES');
  assert.equal(units.get(STEPS_IN_FLIGHT_COUNTER), 'UNIT_COUNT');
});

test('the diamond on the test device decodes with a thread track per device lane and step arguments', async () => {
  const session = await InferenceSession.create(diamond, {
    executionProviders: [testDevice(), 'reference'],
    graphOptimizationLevel: 'disabled',
    trace: true,
  });
  await session.run({ x: new Tensor('float32', [0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]) });
  const trace = session.trace()!;
  const packets = decodePerfettoTrace(traceToPerfetto(trace));
  const { threads, slices } = readTrace(packets);

  assert.deepEqual([...threads.values()], [MAIN_TRACK, 'test-device', 'test-device #2']);
  assertSlicesAreSpans(slices, trace);
  const onDevice = slices.filter((s) => threads.get(s.track)!.startsWith('test-device'));
  assert.deepEqual(sortedNames(onDevice.map((s) => s.name)), ['Add', 'Mul', 'Mul', 'Relu']);
  assert.equal(Math.max(...countersOf(trace, STEPS_IN_FLIGHT_COUNTER)), 2, 'both Muls are in flight at once');

  const softmax = packets.find(
    (p) => p.trackEvent?.name === 'Softmax' && p.trackEvent.categories?.[0] === 'step',
  );
  const annotations = new Map(softmax!.trackEvent!.debugAnnotations!.map((a) => [a.name, a]));
  assert.equal(annotations.get('node')!.stringValue, 'softmax');
  assert.equal(annotations.get('backend')!.stringValue, 'reference');
  const inputs = annotations.get('inputs')!.nestedValue!;
  assert.equal(inputs.nestedType, 'ARRAY');
  assert.deepEqual(
    inputs.arrayValues!.map((v) => v.stringValue),
    ['float32[2, 3]'],
  );
  const copy = packets.find((p) => p.trackEvent?.name === 'copy');
  assert.equal(copy!.trackEvent!.debugAnnotations!.find((a) => a.name === 'bytes')!.intValue, 24);
  assert.ok(
    packets.every((p) => p.trackEvent?.nameIid === undefined && !p.trackEvent?.categoryIids?.length),
    'names are written out, not interned',
  );
});
