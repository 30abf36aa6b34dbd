/**
 * The transformer fusions: LayerNormalization, RMSNormalization, Gelu and Attention recognized in
 * the decomposed forms PyTorch, tf2onnx and ONNX function bodies write, in their orderings; what
 * is left alone when a precondition fails; and that a session at 'all' answers as the unfused
 * graph does.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession } from '../../src/index.js';
import type { Tensor } from '../../src/core/tensor.js';
import type { Node } from '../../src/ir/graph.js';
import {
  buildModel,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from '../support/build-model.js';
import { assertSameAsUnfused, optimize, randomFeeds } from '../support/fuseops.js';
import { fuseTransformer, int64s, scalar, weight } from '../support/fusetf.js';

/** Fused and unfused may differ by float32 rounding of the unfused steps, relative to the output's scale. */
const ROUNDING = 1e-5;

function model(
  nodes: NodeSpec[],
  inputs: ValueSpec[],
  initializers: TensorSpec[],
  opset = 17,
  outputs: ValueSpec[] = [{ name: 'y', type: 'float32' }],
): ModelSpec {
  return { nodes, inputs, outputs, initializers, opsets: { '': opset } };
}

function fusedNode(spec: ModelSpec, opType: string): Node {
  const node = fuseTransformer(spec).graph.nodes.find(
    (n) => n.opType === opType && n.domain === 'com.heddle',
  );
  assert.ok(node, `no com.heddle::${opType} in the fused graph`);
  return node;
}

