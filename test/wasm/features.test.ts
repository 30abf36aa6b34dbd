/**
 * The wasm backend's fallbacks, each forced with the backend's `disable` option on a small model
 * (a convolution with bias and ReLU, and a matrix product big enough for the pool):
 * - without relaxed SIMD, every kernel and every module it compiles uses SIMD128 mul+add only;
 * - without threads, loops run on one thread over a memory that is not shared;
 * - without SIMD128, the backend claims nothing and the plan gives every node to reference,
 *   saying why.
 * Each gives the reference backend's results. Every module compiled is seen through a mock of
 * `WasmRuntime.module`, so what is checked is the code itself, not only the kernels' names.
 */

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { ModuleBuilder } from '../../src/backends/wasm/assembler/index.js';
import { WasmBackend, type WasmBackendOptions } from '../../src/backends/wasm/backend.js';
import type { WasmRuntime } from '../../src/backends/wasm/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import { detectWasmFeatures } from '../../src/backends/wasm/features.js';
import { InferenceSession, type ReturnType } from '../../src/runtime/session.js';
import { buildModel, float32Bytes } from '../support/build-model.js';

const host = detectWasmFeatures();

/** Deterministic values in [-1, 1). */
function values(count: number, seed: number): number[] {
  return Array.from({ length: count }, (_, i) => (((i * 7919 + seed * 104729) % 2003) / 2003) * 2 - 1);
}

/** conv = Relu(Conv3x3(x) + bias) on 8→16 channels of 16x16; product = a · w, 48x40 · 40x36. */
function smallModel(): Uint8Array {
  return buildModel({
    nodes: [
      {
        op: 'Conv',
        inputs: ['x', 'kernel', 'bias'],
        outputs: ['convolved'],
        attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
      },
      { op: 'Relu', inputs: ['convolved'], outputs: ['conv'] },
      { op: 'MatMul', inputs: ['a', 'w'], outputs: ['product'] },
    ],
    inputs: [
      { name: 'x', type: 'float32', dims: [1, 8, 16, 16] },
      { name: 'a', type: 'float32', dims: [48, 40] },
    ],
    outputs: [
      { name: 'conv', type: 'float32' },
      { name: 'product', type: 'float32' },
    ],
    initializers: [
      { name: 'kernel', type: 'float32', dims: [16, 8, 3, 3], raw: float32Bytes(values(16 * 8 * 9, 1)) },
      { name: 'bias', type: 'float32', dims: [16], raw: float32Bytes(values(16, 2)) },
      { name: 'w', type: 'float32', dims: [40, 36], raw: float32Bytes(values(40 * 36, 3)) },
    ],
  });
}

const feeds = {
  x: new Tensor('float32', Float32Array.from(values(8 * 16 * 16, 4)), [1, 8, 16, 16]),
  a: new Tensor('float32', Float32Array.from(values(48 * 40, 5)), [48, 40]),
};

async function referenceOutputs(): Promise<ReturnType> {
  const session = await InferenceSession.create(smallModel(), { executionProviders: ['reference'] });
  const outputs = await session.run(feeds);
  await session.release();
  return outputs;
}

interface WasmRun {
  outputs: ReturnType;
  /** Each node's backend, and the kernel it ran. */
  steps: { op: string; backend: string; kernel: string; cause: string }[];
  /** The text of every module the backend's runtime compiled meanwhile. */
  modules: string[];
}

/** Runs the model with `backend` first, watching the modules its runtime compiles meanwhile. */
async function runOnWasm(t: TestContext, backend: WasmBackend): Promise<WasmRun> {
  const modules: string[] = [];
  const runtime: WasmRuntime = backend.runtime;
  const compile = runtime.module.bind(runtime);
  t.mock.method(runtime, 'module', (key: string, build: () => ModuleBuilder) =>
    compile(key, () => {
      const module = build();
      modules.push(module.toText());
      return module;
    }),
  );
  const session = await InferenceSession.create(smallModel(), { executionProviders: [backend] });
  try {
    const outputs = await session.run(feeds);
    const { plan } = session.planFor(new Map(Object.entries(feeds).map(([name, t]) => [name, t.dims])));
    const steps = plan.assignments.map((a) => {
      const step = plan.steps.find((s) => s.kind === 'kernel' && s.node === a.node);
      return {
        op: a.node.opType,
        backend: a.backend.name,
        kernel: step?.kind === 'kernel' ? step.kernel.name : '',
        cause: a.cause,
      };
    });
    return { outputs, steps, modules };
  } finally {
    await session.release();
  }
}

function assertMatchesReference(actual: ReturnType, expected: ReturnType): void {
  for (const name of ['conv', 'product']) {
    const got = (actual[name] as Tensor).data as Float32Array;
    const want = (expected[name] as Tensor).data as Float32Array;
    assert.equal(got.length, want.length);
    want.forEach((w, i) => {
      const error = Math.abs(got[i]! - w);
      assert.ok(error <= 1e-5 + 1e-4 * Math.abs(w), `${name}[${i}] is ${got[i]}, reference ${w}`);
    });
  }
}

/** The convolution (fused with its ReLU by the graph passes) and the product ran on wasm. */
function assertOnWasm(run: WasmRun): void {
  const products = run.steps.filter((s) => ['Conv', 'FusedConv', 'MatMul'].includes(s.op));
  assert.equal(products.length, 2, JSON.stringify(run.steps));
  for (const step of products) assert.equal(step.backend, 'wasm', `${step.op}: ${step.cause}`);
}

