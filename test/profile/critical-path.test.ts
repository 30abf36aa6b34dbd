/**
 * The profiler's analysis of the executed graph on a hand-built diamond with step durations
 * chosen by hand (synthetic spans, no timing of real runs): the critical path, every step's
 * slack, what a 2× faster step saves, idle gaps with their causes, track utilisation, self
 * times of a step with a nested call, and garbage collections inside and between steps.
 *
 *   x ─ a (Relu, 10) ─ c (Exp, 20) ─┐
 *    └─ b (Neg, 55, on a device) ───┴─ d (Add, 5) ─ e (Sigmoid, 5) ─ y
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession } from '../../src/index.js';
import { buildProfile } from '../../src/profile/index.js';
import type { Span, Trace } from '../../src/telemetry/trace.js';
import { buildModel } from '../support/build-model.js';

const session = await InferenceSession.create(
  buildModel({
    nodes: [
      { op: 'Relu', name: 'a', inputs: ['x'], outputs: ['a'] },
      { op: 'Neg', name: 'b', inputs: ['x'], outputs: ['b'] },
      { op: 'Exp', name: 'c', inputs: ['a'], outputs: ['c'] },
      { op: 'Add', name: 'd', inputs: ['b', 'c'], outputs: ['d'] },
      { op: 'Sigmoid', name: 'e', inputs: ['d'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [4] }],
    outputs: [{ name: 'y', type: 'float32', dims: [4] }],
  }),
  { graphOptimizationLevel: 'disabled' },
);
const instance = session.planFor(new Map([['x', [4]]]));

/** Times are µs from the run's start, which is at 1000 on the trace's clock. */
const T0 = 1000;

function step(node: string, op: string, start: number, end: number, track = 'main'): Span {
  return {
    name: op,
    category: 'step',
    track,
    start: T0 + start,
    end: T0 + end,
    args: { node, op, backend: 'reference' },
  };
}

/** main: a, c (with a nested call), a wait for b, d, e; the device runs b meanwhile. */
const trace: Trace = {
  tracks: [
    { name: 'main', kind: 'main' },
    { name: 'device', kind: 'device' },
  ],
  spans: [
    { name: 'run', category: 'run', track: 'main', start: T0, end: T0 + 75 },
    step('a', 'Relu', 0, 10),
    step('c', 'Exp', 10, 30),
    {
      ...step('body/id', 'Identity', 12, 15),
      args: { node: 'body/id', op: 'Identity', inputs: ['float32[4]'] },
    },
    step('b', 'Neg', 5, 60, 'device'),
    step('d', 'Add', 60, 65),
    step('e', 'Sigmoid', 65, 70),
  ],
  counters: [],
};

const profile = buildProfile({ trace, instance, model: 'diamond', inputShapes: { x: [4] }, groupBy: 'node' });

test('the critical path is the longest chain of dependent steps, with what halving each step saves', () => {
  const path = profile.criticalPath;
  assert.deepEqual(
    path.steps.map((s) => s.node),
    ['b', 'd', 'e'],
  );
  assert.equal(path.lengthUs, 55 + 5 + 5);
  assert.equal(path.workUs, 10 + 20 + 55 + 5 + 5);
  assert.equal(path.parallelism, 95 / 65);
  // b at 27.5 leaves the a–c chain (30) in the lead: the path shrinks by 25, not 27.5.
  assert.deepEqual(
    path.steps.map((s) => s.savingIfTwiceAsFastUs),
    [25, 2.5, 2.5],
  );
});

test('slack is how late a step can start without delaying the end', () => {
  const slack = Object.fromEntries(profile.criticalPath.slack.map((s) => [s.node, s.slackUs]));
  assert.deepEqual(slack, { a: 25, b: 0, c: 25, d: 0, e: 0 });
  const earliest = Object.fromEntries(profile.criticalPath.slack.map((s) => [s.node, s.earliestStartUs]));
  assert.deepEqual(earliest, { a: 0, b: 0, c: 10, d: 55, e: 60 });
});

