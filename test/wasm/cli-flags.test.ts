/**
 * How the wasm backend's settings reach it: the session options `intraOpNumThreads` and `tuning`
 * through the execution-provider factory, and the `--backends`, `--threads` and `--no-tune` flags
 * of `heddle run`, `profile` and `bench` end to end on a small model. No assertion looks at a
 * timing's value.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import type { BenchReport } from '../../src/bench/report.js';
import { backendsFor } from '../../src/runtime/options.js';
import { buildModel } from '../support/build-model.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-wasm-cli-'));
const model = path.join(folder, 'mlp.onnx');
fs.writeFileSync(
  model,
  buildModel({
    nodes: [
      { op: 'MatMul', name: 'hidden', inputs: ['x', 'w1'], outputs: ['h'] },
      { op: 'Relu', name: 'relu', inputs: ['h'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [8, 16] }],
    outputs: [{ name: 'y', type: 'float32', dims: [8, 32] }],
    initializers: [{ name: 'w1', type: 'float32', dims: [16, 32], values: new Array(16 * 32).fill(0.1) }],
  }),
);
// Tuning decisions of these runs go to a cache folder of their own, not the user's.
const env = { ...process.env, HEDDLE_CACHE_DIR: path.join(folder, 'cache') };

after(() => fs.rmSync(folder, { recursive: true, force: true }));

function heddle(...args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
}

test('the wasm provider gets the session thread count and tuning setting', () => {
  const [tuned] = backendsFor({ executionProviders: ['wasm'], intraOpNumThreads: 1 }, {});
  assert.ok(tuned instanceof WasmBackend);
  assert.equal(tuned.threads, 1);
  assert.equal(tuned.tune, true);
  const [untuned] = backendsFor({ executionProviders: ['wasm'], intraOpNumThreads: 1, tuning: false }, {});
  assert.equal((untuned as WasmBackend).tune, false);
});

test('run takes --backends, --threads and --no-tune', () => {
  const run = heddle('run', model, '--backends', 'wasm,reference', '--threads', '2', '--no-tune');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /y: float32\[8, 32\]/);
});

test('--threads must be a positive integer', () => {
  for (const command of ['run', 'profile']) {
    const run = heddle(command, model, '--backends', 'wasm', '--threads', '0');
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--threads must be a positive integer, got '0'/);
  }
});

test('profile takes --backends, --threads and --no-tune', () => {
  const run = heddle('profile', model, '--runs', '2', '--backends', 'wasm', '--threads', '1', '--no-tune');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /steady median/);
});

test('bench runs Heddle on the backends asked for, and reports them with the tuning setting', () => {
  const quick = ['--json', '--threads', '1', '--warmup', '1', '--min-runs', '3', '--min-seconds', '0.05'];
  const run = heddle('bench', model, ...quick, '--backends', 'wasm,reference', '--no-tune');
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as BenchReport;
  assert.equal(report.threads, 1);
  assert.deepEqual(report.heddle, { backends: ['wasm', 'reference'], tuning: false });
  assert.ok(report.systems[0]!.latencyMs!.count >= 3);
  const text = heddle('bench', model, ...quick.slice(1), '--backends', 'wasm,reference');
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /heddle on wasm,reference/);
});
