/**
 * `diffProfiles` on profiles with synthetic per-run samples: a change inside the runs' own spread
 * is not flagged, one outside it is, an operator one side lacks counts as zero time there, and
 * with too few runs nothing is flagged. A profile saved before rows had thread counts (one set of
 * peaks for every row) still loads and compares.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  diffProfiles,
  parseProfile,
  peaksOfRow,
  PROFILE_FORMAT,
  PROFILE_VERSION,
  type Peaks,
  type Profile,
} from '../../src/profile/index.js';

/** A profile whose only content is per-run self times per op (and run durations from their sums). */
function profileOf(samples: Record<string, number[]>): Profile {
  const runs = Object.values(samples)[0]!.length;
  const durationsUs = Array.from({ length: runs }, (_, r) =>
    Object.values(samples).reduce((sum, s) => sum + s[r]!, 0),
  );
  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    model: 'synthetic',
    inputShapes: {},
    backends: ['reference'],
    groupBy: 'op',
    phases: {
      loadUs: 0,
      optimizeUs: 0,
      planUs: 0,
      prepareUs: 0,
      compileUs: 0,
      firstRunUs: 0,
      steadyMedianUs: 0,
    },
    runs: {
      durationsUs,
      steady: durationsUs.map((_, i) => i),
      representative: 0,
      coverage: { stepSelfUs: 0, runUs: 0, ratio: 1 },
      collections: durationsUs.map(() => ({ pauseUs: 0, major: 0, minor: 0 })),
      spreadUs: 0,
    },
    operators: Object.entries(samples).map(([op, samplesUs]) => ({
      key: op,
      op,
      backends: ['reference'],
      inputShapes: [],
      calls: 1,
      totalUs: 0,
      meanUs: 0,
      share: 0,
      samplesUs,
    })),
    tracks: [],
    gaps: [],
    criticalPath: { lengthUs: 0, workUs: 0, parallelism: 1, steps: [], slack: [] },
    memory: {
      constantBytes: 0,
      inputBytes: 0,
      arenaBytes: 0,
      highWater: { bytes: 0, step: -1, node: '', timeUs: 0, live: [] },
      curve: [],
      unsizedValues: 0,
    },
  };
}

test('changes inside the spread are not flagged; changes outside it are', () => {
  const a = profileOf({
    Conv: [100, 104, 97, 101, 99, 103],
    MatMul: [50, 51, 49, 50, 52, 48],
    Softmax: [10, 11, 10, 9, 10, 11],
  });
  const b = profileOf({
    Conv: [101, 98, 102, 100, 104, 97],
    MatMul: [70, 71, 69, 72, 70, 68],
    Softmax: [8, 7, 8, 8, 7, 8],
  });
  const diff = diffProfiles(a, b);
  const byOp = Object.fromEntries(diff.operators.map((d) => [d.key, d]));
  assert.equal(byOp.Conv!.flagged, false);
  assert.equal(byOp.Conv!.status, 'unchanged');
  const [low, high] = byOp.Conv!.intervalUs!;
  assert.ok(low < 0 && high > 0, 'the interval of an unchanged op holds zero');
  assert.equal(byOp.MatMul!.flagged, true);
  assert.equal(byOp.MatMul!.status, 'slower');
  assert.equal(byOp.MatMul!.deltaUs, 70 - 50);
  assert.equal(byOp.Softmax!.status, 'faster');
  assert.deepEqual(
    diff.operators.map((d) => d.key),
    ['MatMul', 'Softmax', 'Conv'],
    'largest change first',
  );
  assert.equal(diff.run.flagged, true, 'the runs got longer by more than their spread');
});

test('an op only one profile has took no time in the other', () => {
  const a = profileOf({ Conv: [100, 101, 99, 100], Relu: [5, 6, 5, 5] });
  const b = profileOf({ FusedConv: [103, 104, 102, 103] });
  const byOp = Object.fromEntries(diffProfiles(a, b).operators.map((d) => [d.key, d]));
  assert.equal(byOp.Relu!.status, 'removed');
  assert.equal(byOp.Relu!.flagged, true);
  assert.equal(byOp.Relu!.medianBUs, 0);
  assert.equal(byOp.FusedConv!.status, 'added');
  assert.equal(byOp.FusedConv!.ratio, Infinity);
});

test('with fewer than three runs a side nothing is flagged', () => {
  const diff = diffProfiles(profileOf({ Conv: [100, 101] }), profileOf({ Conv: [500, 510] }));
  assert.equal(diff.operators[0]!.status, 'too few runs');
  assert.equal(diff.operators[0]!.flagged, false);
});

test('profiles grouped differently are refused', () => {
  const a = profileOf({ Conv: [1, 2, 3] });
  assert.throws(() => diffProfiles(a, { ...a, groupBy: 'node' }), /group operators differently/);
});

/** Peaks of `threads` threads with round figures. */
function peaksOf(threads: number): Peaks {
  return {
    source: 'test',
    threads,
    gflops: 40 * threads,
    computeLabel: `mul-add, ${threads} threads`,
    computePaths: [{ path: 'mul-add', gflops: 40 * threads }],
    memory: [{ level: 'DRAM', capacityBytes: null, gbPerSecond: 10 * threads }],
    ridge: 4,
  };
}

test('a profile saved before rows had thread counts loads, diffs, and places its rows against its peaks', () => {
  const old = { ...profileOf({ MatMul: [50, 51, 49], Relu: [5, 6, 5] }), peaks: peaksOf(1) };
  const current = profileOf({ MatMul: [30, 31, 29], Relu: [5, 6, 5] });
  current.peaks = peaksOf(2);
  current.peaksAtFewerThreads = [peaksOf(1)];
  current.operators = current.operators.map((row) => ({ ...row, threads: row.op === 'MatMul' ? 2 : 1 }));
  const loaded = parseProfile(JSON.stringify(old), 'old.json');
  assert.ok(loaded.operators.every((row) => row.threads === undefined));
  assert.ok(loaded.operators.every((row) => peaksOfRow(loaded, row) === loaded.peaks));
  const byOp = Object.fromEntries(diffProfiles(loaded, current).operators.map((d) => [d.key, d]));
  assert.equal(byOp.MatMul!.status, 'faster');
  assert.equal(byOp.Relu!.status, 'unchanged');
  const rowOf = (op: string) => current.operators.find((row) => row.op === op)!;
  assert.equal(peaksOfRow(current, rowOf('MatMul'))!.threads, 2);
  assert.equal(peaksOfRow(current, rowOf('Relu'))!.threads, 1);
});
