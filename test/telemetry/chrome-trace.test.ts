/**
 * Chrome trace-event JSON checked against the trace-event rules: a traced ResNet-18 session, the
 * diamond on the test device (whose asynchronous steps overlap on the device's track), and
 * synthetic traces with worker states and spans that overlap without nesting. The checker
 * itself is shown to catch broken traces.
 */

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { InferenceSession, Tensor } from '../../src/index.js';
import { traceToChromeJson, type ChromeTraceEvent } from '../../src/telemetry/chrome-trace.js';
import { MAIN_TRACK, WORKER_STATES, type Span, type Trace } from '../../src/telemetry/trace.js';
import { exportModels, modelsDir } from '../helpers/models.js';
import { readNpyFiles } from '../helpers/tensors.js';
import { diamond, testDevice } from '../support/test-device.js';
import { traceEventViolations } from '../support/tracer.js';

const { skipReason, failure } = exportModels(['resnet18']);

before(() => {
  if (failure) throw new Error(failure);
});

function eventsOf(json: string): ChromeTraceEvent[] {
  return (JSON.parse(json) as { traceEvents: ChromeTraceEvent[] }).traceEvents;
}

function threadNames(events: ChromeTraceEvent[]): Map<number, string> {
  return new Map(
    events.filter((e) => e.name === 'thread_name').map((e) => [e.tid, (e.args as { name: string }).name]),
  );
}

test(
  'a traced ResNet-18 session writes trace-event JSON that keeps the rules',
  { skip: skipReason },
  async () => {
    const folder = path.join(modelsDir, 'resnet18');
    const session = await InferenceSession.create(path.join(folder, 'model.onnx'), { trace: true });
    await session.run(readNpyFiles(path.join(folder, 'inputs'), session.inputNames));
    const trace = session.trace()!;
    const json = traceToChromeJson(trace);
    assert.deepEqual(traceEventViolations(json), []);

    const events = eventsOf(json);
    const slices = events.filter((e) => e.ph === 'X');
    assert.equal(slices.length, trace.spans.length, 'every span is written once');
    assert.equal(
      events.filter((e) => e.ph === 'C').length,
      trace.counters.length,
      'every counter sample is written',
    );
    for (const category of ['load', 'optimize', 'plan', 'prepare', 'run', 'step']) {
      assert.ok(
        slices.some((e) => e.cat === category),
        `a '${category}' slice is there`,
      );
    }
    const instance = session.planFor(new Map([[session.inputNames[0]!, [1, 3, 224, 224]]]));
    const kernelSteps = instance.plan.steps.filter((s) => s.kind === 'kernel').length;
    assert.equal(slices.filter((e) => e.cat === 'step').length, kernelSteps, 'one slice per kernel step');
    assert.deepEqual(
      [...threadNames(events).values()],
      [MAIN_TRACK],
      'the reference backend runs everything on the main thread',
    );
    const run = slices.find((e) => e.cat === 'run')!;
    for (const step of slices.filter((e) => e.cat === 'step')) {
      assert.ok(
        step.ts! >= run.ts! && step.ts! + step.dur! <= run.ts! + run.dur!,
        `${step.name} lies in the run`,
      );
    }
  },
);

test('the diamond on the test device: its overlapping steps go to lanes of the device track', async () => {
  const session = await InferenceSession.create(diamond, {
    executionProviders: [testDevice(), 'reference'],
    graphOptimizationLevel: 'disabled',
    trace: true,
  });
  await session.run({ x: new Tensor('float32', [0.1, -0.2, 0.3, 0.4, 0.5, -0.6], [2, 3]) });
  const json = traceToChromeJson(session.trace()!);
  assert.deepEqual(traceEventViolations(json), []);

  const events = eventsOf(json);
  const names = threadNames(events);
  const stepOf = (node: string) =>
    events.find((e) => e.cat === 'step' && (e.args as { node: string }).node === node)!;
  const [left, right] = [stepOf('left'), stepOf('right')];
  assert.ok(left.ts! < right.ts! + right.dur! && right.ts! < left.ts! + left.dur!, 'the two Muls overlap');
  assert.notEqual(left.tid, right.tid, 'overlapping steps are on different lanes');
  assert.deepEqual([names.get(left.tid), names.get(right.tid)].sort(), ['test-device', 'test-device #2']);
  assert.equal(names.get(stepOf('softmax').tid), MAIN_TRACK, 'the host kernel runs on the main thread');
  const waits = events.filter((e) => e.cat === 'state');
  assert.ok(waits.length > 0, 'the main thread shows its waits');
  assert.ok(waits.every((e) => e.name === 'waiting on a dependency' && names.get(e.tid) === MAIN_TRACK));
  const copies = events.filter((e) => e.cat === 'copy').map((e) => e.args);
  assert.deepEqual(copies, [
    { value: 'x', bytes: 24, from: 'host', to: 'test-device' },
    { value: 't', bytes: 24, from: 'test-device', to: 'host' },
  ]);
});

