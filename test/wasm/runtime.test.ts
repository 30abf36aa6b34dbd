/**
 * The wasm runtime: one per thread count and feature set in a process, kernel modules compiled
 * once per key and importing the heap's memory (shared only with threads), loops run inline when
 * they are small, have one tile or there is one thread, and on the pool otherwise, every tile
 * exactly once either way; pool jobs issued together take turns, a failed job leaves the next one
 * running, concurrent runs on one runtime (and of one session) give the results they give alone,
 * subgraph bodies run where they can run synchronously, and one backend object serves several
 * sessions.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import type { ModuleBuilder } from '../../src/backends/wasm/assembler/index.js';
import { WasmRuntime, type KernelModule } from '../../src/backends/wasm/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { detectWasmFeatures, type WasmFeatures } from '../../src/backends/wasm/features.js';
import { InferenceSession, type ReturnType } from '../../src/runtime/session.js';
import { buildModel, float32Bytes, graphAttr } from '../support/build-model.js';
import { forRange } from '../support/wasm-checks.js';

const host = detectWasmFeatures();
const threaded: WasmFeatures = { ...host, threads: true };
const unthreaded: WasmFeatures = { ...host, threads: false };

/**
 * `affine(thread, b0, e0, b1, e1, values, owners, columns, scale, add)`: over a 2-D tile of an i32
 * matrix, value = value * scale + add, and the thread that did it is recorded; `trap` always traps.
 */
function testModule(runtime: WasmRuntime): ModuleBuilder {
  const module = runtime.newModule();
  const params = ['thread', 'b0', 'e0', 'b1', 'e1', 'values', 'owners', 'columns', 'scale', 'add'];
  const affine = module.function('affine', {
    params: params.map((name) => [name, 'i32'] as const),
    export: true,
  });
  const [thread, b0, e0, b1, e1, values, owners, columns, scale, add] = affine.params;
  const [i, j, offset] = ['i', 'j', 'offset'].map((name) => affine.local('i32', name));
  forRange(affine, i, b0!, e0!, () =>
    forRange(affine, j, b1!, e1!, () => {
      affine.get(i).get(columns!).op('i32.mul').get(j).op('i32.add').i32Const(2).op('i32.shl').set(offset);
      affine.get(values!).get(offset).op('i32.add');
      affine.get(values!).get(offset).op('i32.add').mem('i32.load');
      affine.get(scale!).op('i32.mul').get(add!).op('i32.add').mem('i32.store');
      affine.get(owners!).get(offset).op('i32.add').get(thread!).mem('i32.store');
    }),
  );
  const trap = module.function('trap', {
    params: ['thread', 'begin', 'end'].map((name) => [name, 'i32'] as const),
    export: true,
  });
  trap.unreachable();
  return module;
}

let modules = 0;
/** The test module, under a key of its own so each test sees a fresh compile. */
function freshModule(runtime: WasmRuntime): KernelModule {
  return runtime.module(`runtime_test_${modules++}`, () => testModule(runtime));
}

/** An i32 matrix and its owners in the heap, filled with `fill`. */
function matrix(runtime: WasmRuntime, rows: number, columns: number, fill = 0) {
  const heap = runtime.heap;
  const values = heap.allocate(rows * columns * 4);
  const owners = heap.allocate(rows * columns * 4);
  const read = (address: number) => heap.view('int32', address, rows * columns) as Int32Array;
  read(values).fill(fill);
  read(owners).fill(-1);
  return {
    args: (scale: number, add: number) => [values, owners, columns, scale, add],
    values: () => [...read(values)],
    owners: () => [...read(owners)],
    release: () => [values, owners].forEach((address) => heap.release(address)),
  };
}

test('runtime: one per thread count and feature set', () => {
  const two = WasmRuntime.for(2, threaded);
  assert.equal(WasmRuntime.for(2, threaded), two);
  assert.notEqual(WasmRuntime.for(1, threaded), two);
  assert.equal(two.threads, 2);
  assert.equal(two.heap.shared, true);
  const alone = WasmRuntime.for(3, unthreaded);
  assert.equal(alone.threads, 1, 'without threads every loop runs on the calling thread');
  assert.equal(
    WasmRuntime.for(1, unthreaded),
    alone,
    'and the thread count asked for makes no other runtime',
  );
  assert.equal(alone.heap.shared, false);
  assert.ok(alone.heap.buffer instanceof ArrayBuffer);
});

