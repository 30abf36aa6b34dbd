/**
 * Alternating rounds with fake runners in place of processes: each round rotates the order of
 * the systems, and a peer that cannot load or that dies mid-way is reported with its reason
 * while the other systems are still measured and reported.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchResult, GcActivity } from '../../src/bench/protocol.js';
import type { CollectionKind } from '../../src/host/collections.js';
import { buildReport, formatReport } from '../../src/bench/report.js';
import { runAlternatingRounds, type MeasurementPlan } from '../../src/bench/rounds.js';
import { summarizeCollections } from '../../src/bench/runner-host.js';
import type { SystemRunner } from '../../src/bench/system-process.js';

interface FakeOptions {
  latencyMs?: number;
  failLoad?: string;
  /** Throws on this measured batch (0 = the first after warm-up). */
  failAtBatch?: number;
  /** The collections each measured batch reports. */
  gc?: GcActivity;
}

const REPORT_CONTEXT = { model: 'm.onnx', scenario: 'single-stream', threads: 1, batch: 1, seed: 1 } as const;

const NO_GC: GcActivity = { markCompacts: 0, scavenges: 0, pauseMs: 0, runsWithMajorGc: 0 };

function fakeRunner(
  system: string,
  log: string[],
  options: FakeOptions = {},
): SystemRunner & { closed: boolean } {
  let batches = 0;
  return {
    system,
    closed: false,
    load: async () => {
      if (options.failLoad) throw new Error(options.failLoad);
      return 5;
    },
    measure: async (request): Promise<BatchResult> => {
      if (request.kind === 'run' && request.minMs === 0)
        return { latenciesMs: [], elapsedMs: 0, peakRssKb: 0, gc: { ...NO_GC, markCompacts: 99 } };
      if (batches++ === options.failAtBatch) throw new Error(`${system} crashed`);
      log.push(system);
      const latency = options.latencyMs ?? 1;
      return {
        latenciesMs: [latency, latency],
        elapsedMs: 2 * latency,
        peakRssKb: 2048,
        gc: options.gc ?? NO_GC,
      };
    },
    close() {
      this.closed = true;
    },
  };
}

const plan: MeasurementPlan = {
  warmup: 1,
  minRuns: 8,
  minSeconds: 0,
  request: () => ({ kind: 'run', minCount: 1, minMs: 1 }),
};

test('each round rotates the order of the systems', async () => {
  const log: string[] = [];
  const runners = ['heddle', 'onnxruntime-node', 'onnxruntime-web'].map((name) => fakeRunner(name, log));
  const result = await runAlternatingRounds(runners, plan);
  const expected = [
    ['heddle', 'onnxruntime-node', 'onnxruntime-web'],
    ['onnxruntime-node', 'onnxruntime-web', 'heddle'],
    ['onnxruntime-web', 'heddle', 'onnxruntime-node'],
    ['heddle', 'onnxruntime-node', 'onnxruntime-web'],
  ];
  assert.deepEqual(result.order, expected);
  assert.deepEqual(log, expected.flat());
  for (const system of result.systems) assert.equal(system.latenciesMs.length, 8);
  assert.ok(runners.every((runner) => runner.closed));
});

test('a peer that fails to load is reported, and the others are still measured', async () => {
  const log: string[] = [];
  const runners = [
    fakeRunner('heddle', log, { latencyMs: 4 }),
    fakeRunner('onnxruntime-node', log, { latencyMs: 2 }),
    fakeRunner('onnxruntime-web', log, { failLoad: 'onnxruntime-web is not installed' }),
  ];
  const result = await runAlternatingRounds(runners, plan);
  const web = result.systems[2]!;
  assert.equal(web.failure, 'onnxruntime-web is not installed');
  assert.ok(!log.includes('onnxruntime-web'));
  const report = buildReport(result, REPORT_CONTEXT);
  assert.deepEqual(
    report.ratios.map((r) => [r.peer, r.peerOverHeddle.ratio, r.heddleOverPeer.ratio]),
    [['onnxruntime-node', 0.5, 2]],
  );
  const text = formatReport(report, false);
  assert.match(text, /onnxruntime-web: not measured: onnxruntime-web is not installed/);
  assert.match(text, /heddle/);
  assert.match(text, /onnxruntime-node \/ heddle median: 0\.500×/);
});

test('a peer that crashes mid-way drops out of later rounds with its reason', async () => {
  const log: string[] = [];
  const runners = [fakeRunner('heddle', log), fakeRunner('onnxruntime-node', log, { failAtBatch: 1 })];
  const result = await runAlternatingRounds(runners, plan);
  assert.equal(result.systems[1]!.failure, 'onnxruntime-node crashed');
  assert.equal(result.systems[0]!.latenciesMs.length, 8);
  assert.deepEqual(result.order.slice(2), [['heddle'], ['heddle']]);
});

test('the collections of the measured batches add up, warm-up left out, and show in the table', async () => {
  const gc: GcActivity = { markCompacts: 1, scavenges: 3, pauseMs: 4, runsWithMajorGc: 1 };
  const runners = [fakeRunner('heddle', [], { gc }), fakeRunner('onnxruntime-web', [])];
  const result = await runAlternatingRounds(runners, plan);
  assert.deepEqual(result.systems[0]!.gc, {
    markCompacts: 4,
    scavenges: 12,
    pauseMs: 16,
    runsWithMajorGc: 4,
  });
  assert.deepEqual(result.systems[1]!.gc, NO_GC);
  const report = buildReport(result, REPORT_CONTEXT);
  const rows = formatReport(report, false).split('\n');
  const heddleRow = rows.find((row) => row.includes('heddle') && row.includes('MiB'))!;
  assert.match(heddleRow, /4 \(in 50% of runs\)/);
  assert.match(heddleRow, /2\.00 ms/);
  const webRow = rows.find((row) => row.includes('onnxruntime-web') && row.includes('MiB'))!;
  assert.match(webRow, / 0 .*0\.00 ms/);
});

test("a batch's collections are summed up against the runs' spans", () => {
  const collection = (kind: CollectionKind, start: number, duration: number) => ({ kind, start, duration });
  // Runs with: a scavenge only; a mark-compact; an incremental-marking step; a mark-compact.
  const entries = [
    collection('scavenge', 1, 0.5),
    collection('mark-compact', 12, 3),
    collection('incremental marking', 25, 1),
    collection('mark-compact', 39, 2),
  ];
  const runs: [number, number][] = [
    [0, 10],
    [10, 20],
    [20, 30],
    [30, 40],
  ];
  assert.deepEqual(summarizeCollections(entries, runs), {
    markCompacts: 2,
    scavenges: 1,
    pauseMs: 6.5,
    runsWithMajorGc: 3,
  });
});
