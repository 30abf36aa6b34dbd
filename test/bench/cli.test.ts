/**
 * `heddle bench` end to end on a small model, with real runner processes: JSON with every system
 * (a peer either measured or reported with its reason), the ratios, and the offline and server
 * scenarios. No assertion looks at a timing's value.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { BenchReport } from '../../src/bench/report.js';
import { buildModel } from '../support/build-model.js';
import { cli, scratchFolder, writeMlp } from '../support/cli-fixture.js';

const folder = scratchFolder('heddle-bench-');
const model = path.join(folder, 'mlp.onnx');
writeMlp(model, 'batch');

const quick = ['--json', '--threads', '1', '--warmup', '1', '--min-runs', '3', '--min-seconds', '0.05'];

function bench(...args: string[]): BenchReport {
  const result = spawnSync(process.execPath, [cli, 'bench', model, ...quick, ...args], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as BenchReport;
}

test('bench measures Heddle and its peers, each measured or reported with a reason', () => {
  const report = bench('--vs', 'onnxruntime-node,onnxruntime-web');
  assert.deepEqual(
    report.systems.map((s) => s.system),
    ['heddle', 'onnxruntime-node', 'onnxruntime-web'],
  );
  const [heddle, ...peers] = report.systems;
  assert.ok(heddle!.latencyMs!.count >= 3);
  assert.ok(heddle!.createMs! > 0 && heddle!.peakRssMb! > 0);
  for (const peer of peers) assert.ok(peer.latencyMs !== undefined || peer.failure!.length > 0);
  assert.deepEqual(
    report.ratios.map((r) => r.peer),
    peers.filter((p) => p.latencyMs).map((p) => p.system),
  );
  assert.ok(report.rounds >= 1);
});

test('offline sets the symbolic batch and reports samples per second', () => {
  const report = bench('--scenario', 'offline', '--batch', '4');
  assert.equal(report.batch, 4);
  assert.ok(report.systems[0]!.samplesPerSecond! > 0);
});

test('server reports the rate it was offered and whether it held it', () => {
  const report = bench('--scenario', 'server', '--rate', '200');
  const server = report.systems[0]!.server!;
  assert.ok(server.offeredQps > 0 && server.achievedQps > 0);
  assert.equal(typeof server.heldRate, 'boolean');
});

test('peers that fail on the model are reported with their reason, and Heddle still is measured', () => {
  // onnxruntime 1.30 refuses models stamped with an ai.onnx opset newer than its release knows.
  const future = path.join(folder, 'future-opset.onnx');
  fs.writeFileSync(
    future,
    buildModel({
      opsets: { '': 27 },
      nodes: [{ op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float32', dims: [4] }],
      outputs: [{ name: 'y', type: 'float32', dims: [4] }],
    }),
  );
  const args = [cli, 'bench', future, ...quick.slice(1), '--vs', 'onnxruntime-node,onnxruntime-web'];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /heddle/);
  assert.match(result.stdout, /onnxruntime-node: not measured: .*opset/);
  assert.match(result.stdout, /onnxruntime-web: not measured: .*opset/);
});

test('an unknown peer is refused with the peers one can choose', () => {
  const result = spawnSync(process.execPath, [cli, 'bench', model, '--vs', 'tvm'], { encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.match(result.stderr, /--vs 'tvm' is not a peer/);
});