/** A wasm backend with `options`, never tuning, so the kernels are each one's default. */
function backend(options: WasmBackendOptions): WasmBackend {
  return new WasmBackend({ tune: false, ...options });
}

test('features: without relaxed SIMD, kernels compute with SIMD128 mul+add', async (t) => {
  const expected = await referenceOutputs();
  const wasm = backend({ threads: 2, disable: ['relaxedSimd'] });
  assert.equal(wasm.features.relaxedSimd, false);
  assert.equal(wasm.features.simd128, host.simd128);
  const run = await runOnWasm(t, wasm);
  assertOnWasm(run);
  assertMatchesReference(run.outputs, expected);
  for (const step of run.steps.filter((s) => s.backend === 'wasm')) {
    assert.doesNotMatch(step.kernel, /relaxed/, `${step.op} ran ${step.kernel}`);
  }
  assert.ok(run.modules.length > 0, 'the kernels compiled modules of their own');
  for (const text of run.modules) assert.doesNotMatch(text, /relaxed/);
  assert.ok(
    run.modules.some((text) => text.includes('f32x4.mul') && text.includes('f32x4.add')),
    'the products multiply and add',
  );
});

test(
  'features: with relaxed SIMD where the host has it, the products use its FMA',
  { skip: !host.relaxedSimd },
  async (t) => {
    const expected = await referenceOutputs();
    const run = await runOnWasm(t, backend({ threads: 2 }));
    assertOnWasm(run);
    assertMatchesReference(run.outputs, expected);
    assert.ok(
      run.modules.some((text) => text.includes('f32x4.relaxed_madd')),
      'some kernel module uses f32x4.relaxed_madd',
    );
  },
);

test('features: without threads, loops run on one thread over unshared memory', async (t) => {
  const expected = await referenceOutputs();
  const wasm = backend({ threads: 2, disable: ['threads'] });
  assert.equal(wasm.features.threads, false);
  assert.equal(wasm.threads, 1, 'two threads asked for, one used');
  assert.equal(wasm.runtime.heap.shared, false);
  assert.ok(wasm.runtime.heap.buffer instanceof ArrayBuffer, 'the heap is not a SharedArrayBuffer');
  const run = await runOnWasm(t, wasm);
  assertOnWasm(run);
  assertMatchesReference(run.outputs, expected);
  assert.ok(run.modules.length > 0);
  for (const text of run.modules)
    assert.doesNotMatch(text, /\(memory[^)]*shared/, 'a module imports shared memory');
});

test('features: without SIMD128, wasm claims nothing and reference runs every node, saying why', async (t) => {
  const expected = await referenceOutputs();
  const wasm = backend({ threads: 2, disable: ['simd128'] });
  assert.equal(wasm.features.simd128, false);
  assert.equal(wasm.features.relaxedSimd, false);
  const run = await runOnWasm(t, wasm);
  assert.ok(run.steps.length > 0);
  for (const step of run.steps) {
    assert.equal(step.backend, 'reference');
    assert.match(step.cause, /wasm: the host has no WebAssembly SIMD128/);
  }
  assert.deepEqual(run.modules, [], 'no kernel module compiled');
  for (const name of ['conv', 'product']) {
    assert.deepEqual((run.outputs[name] as Tensor).data, (expected[name] as Tensor).data);
  }
});

/** y = Relu(a · w) for m×k · k×n, the product an intermediate the plan puts in its arena. */
function productModel(m: number, k: number, n: number): Uint8Array {
  return buildModel({
    nodes: [
      { op: 'MatMul', inputs: ['a', 'w'], outputs: ['p'] },
      { op: 'Relu', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [{ name: 'a', type: 'float32', dims: [m, k] }],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [{ name: 'w', type: 'float32', dims: [k, n], raw: float32Bytes(values(k * n, 6)) }],
  });
}

test('features: without threads, sessions keep working when the heap grows', async () => {
  const options = { graphOptimizationLevel: 'disabled' as const };
  const make = (model: Uint8Array, disable: WasmBackendOptions['disable']) =>
    InferenceSession.create(model, { ...options, executionProviders: [backend({ threads: 1, disable })] });
  const smallFeeds = { a: new Tensor('float32', Float32Array.from(values(4 * 8, 7)), [4, 8]) };
  const bigFeeds = { a: new Tensor('float32', Float32Array.from(values(512 * 512, 8)), [512, 512]) };
  const expectedSmall = (
    await (await InferenceSession.create(productModel(4, 8, 8), options)).run(smallFeeds)
  ).y;
  const expectedBig = (
    await (await InferenceSession.create(productModel(512, 512, 64), options)).run(bigFeeds)
  ).y;
  const small = await make(productModel(4, 8, 8), ['threads']);
  await small.run(smallFeeds);
  const big = await make(productModel(512, 512, 64), ['threads']);
  const bigResult = (await big.run(bigFeeds)).y as Tensor;
  assertClose(bigResult, expectedBig as Tensor, 'the run that grew the heap');
  assertClose((await small.run(smallFeeds)).y as Tensor, expectedSmall as Tensor, 'a run after the growth');
  await small.release();
  await big.release();
});

function assertClose(actual: Tensor, expected: Tensor, what: string): void {
  const want = expected.data as Float32Array;
  const worst = (actual.data as Float32Array).reduce((max, v, i) => Math.max(max, Math.abs(v - want[i]!)), 0);
  assert.ok(worst < 1e-3, `${what}: differs from reference by ${worst}`);
}
