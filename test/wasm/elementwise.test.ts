/**
 * The wasm backend's elementwise family (unary, binary, ElementwiseChain, Softmax/LogSoftmax,
 * the normalizations and the reductions) against the reference backend, node by node: broadcasting
 * patterns (same shape, scalar, last-axis vector, per channel, per row, two-way and transposed
 * broadcasts), ragged sizes around the vector width and the tiles, 1 and 2 threads, inputs and
 * outputs in the wasm heap and outside it, and outputs written in place over an input.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import { HEDDLE_DOMAIN, type Node } from '../../src/ir/graph.js';
import type { KernelArgs, KernelOutputs } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
import { shapeSize } from '../../src/backends/reference/util.js';
import {
  argsOf,
  assertClose,
  attributes,
  backendsBy,
  heapMemory,
  inHeap,
  ownMemory,
  random,
  type AttributeValue,
} from '../support/wasm-checks.js';

const rng = random(20261125);

function floats(dims: readonly number[], scale = 4, offset = 0): Tensor {
  const size = shapeSize(dims);
  return new Tensor(
    'float32',
    Float32Array.from({ length: size }, () => (rng() - 0.5) * 2 * scale + offset),
    dims,
  );
}

function bools(dims: readonly number[]): Tensor {
  const size = shapeSize(dims);
  return new Tensor(
    'bool',
    Uint8Array.from({ length: size }, () => (rng() < 0.5 ? 1 : 0)),
    dims,
  );
}

function int64s(values: readonly number[]): Tensor {
  return new Tensor('int64', BigInt64Array.from(values, BigInt), [values.length]);
}

interface NodeCase {
  op: string;
  domain?: string;
  opset?: number;
  inputs: (Tensor | undefined)[];
  outputs?: number;
  attributes?: Record<string, AttributeValue>;
  /** Inputs given to the kernels as constants (initializers), by index. */
  constants?: number[];
  /** Largest error allowed: |actual - expected| ≤ atol + rtol·|expected|. */
  rtol?: number;
  atol?: number;
}

