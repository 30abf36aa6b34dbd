/**
 * Large outputs allocated when a run starts (runtime/fresh-outputs.ts), from a plan's second run
 * on: their pages are touched by the calling thread as the wasm pool's loops start, the kernels
 * then write them in place, and the results are the reference backend's. An output handed to its kernel is never touched again
 * (touching writes zeros), outputs the caller gives or that are small are not allocated early, and
 * only an output whose kernel writes every element gets memory that is not zeroed first.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../src/index.js';
import { FreshOutputs } from '../src/runtime/fresh-outputs.js';
import { buildModel } from './support/build-model.js';

const ROWS = 64;
const DEPTH = 256;
/** 64 × 4096 floats: 1 MiB, the smallest output allocated early. */
const COLUMNS = 4096;

/** 'early' = Relu(x), 1 MiB and written first; 'late' = a·w, 1 MiB and written last; 'small' tiny. */
const model = buildModel({
  nodes: [
    { op: 'Relu', inputs: ['x'], outputs: ['early'] },
    { op: 'MatMul', inputs: ['a', 'w'], outputs: ['late'] },
    { op: 'ReduceSum', inputs: ['a'], outputs: ['small'], attributes: { keepdims: 0 } },
  ],
  inputs: [
    { name: 'x', type: 'float32', dims: ['batch', COLUMNS] },
    { name: 'a', type: 'float32', dims: ['batch', DEPTH] },
  ],
  outputs: [
    { name: 'early', type: 'float32', dims: ['batch', COLUMNS] },
    { name: 'late', type: 'float32', dims: ['batch', COLUMNS] },
    { name: 'small', type: 'float32', dims: [] },
  ],
  initializers: [
    {
      name: 'w',
      type: 'float32',
      dims: [DEPTH, COLUMNS],
      values: Array.from({ length: DEPTH * COLUMNS }, (_, i) => ((i % 13) - 6) / 16),
    },
  ],
});

function feeds(): Record<string, Tensor> {
  // Not whole numbers: a touch writes a zero byte, which the low byte of 1.0 to 7.0 already is.
  const x = Float32Array.from({ length: ROWS * COLUMNS }, (_, i) => 1.1 + (i % 7) * 0.7);
  const a = Float32Array.from({ length: ROWS * DEPTH }, (_, i) => ((i % 5) - 2) / 8);
  return { x: new Tensor('float32', x, [ROWS, COLUMNS]), a: new Tensor('float32', a, [ROWS, DEPTH]) };
}

/** Counts the chore slices the runs ask of FreshOutputs, by wrapping `work`. */
const original = FreshOutputs.prototype.work;
let slices = 0;
FreshOutputs.prototype.work = function (this: FreshOutputs, seconds: number): boolean {
  slices++;
  return original.call(this, seconds);
};

/** The outputs of `runs` runs of one session, and the chore slices each run asked for. */
async function runs(
  providers: string[],
  count: number,
  fetches?: Record<string, Tensor>,
): Promise<{ outputs: Record<string, Tensor>; slices: number }[]> {
  const session = await InferenceSession.create(model, {
    executionProviders: providers,
    intraOpNumThreads: 2,
    tuning: false,
  });
  try {
    const results = [];
    for (let i = 0; i < count; i++) {
      slices = 0;
      const outputs = await session.run(feeds(), fetches ?? {});
      results.push({
        outputs: Object.fromEntries(Object.entries(outputs).map(([name, value]) => [name, value as Tensor])),
        slices,
      });
    }
    return results;
  } finally {
    await session.release();
  }
}

function assertClose(actual: Tensor, expected: Tensor, name: string): void {
  assert.deepEqual(actual.dims, expected.dims, name);
  const [a, e] = [actual.data as Float32Array, expected.data as Float32Array];
  for (let i = 0; i < e.length; i++) {
    if (Math.abs(a[i]! - e[i]!) > 1e-4 * Math.max(1, Math.abs(e[i]!)))
      assert.fail(`${name}[${i}] is ${a[i]}, the reference backend's is ${e[i]}`);
  }
}

test('from a plan’s second run, large outputs are allocated early and touched in the pool’s loops', async () => {
  const [expected] = await runs(['reference'], 1);
  const [first, second, third] = await runs(['wasm', 'reference'], 3);
  assert.equal(first!.slices, 0, 'a first run prepares; its outputs are allocated by their kernels');
  assert.ok(second!.slices > 0, 'later runs: the calling thread did chore slices in the pool’s loops');
  for (const { outputs } of [first!, second!, third!]) {
    for (const name of ['early', 'late', 'small'])
      assertClose(outputs[name]!, expected!.outputs[name]!, name);
    // Relu is exact: a zero byte written by a touch after the kernel's write would show.
    assert.deepEqual(outputs.early!.data, expected!.outputs.early!.data);
  }
});

