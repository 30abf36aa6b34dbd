/**
 * The wasm backend's MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool against the
 * reference backend, node by node: random kernels, strides, dilations, asymmetric pads, auto_pad,
 * ceil_mode and count_include_pad, ragged widths around the vector of four, 1-D pools, batch 2,
 * NaN inputs; each at 1 and 2 threads with the input and output in the wasm heap and outside it.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import type { Node } from '../../src/ir/graph.js';
import type { KernelOutputs } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { shapeSize } from '../../src/backends/reference/util.js';
import {
  argsOf,
  assertClose,
  attributes,
  backendsBy,
  heapMemory,
  inHeap,
  integer,
  ownMemory,
  pick,
  random,
  type AttributeValue,
  type Random,
  typesOf,
} from '../support/wasm-checks.js';

/** A float32 tensor of values in [-1, 1), each NaN with chance `nanShare`. */
function randomTensor(rng: Random, dims: readonly number[], nanShare = 0): Tensor {
  const data = new Float32Array(shapeSize(dims));
  for (let i = 0; i < data.length; i++) data[i] = rng() < nanShare ? NaN : rng() * 2 - 1;
  return new Tensor('float32', data, dims);
}

interface PoolCase {
  op: string;
  opset: number;
  x: Tensor;
  attributes: Record<string, AttributeValue>;
}

function nodeOf(c: PoolCase, outputs = ['y']): Node {
  return {
    name: 'pool_case',
    opType: c.op,
    domain: '',
    opset: c.opset,
    inputs: ['x'],
    outputs,
    attributes: attributes(c.attributes),
  };
}

const wasmBackend = backendsBy((threads) => ({ threads, tune: false }));

const PLACEMENTS = [
  { threads: 1, heap: true },
  { threads: 2, heap: true },
  { threads: 1, heap: false },
  { threads: 2, heap: false },
];

async function runWasm(c: PoolCase, placement: { threads: number; heap: boolean }): Promise<KernelOutputs> {
  const backend = wasmBackend(placement.threads);
  const node = nodeOf(c);
  const types = typesOf(node, [c.x]);
  assert.equal(backend.supports(node, types), true, 'wasm claims the node');
  const kernel = backend.prepare(node, new Map(), types);
  if (!placement.heap) return kernel.run(argsOf([c.x], ownMemory));
  return kernel.run(argsOf([inHeap(backend, c.x)], heapMemory(backend)));
}

async function check(c: PoolCase): Promise<void> {
  const expected = (await new ReferenceBackend().prepare(nodeOf(c)).run(argsOf([c.x], ownMemory)))[0];
  assert.ok(expected instanceof Tensor);
  const describe = `${c.op}-${c.opset} x[${c.x.dims}] ${JSON.stringify(c.attributes)}`;
  for (const placement of PLACEMENTS) {
    const actual = (await runWasm(c, placement))[0];
    const where = `${describe}, ${placement.threads} threads, ${placement.heap ? 'in' : 'out of'} heap`;
    assertClose(actual, expected, where, { rtol: 1e-6, atol: 1e-6 });
  }
}