/** A span `start` to `end` microseconds after time 1e6 on the shared clock. */
function span(
  track: string,
  name: string,
  start: number,
  end: number,
  category: Span['category'] = 'step',
): Span {
  return { name, category, track, start: 1e6 + start, end: 1e6 + end };
}

test('worker states and spans that overlap without nesting are written as nested slices per thread', () => {
  const trace: Trace = {
    tracks: [
      { name: MAIN_TRACK, kind: 'main' },
      { name: 'worker 1', kind: 'worker' },
    ],
    spans: [
      span(MAIN_TRACK, 'run', 0, 100, 'run'),
      ...WORKER_STATES.map((state, i) => span('worker 1', state, i * 20, i * 20 + 20, 'state')),
      span('worker 1', 'Conv', 2.5, 18.25),
      span('worker 1', 'Gemm', 10, 30),
    ],
    counters: [{ name: 'steps in flight', track: MAIN_TRACK, time: 1e6 + 5, value: 2 }],
  };
  const json = traceToChromeJson(trace);
  assert.deepEqual(traceEventViolations(json), []);
  const events = eventsOf(json);
  const names = threadNames(events);
  const slice = (name: string) => events.find((e) => e.name === name && e.ph === 'X')!;
  assert.deepEqual(
    [slice('Conv').ts, slice('Conv').dur, slice('run').ts, slice('parked').ts],
    [2.5, 15.75, 0, 40],
    'times are microseconds from the first event',
  );
  assert.equal(names.get(slice('running').tid), 'worker 1');
  assert.equal(slice('running').cat, 'state');
  assert.equal(slice('Conv').tid, slice('running').tid, 'a step inside a state nests in it');
  assert.equal(
    names.get(slice('Gemm').tid),
    'worker 1 #2',
    'a span crossing two states goes to a second lane',
  );
  assert.deepEqual(
    events.filter((e) => e.ph === 'C').map((e) => [e.name, e.ts, e.args]),
    [['steps in flight', 5, { value: 2 }]],
  );
});

test('the checker finds broken traces', () => {
  const metadata = [
    { name: 'process_name', ph: 'M', pid: 1, tid: 0, args: { name: 'p' } },
    { name: 'thread_name', ph: 'M', pid: 1, tid: 1, args: { name: 't' } },
  ];
  const check = (events: object[]) =>
    traceEventViolations(JSON.stringify({ traceEvents: [...metadata, ...events] }));
  const complete = (name: string, ts: number, dur: number, tid = 1) => ({
    name,
    ph: 'X',
    pid: 1,
    tid,
    ts,
    dur,
  });
  assert.deepEqual(check([complete('a', 0, 10), complete('b', 2, 3)]), []);
  assert.match(
    check([complete('a', 0, 10), complete('b', 5, 10)]).join(),
    /'b' overlaps 'a' without nesting/,
  );
  assert.match(check([complete('a', 0, 10, 2)]).join(), /thread 1:2 has no thread_name/);
  assert.match(check([{ name: 'a', ph: 'X', pid: 1, tid: 1, ts: 0 }]).join(), /dur is not/);
  assert.match(check([{ name: 'a', ph: 'B', pid: 1, tid: 1, ts: 0 }]).join(), /begins and never ends/);
  assert.match(check([{ name: 'a', ph: 'E', pid: 1, tid: 1, ts: 0 }]).join(), /an end with no begin/);
  assert.match(
    check([{ name: 'c', ph: 'C', pid: 1, ts: 1, args: { value: 'x' } }]).join(),
    /args of numbers/,
  );
});