function nodeOf(c: NodeCase): Node {
  return {
    name: `${c.op}_case`,
    opType: c.op,
    domain: c.domain ?? '',
    opset: c.opset ?? 21,
    inputs: c.inputs.map((t, i) => (t ? `in${i}` : '')),
    outputs: Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`),
    attributes: attributes(c.attributes ?? {}),
  };
}

const wasmBackend = backendsBy((threads) => ({ threads }));

/** Where a run's operands live: in the heap, outside it, or the output over input 0 (in place). */
type Placement = 'heap' | 'own' | 'in place';

async function runWasm(c: NodeCase, threads: number, placement: Placement): Promise<KernelOutputs> {
  const backend = wasmBackend(threads);
  const node = nodeOf(c);
  const constants = new Map<string, Tensor>();
  for (const i of c.constants ?? []) constants.set(node.inputs[i]!, c.inputs[i]!);
  const support = backend.supports(node);
  assert.equal(support, true, `wasm does not claim ${c.op}: ${String(support)}`);
  const kernel = backend.prepare(node, constants);
  const inputs = c.inputs.map((t, i) =>
    t && placement !== 'own' && !c.constants?.includes(i) ? inHeap(backend, t) : t,
  );
  const inHeapMemory = heapMemory(backend);
  const allocate: KernelArgs['allocateOutput'] = (index, type, dims) => {
    if (placement === 'own') return ownMemory(index, type, dims);
    if (placement === 'in place' && index === 0) return new Tensor(type, inputs[0]!.data, dims);
    return inHeapMemory(index, type, dims);
  };
  return kernel.run(argsOf(inputs, allocate));
}

async function runReference(c: NodeCase): Promise<KernelOutputs> {
  return new ReferenceBackend().prepare(nodeOf(c)).run(argsOf(c.inputs, ownMemory));
}

/** Checks `c` on 1 and 2 threads, in and out of the heap, and in place when the output can be. */
async function check(c: NodeCase, inPlace = false): Promise<void> {
  const expected = await runReference(c);
  const placements: Placement[] = inPlace ? ['heap', 'own', 'in place'] : ['heap', 'own'];
  for (const threads of [1, 2]) {
    for (const placement of placements) {
      const actual = await runWasm(c, threads, placement);
      const what = `${c.op} [${c.inputs.map((t) => (t ? `[${t.dims.join(',')}]` : '-')).join(' ')}] ${threads} thread(s), ${placement}`;
      const tolerance = { rtol: c.rtol ?? 1e-5, atol: c.atol ?? 1e-6 };
      expected.forEach(
        (e, i) => e !== undefined && assertClose(actual[i], e, `${what}, output ${i}`, tolerance),
      );
    }
  }
}

/** Broadcast pairs: same shape, scalar, last axis, per channel, per row, two-way, ragged, large. */
const BROADCASTS: [number[], number[]][] = [
  [[7], [7]],
  [[1], [1]],
  [[2, 3, 5], []],
  [[], [4, 3]],
  [[3, 17], [17]],
  [
    [2, 8, 5, 3],
    [8, 1, 1],
  ],
  [
    [4, 6, 1],
    [4, 1, 9],
  ],
  [
    [5, 1],
    [1, 6],
  ],
  [
    [2, 1, 3],
    [1, 4, 1],
  ],
  [
    [3, 1, 4, 1, 5],
    [1, 2, 1, 6, 1],
  ],
  [
    [1, 33],
    [35, 1],
  ],
  [
    [2, 128, 257],
    [2, 128, 257],
  ],
  [
    [2, 128, 256],
    [1, 128, 256],
  ],
  [[4, 77, 301], [301]],
  [
    [64, 4099],
    [64, 1],
  ],
];

for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min']) {
  test(`${op} broadcasts like the reference`, async () => {
    for (const [a, b] of BROADCASTS) {
      const divisor = op === 'Div' ? floats(b, 4, 5) : floats(b);
      await check(
        { op, opset: 14, inputs: [floats(a), divisor] },
        a.length >= b.length && a.every((d, i) => d >= (b[i - a.length + b.length] ?? 1)),
      );
    }
  });
}

test('Sum, Mean, Max and Min of three inputs and of one', async () => {
  for (const op of ['Sum', 'Mean', 'Max', 'Min']) {
    await check({ op, opset: 13, inputs: [floats([3, 1, 5]), floats([4, 1]), floats([5])] });
    await check({ op, opset: 13, inputs: [floats([6, 7])] }, true);
  }
});

test('Pow with constant exponents, PRelu and Where', async () => {
  for (const exponent of [2, 3, 0.5, -0.5, -1, 1, 0]) {
    const exponentTensor = new Tensor('float32', Float32Array.of(exponent), []);
    const base = exponent === 0.5 || exponent === -0.5 ? floats([5, 9], 4, 5) : floats([5, 9]);
    await check({ op: 'Pow', opset: 15, inputs: [base, exponentTensor], constants: [1] }, true);
  }
  await check({ op: 'PRelu', opset: 16, inputs: [floats([2, 3, 4, 5]), floats([3, 1, 1])] }, true);
  await check({ op: 'PRelu', opset: 16, inputs: [floats([7, 9]), floats([9])] });
  await check({ op: 'Where', opset: 16, inputs: [bools([5, 1, 6]), floats([4, 1]), floats([5, 4, 6])] });
  await check({
    op: 'Where',
    opset: 16,
    inputs: [bools([1, 1, 64, 64]), floats([1, 4, 64, 64]), floats([])],
  });
});

const UNARY: {
  op: string;
  opset?: number;
  domain?: string;
  attributes?: Record<string, AttributeValue>;
  positive?: boolean;
}[] = [
  { op: 'Relu' },
  { op: 'LeakyRelu', attributes: { alpha: { float: 0.2 } } },
  { op: 'Sigmoid' },
  { op: 'Tanh' },
  { op: 'Exp' },
  { op: 'Log', positive: true },
  { op: 'Sqrt', positive: true },
  { op: 'Abs' },
  { op: 'Neg' },
  { op: 'Reciprocal', positive: true },
  { op: 'Floor' },
  { op: 'Ceil' },
  { op: 'Round' },
  { op: 'Sign' },
  { op: 'Erf' },
  { op: 'Softplus' },
  { op: 'Softsign' },
  { op: 'HardSigmoid', attributes: { alpha: { float: 0.3 }, beta: { float: 0.4 } } },
  { op: 'HardSwish' },
  { op: 'Elu', attributes: { alpha: { float: 0.7 } } },
  { op: 'Selu' },
  { op: 'Celu', attributes: { alpha: { float: 1.5 } } },
  { op: 'ThresholdedRelu', attributes: { alpha: { float: 0.5 } } },
  { op: 'Mish' },
  { op: 'Gelu', opset: 20 },
  { op: 'Gelu', opset: 20, attributes: { approximate: 'tanh' } },
  { op: 'Gelu', domain: HEDDLE_DOMAIN, opset: 1 },
  { op: 'Clip', opset: 6, attributes: { min: { float: -1 }, max: { float: 2 } } },
];

for (const { op, opset = 21, domain, attributes: attrs, positive } of UNARY) {
  test(`${op}${attrs ? ` ${JSON.stringify(attrs)}` : ''} matches the reference`, async () => {
    for (const dims of [[1], [3], [4], [5, 7], [2, 3, 1029], [3, 50000]]) {
      const x = positive ? floats(dims, 5, 5.01) : floats(dims, 6);
      // Transcendental approximations are a few ulp from the reference's float64 values.
      await check(
        { op, opset, domain, attributes: attrs, inputs: [x], rtol: 2e-6, atol: op === 'Gelu' ? 3e-6 : 1e-6 },
        true,
      );
    }
  });
}

test('Clip with bounds as inputs, each omitted in turn', async () => {
  const bound = (v: number) => new Tensor('float32', Float32Array.of(v), []);
  await check({ op: 'Clip', opset: 13, inputs: [floats([6, 11]), bound(-1), bound(1.5)] }, true);
  await check({ op: 'Clip', opset: 13, inputs: [floats([6, 11]), undefined, bound(1.5)] });
  await check({ op: 'Clip', opset: 13, inputs: [floats([6, 11]), bound(-1)] });
});

/** An ElementwiseChain node's attributes for `steps`: [op, operands, float attributes]. */
function chain(steps: [string, number[], Record<string, number>?][]): Record<string, AttributeValue> {
  const owners: number[] = [];
  const names: string[] = [];
  const values: number[] = [];
  steps.forEach(([, , attrs = {}], j) => {
    for (const [name, value] of Object.entries(attrs)) {
      owners.push(j);
      names.push(name);
      values.push(value);
    }
  });
  return {
    ops: steps.map(([op]) => op),
    operand_counts: steps.map(([, operands]) => operands.length),
    operands: steps.flatMap(([, operands]) => operands),
    ...(owners.length > 0
      ? { attribute_owners: owners, attribute_names: names, attribute_values: { floats: values } }
      : {}),
  };
}

test('ElementwiseChain programs run as one loop', async () => {
  // GPT's attention mask: Where(mask, x / scale, -inf).
  await check({
    op: 'ElementwiseChain',
    domain: HEDDLE_DOMAIN,
    opset: 1,
    inputs: [floats([1, 4, 64, 64]), floats([]), bools([1, 1, 64, 64]), floats([])],
    attributes: chain([
      ['Div', [0, 1]],
      ['Where', [2, 4, 3]],
    ]),
  });
  // x·sigmoid(1.702·x) + b, with an attribute, a broadcast bias and reuse of an input.
  await check({
    op: 'ElementwiseChain',
    domain: HEDDLE_DOMAIN,
    opset: 1,
    inputs: [floats([3, 5, 37]), floats([37])],
    attributes: chain([
      ['LeakyRelu', [0], { alpha: 0.3 }],
      ['Sigmoid', [2]],
      ['Mul', [0, 3]],
      ['Add', [4, 1]],
      ['Max', [5, 0, 2]],
    ]),
    rtol: 2e-6,
  });
  // Pow by a constant, Clip with one bound, Sqrt.
  const two = new Tensor('float32', Float32Array.of(2), []);
  await check({
    op: 'ElementwiseChain',
    domain: HEDDLE_DOMAIN,
    opset: 1,
    inputs: [floats([2, 9, 11]), two, floats([1])],
    constants: [1],
    attributes: chain([
      ['Pow', [0, 1]],
      ['Clip', [3, 2, -1]],
      ['Sqrt', [4]],
    ]),
  });
});

test('Softmax and LogSoftmax along every axis, before and from opset 13', async () => {
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const dims of [
      [1, 4, 64, 64],
      [3, 5, 7],
      [2, 130],
      [6, 1],
      [2, 3, 4, 9],
    ]) {
      for (let axis = -dims.length; axis < dims.length; axis++) {
        for (const opset of [11, 13]) {
          await check(
            { op, opset, inputs: [floats(dims, 8)], attributes: { axis }, rtol: 1e-5, atol: 1e-6 },
            true,
          );
        }
      }
    }
  }
});

test('LayerNormalization, RMSNormalization, InstanceNormalization and BatchNormalization', async () => {
  const epsilon = { float: 1e-5 };
  for (const [dims, axis] of [
    [[2, 128, 256], -1],
    [[3, 5, 7], -1],
    [[3, 5, 7], 1],
    [[4, 3], 0],
    [[2, 2, 3, 6], -2],
  ] as [number[], number][]) {
    const row = dims.slice(axis < 0 ? axis + dims.length : axis);
    const x = floats(dims, 3, 1);
    const lnOptions = { attributes: { axis, epsilon }, rtol: 1e-4, atol: 1e-5 };
    await check({
      op: 'LayerNormalization',
      opset: 17,
      inputs: [x, floats(row), floats(row)],
      outputs: 3,
      ...lnOptions,
    });
    await check({ op: 'LayerNormalization', opset: 17, inputs: [x, floats(row)], ...lnOptions }, true);
    await check({
      op: 'LayerNormalization',
      domain: HEDDLE_DOMAIN,
      opset: 1,
      inputs: [x, floats(row), floats(row)],
      ...lnOptions,
    });
    await check({
      op: 'RMSNormalization',
      domain: HEDDLE_DOMAIN,
      opset: 1,
      inputs: [x, floats(row)],
      ...lnOptions,
    });
    await check({ op: 'RMSNormalization', opset: 23, inputs: [x, floats(row)], ...lnOptions });
  }
  const image = floats([2, 5, 7, 9], 3, 1);
  const channels = () => floats([5]);
  await check(
    {
      op: 'InstanceNormalization',
      opset: 6,
      inputs: [image, channels(), channels()],
      rtol: 1e-4,
      atol: 1e-5,
    },
    true,
  );
  const variance = floats([5], 1, 2);
  await check(
    {
      op: 'BatchNormalization',
      opset: 15,
      inputs: [image, channels(), channels(), channels(), variance],
      rtol: 1e-5,
      atol: 1e-5,
    },
    true,
  );
});

test('Reductions over trailing, leading, middle and scattered axes', async () => {
  const x = floats([3, 4, 5, 6], 2, 0.5);
  const axesCases = [[3], [0], [1], [1, 2], [0, 2], [0, 3], [1, 3], [], [0, 1, 2, 3], [-1, -3]];
  for (const op of [
    'ReduceSum',
    'ReduceMean',
    'ReduceMax',
    'ReduceMin',
    'ReduceProd',
    'ReduceL1',
    'ReduceL2',
    'ReduceSumSquare',
    'ReduceLogSum',
  ]) {
    for (const axes of axesCases) {
      for (const keepdims of [0, 1]) {
        const tolerance = { rtol: 1e-5, atol: 1e-6 };
        await check({ op, opset: 13, inputs: [x], attributes: { axes, keepdims }, ...tolerance });
        await check({ op, opset: 18, inputs: [x, int64s(axes)], attributes: { keepdims }, ...tolerance });
      }
    }
  }
  await check({ op: 'ReduceMean', opset: 18, inputs: [floats([2, 128, 1000]), int64s([-1])], rtol: 1e-5 });
  await check({
    op: 'ReduceSum',
    opset: 13,
    inputs: [floats([300, 17, 9]), int64s([0])],
    rtol: 1e-5,
    atol: 1e-5,
  });
});
