/**
 * How the wasm backend's settings reach it: the session options `intraOpNumThreads` and `tuning`
 * through the execution-provider factory, and the `--backends`, `--threads` and `--no-tune` flags
 * of `heddle run`, `profile` and `bench` end to end on a small model. No assertion looks at a
 * timing's value.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import type { BenchReport } from '../../src/bench/report.js';
import { backendsFor } from '../../src/runtime/options.js';
import { cli, scratchFolder, writeMlp } from '../support/cli-fixture.js';

const folder = scratchFolder('heddle-wasm-cli-');
const model = path.join(folder, 'mlp.onnx');
writeMlp(model, 8);
// Tuning decisions of these runs go to a cache folder of their own, not the user's.
const env = { ...process.env, HEDDLE_CACHE_DIR: path.join(folder, 'cache') };

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
