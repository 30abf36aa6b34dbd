/**
 * Profiles of real architectures (ResNet-18 and the GPT-style decoder, exported from PyTorch):
 * the per-operator self times of a traced run, with the garbage collections that paused it, must
 * account for the run's own measured time to within 5% — a ratio from one run's own spans, never
 * a wall-clock limit — and the table, the critical path and the memory figures must agree with
 * the plan they came from.
 */

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as path from 'node:path';
import { InferenceSession } from '../../src/index.js';
import { graphNodeCost } from '../../src/ir/cost.js';
import { buildProfile } from '../../src/profile/index.js';
import { exportModels, modelsDir } from '../helpers/models.js';
import { readNpyFiles } from '../helpers/tensors.js';

const MODELS = ['resnet18', 'gpt'];
/** A first run (which specialises the plan) and two steady ones. */
const RUNS = 3;

const { skipReason, failure } = exportModels(MODELS);

before(() => {
  if (failure) throw new Error(failure);
});

const profiles = new Map<string, ReturnType<typeof traceAndProfile>>();

/** Each model is traced and profiled once, for all the tests that look at it. */
function profileOf(name: string): ReturnType<typeof traceAndProfile> {
  if (!profiles.has(name)) profiles.set(name, traceAndProfile(name));
  return profiles.get(name)!;
}

async function traceAndProfile(name: string) {
  const folder = path.join(modelsDir, name);
  const session = await InferenceSession.create(path.join(folder, 'model.onnx'), { trace: true });
  const feeds = readNpyFiles(path.join(folder, 'inputs'), session.inputNames);
  for (let i = 0; i < RUNS; i++) await session.run(feeds);
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([input, t]) => [input, [...t.dims]]));
  const instance = session.planFor(new Map(Object.entries(inputShapes)));
  const profile = buildProfile({
    trace: session.trace()!,
    instance,
    model: name,
    inputShapes,
    groupBy: 'node',
  });
  return { profile, instance };
}

for (const name of MODELS) {
  test(
    `${name}: per-operator self times and collections sum to within 5% of the run`,
    { skip: skipReason },
    async (t) => {
      const { profile, instance } = await profileOf(name);
      const { coverage, collections } = profile.runs;
      const collectionUs =
        profile.runs.steady.reduce((sum, i) => sum + collections[i]!.pauseUs, 0) / profile.runs.steady.length;
      t.diagnostic(
        `steps ${(coverage.stepSelfUs / 1000).toFixed(1)} ms and collections ${(collectionUs / 1000).toFixed(1)} ms of ${(coverage.runUs / 1000).toFixed(1)} ms per run: ratio ${coverage.ratio.toFixed(4)}`,
      );
      assert.ok(coverage.ratio <= 1, 'steps lie inside their run');
      const accounted = (coverage.stepSelfUs + collectionUs) / coverage.runUs;
      assert.ok(
        accounted >= 0.95,
        `the steps and collections account for ${(accounted * 100).toFixed(1)}% of the run`,
      );
      for (const steady of profile.runs.steady) {
        const run = profile.runs.durationsUs[steady]!;
        const r = profile.runs.steady.indexOf(steady);
        const steps = profile.operators.reduce((sum, row) => sum + row.samplesUs[r]!, 0);
        const collected = collections[steady]!.pauseUs;
        assert.ok(
          (steps + collected) / run >= 0.95 && steps / run <= 1,
          `run ${steady}: ${steps} µs of steps and ${collected} µs of collections in ${run} µs`,
        );
      }
      const kernels = instance.plan.steps.filter((s) => s.kind === 'kernel');
      assert.equal(profile.operators.length, kernels.length, 'one row per node');
      for (const row of profile.operators) assert.equal(row.calls, 1);
      const shares = profile.operators.reduce((sum, row) => sum + row.share, 0);
      assert.ok(Math.abs(shares - coverage.ratio) < 1e-9);
      const planFlops = kernels.reduce(
        (sum, s) => sum + (graphNodeCost(s.node, instance.plan.graph)?.flops ?? 0),
        0,
      );
      const tableFlops = profile.operators.reduce((sum, row) => sum + (row.flops ?? 0), 0);
      assert.equal(tableFlops, planFlops);
    },
  );
}

test('resnet18: FLOPs, critical path and memory agree with the plan', { skip: skipReason }, async () => {
  const { profile, instance } = await profileOf('resnet18');
  const total = profile.operators.reduce((sum, row) => sum + (row.flops ?? 0), 0);
  // 1.82 G multiply-adds in the convolutions and the classifier, each 2 FLOPs, plus the
  // elementwise work (biases, ReLUs, residual adds, pooling).
  assert.ok(total > 3.6e9 && total < 3.7e9, `ResNet-18 counts ${(total / 1e9).toFixed(3)} GFLOP`);
  const path = profile.criticalPath;
  assert.ok(path.lengthUs <= path.workUs && path.parallelism >= 1);
  assert.equal(path.slack.length, instance.plan.steps.length);
  for (const step of path.steps) {
    assert.equal(path.slack.find((s) => s.node === step.node)!.slackUs, 0, `${step.node} is on the path`);
    assert.ok(step.savingIfTwiceAsFastUs <= step.durationUs / 2 + 1e-6);
  }
  const { memory } = profile;
  const arena = [...instance.memory!.arenaBytes.values()].reduce((a, b) => a + b, 0);
  assert.equal(memory.arenaBytes, arena);
  assert.ok(memory.highWater.bytes >= instance.memory!.liveAtPeak.reduce((sum, v) => sum + v.bytes, 0));
  assert.equal(memory.curve.length, instance.plan.steps.length);
  assert.equal(Math.max(...memory.curve.map((p) => p.bytes)), memory.highWater.bytes);
  assert.equal(
    memory.highWater.live.reduce((sum, v) => sum + v.bytes, 0),
    memory.highWater.bytes,
    'the values live at the high-water mark make it up',
  );
});