test('runtime: a module is compiled once per key, importing the heap memory', () => {
  for (const runtime of [WasmRuntime.for(2, threaded), WasmRuntime.for(1, unthreaded)]) {
    let builds = 0;
    const build = () => {
      builds++;
      return testModule(runtime);
    };
    const key = `runtime_test_cache_${runtime.heap.shared}`;
    const first = runtime.module(key, build);
    assert.equal(runtime.module(key, build), first);
    assert.equal(builds, 1);
    assert.notEqual(runtime.module(`${key}_other`, build), first);
    assert.equal(builds, 2);
    assert.equal(/\(memory[^)]*shared/.test(testModule(runtime).toText()), runtime.heap.shared);
    assert.throws(() => first.kernel('missing'), new RegExp(`'${key}' exports no function 'missing'`));
  }
});

test('runtime: small loops, single tiles and one thread run inline, every tile once', () => {
  const cases: [WasmRuntime, number, number[], number[], string][] = [
    [WasmRuntime.for(1, threaded), 1e9, [7, 13], [3, 4], 'one thread'],
    [WasmRuntime.for(2, threaded), 100, [7, 13], [3, 4], 'little work'],
    [WasmRuntime.for(2, threaded), 1e9, [7, 13], [7, 13], 'one tile'],
    [WasmRuntime.for(1, unthreaded), 1e9, [5, 1], [2, 1], 'no threads'],
  ];
  for (const [runtime, work, dims, tile, what] of cases) {
    const kernel = freshModule(runtime).kernel('affine');
    const m = matrix(runtime, dims[0]!, dims[1]!);
    const result = runtime.parallel(kernel, { dims, tile }, m.args(1, 1), work);
    assert.equal(result, undefined, `${what}: ran inline`);
    assert.deepEqual(m.values(), new Array(dims[0]! * dims[1]!).fill(1), `${what}: every element once`);
    assert.ok(
      m.owners().every((owner) => owner === 0),
      `${what}: on the calling thread`,
    );
    m.release();
  }
});

test('runtime: an empty range calls nothing', async () => {
  const runtime = WasmRuntime.for(2, threaded);
  const kernel = freshModule(runtime).kernel('trap');
  await runtime.parallel(kernel, { dims: [0], tile: [4] }, [], 1e9);
  assert.equal(runtime.parallel(kernel, { dims: [0, 3], tile: [4, 4] }, [], 10), undefined);
});

test('runtime: large loops run on the pool, every tile once', async () => {
  const runtime = WasmRuntime.for(2, threaded);
  const kernel = freshModule(runtime).kernel('affine');
  const m = matrix(runtime, 61, 1001);
  const result = runtime.parallel(kernel, { dims: [61, 1001], tile: [8, 128] }, m.args(1, 1), 1e9);
  assert.ok(result instanceof Promise, 'a promise: the loop went to the pool');
  await result;
  assert.ok(m.values().every((v) => v === 1));
  assert.ok(m.owners().every((owner) => owner === 0 || owner === 1));
  m.release();
});

test('runtime: pool jobs issued together take turns', async () => {
  const runtime = WasmRuntime.for(2, threaded);
  const kernel = freshModule(runtime).kernel('affine');
  const m = matrix(runtime, 64, 1024, 5);
  const range = { dims: [64, 1024], tile: [4, 256] };
  const order: string[] = [];
  // The second job doubles what the first wrote: run out of turn, it would leave elements at 1 or 10.
  const first = runtime.parallel(kernel, range, m.args(0, 1), 1e9);
  const second = runtime.parallel(kernel, range, m.args(2, 0), 1e9);
  await Promise.all([first?.then(() => order.push('first')), second?.then(() => order.push('second'))]);
  assert.deepEqual(order, ['first', 'second']);
  assert.ok(m.values().every((v) => v === 2));
  m.release();
});

test('runtime: a trapping loop fails inline and on the pool, and the next loop runs', async () => {
  const runtime = WasmRuntime.for(2, threaded);
  const module = freshModule(runtime);
  assert.throws(
    () => runtime.parallel(module.kernel('trap'), { dims: [8], tile: [8] }, [], 1e9),
    /unreachable/,
  );
  const failed = runtime.parallel(module.kernel('trap'), { dims: [4096], tile: [16] }, [], 1e9);
  assert.ok(failed instanceof Promise);
  await assert.rejects(failed);
  const m = matrix(runtime, 32, 512);
  await runtime.parallel(module.kernel('affine'), { dims: [32, 512], tile: [4, 128] }, m.args(1, 3), 1e9);
  assert.ok(m.values().every((v) => v === 3));
  m.release();
});

/** y = Relu(x · w), big enough for the pool at two threads. */
function productModel(seed: number): Uint8Array {
  const w = Array.from({ length: 96 * 80 }, (_, i) => Math.sin(i * seed) / 8);
  return buildModel({
    nodes: [
      { op: 'MatMul', inputs: ['x', 'w'], outputs: ['p'] },
      { op: 'Relu', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [64, 96] }],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [{ name: 'w', type: 'float32', dims: [96, 80], raw: float32Bytes(w) }],
  });
}

