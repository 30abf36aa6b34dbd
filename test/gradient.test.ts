/**
 * ai.onnx.preview.training::Gradient: reverse-mode differentiation of the graph around the node,
 * checked against hand-derived derivatives and against central finite differences (in float64)
 * of the same forward nodes run without the Gradient node.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DataType } from '../src/core/dtype.js';
import { TRAINING_DOMAIN } from '../src/ir/graph.js';
import { InferenceSession, Tensor } from '../src/index.js';
import { buildModel, type NodeSpec, type TensorSpec } from './support/build-model.js';

interface Input {
  name: string;
  dims: number[];
  values: number[];
}

interface Case {
  nodes: NodeSpec[];
  /** Fed inputs: the xs, the zs and any other input the nodes read. */
  inputs: Input[];
  /** Constant inputs of the forward nodes (exponents, axes, shapes). */
  constants?: TensorSpec[];
  xs: string[];
  y: string;
  zs?: string[];
  opset?: number;
  type?: DataType;
}

/**
 * The case's model: its forward nodes, then (unless `forwardOnly`) a Gradient node whose outputs
 * `d_<x>` are the graph's outputs. Without `forwardOnly`, y is no graph output, so the forward
 * nodes of the main graph are dead code the optimizer may remove.
 */
function caseModel(c: Case, forwardOnly: boolean): Uint8Array {
  const type = c.type ?? 'float64';
  const gradient: NodeSpec = {
    op: 'Gradient',
    domain: TRAINING_DOMAIN,
    inputs: [...c.xs, ...(c.zs ?? [])],
    outputs: c.xs.map((x) => `d_${x}`),
    attributes: { xs: { strings: c.xs }, y: c.y, ...(c.zs ? { zs: { strings: c.zs } } : {}) },
  };
  const nodes = forwardOnly ? c.nodes : [...c.nodes, gradient];
  return buildModel({
    name: 'gradient',
    opsets: { '': c.opset ?? 17, [TRAINING_DOMAIN]: 1 },
    nodes: nodes.map((node, index) => ({ ...node, name: `${node.op}_${index}` })),
    inputs: c.inputs.map(({ name }) => ({ name, type })),
    outputs: (forwardOnly ? [c.y] : gradient.outputs).map((name) => ({ name, type })),
    initializers: c.constants,
  });
}

function feeds(c: Case, inputs: readonly Input[]): Record<string, Tensor> {
  return Object.fromEntries(
    inputs.map((input) => [input.name, new Tensor(c.type ?? 'float64', input.values, input.dims)]),
  );
}

/** The Gradient node's outputs, one list of numbers per x. */
async function gradients(c: Case, optimization: 'disabled' | 'all' = 'all'): Promise<number[][]> {
  const session = await InferenceSession.create(caseModel(c, false), {
    graphOptimizationLevel: optimization,
  });
  const out = await session.run(feeds(c, c.inputs));
  await session.release();
  return c.xs.map((x) => {
    const tensor = out[`d_${x}`] as Tensor;
    assert.deepEqual(tensor.dims, c.inputs.find((input) => input.name === x)!.dims, `d_${x} has x's dims`);
    return [...(tensor.data as Float64Array | Float32Array)];
  });
}

/** Central finite differences of sum(y): the Gradient's seed is ones of y's shape. */
async function finiteDifferences(c: Case): Promise<number[][]> {
  const float64 = { ...c, type: 'float64' as const };
  const session = await InferenceSession.create(caseModel(float64, true));
  const sumOfY = async (inputs: Input[]) => {
    const out = await session.run(feeds(float64, inputs));
    return [...((out[c.y] as Tensor).data as Float64Array)].reduce((a, b) => a + b, 0);
  };
  const step = 1e-6;
  const result: number[][] = [];
  for (const x of c.xs) {
    const at = c.inputs.findIndex((input) => input.name === x);
    const derivative: number[] = [];
    for (let i = 0; i < c.inputs[at]!.values.length; i++) {
      const nudged = (delta: number) =>
        c.inputs.map((input, j) =>
          j === at ? { ...input, values: input.values.map((v, k) => (k === i ? v + delta : v)) } : input,
        );
      derivative.push(((await sumOfY(nudged(step))) - (await sumOfY(nudged(-step)))) / (2 * step));
    }
    result.push(derivative);
  }
  await session.release();
  return result;
}

function assertClose(actual: number[][], expected: number[][], tolerance: number): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((values, i) => {
    assert.equal(values.length, expected[i]!.length);
    values.forEach((v, j) => {
      const e = expected[i]![j]!;
      assert.ok(
        Math.abs(v - e) <= tolerance * (1 + Math.abs(e)),
        `gradient ${i}, element ${j}: got ${v}, expected ${e}`,
      );
    });
  });
}

async function assertMatchesFiniteDifferences(c: Case): Promise<void> {
  assertClose(await gradients(c), await finiteDifferences(c), 1e-6);
}

/** Deterministic values in [-1, 1) (offset away from 0 where a function needs positive inputs). */
function values(count: number, seed: number, offset = 0): number[] {
  return Array.from({ length: count }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) + offset);
}