test('only outputs whose kernel writes every element get memory that is not zeroed first', async () => {
  const [expected] = await runs(['reference'], 1);
  // Uninitialized memory as it may come: whatever was there, here bytes of 0xff (a NaN float).
  const buffers = globalThis.Buffer as unknown as { allocUnsafeSlow(bytes: number): Buffer };
  const uninitialized = buffers.allocUnsafeSlow;
  const sizes: number[] = [];
  buffers.allocUnsafeSlow = (bytes: number) => {
    // Node may take uninitialized memory for its own ends too: only outputs' sizes count here.
    if (bytes === ROWS * COLUMNS * 4) sizes.push(bytes);
    return uninitialized.call(buffers, bytes).fill(0xff);
  };
  try {
    const [, second, third] = await runs(['wasm', 'reference'], 3);
    assert.deepEqual(
      sizes,
      [ROWS * COLUMNS * 4, ROWS * COLUMNS * 4],
      "the MatMul's output, from the second run",
    );
    for (const { outputs } of [second!, third!]) {
      assertClose(outputs.late!, expected!.outputs.late!, 'late');
      assert.deepEqual(outputs.early!.data, expected!.outputs.early!.data);
    }
  } finally {
    buffers.allocUnsafeSlow = uninitialized;
  }
});

test('outputs the caller gives are written in place, not allocated early', async () => {
  const given = {
    early: new Tensor('float32', new Float32Array(ROWS * COLUMNS), [ROWS, COLUMNS]),
    late: new Tensor('float32', new Float32Array(ROWS * COLUMNS), [ROWS, COLUMNS]),
  };
  const [, second] = await runs(['wasm', 'reference'], 2, given);
  assert.equal(second!.slices, 0, 'no output left to allocate early, so no chores');
  assert.equal(second!.outputs.late!.data, given.late.data);
  assert.equal(second!.outputs.early!.data, given.early.data);
  const [expected] = await runs(['reference'], 1);
  assertClose(second!.outputs.late!, expected!.outputs.late!, 'late');
});

test('FreshOutputs takes only large outputs of a static shape that a kernel writes', async () => {
  const session = await InferenceSession.create(model, { executionProviders: ['reference'] });
  try {
    const plan = session.planFor(
      new Map([
        ['x', [ROWS, COLUMNS]],
        ['a', [ROWS, DEPTH]],
      ]),
    ).plan;
    const slotOf = (name: string) => plan.outputs[session.outputNames.indexOf(name)]!;
    const unallocated = FreshOutputs.forRun(plan, new Map());
    assert.ok(unallocated);
    assert.equal(unallocated.take(slotOf('late'), 'float32', ROWS * COLUMNS), undefined, 'no chore yet');
    unallocated.take(slotOf('early'), 'float32', ROWS * COLUMNS);
    assert.equal(unallocated.work(1), false, 'what its kernels allocated themselves is left to them');

    const fresh = FreshOutputs.forRun(plan, new Map());
    assert.ok(fresh);
    fresh.work(0);
    assert.equal(fresh.take(slotOf('small'), 'float32', 1), undefined, 'a scalar is not allocated early');
    assert.equal(fresh.take(slotOf('late'), 'float32', 5), undefined, 'nor handed out at another size');
    const late = fresh.take(slotOf('late'), 'float32', ROWS * COLUMNS);
    assert.deepEqual(late?.dims, [ROWS, COLUMNS]);
    assert.equal(fresh.take(slotOf('late'), 'float32', ROWS * COLUMNS), undefined, 'handed out once');
    (late!.data as Float32Array).fill(1.1);
    while (fresh.work(1));
    assert.ok(
      (late!.data as Float32Array).every((value) => value === Math.fround(1.1)),
      'a handed-out output is not touched',
    );
    assert.equal(
      FreshOutputs.forRun(
        plan,
        new Map([
          [slotOf('early'), 0],
          [slotOf('late'), 0],
        ]),
      ),
      undefined,
    );
    const symbolic = session.planFor(new Map()).plan;
    assert.equal(FreshOutputs.forRun(symbolic, new Map()), undefined, 'no static shape, nothing early');
  } finally {
    await session.release();
  }
});
