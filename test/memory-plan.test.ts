/**
 * Memory plans on real architectures: the arena holds far less than the intermediates add up to,
 * no two values live at the same time share a byte, the attention pattern of the BERT-style
 * encoder is fused and reads its heads in place, and a stream of same-shaped runs stops allocating
 * tensor memory. On a small graph, the parts of a Concat are placed in its output.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InferenceSession, Tensor } from '../src/index.js';
import type { PlanInstance } from '../src/plan/instance.js';
import { exportModels, modelsDir } from './helpers/models.js';
import { readNpyFiles } from './helpers/tensors.js';
import { buildModel } from './support/build-model.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const { skipReason, failure } = exportModels(['resnet18', 'bert', 'lstm']);

before(() => {
  if (failure) throw new Error(failure);
});

function inspectPlan(
  model: string,
  ...args: string[]
): { arenaPeakBytes: number; intermediateBytes: number; rewrites: { description: string }[] } {
  const run = spawnSync(process.execPath, [cli, 'inspect', model, '--plan', '--json', ...args], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test('ResNet-18: the arena peak is at most 40% of the intermediate tensors', { skip: skipReason }, () => {
  const report = inspectPlan(path.join(modelsDir, 'resnet18', 'model.onnx'));
  const share = report.arenaPeakBytes / report.intermediateBytes;
  assert.ok(
    share <= 0.4,
    `arena ${report.arenaPeakBytes} B is ${(share * 100).toFixed(1)}% of ${report.intermediateBytes} B`,
  );
});

test(
  "BERT-style encoder: every layer's attention is fused and reads its heads in place",
  { skip: skipReason },
  () => {
    const report = inspectPlan(
      path.join(modelsDir, 'bert', 'model.onnx'),
      '--dim',
      'batch=2',
      '--dim',
      'sequence=128',
    );
    const all = report.rewrites.map((r) => r.description).join('\n');
    const fused = report.rewrites.filter((r) => /into Attention/.test(r.description));
    assert.equal(fused.length, 4, all);
    const inPlace = report.rewrites.filter((r) => /qkv_layout 'BSNH'/.test(r.description));
    assert.equal(inPlace.length, fused.length, `every fused attention reads its heads in place:\n${all}`);
  },
);

/** Checks that arena values whose lifetimes overlap occupy disjoint bytes. */
function assertNoCollisions(instance: PlanInstance): void {
  const { plan, memory } = instance;
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  plan.steps.forEach((step, i) => {
    const writes = step.kind === 'kernel' ? [...step.outputs] : [step.to];
    const reads = step.kind === 'kernel' ? [...step.inputs, ...step.releases] : [step.from];
    for (const s of writes) if (s >= 0 && !first.has(s)) first.set(s, i);
    for (const s of reads) if (s >= 0) last.set(s, Math.max(last.get(s) ?? -1, i));
  });
  const placed = [...memory!.placements];
  for (let a = 0; a < placed.length; a++) {
    for (let b = a + 1; b < placed.length; b++) {
      const [sa, pa] = placed[a]!;
      const [sb, pb] = placed[b]!;
      if (pa.offset === pb.offset && pa.bytes === pb.bytes) continue; // a view or an in-place output: one value
      const timeOverlap =
        first.get(sa)! <= (last.get(sb) ?? first.get(sb)!) &&
        first.get(sb)! <= (last.get(sa) ?? first.get(sa)!);
      const byteOverlap = pa.offset < pb.offset + pb.bytes && pb.offset < pa.offset + pa.bytes;
      assert.ok(
        !(timeOverlap && byteOverlap),
        `${plan.slots[sa]!.name} and ${plan.slots[sb]!.name} share memory while both live`,
      );
    }
  }
}

test('arena places never collide while values live', { skip: skipReason }, async () => {
  const cases: [string, Record<string, number[]>][] = [
    ['resnet18', { input: [1, 3, 224, 224] }],
    ['bert', { input_ids: [2, 16], attention_mask: [2, 16] }],
    ['lstm', { sequence: [50, 1, 64] }],
  ];
  for (const [name, dims] of cases) {
    const session = await InferenceSession.create(path.join(modelsDir, name, 'model.onnx'));
    const instance = session.planFor(new Map(Object.entries(dims)));
    assert.ok(instance.memory!.placements.size >= 8, `${name} has arena values`);
    assertNoCollisions(instance);
  }
});