test('Add then Mul: the derivatives worked by hand', async () => {
  // d = (a + b) * a: dd/da = 2a + b, dd/db = a.
  const c: Case = {
    nodes: [
      { op: 'Add', inputs: ['a', 'b'], outputs: ['c'] },
      { op: 'Mul', inputs: ['c', 'a'], outputs: ['d'] },
    ],
    inputs: [
      { name: 'a', dims: [], values: [3] },
      { name: 'b', dims: [], values: [-5] },
    ],
    xs: ['a', 'b'],
    y: 'd',
  };
  assert.deepEqual(await gradients(c), [[1], [3]]);
  assert.deepEqual(await gradients(c, 'disabled'), [[1], [3]]);
});

test('broadcast operands get their adjoint summed back to their own shape', async () => {
  // y = a * b - a / c with a [2, 3], b [3], c [2, 1].
  const a = [1, 2, 3, 4, 5, 6];
  const b = [0.5, -1, 2];
  const cv = [2, 4];
  const c: Case = {
    nodes: [
      { op: 'Mul', inputs: ['a', 'b'], outputs: ['ab'] },
      { op: 'Div', inputs: ['a', 'c'], outputs: ['ac'] },
      { op: 'Sub', inputs: ['ab', 'ac'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'a', dims: [2, 3], values: a },
      { name: 'b', dims: [3], values: b },
      { name: 'c', dims: [2, 1], values: cv },
    ],
    xs: ['a', 'b', 'c'],
    y: 'y',
  };
  const da = a.map((_, i) => b[i % 3]! - 1 / cv[Math.floor(i / 3)]!);
  const db = b.map((_, j) => a[j]! + a[3 + j]!);
  const dc = cv.map((v, r) => (a[3 * r]! + a[3 * r + 1]! + a[3 * r + 2]!) / (v * v));
  assertClose(await gradients(c), [da, db, dc], 1e-12);
  await assertMatchesFiniteDifferences(c);
});

test('MatMul: 2-D by hand, batched and broadcast against finite differences', async () => {
  // y = A·B with A [2, 3], B [3, 2]: dA = 1·Bᵀ (row sums of B), dB = Aᵀ·1 (column sums of A).
  const A = values(6, 1);
  const B = values(6, 2);
  const twoD: Case = {
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['y'] }],
    inputs: [
      { name: 'A', dims: [2, 3], values: A },
      { name: 'B', dims: [3, 2], values: B },
    ],
    xs: ['A', 'B'],
    y: 'y',
  };
  const dA = A.map((_, i) => B[2 * (i % 3)]! + B[2 * (i % 3) + 1]!);
  const dB = B.map((_, i) => A[Math.floor(i / 2)]! + A[3 + Math.floor(i / 2)]!);
  assertClose(await gradients(twoD), [dA, dB], 1e-12);

  await assertMatchesFiniteDifferences({
    nodes: [
      { op: 'MatMul', inputs: ['A', 'B'], outputs: ['p'] },
      { op: 'Tanh', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'A', dims: [2, 1, 3, 4], values: values(24, 3) },
      { name: 'B', dims: [3, 4, 2], values: values(24, 4) },
    ],
    xs: ['A', 'B'],
    y: 'y',
  });
  await assertMatchesFiniteDifferences({
    nodes: [
      { op: 'MatMul', inputs: ['v', 'B'], outputs: ['p'] },
      { op: 'MatMul', inputs: ['p', 'w'], outputs: ['q'] },
      { op: 'Sigmoid', inputs: ['q'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'v', dims: [3], values: values(3, 5) },
      { name: 'B', dims: [2, 3, 4], values: values(24, 6) },
      { name: 'w', dims: [4], values: values(4, 7) },
    ],
    xs: ['v', 'B', 'w'],
    y: 'y',
  });
});

test('elementwise functions, Sum and Pow with a constant exponent', async () => {
  const x = values(6, 8, 2);
  await assertMatchesFiniteDifferences({
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['r'] },
      { op: 'Exp', inputs: ['u'], outputs: ['e'] },
      { op: 'Log', inputs: ['x'], outputs: ['l'] },
      { op: 'Sqrt', inputs: ['x'], outputs: ['s'] },
      { op: 'Neg', inputs: ['u'], outputs: ['n'] },
      { op: 'Identity', inputs: ['n'], outputs: ['i'] },
      { op: 'Pow', inputs: ['x', 'three'], outputs: ['p'] },
      { op: 'Pow', inputs: ['x', 'u'], outputs: ['q'] },
      { op: 'Sum', inputs: ['r', 'e', 'l', 's', 'i', 'p', 'q'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'x', dims: [2, 3], values: x },
      { name: 'u', dims: [3], values: values(3, 9) },
    ],
    constants: [{ name: 'three', type: 'float64', dims: [], values: [3] }],
    xs: ['x', 'u'],
    y: 'y',
  });
  // A value read twice gets both adjoints: d(x·x)/dx = 2x.
  const square: Case = {
    nodes: [{ op: 'Mul', inputs: ['x', 'x'], outputs: ['y'] }],
    inputs: [{ name: 'x', dims: [3], values: [1, -2, 0.5] }],
    xs: ['x'],
    y: 'y',
  };
  assert.deepEqual(await gradients(square), [[2, -4, 1]]);
});