test('idle gaps name what the track waited for', () => {
  const gaps = profile.gaps.map((g) => ({
    track: g.track,
    at: g.startUs,
    for: g.durationUs,
    cause: g.cause,
    detail: g.detail,
  }));
  assert.deepEqual(gaps, [
    { track: 'main', at: 30, for: 30, cause: 'dependency', detail: 'b on device' },
    { track: 'device', at: 60, for: 15, cause: 'main thread', detail: 'after the last step: outputs' },
    {
      track: 'device',
      at: 0,
      for: 5,
      cause: 'main thread',
      detail: 'before the first step: feeds, plan lookup',
    },
    { track: 'main', at: 70, for: 5, cause: 'main thread', detail: 'after the last step: outputs' },
  ]);
  const utilisation = Object.fromEntries(profile.tracks.map((t) => [t.track, t.utilisation]));
  assert.deepEqual(utilisation, { main: 40 / 75, device: 55 / 75 });
});

test("a call nested in a step is its own row, and its time is not the step's own", () => {
  const rows = Object.fromEntries(profile.operators.map((r) => [r.key, r]));
  assert.equal(rows.c!.totalUs, 20 - 3);
  assert.equal(rows['body/id']!.totalUs, 3);
  assert.equal(rows['body/id']!.op, 'Identity');
  assert.deepEqual(rows['body/id']!.inputShapes, ['[4]']);
  assert.deepEqual(rows.c!.inputShapes, ['[4]']);
  assert.equal(rows.c!.flops, 4, 'Exp: one FLOP per element');
  assert.equal(rows.c!.bytes, 2 * 4 * 4);
  assert.equal(profile.runs.coverage.stepSelfUs, 10 + 20 + 55 + 5 + 5);
});

test("garbage collections: counted per run, a pause inside a step is not the step's own, a gap names one", () => {
  const collection = (kind: string, start: number, end: number): Span => ({
    name: kind,
    category: 'gc',
    track: 'main',
    start: T0 + start,
    end: T0 + end,
  });
  const withCollections: Trace = {
    ...trace,
    spans: [...trace.spans, collection('mark-compact', 20, 24), collection('scavenge', 71, 73)],
  };
  const collected = buildProfile({
    trace: withCollections,
    instance,
    model: 'diamond',
    inputShapes: { x: [4] },
    groupBy: 'node',
  });
  assert.deepEqual(collected.runs.collections, [{ pauseUs: 4 + 2, major: 1, minor: 1 }]);
  const rows = Object.fromEntries(collected.operators.map((r) => [r.key, r]));
  assert.equal(rows.c!.totalUs, 20 - 3 - 4, 'c less its nested call and the collection inside it');
  const gap = collected.gaps.find((g) => g.track === 'main' && g.startUs === 70)!;
  assert.deepEqual([gap.cause, gap.detail], ['garbage collection', 'scavenge']);
});

test('a collection while the main thread waits on a device names the gap only if it paused more of it', () => {
  const mainGap = (deviceEnd: number, start: number, end: number) =>
    buildProfile({
      trace: {
        ...trace,
        spans: [
          ...trace.spans.filter((s) => s.args?.node !== 'b'),
          step('b', 'Neg', 5, deviceEnd, 'device'),
          { name: 'mark-compact', category: 'gc', track: 'main', start: T0 + start, end: T0 + end },
        ],
      },
      instance,
      model: 'diamond',
      inputShapes: { x: [4] },
      groupBy: 'node',
    }).gaps.find((g) => g.track === 'main' && g.startUs === 30)!;
  // The main thread is idle from 30 to 60; b on the device ends at 60, or at 40.
  const whileWaiting = mainGap(60, 35, 45);
  assert.deepEqual([whileWaiting.cause, whileWaiting.detail], ['dependency', 'b on device']);
  const afterTheWait = mainGap(40, 42, 58);
  assert.deepEqual([afterTheWait.cause, afterTheWait.detail], ['garbage collection', 'mark-compact']);
});