/** Three feeds for `productModel`, and each model's outputs for them on the reference backend. */
async function referenceRuns(models: readonly Uint8Array[]) {
  const feeds = [0, 1, 2].map((k) => ({
    x: new Tensor(
      'float32',
      Float32Array.from({ length: 64 * 96 }, (_, i) => Math.cos(i + k)),
      [64, 96],
    ),
  }));
  const expected: Float32Array[][] = [];
  for (const model of models) {
    const session = await InferenceSession.create(model);
    const outputs: Float32Array[] = [];
    for (const feed of feeds) outputs.push(outputY(await session.run(feed)));
    await session.release();
    expected.push(outputs);
  }
  return { feeds, expected };
}

function outputY(result: ReturnType): Float32Array {
  return (result.y as Tensor).data as Float32Array;
}

function wasmSession(model: Uint8Array): Promise<InferenceSession> {
  return InferenceSession.create(model, {
    executionProviders: [new WasmBackend({ threads: 2, tune: false })],
  });
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  const worst = actual.reduce((max, v, i) => Math.max(max, Math.abs(v - expected[i]!)), 0);
  assert.ok(worst < 1e-4, `${what}: differs from reference by ${worst}`);
}

test('runtime: concurrent runs of two sessions on one runtime take turns and keep their results', async () => {
  const models = [productModel(1), productModel(2)];
  const { feeds, expected } = await referenceRuns(models);
  const sessions = await Promise.all(models.map(wasmSession));
  for (let f = 0; f < feeds.length; f++) {
    const results = await Promise.all(sessions.map((session) => session.run(feeds[f]!)));
    results.forEach((r, s) => assertClose(outputY(r), expected[s]![f]!, `session ${s}, feed ${f}`));
  }
  await Promise.all(sessions.map((session) => session.release()));
});

test('runtime: concurrent runs of one session keep their results', async () => {
  const model = productModel(1);
  const { feeds, expected } = await referenceRuns([model]);
  const session = await wasmSession(model);
  const results = await Promise.all(feeds.map((feed) => session.run(feed)));
  results.forEach((r, f) => assertClose(outputY(r), expected[0]![f]!, `feed ${f}`));
  await session.release();
});

/** y = If(cond, then: x · w, else: -x), with a product big enough for the pool at two threads. */
function branchModel(): Uint8Array {
  const w = Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i) / 8);
  const branch = (op: string, inputs: string[]) =>
    graphAttr({
      nodes: [{ op, inputs, outputs: ['r'] }],
      inputs: [],
      outputs: [{ name: 'r', type: 'float32' }],
    });
  return buildModel({
    nodes: [
      {
        op: 'If',
        inputs: ['cond'],
        outputs: ['y'],
        attributes: { then_branch: branch('MatMul', ['x', 'w']), else_branch: branch('Neg', ['x']) },
      },
    ],
    inputs: [
      { name: 'cond', type: 'bool', dims: [] },
      { name: 'x', type: 'float32', dims: [64, 64] },
    ],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [{ name: 'w', type: 'float32', dims: [64, 64], raw: float32Bytes(w) }],
  });
}

test('runtime: a loop on the pool inside an If branch', async () => {
  const feeds = {
    cond: new Tensor('bool', Uint8Array.of(1), []),
    x: new Tensor(
      'float32',
      Float32Array.from({ length: 64 * 64 }, (_, i) => Math.cos(i)),
      [64, 64],
    ),
  };
  const reference = await InferenceSession.create(branchModel());
  const expected = outputY(await reference.run(feeds));
  const session = await wasmSession(branchModel());
  assertClose(outputY(await session.run(feeds)), expected, 'the branch');
  await Promise.all([reference.release(), session.release()]);
});

test('runtime: one backend object serves two sessions; releasing one leaves the other its weights', async () => {
  const models = [productModel(1), productModel(2)];
  const { feeds, expected } = await referenceRuns(models);
  const backend = new WasmBackend({ threads: 2, tune: false });
  const [first, second] = await Promise.all(
    models.map((model) => InferenceSession.create(model, { executionProviders: [backend] })),
  );
  await first!.release();
  // Memory the released session gave back is reused by a third, and must not be the second's.
  const third = await InferenceSession.create(productModel(3), { executionProviders: [backend] });
  await third.run(feeds[0]!);
  for (let f = 0; f < feeds.length; f++) {
    assertClose(outputY(await second!.run(feeds[f]!)), expected[1]![f]!, `feed ${f}`);
  }
  await second!.release();
  await third.release();
});