/** A windowed pool of random shape and attributes whose window fits its input. */
function randomPool(rng: Random, op: 'MaxPool' | 'AveragePool'): PoolCase {
  const spatial = rng() < 0.2 ? 1 : 2;
  const kernel = Array.from({ length: spatial }, () => integer(rng, 1, 5));
  const strides = Array.from({ length: spatial }, () => pick(rng, [1, 2, 2, 3]));
  const dilations = Array.from({ length: spatial }, () => pick(rng, [1, 1, 2]));
  const autoPad = pick(rng, ['NOTSET', 'NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);
  // Pads smaller than the window (ONNX's rule), so a window never lies in padding alone.
  const pads = Array.from({ length: 2 * spatial }, (_, i) =>
    autoPad === 'NOTSET'
      ? integer(rng, 0, Math.floor(((kernel[i % spatial]! - 1) * dilations[i % spatial]!) / 2))
      : 0,
  );
  const inSpatial = kernel.map((k, d) => (k - 1) * dilations[d]! + 1 + integer(rng, 0, 19));
  const nanShare = op === 'MaxPool' && rng() < 0.3 ? 0.2 : 0;
  return {
    op,
    opset: op === 'MaxPool' ? 12 : 19,
    x: randomTensor(rng, [pick(rng, [1, 2]), integer(rng, 1, 6), ...inSpatial], nanShare),
    attributes: {
      kernel_shape: kernel,
      strides,
      dilations,
      pads: autoPad === 'NOTSET' ? pads : undefined,
      auto_pad: autoPad === 'NOTSET' ? undefined : autoPad,
      ceil_mode: autoPad === 'NOTSET' ? integer(rng, 0, 1) : undefined,
      count_include_pad: op === 'AveragePool' ? integer(rng, 0, 1) : undefined,
    },
  };
}

test('MaxPool: random shapes and attributes, NaN ignored as the reference does', async () => {
  const rng = random(1);
  for (let round = 0; round < 60; round++) await check(randomPool(rng, 'MaxPool'));
});

test('MaxPool: windows of NaN alone, of -inf, and of padding alone', async () => {
  const rng = random(6);
  const x = randomTensor(rng, [1, 3, 12, 13]);
  const data = x.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    const pick = i % 7;
    if (pick < 3) data[i] = NaN;
    else if (pick < 5) data[i] = -Infinity;
  }
  for (const kernel of [1, 2, 3]) {
    await check({
      op: 'MaxPool',
      opset: 12,
      x,
      attributes: { kernel_shape: [kernel, kernel], strides: [1, 1] },
    });
  }
  await check({
    op: 'MaxPool',
    opset: 12,
    x: randomTensor(rng, [1, 2, 9, 9]),
    attributes: { kernel_shape: [2, 2], strides: [3, 3], pads: [0, 0, 2, 2] },
  });
});

test('AveragePool: random shapes and attributes, with and without count_include_pad', async () => {
  const rng = random(2);
  for (let round = 0; round < 60; round++) await check(randomPool(rng, 'AveragePool'));
});

test('MaxPool and AveragePool: the pools of ResNet and SqueezeNet, and opset 1', async () => {
  const rng = random(3);
  await check({
    op: 'MaxPool',
    opset: 12,
    x: randomTensor(rng, [1, 8, 112, 112]),
    attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  });
  await check({
    op: 'MaxPool',
    opset: 12,
    x: randomTensor(rng, [1, 8, 111, 111]),
    attributes: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
  });
  await check({
    op: 'MaxPool',
    opset: 1,
    x: randomTensor(rng, [2, 3, 9, 9]),
    attributes: { kernel_shape: [2, 2] },
  });
  await check({
    op: 'AveragePool',
    opset: 1,
    x: randomTensor(rng, [2, 3, 9, 9]),
    attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
  });
});

test('GlobalAveragePool and GlobalMaxPool: planes of every size around the 16-float step', async () => {
  const rng = random(4);
  for (const op of ['GlobalAveragePool', 'GlobalMaxPool']) {
    for (const spatial of [[1], [7], [16], [17], [3, 5], [7, 7], [13, 13], [2, 3, 4]]) {
      await check({
        op,
        opset: 1,
        x: randomTensor(rng, [2, integer(rng, 1, 40), ...spatial]),
        attributes: {},
      });
    }
    await check({ op, opset: 1, x: randomTensor(rng, [1, 5, 6, 6], 0.3), attributes: {} });
  }
});

test('MaxPool: not claimed when its Indices output is wanted', () => {
  const c: PoolCase = {
    op: 'MaxPool',
    opset: 12,
    x: randomTensor(random(5), [1, 2, 6, 6]),
    attributes: { kernel_shape: [2, 2] },
  };
  assert.match(
    String(wasmBackend(1).supports(nodeOf(c, ['y', 'indices']), typesOf(nodeOf(c), [c.x]))),
    /Indices/,
  );
});