test('the tenth same-shaped run allocates no tensor memory', { skip: skipReason }, async () => {
  for (const model of [
    path.join(root, 'examples', 'tiny-cnn.onnx'),
    path.join(modelsDir, 'lstm', 'model.onnx'),
  ]) {
    const session = await InferenceSession.create(model);
    const feeds = model.includes('lstm')
      ? readNpyFiles(path.join(modelsDir, 'lstm', 'inputs'), session.inputNames)
      : { image: new Tensor('float32', new Float32Array(3 * 32 * 32).fill(0.25), [1, 3, 32, 32]) };
    const first = await session.run(feeds);
    // The caller supplies the output tensors, as onnxruntime allows, so that nothing is returned in new memory.
    const fetches = Object.fromEntries(
      Object.entries(first).map(([name, t]) => [
        name,
        new Tensor((t as Tensor).type, new Float32Array((t as Tensor).size), (t as Tensor).dims),
      ]),
    );
    for (let run = 2; run < 10; run++) await session.run(feeds, fetches);
    const before = session.allocations;
    const tenth = await session.run(feeds, fetches);
    const after = session.allocations;
    assert.deepEqual(
      after.byOperator,
      before.byOperator,
      `the tenth run of ${path.basename(path.dirname(model))} allocated tensor memory`,
    );
    assert.equal(after.tensorAllocations, before.tensorAllocations);
    assert.equal(after.arenas, before.arenas);
    for (const [name, t] of Object.entries(tenth))
      assert.equal((t as Tensor).data, (fetches[name] as Tensor).data);
  }
});

test('the optimized graph saved as ONNX runs and gives the same outputs', { skip: skipReason }, async () => {
  const model = path.join(modelsDir, 'bert', 'model.onnx');
  const saved = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-opt-')), 'bert-optimized.onnx');
  const run = spawnSync(
    process.execPath,
    [cli, 'inspect', model, '--save-optimized', saved, '--dim', 'batch=2', '--dim', 'sequence=128'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const original = await InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  const optimized = await InferenceSession.create(saved, { graphOptimizationLevel: 'disabled' });
  const feeds = readNpyFiles(path.join(modelsDir, 'bert', 'inputs'), original.inputNames);
  const a = await original.run(feeds);
  const b = await optimized.run(feeds);
  // Inference knows Heddle's fused operators, so the saved graph still plans every value in the arena.
  const instance = optimized.planFor(new Map(Object.entries(feeds).map(([name, t]) => [name, t.dims])));
  assert.ok(
    !instance.memory!.kinds.includes('dynamic'),
    `kinds: ${[...new Set(instance.memory!.kinds)].join(', ')}`,
  );
  for (const name of original.outputNames) {
    const x = (a[name] as Tensor).data as Float32Array;
    const y = (b[name] as Tensor).data as Float32Array;
    const scale = Math.max(...x.map(Math.abs));
    x.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) <= 1e-4 * scale, `${name}[${i}]: ${v} vs ${y[i]}`));
  }
});

test('the parts of a Concat along contiguous runs are placed in the output, and the Concat copies nothing', async () => {
  // x → Relu → a, x → Sigmoid → b, Concat(a, b) on channels of a batch of one, then Neg (so the
  // concatenation is an intermediate value, placed in the arena).
  const model = buildModel({
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Sigmoid', inputs: ['x'], outputs: ['b'] },
      { op: 'Concat', inputs: ['a', 'b'], outputs: ['c'], attributes: { axis: 1 } },
      { op: 'Neg', inputs: ['c'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [1, 3, 5, 7] }],
    outputs: [{ name: 'y', type: 'float32' }],
  });
  const x = new Tensor(
    'float32',
    Float32Array.from({ length: 105 }, (_, i) => Math.sin(i) * 4),
    [1, 3, 5, 7],
  );
  const expected = await (
    await InferenceSession.create(model, { executionProviders: ['reference'] })
  ).run({ x });
  for (const executionProviders of [['reference'], ['wasm', 'reference']]) {
    const session = await InferenceSession.create(model, {
      executionProviders,
      graphOptimizationLevel: 'disabled',
    });
    const { plan, memory } = session.planFor(new Map([['x', [1, 3, 5, 7]]]));
    const place = (name: string) => memory!.placements.get(plan.slots.findIndex((s) => s.name === name))!;
    assert.equal(place('a').offset, place('c').offset, `${executionProviders}: a opens c`);
    assert.equal(place('b').offset, place('c').offset + 105 * 4, `${executionProviders}: b follows a in c`);
    for (let run = 0; run < 2; run++) {
      const actual = (await session.run({ x })).y as Tensor;
      const worst = (actual.data as Float32Array).reduce(
        (max, v, i) => Math.max(max, Math.abs(v - ((expected.y as Tensor).data as Float32Array)[i]!)),
        0,
      );
      // The wasm backend's sigmoid is within a few ulp of the reference's.
      assert.ok(worst < 1e-6, `${executionProviders}, run ${run}: differs by ${worst}`);
    }
  }
});