function attributeOf(node: Node, name: string): unknown {
  return node.attributes.get(name)?.value;
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

const x3d: ValueSpec = { name: 'x', type: 'float32', dims: [2, 3, 8] };
const layerNormWeights = [
  scalar('two', 2),
  scalar('eps', 1e-5),
  weight('gamma', [8], 1, 0.2),
  weight('beta', [8], 0, 0.3),
];

/** ReduceMean with its axes as an attribute (before opset 18) or an input. */
function reduceMean(input: string, output: string, opset: number, axes = [-1]): NodeSpec {
  return opset >= 18
    ? { op: 'ReduceMean', inputs: [input, 'axes'], outputs: [output] }
    : { op: 'ReduceMean', inputs: [input], outputs: [output], attributes: { axes } };
}

/** PyTorch's LayerNorm: ReduceMean → Sub → Pow(2) → ReduceMean → Add(eps) → Sqrt → Div → Mul(γ) → Add(β). */
function torchLayerNorm(opset: number, axes = [-1]): ModelSpec {
  return model(
    [
      reduceMean('x', 'mean', opset, axes),
      { op: 'Sub', inputs: ['x', 'mean'], outputs: ['d'] },
      { op: 'Pow', inputs: ['d', 'two'], outputs: ['d2'] },
      reduceMean('d2', 'var', opset, axes),
      { op: 'Add', inputs: ['var', 'eps'], outputs: ['ve'] },
      { op: 'Sqrt', inputs: ['ve'], outputs: ['std'] },
      { op: 'Div', inputs: ['d', 'std'], outputs: ['n'] },
      { op: 'Mul', inputs: ['n', 'gamma'], outputs: ['g'] },
      { op: 'Add', inputs: ['g', 'beta'], outputs: ['y'] },
    ],
    [x3d],
    [...layerNormWeights, int64s('axes', axes)],
    opset,
  );
}

test('PyTorch LayerNorm fuses in every opset, axes as attribute or input', async () => {
  for (const opset of [9, 13, 17, 18]) {
    const spec = torchLayerNorm(opset);
    const { ops, rewrites } = fuseTransformer(spec);
    assert.deepEqual(ops, ['com.heddle::LayerNormalization'], `opset ${opset}`);
    assert.match(rewrites[0]!.description, /into LayerNormalization \(axis -1, epsilon 0\.0000099/);
    const node = fusedNode(spec, 'LayerNormalization');
    assert.deepEqual(node.inputs, ['x', 'gamma', 'beta']);
    assert.equal(attributeOf(node, 'axis'), -1);
    await assertSameAsUnfused(spec, { tolerance: ROUNDING });
  }
});

test('LayerNorm over two trailing axes given as positive axes of a known rank', async () => {
  const spec = torchLayerNorm(13, [1, 2]);
  spec.initializers = [
    scalar('two', 2),
    scalar('eps', 1e-5),
    weight('gamma', [3, 8], 1, 0.2),
    weight('beta', [8]),
  ];
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::LayerNormalization']);
  assert.equal(attributeOf(fusedNode(spec, 'LayerNormalization'), 'axis'), -2);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('LayerNorm with d * d, Mul by the Reciprocal, eps first and no scale or bias', async () => {
  const spec = model(
    [
      reduceMean('x', 'mean', 18),
      { op: 'Sub', inputs: ['x', 'mean'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'd'], outputs: ['d2'] },
      reduceMean('d2', 'var', 18),
      { op: 'Add', inputs: ['eps', 'var'], outputs: ['ve'] },
      { op: 'Sqrt', inputs: ['ve'], outputs: ['std'] },
      { op: 'Reciprocal', inputs: ['std'], outputs: ['r'] },
      { op: 'Mul', inputs: ['r', 'd'], outputs: ['y'] },
    ],
    [x3d],
    [scalar('eps', 1e-3), int64s('axes', [-1])],
    18,
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::LayerNormalization']);
  assert.deepEqual(fusedNode(spec, 'LayerNormalization').inputs, ['x']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test("tf2onnx's LayerNorm, x * (γ / σ) + (β - μ * γ / σ), fuses", async () => {
  const spec = model(
    [
      reduceMean('x', 'mean', 13),
      { op: 'Sub', inputs: ['x', 'mean'], outputs: ['d'] },
      { op: 'Mul', inputs: ['d', 'd'], outputs: ['d2'] },
      reduceMean('d2', 'var', 13),
      { op: 'Add', inputs: ['var', 'eps'], outputs: ['ve'] },
      { op: 'Sqrt', inputs: ['ve'], outputs: ['std'] },
      { op: 'Reciprocal', inputs: ['std'], outputs: ['r'] },
      { op: 'Mul', inputs: ['r', 'gamma'], outputs: ['gr'] },
      { op: 'Mul', inputs: ['x', 'gr'], outputs: ['xg'] },
      { op: 'Mul', inputs: ['mean', 'gr'], outputs: ['mg'] },
      { op: 'Sub', inputs: ['beta', 'mg'], outputs: ['shift'] },
      { op: 'Add', inputs: ['xg', 'shift'], outputs: ['y'] },
    ],
    [x3d],
    layerNormWeights,
    13,
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::LayerNormalization']);
  assert.deepEqual(fusedNode(spec, 'LayerNormalization').inputs, ['x', 'gamma', 'beta']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('a residual added after the LayerNorm stays outside it', async () => {
  const spec = torchLayerNorm(17);
  spec.inputs = [x3d, { name: 'z', type: 'float32', dims: [2, 3, 8] }];
  spec.nodes = spec.nodes.map((n) => (n.outputs[0] === 'y' ? { ...n, outputs: ['ln'] } : n));
  spec.nodes.push(
    { op: 'Relu', inputs: ['z'], outputs: ['residual'] },
    { op: 'Add', inputs: ['ln', 'residual'], outputs: ['y'] },
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::LayerNormalization', 'Relu', 'Add']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

/** x + r → LayerNormalization (ai.onnx, opset 17), the sum read again by `also` when given. */
function residualLayerNorm(rDims: number[], also?: NodeSpec): ModelSpec {
  return model(
    [
      { op: 'Add', inputs: ['x', 'r'], outputs: ['sum'] },
      {
        op: 'LayerNormalization',
        inputs: ['sum', 'gamma', 'beta'],
        outputs: [also ? 'ln' : 'y'],
        attributes: { epsilon: { float: 1e-3 } },
      },
      ...(also ? [also] : []),
    ],
    [x3d, { name: 'r', type: 'float32', dims: rDims }],
    layerNormWeights.slice(2),
  );
}

test('a residual Add before a LayerNormalization fuses into AddLayerNormalization, its sum kept for other readers', async () => {
  const alone = residualLayerNorm([2, 3, 8]);
  assert.deepEqual(fuseTransformer(alone).ops, ['com.heddle::AddLayerNormalization']);
  await assertSameAsUnfused(alone, { tolerance: ROUNDING });
  // The sum feeds the next residual too: the fused node gives it as its second output.
  const chained = residualLayerNorm([2, 3, 8], { op: 'Add', inputs: ['sum', 'ln'], outputs: ['y'] });
  const { ops, graph } = fuseTransformer(chained);
  assert.deepEqual(ops, ['com.heddle::AddLayerNormalization', 'Add']);
  assert.deepEqual(graph.nodes[0]!.outputs, ['ln', 'sum']);
  assert.equal(graph.nodes[0]!.attributes.get('epsilon')?.value, Math.fround(1e-3));
  await assertSameAsUnfused(chained, { tolerance: ROUNDING });
});

test('a residual Add that broadcasts stays outside the LayerNormalization', () => {
  assert.deepEqual(fuseTransformer(residualLayerNorm([3, 8])).ops, ['Add', 'LayerNormalization']);
});

test('LayerNorm patterns with a broken precondition are left alone', () => {
  const unfused = (spec: ModelSpec) => !fuseTransformer(spec).ops.some((op) => op.startsWith('com.heddle'));

  const epsilonFed = torchLayerNorm(17);
  epsilonFed.initializers = epsilonFed.initializers!.filter((t) => t.name !== 'eps');
  epsilonFed.inputs = [x3d, { name: 'eps', type: 'float32', dims: [] }];
  assert.ok(unfused(epsilonFed), 'epsilon is not a constant');

  const centredReturned = torchLayerNorm(17);
  centredReturned.outputs = [...centredReturned.outputs, { name: 'd', type: 'float32' }];
  assert.ok(unfused(centredReturned), 'x - mean is also a graph output');

  const otherAxes = torchLayerNorm(17);
  otherAxes.nodes[3] = reduceMean('d2', 'var', 17, [-2]);
  assert.ok(unfused(otherAxes), 'the variance reduces other axes than the mean');

  const leadingAxis = torchLayerNorm(17, [0]);
  assert.ok(unfused(leadingAxis), 'axis 0 of three is not a trailing run of axes');

  const keptSquare = torchLayerNorm(17);
  keptSquare.nodes[2] = { op: 'Pow', inputs: ['d', 'three'], outputs: ['d2'] };
  keptSquare.initializers = [...keptSquare.initializers!, scalar('three', 3)];
  assert.ok(unfused(keptSquare), 'a cube is no variance');
});

// ---------------------------------------------------------------------------------------------
// RMSNormalization

test('RMSNorm: x * Reciprocal(Sqrt(ReduceMean(Pow(x, 2)) + eps)) * γ', async () => {
  const spec = model(
    [
      { op: 'Pow', inputs: ['x', 'two'], outputs: ['x2'] },
      reduceMean('x2', 'ms', 17),
      { op: 'Add', inputs: ['ms', 'eps'], outputs: ['mse'] },
      { op: 'Sqrt', inputs: ['mse'], outputs: ['rms'] },
      { op: 'Reciprocal', inputs: ['rms'], outputs: ['inv'] },
      { op: 'Mul', inputs: ['x', 'inv'], outputs: ['n'] },
      { op: 'Mul', inputs: ['n', 'gamma'], outputs: ['y'] },
    ],
    [x3d],
    layerNormWeights,
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::RMSNormalization']);
  const node = fusedNode(spec, 'RMSNormalization');
  assert.deepEqual(node.inputs, ['x', 'gamma']);
  assert.equal(attributeOf(node, 'axis'), -1);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('RMSNorm: x / Sqrt(ReduceMean(x * x) + eps) with axes as an input and no scale', async () => {
  const spec = model(
    [
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['x2'] },
      reduceMean('x2', 'ms', 18),
      { op: 'Add', inputs: ['ms', 'eps'], outputs: ['mse'] },
      { op: 'Sqrt', inputs: ['mse'], outputs: ['rms'] },
      { op: 'Div', inputs: ['x', 'rms'], outputs: ['y'] },
    ],
    [x3d],
    [scalar('eps', 1e-6), int64s('axes', [-1])],
    18,
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::RMSNormalization']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test("RMSNorm as Hugging Face's Llama writes it: γ * (x * Pow(mean + eps, -0.5))", async () => {
  const spec = model(
    [
      { op: 'Pow', inputs: ['x', 'two'], outputs: ['x2'] },
      reduceMean('x2', 'ms', 17),
      { op: 'Add', inputs: ['ms', 'eps'], outputs: ['mse'] },
      { op: 'Pow', inputs: ['mse', 'minusHalf'], outputs: ['inv'] },
      { op: 'Mul', inputs: ['x', 'inv'], outputs: ['n'] },
      { op: 'Mul', inputs: ['gamma', 'n'], outputs: ['y'] },
    ],
    [x3d],
    [...layerNormWeights, scalar('minusHalf', -0.5)],
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::RMSNormalization']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('RMSNorm with a broken precondition is left alone', () => {
  const spec = (root: NodeSpec): ModelSpec =>
    model(
      [
        { op: 'Pow', inputs: ['x', 'two'], outputs: ['x2'] },
        reduceMean('x2', 'ms', 17),
        { op: 'Add', inputs: ['ms', 'eps'], outputs: ['mse'] },
        root,
        { op: 'Div', inputs: ['x', 'rms'], outputs: ['y'] },
      ],
      [x3d],
      [...layerNormWeights, scalar('third', 1 / 3)],
    );
  const cubeRoot = spec({ op: 'Pow', inputs: ['mse', 'third'], outputs: ['rms'] });
  assert.deepEqual(fuseTransformer(cubeRoot).ops, ['Pow', 'ReduceMean', 'Add', 'Pow', 'Div']);
  const returned = spec({ op: 'Sqrt', inputs: ['mse'], outputs: ['rms'] });
  returned.outputs.push({ name: 'ms', type: 'float32' });
  assert.deepEqual(fuseTransformer(returned).ops, ['Pow', 'ReduceMean', 'Add', 'Sqrt', 'Div']);
});

// ---------------------------------------------------------------------------------------------
// GELU

const x2d: ValueSpec = { name: 'x', type: 'float32', dims: [2, 16] };
const geluConstants = [
  scalar('half', 0.5),
  scalar('one', 1),
  scalar('three', 3),
  scalar('sqrt2', 1.4142135),
  scalar('invSqrt2', 0.7071),
  scalar('c0', 0.044715),
  scalar('sqrt2OverPi', 0.7978845608),
];

function geluModel(nodes: NodeSpec[], opset = 17): ModelSpec {
  return model(nodes, [x2d], geluConstants, opset);
}

/** PyTorch 1.x: Div(x, √2) → Erf → Add(1) → Mul(x) → Mul(0.5). */
const torchGelu = geluModel([
  { op: 'Div', inputs: ['x', 'sqrt2'], outputs: ['a'] },
  { op: 'Erf', inputs: ['a'], outputs: ['e'] },
  { op: 'Add', inputs: ['e', 'one'], outputs: ['p'] },
  { op: 'Mul', inputs: ['x', 'p'], outputs: ['xp'] },
  { op: 'Mul', inputs: ['xp', 'half'], outputs: ['y'] },
]);

test('GELU (erf) as PyTorch writes it fuses into Gelu', async () => {
  const { ops, rewrites } = fuseTransformer(torchGelu);
  assert.deepEqual(ops, ['com.heddle::Gelu']);
  assert.equal(
    rewrites[0]!.description,
    "fused Div + Erf + Add + Mul + Mul ('Div_0' … 'Mul_4') into Gelu (approximate 'none')",
  );
  assert.equal(attributeOf(fusedNode(torchGelu, 'Gelu'), 'approximate'), 'none');
  await assertSameAsUnfused(torchGelu, { tolerance: ROUNDING });
});

test('GELU (erf) with Mul by 0.7071 and the 0.5 applied to x first', async () => {
  const spec = geluModel([
    { op: 'Mul', inputs: ['invSqrt2', 'x'], outputs: ['a'] },
    { op: 'Erf', inputs: ['a'], outputs: ['e'] },
    { op: 'Add', inputs: ['one', 'e'], outputs: ['p'] },
    { op: 'Mul', inputs: ['half', 'x'], outputs: ['hx'] },
    { op: 'Mul', inputs: ['hx', 'p'], outputs: ['y'] },
  ]);
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Gelu']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('GELU (tanh) with Pow(x, 3) fuses into Gelu approximate tanh', async () => {
  const spec = geluModel([
    { op: 'Pow', inputs: ['x', 'three'], outputs: ['x3'] },
    { op: 'Mul', inputs: ['c0', 'x3'], outputs: ['cx3'] },
    { op: 'Add', inputs: ['x', 'cx3'], outputs: ['inner'] },
    { op: 'Mul', inputs: ['inner', 'sqrt2OverPi'], outputs: ['a'] },
    { op: 'Tanh', inputs: ['a'], outputs: ['t'] },
    { op: 'Add', inputs: ['t', 'one'], outputs: ['p'] },
    { op: 'Mul', inputs: ['half', 'x'], outputs: ['hx'] },
    { op: 'Mul', inputs: ['hx', 'p'], outputs: ['y'] },
  ]);
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Gelu']);
  assert.equal(attributeOf(fusedNode(spec, 'Gelu'), 'approximate'), 'tanh');
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('GELU (tanh) with x * x * x, and the FastGelu form x·c·(1 + 0.044715·x·x)', async () => {
  const cubed = geluModel([
    { op: 'Mul', inputs: ['x', 'x'], outputs: ['x2'] },
    { op: 'Mul', inputs: ['x2', 'x'], outputs: ['x3'] },
    { op: 'Mul', inputs: ['x3', 'c0'], outputs: ['cx3'] },
    { op: 'Add', inputs: ['cx3', 'x'], outputs: ['inner'] },
    { op: 'Mul', inputs: ['sqrt2OverPi', 'inner'], outputs: ['a'] },
    { op: 'Tanh', inputs: ['a'], outputs: ['t'] },
    { op: 'Add', inputs: ['one', 't'], outputs: ['p'] },
    { op: 'Mul', inputs: ['p', 'x'], outputs: ['xp'] },
    { op: 'Mul', inputs: ['half', 'xp'], outputs: ['y'] },
  ]);
  const fast = geluModel([
    { op: 'Mul', inputs: ['x', 'sqrt2OverPi'], outputs: ['u'] },
    { op: 'Mul', inputs: ['c0', 'x'], outputs: ['cx'] },
    { op: 'Mul', inputs: ['cx', 'x'], outputs: ['cx2'] },
    { op: 'Add', inputs: ['one', 'cx2'], outputs: ['w'] },
    { op: 'Mul', inputs: ['u', 'w'], outputs: ['a'] },
    { op: 'Tanh', inputs: ['a'], outputs: ['t'] },
    { op: 'Add', inputs: ['one', 't'], outputs: ['p'] },
    { op: 'Mul', inputs: ['x', 'half'], outputs: ['hx'] },
    { op: 'Mul', inputs: ['hx', 'p'], outputs: ['y'] },
  ]);
  for (const spec of [cubed, fast]) {
    assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Gelu']);
    await assertSameAsUnfused(spec, { tolerance: ROUNDING });
  }
});

test('GELU (tanh) as the ONNX Gelu function body writes it, with Sum', async () => {
  const spec = geluModel(
    [
      { op: 'Pow', inputs: ['x', 'three'], outputs: ['x3'] },
      { op: 'Mul', inputs: ['c0', 'x3'], outputs: ['cx3'] },
      { op: 'Sum', inputs: ['x', 'cx3'], outputs: ['inner'] },
      { op: 'Mul', inputs: ['sqrt2OverPi', 'inner'], outputs: ['a'] },
      { op: 'Tanh', inputs: ['a'], outputs: ['t'] },
      { op: 'Sum', inputs: ['one', 't'], outputs: ['p'] },
      { op: 'Mul', inputs: ['half', 'x'], outputs: ['hx'] },
      { op: 'Mul', inputs: ['hx', 'p'], outputs: ['y'] },
    ],
    20,
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Gelu']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('a GELU gating another input (GeGLU) fuses with the gate Mul left outside', async () => {
  const spec = torchGelu;
  const gated: ModelSpec = {
    ...spec,
    inputs: [x2d, { name: 'gate', type: 'float32', dims: [2, 16] }],
    nodes: [
      ...spec.nodes.map((n) => (n.outputs[0] === 'y' ? { ...n, outputs: ['g'] } : n)),
      { op: 'Mul', inputs: ['g', 'gate'], outputs: ['y'] },
    ],
  };
  assert.deepEqual(fuseTransformer(gated).ops, ['com.heddle::Gelu', 'Mul']);
  await assertSameAsUnfused(gated, { tolerance: ROUNDING });
});

test('GELU patterns with a broken precondition are left alone', () => {
  const wrongConstant = geluModel([
    { op: 'Mul', inputs: ['x', 'half'], outputs: ['a'] },
    { op: 'Erf', inputs: ['a'], outputs: ['e'] },
    { op: 'Add', inputs: ['e', 'one'], outputs: ['p'] },
    { op: 'Mul', inputs: ['x', 'p'], outputs: ['xp'] },
    { op: 'Mul', inputs: ['xp', 'half'], outputs: ['y'] },
  ]);
  assert.deepEqual(
    fuseTransformer(wrongConstant).ops,
    ['Mul', 'Erf', 'Add', 'Mul', 'Mul'],
    'x * 0.5 under the Erf',
  );

  const noHalf = geluModel(
    torchGelu.nodes.slice(0, 4).map((n) => (n.outputs[0] === 'xp' ? { ...n, outputs: ['y'] } : n)),
  );
  assert.deepEqual(fuseTransformer(noHalf).ops, ['Div', 'Erf', 'Add', 'Mul'], 'x * (1 + erf) lacks the 0.5');

  const erfReturned: ModelSpec = {
    ...torchGelu,
    outputs: [...torchGelu.outputs, { name: 'e', type: 'float32' }],
  };
  assert.deepEqual(
    fuseTransformer(erfReturned).ops,
    ['Div', 'Erf', 'Add', 'Mul', 'Mul'],
    'Erf output is returned',
  );

  const otherX: ModelSpec = {
    ...torchGelu,
    inputs: [x2d, { name: 'z', type: 'float32', dims: [2, 16] }],
    nodes: torchGelu.nodes.map((n) => (n.op === 'Div' ? { ...n, inputs: ['z', 'sqrt2'] } : n)),
  };
  assert.deepEqual(fuseTransformer(otherX).ops, ['Div', 'Erf', 'Add', 'Mul', 'Mul'], 'erf of another input');

  const widening: ModelSpec = {
    ...torchGelu,
    inputs: [{ name: 'x', type: 'float32', dims: [16] }],
    initializers: [
      ...geluConstants.filter((c) => c.name !== 'half'),
      { ...scalar('half', 0.5), dims: [1, 1] },
    ],
  };
  assert.deepEqual(
    fuseTransformer(widening).ops,
    ['Div', 'Erf', 'Add', 'Mul', 'Mul'],
    'a [1, 1] constant widens x',
  );
});

// ---------------------------------------------------------------------------------------------
// Attention

const heads = (name: string, dims = [2, 4, 5, 8]): ValueSpec => ({ name, type: 'float32', dims });
const mask: ValueSpec = { name: 'mask', type: 'float32', dims: [2, 1, 1, 5] };

/** Q·Kᵀ with K transposed by a Transpose of `perm`, scaled by Div, masked, Softmax, ·V. */
function attentionModel(kDims: number[], perm: number[], opset = 17): ModelSpec {
  return model(
    [
      { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm } },
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
      { op: 'Div', inputs: ['s', 'sqrtD'], outputs: ['ss'] },
      { op: 'Add', inputs: ['ss', 'mask'], outputs: ['sm'] },
      { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attributes: { axis: -1 } },
      { op: 'MatMul', inputs: ['p', 'v'], outputs: ['y'] },
    ],
    [heads('q'), heads('k', kDims), heads('v'), mask],
    [scalar('sqrtD', Math.sqrt(8))],
    opset,
  );
}

test('attention with K transposed by swapping its last two axes fuses, the Transpose absorbed', async () => {
  const spec = attentionModel([2, 4, 5, 8], [0, 1, 3, 2]);
  const { ops, rewrites } = fuseTransformer(spec);
  assert.deepEqual(ops, ['com.heddle::Attention']);
  assert.match(rewrites[0]!.description, /^fused Transpose \+ MatMul \+ Div \+ Add \+ Softmax \+ MatMul/);
  const node = fusedNode(spec, 'Attention');
  assert.deepEqual(node.inputs, ['q', 'k', 'v', 'mask']);
  assert.ok(Math.abs((attributeOf(node, 'scale') as number) - 1 / Math.sqrt(8)) < 1e-7);
  assert.equal(attributeOf(node, 'transpose_k'), 1);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test("BERT's K Transpose [0, 2, 3, 1] leaves a head-split Transpose [0, 2, 1, 3] outside", async () => {
  const spec = attentionModel([2, 5, 4, 8], [0, 2, 3, 1]);
  const { ops, graph } = fuseTransformer(spec);
  assert.deepEqual(ops, ['Transpose', 'com.heddle::Attention']);
  assert.deepEqual(attributeOf(graph.nodes[0]!, 'perm'), [0, 2, 1, 3]);
  assert.equal(graph.nodes[1]!.inputs[1], graph.nodes[0]!.outputs[0]);
  assert.deepEqual(graph.valueTypes.get(graph.nodes[0]!.outputs[0]!), {
    kind: 'tensor',
    elemType: 'float32',
    shape: [2, 4, 5, 8],
  });
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('PyTorch 2 SDPA: Q and Kᵀ each scaled by √scale before the MatMul', async () => {
  const rootScale = 8 ** -0.25;
  const spec = model(
    [
      { op: 'Mul', inputs: ['q', 'c'], outputs: ['qs'] },
      { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm: [0, 1, 3, 2] } },
      { op: 'Mul', inputs: ['kt', 'c'], outputs: ['kts'] },
      { op: 'MatMul', inputs: ['qs', 'kts'], outputs: ['s'] },
      { op: 'Add', inputs: ['s', 'mask'], outputs: ['sm'] },
      { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attributes: { axis: -1 } },
      { op: 'MatMul', inputs: ['p', 'v'], outputs: ['y'] },
    ],
    [heads('q'), heads('k'), heads('v'), mask],
    [scalar('c', rootScale)],
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Attention']);
  const node = fusedNode(spec, 'Attention');
  assert.ok(Math.abs((attributeOf(node, 'scale') as number) - 1 / Math.sqrt(8)) < 1e-7);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('attention without mask or Transpose takes Kᵀ as given (transpose_k 0)', async () => {
  const spec = model(
    [
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
      { op: 'Mul', inputs: ['s', 'c'], outputs: ['ss'] },
      { op: 'Softmax', inputs: ['ss'], outputs: ['p'] },
      { op: 'MatMul', inputs: ['p', 'v'], outputs: ['y'] },
    ],
    [heads('q'), heads('kt', [2, 4, 8, 5]), heads('v')],
    [scalar('c', 0.125)],
  );
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Attention']);
  const node = fusedNode(spec, 'Attention');
  assert.deepEqual(node.inputs, ['q', 'kt', 'v']);
  assert.equal(attributeOf(node, 'transpose_k'), 0);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('opset 11 attention: Softmax on axis 3 of a rank-4 input, the mask added first', async () => {
  const spec = attentionModel([2, 4, 5, 8], [0, 1, 3, 2], 11);
  spec.nodes[3] = { op: 'Add', inputs: ['mask', 'ss'], outputs: ['sm'] };
  spec.nodes[4] = { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attributes: { axis: 3 } };
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Attention']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('a mask that broadcasts the scores to more dims gives the unfused shape', async () => {
  const spec = attentionModel([4, 5, 8], [0, 2, 1]);
  spec.inputs = [
    heads('q', [4, 5, 8]),
    heads('k', [4, 5, 8]),
    heads('v', [4, 5, 8]),
    heads('mask', [2, 1, 5, 5]),
  ];
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Attention']);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

// GPT-style causal attention: PyTorch's `scores.masked_fill(~causal, float('-inf'))` exports as
// Where(Not(causal), -inf, scores) before the Softmax.

/** 1 on and below the diagonal: the keys each query may see. */
function lowerTriangle(size: number): number[] {
  return Array.from({ length: size * size }, (_, i) => +(i % size <= Math.floor(i / size)));
}

const causal: TensorSpec = { name: 'causal', type: 'bool', dims: [5, 5], values: lowerTriangle(5) };

/** Q·Kᵀ / √D masked by `where` (which writes 'sm'; `fill` is its constant), Softmax, ·V. */
function maskedFillModel(
  where: NodeSpec[],
  fill: number,
  extra: { inputs?: ValueSpec[]; initializers?: TensorSpec[] } = {},
): ModelSpec {
  return model(
    [
      { op: 'Transpose', inputs: ['k'], outputs: ['kt'], attributes: { perm: [0, 1, 3, 2] } },
      { op: 'MatMul', inputs: ['q', 'kt'], outputs: ['s'] },
      { op: 'Div', inputs: ['s', 'sqrtD'], outputs: ['ss'] },
      ...where,
      { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attributes: { axis: -1 } },
      { op: 'MatMul', inputs: ['p', 'v'], outputs: ['y'] },
    ],
    [heads('q'), heads('k'), heads('v'), ...(extra.inputs ?? [])],
    [scalar('sqrtD', Math.sqrt(8)), scalar('fill', fill), ...(extra.initializers ?? [])],
  );
}

/** Where(keep, scores, fill): the scores where `keep` holds, the fill elsewhere. */
const keepWhere: NodeSpec[] = [{ op: 'Where', inputs: ['keep', 'ss', 'fill'], outputs: ['sm'] }];

const gptCausal = (): ModelSpec =>
  maskedFillModel(
    [
      { op: 'Not', inputs: ['causal'], outputs: ['dropped'] },
      { op: 'Where', inputs: ['dropped', 'fill', 'ss'], outputs: ['sm'] },
    ],
    -Infinity,
    { initializers: [causal] },
  );

/**
 * Runs the model fused and unfused on `feeds` and requires NaN at the same places and the other
 * values within ROUNDING of each other.
 */
async function assertSameAsUnfusedWithNaN(
  spec: ModelSpec,
  feeds: Record<string, Tensor>,
): Promise<Float32Array> {
  const bytes = buildModel(spec);
  const fused = await InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  const plain = await InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  const got = ((await fused.run(feeds)).y as Tensor).data as Float32Array;
  const want = ((await plain.run(feeds)).y as Tensor).data as Float32Array;
  want.forEach((w, i) => {
    const same = Number.isNaN(w) ? Number.isNaN(got[i]!) : Math.abs(got[i]! - w) <= ROUNDING;
    assert.ok(same, `y[${i}]: ${got[i]} differs from ${w}`);
  });
  return got;
}

test("GPT's Where(Not(causal), -inf, scores) fuses into a select-mode Attention kept by causal", async () => {
  const spec = gptCausal();
  const { ops, rewrites } = fuseTransformer(spec);
  assert.deepEqual(ops, ['Not', 'com.heddle::Attention'], 'the Not is left for dead-code elimination');
  assert.match(
    rewrites[0]!.description,
    /^fused Transpose \+ MatMul \+ Div \+ Where \+ Softmax \+ MatMul .* mask_mode 'select', mask_fill -Infinity/,
  );
  const node = fusedNode(spec, 'Attention');
  assert.deepEqual(node.inputs, ['q', 'k', 'v', 'causal']);
  assert.equal(attributeOf(node, 'mask_mode'), 'select');
  assert.equal(attributeOf(node, 'mask_fill'), -Infinity);
  assert.ok(Math.abs((attributeOf(node, 'scale') as number) - 1 / Math.sqrt(8)) < 1e-7);
  assert.deepEqual((await optimize(spec)).ops, ['com.heddle::Attention'], 'every pass at level all');
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('a Where keeping the scores where its condition is true takes it as the keep mask', async () => {
  const spec = maskedFillModel(keepWhere, -1e4, {
    inputs: [{ name: 'keep', type: 'bool', dims: [2, 1, 5, 5] }],
  });
  assert.deepEqual(fuseTransformer(spec).ops, ['com.heddle::Attention']);
  const node = fusedNode(spec, 'Attention');
  assert.deepEqual(node.inputs, ['q', 'k', 'v', 'keep']);
  assert.equal(attributeOf(node, 'mask_fill'), -1e4);
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('a Where filling where a fed condition is true gets a Not of it as the keep mask', async () => {
  const spec = maskedFillModel([{ op: 'Where', inputs: ['drop', 'fill', 'ss'], outputs: ['sm'] }], -1e9, {
    inputs: [{ name: 'drop', type: 'bool', dims: [5, 5] }],
  });
  const { ops, graph } = fuseTransformer(spec);
  assert.deepEqual(ops, ['Not', 'com.heddle::Attention']);
  const [not, attention] = graph.nodes as [Node, Node];
  assert.deepEqual(not.inputs, ['drop']);
  assert.equal(attention.inputs[3], not.outputs[0]);
  assert.deepEqual(graph.valueTypes.get(not.outputs[0]!), {
    kind: 'tensor',
    elemType: 'bool',
    shape: [5, 5],
  });
  await assertSameAsUnfused(spec, { tolerance: ROUNDING });
});

test('select-mode attention is exact: a masked +inf score is dropped, a fully masked row NaN', async () => {
  const feeds = randomFeeds([heads('q'), heads('k'), heads('v')]);
  const [q, k] = [feeds.q!.data as Float32Array, feeds.k!.data as Float32Array];
  // Every query's score for the last key is +inf; only the last query may see that key.
  for (let i = 0; i < q.length; i += 8) q[i] = 1;
  for (let pair = 0; pair < 8; pair++) k[(pair * 5 + 4) * 8] = Infinity;
  const out = await assertSameAsUnfusedWithNaN(gptCausal(), feeds);
  for (let row = 0; row < 40; row++) {
    const values = [...out.subarray(row * 8, row * 8 + 8)];
    assert.equal(values.every(Number.isNaN), row % 5 === 4, `row ${row}: ${values}`);
  }

  const firstRowDropped = maskedFillModel(keepWhere, -Infinity, {
    initializers: [{ ...causal, name: 'keep', values: [0, 0, 0, 0, 0, ...lowerTriangle(5).slice(5)] }],
  });
  const dropped = await assertSameAsUnfusedWithNaN(
    firstRowDropped,
    randomFeeds([heads('q'), heads('k'), heads('v')]),
  );
  assert.ok(dropped.subarray(0, 8).every(Number.isNaN), 'the softmax of a row of -inf is NaN');
});

test('Where masks that are no constant fill are left alone', () => {
  const fedKeep = () =>
    maskedFillModel(keepWhere, 0, { inputs: [{ name: 'keep', type: 'bool', dims: [5, 5] }] });
  const fedFill = fedKeep();
  fedFill.initializers = (fedFill.initializers ?? []).filter((t) => t.name !== 'fill');
  fedFill.inputs = [...fedFill.inputs, { name: 'fill', type: 'float32', dims: [] }];
  assert.ok(!fuseTransformer(fedFill).ops.includes('com.heddle::Attention'), 'the fill is fed at run time');

  const wideFill = fedKeep();
  wideFill.initializers = (wideFill.initializers ?? []).map((t) =>
    t.name === 'fill' ? { ...t, dims: [1, 1, 1] } : t,
  );
  assert.ok(
    !fuseTransformer(wideFill).ops.includes('com.heddle::Attention'),
    'the fill may widen the scores',
  );
});

test('attention patterns with a broken precondition are left alone', () => {
  const otherAxis = attentionModel([2, 4, 5, 8], [0, 1, 3, 2]);
  otherAxis.nodes[4] = { op: 'Softmax', inputs: ['sm'], outputs: ['p'], attributes: { axis: 1 } };
  assert.ok(!fuseTransformer(otherAxis).ops.includes('com.heddle::Attention'), 'Softmax over the heads');

  const scoresReturned = attentionModel([2, 4, 5, 8], [0, 1, 3, 2]);
  scoresReturned.outputs = [...scoresReturned.outputs, { name: 'ss', type: 'float32' }];
  assert.ok(!fuseTransformer(scoresReturned).ops.includes('com.heddle::Attention'), 'scores are returned');

  const probabilitiesShared = attentionModel([2, 4, 5, 8], [0, 1, 3, 2]);
  probabilitiesShared.nodes.push({ op: 'Identity', inputs: ['p'], outputs: ['p2'] });
  probabilitiesShared.outputs = [...probabilitiesShared.outputs, { name: 'p2', type: 'float32' }];
  assert.ok(
    !fuseTransformer(probabilitiesShared).ops.includes('com.heddle::Attention'),
    'probabilities read twice',
  );

  const fedScale = attentionModel([2, 4, 5, 8], [0, 1, 3, 2]);
  fedScale.initializers = [];
  fedScale.inputs = [...fedScale.inputs, { name: 'sqrtD', type: 'float32', dims: [] }];
  assert.ok(!fuseTransformer(fedScale).ops.includes('com.heddle::Attention'), 'the scale is fed at run time');

  const scoresAsValues = attentionModel([2, 4, 5, 8], [0, 1, 3, 2]);
  scoresAsValues.nodes[5] = { op: 'MatMul', inputs: ['p', 's'], outputs: ['y'] };
  scoresAsValues.inputs = scoresAsValues.inputs.filter((i) => i.name !== 'v');
  assert.ok(!fuseTransformer(scoresAsValues).ops.includes('com.heddle::Attention'), 'V is the raw scores');
});

test('the fused kernels refuse inputs the pattern could not have had, naming the node', async () => {
  const bytes = buildModel({
    nodes: [
      {
        op: 'Attention',
        domain: 'com.heddle',
        name: 'attention',
        inputs: ['q', 'k', 'v'],
        outputs: ['y'],
        attributes: { scale: { float: 0.5 }, transpose_k: 1 },
      },
    ],
    inputs: [heads('q', [8]), heads('k', [5, 8]), heads('v', [5, 8])],
    outputs: [{ name: 'y', type: 'float32' }],
    opsets: { '': 17, 'com.heddle': 1 },
  });
  const session = await InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  const feeds = randomFeeds(session.inputNames.map((name) => heads(name, name === 'q' ? [8] : [5, 8])));
  await assert.rejects(session.run(feeds), /'attention'.*Q must have rank 2 or more, got dims \[8\]/);
});
