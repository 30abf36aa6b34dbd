/**
 * Alternating rounds with fake runners in place of processes: each round rotates the order of
 * the systems, and a peer that cannot load or that dies mid-way is reported with its reason
 * while the other systems are still measured and reported.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchResult } from '../../src/bench/protocol.js';
import { buildReport, formatReport } from '../../src/bench/report.js';
import { runAlternatingRounds, type MeasurementPlan } from '../../src/bench/rounds.js';
import type { SystemRunner } from '../../src/bench/system-process.js';

interface FakeOptions {
  latencyMs?: number;
  failLoad?: string;
  /** Throws on this measured batch (0 = the first after warm-up). */
  failAtBatch?: number;
}

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
        return { latenciesMs: [], elapsedMs: 0, peakRssKb: 0 };
      if (batches++ === options.failAtBatch) throw new Error(`${system} crashed`);
      log.push(system);
      const latency = options.latencyMs ?? 1;
      return { latenciesMs: [latency, latency], elapsedMs: 2 * latency, peakRssKb: 2048 };
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
  const report = buildReport(result, {
    model: 'm.onnx',
    scenario: 'single-stream',
    threads: 1,
    batch: 1,
    seed: 1,
  });
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
