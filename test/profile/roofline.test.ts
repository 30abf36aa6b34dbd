/**
 * Operators placed against measured ceilings (a synthetic probe result and synthetic spans, so the
 * expected figures follow by hand): arithmetic intensity against the ridge point decides the
 * bound; a compute-bound row is a share of the peak GFLOP/s, a memory-bound one a share of the
 * bandwidth of the memory level one call's bytes fit in; each row is held to the peaks of the
 * threads its step spans say their kernels could use (between one and all, the one-thread figures
 * times the threads, never above the all-thread ones); steps on workers are held to the all-thread
 * peaks.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession } from '../../src/index.js';
import type { ProbeResult } from '../../src/probe/index.js';
import { buildProfile } from '../../src/profile/index.js';
import type { Span, Trace } from '../../src/telemetry/trace.js';
import { buildModel } from '../support/build-model.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const probe: ProbeResult = {
  format: 1,
  fingerprint: 'synthetic',
  machine: {
    os: { platform: 'linux', release: '6', arch: 'x64', name: 'test' },
    cpu: { model: 'test', logicalCores: 8, physicalCores: 4 },
    caches: { l1d: 48 * KiB, l2: 1 * MiB, l3: 32 * MiB },
    memoryBytes: 16 * 1024 * MiB,
    node: '20',
    v8: '11',
  },
  features: { simd128: true, relaxedSimd: false, threads: true, relaxedSimdByFlag: false },
  webgpu: { found: false, reason: 'test' },
  ceilings: {
    threads: 8,
    compute: [{ path: 'mul-add', gflops: { perThread: 40, allThreads: 320 } }],
    bandwidth: [
      {
        level: 'L1d',
        bufferBytes: 24 * KiB,
        read: { perThread: 300, allThreads: 2400 },
        copy: { perThread: 200, allThreads: 1600 },
      },
      {
        level: 'L2',
        bufferBytes: 512 * KiB,
        read: { perThread: 150, allThreads: 1200 },
        copy: { perThread: 100, allThreads: 800 },
      },
      {
        level: 'L3',
        bufferBytes: 4 * MiB,
        read: { perThread: 60, allThreads: 300 },
        copy: { perThread: 50, allThreads: 200 },
      },
      {
        level: 'DRAM',
        bufferBytes: 256 * MiB,
        read: { perThread: 12, allThreads: 30 },
        copy: { perThread: 10, allThreads: 20 },
      },
    ],
    ridge: { perThread: 4, allThreads: 16 },
    cpuShare: { perThread: 1, allThreads: 1 },
    settings: { targetMs: 120, repetitions: 5 },
    measuredAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1,
  },
};

/** y = Tile(Relu(a·b)) + c: a 64³ product (intensity 10.7), a Relu moving 32 KiB, an Add moving 768 KiB. */
const session = await InferenceSession.create(
  buildModel({
    nodes: [
      { op: 'MatMul', name: 'product', inputs: ['a', 'b'], outputs: ['p'] },
      { op: 'Relu', name: 'relu', inputs: ['p'], outputs: ['r'] },
      { op: 'Tile', name: 'tile', inputs: ['r', 'repeats'], outputs: ['t'] },
      { op: 'Add', name: 'add', inputs: ['t', 'c'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'a', type: 'float32', dims: [64, 64] },
      { name: 'b', type: 'float32', dims: [64, 64] },
      { name: 'c', type: 'float32', dims: [256, 256] },
    ],
    outputs: [{ name: 'y', type: 'float32', dims: [256, 256] }],
    initializers: [{ name: 'repeats', type: 'int64', dims: [2], values: [4, 4] }],
  }),
  { graphOptimizationLevel: 'disabled' },
);
const inputShapes = { a: [64, 64], b: [64, 64], c: [256, 256] };
const instance = session.planFor(new Map(Object.entries(inputShapes)));

/** Steps on `track`; a node in `threads` says its kernel could use that many threads, as the wasm backend's do. */
function traceOf(track: string, threads: Record<string, number> = {}): Trace {
  const step = (node: string, op: string, start: number, end: number): Span => ({
    name: op,
    category: 'step',
    track,
    start,
    end,
    args:
      node in threads
        ? { node, op, backend: 'wasm', threads: threads[node]! }
        : { node, op, backend: 'reference' },
  });
  return {
    tracks: [
      { name: 'main', kind: 'main' },
      { name: 'worker 1', kind: 'worker' },
    ],
    spans: [
      { name: 'run', category: 'run', track: 'main', start: 0, end: 200 },
      step('product', 'MatMul', 0, 100),
      step('relu', 'Relu', 100, 110),
      step('tile', 'Tile', 110, 140),
      step('add', 'Add', 140, 190),
    ],
    counters: [],
  };
}

test('intensity against the ridge decides the bound; each bound is a share of its own peak', () => {
  const profile = buildProfile({
    trace: traceOf('main'),
    instance,
    model: 'm',
    inputShapes,
    groupBy: 'node',
    probe,
  });
  assert.equal(profile.peaks!.threads, 1);
  assert.equal(profile.peaksAtFewerThreads, undefined);
  assert.equal(profile.peaks!.gflops, 40);
  assert.equal(profile.peaks!.ridge, 4);
  assert.deepEqual(
    profile.peaks!.memory.map((m) => [m.level, m.capacityBytes, m.gbPerSecond]),
    [
      ['L1d', 48 * KiB, 200],
      ['L2', MiB, 100],
      ['L3', 8 * MiB, 50], // twice the probe's buffer, less than the 32 MiB reported
      ['DRAM', null, 10],
    ],
  );
  const rows = Object.fromEntries(profile.operators.map((r) => [r.key, r]));
  const product = rows.product!;
  assert.equal(product.intensity, (2 * 64 ** 3) / (3 * 64 * 64 * 4));
  assert.equal(product.bound, 'compute');
  assert.equal(product.memoryLevel, undefined);
  // 2·64³ FLOPs in 100 µs: 5.24 GFLOP/s of 40.
  assert.ok(Math.abs(product.percentOfPeak! - (100 * (2 * 64 ** 3)) / 100 / 1e3 / 40) < 1e-9);
  const relu = rows.relu!;
  assert.equal(relu.bound, 'memory');
  assert.equal(relu.memoryLevel, 'L1d', '32 KiB moved per call fits the 48 KiB L1d');
  assert.ok(Math.abs(relu.percentOfPeak! - (100 * (2 * 64 * 64 * 4)) / 10 / 1e3 / 200) < 1e-9);
  const add = rows.add!;
  assert.equal(add.memoryLevel, 'L2', '768 KiB per call fits L2');
  assert.ok(Math.abs(add.percentOfPeak! - (100 * (3 * 256 * 256 * 4)) / 50 / 1e3 / 100) < 1e-9);
  assert.equal(rows.tile!.flops, 0);
  assert.equal(rows.tile!.bound, 'memory');
});

test('a step on two threads is held to the two-thread peaks, a reference step to the one-thread ones', () => {
  const profile = buildProfile({
    trace: traceOf('main', { product: 2, add: 2 }),
    instance,
    model: 'm',
    inputShapes,
    groupBy: 'node',
    probe,
  });
  const rows = Object.fromEntries(profile.operators.map((r) => [r.key, r]));
  assert.deepEqual(
    [rows.product!.threads, rows.relu!.threads, rows.tile!.threads, rows.add!.threads],
    [2, 1, 1, 2],
  );
  const two = profile.peaks!;
  assert.equal(two.threads, 2);
  assert.equal(two.gflops, 80);
  assert.equal(two.computeLabel, 'mul-add, 2 threads');
  assert.deepEqual(
    two.memory.map((m) => m.gbPerSecond),
    [400, 200, 100, 20],
  );
  assert.equal(two.ridge, 4, '80 GFLOP/s over the 20 GB/s of DRAM on two threads');
  const [one, ...others] = profile.peaksAtFewerThreads!;
  assert.equal(others.length, 0);
  assert.equal(one!.threads, 1);
  assert.equal(one!.gflops, 40);
  // 2·64³ FLOPs in 100 µs: 5.24 GFLOP/s of the 80 two threads reach.
  assert.ok(Math.abs(rows.product!.percentOfPeak! - (100 * (2 * 64 ** 3)) / 100 / 1e3 / 80) < 1e-9);
  assert.equal(rows.add!.memoryLevel, 'L2');
  assert.ok(Math.abs(rows.add!.percentOfPeak! - (100 * (3 * 256 * 256 * 4)) / 50 / 1e3 / 200) < 1e-9);
  assert.equal(rows.relu!.memoryLevel, 'L1d');
  assert.ok(Math.abs(rows.relu!.percentOfPeak! - (100 * (2 * 64 * 64 * 4)) / 10 / 1e3 / 200) < 1e-9);
});

test('between one thread and all, each figure is the one-thread one times the threads, at most all threads’', () => {
  const peaksOn = (threads: number) =>
    buildProfile({ trace: traceOf('main', { product: threads }), instance, model: 'm', inputShapes, probe })
      .peaks!;
  const four = peaksOn(4);
  assert.equal(four.threads, 4);
  assert.equal(four.gflops, 160);
  assert.deepEqual(
    four.memory.map((m) => m.gbPerSecond),
    [800, 400, 200, 20],
    'DRAM: 4 × 10 GB/s is more than the 20 all eight threads reach',
  );
  assert.equal(four.ridge, 8);
  const sixteen = peaksOn(16);
  assert.equal(sixteen.threads, 8, 'no more threads than the probe measured');
  assert.equal(sixteen.gflops, 320);
  assert.deepEqual(
    sixteen.memory.map((m) => m.gbPerSecond),
    [1600, 800, 200, 20],
  );
});

test('steps on workers are held to the all-thread peaks', () => {
  const profile = buildProfile({ trace: traceOf('worker 1'), instance, model: 'm', inputShapes, probe });
  assert.equal(profile.peaks!.threads, 8);
  assert.equal(profile.peaks!.gflops, 320);
  assert.equal(profile.peaks!.ridge, 16);
  assert.equal(profile.peaks!.computeLabel, 'mul-add, 8 threads');
  assert.equal(profile.peaksAtFewerThreads, undefined);
  assert.ok(profile.operators.every((r) => r.threads === 8));
});

test('without measured ceilings there are no peaks and no bounds', () => {
  const unmeasured: ProbeResult = { ...probe, ceilings: undefined, ceilingsMissing: 'not measured yet' };
  const profile = buildProfile({
    trace: traceOf('main'),
    instance,
    model: 'm',
    inputShapes,
    probe: unmeasured,
  });
  assert.equal(profile.peaks, undefined);
  assert.ok(profile.operators.every((r) => r.bound === undefined && r.percentOfPeak === undefined));
});