test('Reshape, Transpose, Softmax and the reductions, in old and new opsets', async () => {
  const nodes = (opset: number): NodeSpec[] => [
    { op: 'Transpose', inputs: ['x'], outputs: ['t'], attributes: { perm: [2, 0, 1] } },
    { op: 'Reshape', inputs: ['t', 'shape'], outputs: ['r'] },
    { op: 'Softmax', inputs: ['r'], outputs: ['s'], attributes: { axis: opset < 13 ? 1 : 0 } },
    { op: 'Mul', inputs: ['s', 'w'], outputs: ['m'] },
    opset < 13
      ? { op: 'ReduceSum', inputs: ['m'], outputs: ['rs'], attributes: { axes: [1], keepdims: 0 } }
      : { op: 'ReduceSum', inputs: ['m', 'axis1'], outputs: ['rs'], attributes: { keepdims: 0 } },
    opset < 18
      ? { op: 'ReduceMean', inputs: ['m'], outputs: ['rm'], attributes: { axes: [0] } }
      : { op: 'ReduceMean', inputs: ['m', 'axis0'], outputs: ['rm'] },
    { op: 'Tanh', inputs: ['rs'], outputs: ['a'] },
    { op: 'Reshape', inputs: ['a', 'column'], outputs: ['ac'] },
    { op: 'Sigmoid', inputs: ['rm'], outputs: ['b'] },
    { op: 'MatMul', inputs: ['ac', 'b'], outputs: ['y'] },
  ];
  for (const opset of [11, 13, 18]) {
    await assertMatchesFiniteDifferences({
      nodes: nodes(opset),
      opset,
      inputs: [
        { name: 'x', dims: [2, 3, 4], values: values(24, 10) },
        { name: 'w', dims: [4, 6], values: values(24, 11) },
      ],
      constants: [
        { name: 'shape', type: 'int64', dims: [2], values: [4, 6] },
        { name: 'column', type: 'int64', dims: [2], values: [4, 1] },
        { name: 'axis0', type: 'int64', dims: [1], values: [0] },
        { name: 'axis1', type: 'int64', dims: [1], values: [1] },
      ],
      xs: ['x', 'w'],
      y: 'y',
    });
  }
});

test('float32 gradients match float64 finite differences', async () => {
  const c: Case = {
    type: 'float32',
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['p'] },
      { op: 'Add', inputs: ['p', 'bias'], outputs: ['q'] },
      { op: 'Relu', inputs: ['q'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'x', dims: [3, 4], values: values(12, 12).map(Math.fround) },
      { name: 'W', dims: [4, 2], values: values(8, 13).map(Math.fround) },
      { name: 'bias', dims: [2], values: [0.25, -0.125] },
    ],
    xs: ['W', 'bias'],
    y: 'y',
  };
  assertClose(await gradients(c), await finiteDifferences(c), 1e-5);
});

test('weights that are neither xs nor zs are read from the graph around the node', async () => {
  await assertMatchesFiniteDifferences({
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['p'] },
      { op: 'Tanh', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dims: [2, 3], values: values(6, 14) }],
    constants: [{ name: 'W', type: 'float64', dims: [3, 2], values: values(6, 15) }],
    xs: ['x'],
    y: 'y',
  });
});

test('a Cast between float types passes the adjoint through', async () => {
  // y = double(x) · double(x) for a float32 x: dy/dx = 2x, in float32.
  const c: Case = {
    type: 'float32',
    nodes: [
      { op: 'Cast', inputs: ['x'], outputs: ['wide'], attributes: { to: 11 } },
      { op: 'Mul', inputs: ['wide', 'wide'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dims: [3], values: [1.5, -2, 0.25] }],
    xs: ['x'],
    y: 'y',
  };
  assert.deepEqual(await gradients(c), [[3, -4, 0.5]]);
});

test('zs are inputs held constant; an x that y does not depend on gets zeros', async () => {
  // y = x * z: dy/dx = z, and z gets no output.
  const c: Case = {
    nodes: [{ op: 'Mul', inputs: ['x', 'z'], outputs: ['y'] }],
    inputs: [
      { name: 'x', dims: [2], values: [1, 2] },
      { name: 'z', dims: [2], values: [5, -7] },
      { name: 'unused', dims: [2], values: [1, 1] },
    ],
    xs: ['x', 'unused'],
    zs: ['z'],
    y: 'y',
  };
  assert.deepEqual(await gradients(c), [
    [5, -7],
    [0, 0],
  ]);
});

test('an operator without a derivative rule fails the node, naming the operator', async () => {
  const c: Case = {
    nodes: [
      { op: 'Sin', inputs: ['x'], outputs: ['s'] },
      { op: 'Mul', inputs: ['s', 'x'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', dims: [2], values: [1, 2] }],
    xs: ['x'],
    y: 'y',
  };
  await assert.rejects(gradients(c), /Gradient: operator Sin is not differentiable here/);
});
