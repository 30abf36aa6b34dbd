/**
 * Constant folding: what folds into initializers, what is left for run time, and that outputs stay
 * the same.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../../src/index.js';
import { passes } from '../../src/passes/constant-folding.js';
import { buildModel, graphAttr, type ModelSpec } from '../support/build-model.js';
import { assertSameOutputs, assertSameTensor, optimized, opTypes } from '../support/cleanup.js';

const x = { name: 'x', type: 'float32', dims: [2, 3] } as const;
const y = { name: 'y', type: 'float32', dims: [2, 3] } as const;

test('Constant nodes and nodes on constants fold into initializers', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Constant', inputs: [], outputs: ['two'], attributes: { value_floats: { floats: [2, 2, 2] } } },
      { op: 'Add', inputs: ['two', 'bias'], outputs: ['scale'] },
      { op: 'Sqrt', inputs: ['scale'], outputs: ['root'] },
      { op: 'Mul', inputs: ['x', 'root'], outputs: ['y'] },
    ],
    inputs: [x],
    outputs: [y],
    initializers: [{ name: 'bias', type: 'float32', dims: [3], values: [0, 1, 2] }],
  };
  const { graph, report } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['Mul']);
  assert.deepEqual(
    [...(graph.initializers.get('root')!.data as Float32Array)],
    [2, 3, 4].map(Math.sqrt).map(Math.fround),
  );
  assert.equal(report.rewrites.length, 3);
  assert.match(report.rewrites[0]!.description, /turned Constant .* into initializer 'two'/);
  await assertSameOutputs(spec);
});

test('a folded graph output keeps its name', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Neg', inputs: ['c'], outputs: ['negated'] },
      { op: 'Add', inputs: ['x', 'x'], outputs: ['y'] },
    ],
    inputs: [x],
    outputs: [y, { name: 'negated', type: 'float32', dims: [2] }],
    initializers: [{ name: 'c', type: 'float32', dims: [2], values: [1, -4] }],
  };
  assert.deepEqual(opTypes(optimized(spec, passes).graph), ['Add']);
  const session = await InferenceSession.create(buildModel(spec), { graphOptimizationLevel: 'all' });
  const out = await session.run({ x: new Tensor('float32', new Float32Array(6), [2, 3]) });
  assert.deepEqual([...((out.negated as Tensor).data as Float32Array)], [-1, 4]);
  await assertSameOutputs(spec);
});

test('Shape and Size fold when the input shape is static, and not when a dim is symbolic', async () => {
  const spec = (dims: (number | string)[]): ModelSpec => ({
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['shape'] },
      { op: 'Size', inputs: ['x'], outputs: ['size'] },
      { op: 'Shape', inputs: ['x'], outputs: ['tail'], attributes: { start: -1 } },
      { op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims }],
    outputs: [
      { name: 'y', type: 'float32', dims },
      { name: 'size', type: 'int64', dims: [] },
      { name: 'tail', type: 'int64', dims: [1] },
    ],
  });
  const folded = optimized(spec([2, 3]), passes).graph;
  assert.deepEqual(opTypes(folded), ['Reshape']);
  assert.deepEqual([...(folded.initializers.get('shape')!.data as BigInt64Array)], [2n, 3n]);
  assert.deepEqual([...(folded.initializers.get('size')!.data as BigInt64Array)], [6n]);
  assert.deepEqual(folded.initializers.get('size')!.dims, []);
  assert.deepEqual([...(folded.initializers.get('tail')!.data as BigInt64Array)], [3n]);
  await assertSameOutputs(spec([2, 3]));
  assert.deepEqual(opTypes(optimized(spec(['n', 3]), passes).graph), ['Shape', 'Size', 'Shape', 'Reshape']);
});

test('a shape computation folds once the input shapes are known', () => {
  // Reshape x [batch, 6] to [batch, 2, 3], its target computed from x's shape.
  const spec: ModelSpec = {
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['shape'] },
      { op: 'Gather', inputs: ['shape', 'zero'], outputs: ['batch'], attributes: { axis: 0 } },
      { op: 'Unsqueeze', inputs: ['batch', 'axes'], outputs: ['batch1'] },
      { op: 'Concat', inputs: ['batch1', 'rest'], outputs: ['target'], attributes: { axis: 0 } },
      { op: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: ['batch', 6] }],
    outputs: [{ name: 'y', type: 'float32', dims: ['batch', 2, 3] }],
    initializers: [
      { name: 'zero', type: 'int64', dims: [], values: [0] },
      { name: 'axes', type: 'int64', dims: [1], values: [0] },
      { name: 'rest', type: 'int64', dims: [2], values: [2, 3] },
    ],
  };
  assert.equal(optimized(spec, passes).graph.nodes.length, 5);
  const specialised = optimized(spec, passes, { inputDims: { x: [4, 6] } }).graph;
  assert.deepEqual(opTypes(specialised), ['Reshape']);
  assert.deepEqual([...(specialised.initializers.get('target')!.data as BigInt64Array)], [4n, 2n, 3n]);
});

test('random operators, subgraphs, unknown domains and failing kernels are left alone', async () => {
  const branch = (value: number) =>
    graphAttr({
      nodes: [
        { op: 'Constant', inputs: [], outputs: [`b${value}`], attributes: { value_float: { float: value } } },
      ],
      inputs: [],
      outputs: [{ name: `b${value}`, type: 'float32', dims: [] }],
    });
  const spec: ModelSpec = {
    nodes: [
      { op: 'RandomUniform', inputs: [], outputs: ['noise'], attributes: { shape: [2] } },
      {
        op: 'If',
        inputs: ['yes'],
        outputs: ['picked'],
        attributes: { then_branch: branch(1), else_branch: branch(2) },
      },
      { op: 'Frobnicate', domain: 'com.example', inputs: ['c'], outputs: ['custom'] },
      { op: 'Reshape', inputs: ['c', 'bad'], outputs: ['broken'] },
    ],
    inputs: [],
    outputs: ['noise', 'picked', 'custom', 'broken'].map((name) => ({ name, type: 'float32' as const })),
    initializers: [
      { name: 'yes', type: 'bool', dims: [], values: [1] },
      { name: 'c', type: 'float32', dims: [6], values: [1, 2, 3, 4, 5, 6] },
      { name: 'bad', type: 'int64', dims: [1], values: [4] },
    ],
    opsets: { '': 17, 'com.example': 1 },
  };
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['RandomUniform', 'If', 'Frobnicate', 'Reshape']);
  // Inside the branches the Constants fold all the same.
  const thenBranch = graph.nodes[1]!.attributes.get('then_branch')!;
  assert.ok(thenBranch.type === 'graph' && thenBranch.value.nodes.length === 0);
});

test('the failing kernel still fails at run time, naming the node', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Reshape', inputs: ['c', 'bad'], outputs: ['broken'], name: 'reshape_c' },
      { op: 'Add', inputs: ['x', 'x'], outputs: ['y'] },
    ],
    inputs: [x],
    outputs: [y, { name: 'broken', type: 'float32' }],
    initializers: [
      { name: 'c', type: 'float32', dims: [6], values: [1, 2, 3, 4, 5, 6] },
      { name: 'bad', type: 'int64', dims: [1], values: [4] },
    ],
  };
  const session = await InferenceSession.create(buildModel(spec), { graphOptimizationLevel: 'all' });
  await assert.rejects(session.run({ x: new Tensor('float32', new Float32Array(6), [2, 3]) }), /reshape_c/);
});

test('outputs much larger than their constant inputs are not folded; others of any size are', () => {
  const big = 128 * 256;
  const spec: ModelSpec = {
    nodes: [
      { op: 'ConstantOfShape', inputs: ['large_shape'], outputs: ['zeros'] },
      { op: 'ConstantOfShape', inputs: ['small_shape'], outputs: ['few_zeros'] },
      { op: 'Expand', inputs: ['row', 'large_shape'], outputs: ['rows'] },
      { op: 'Range', inputs: ['start', 'limit', 'delta'], outputs: ['steps'] },
      { op: 'Transpose', inputs: ['weight'], outputs: ['weight_t'] },
    ],
    inputs: [],
    outputs: [
      { name: 'zeros', type: 'float32' },
      { name: 'few_zeros', type: 'float32' },
      { name: 'rows', type: 'float32' },
      { name: 'steps', type: 'int64' },
      { name: 'weight_t', type: 'float32' },
    ],
    initializers: [
      { name: 'large_shape', type: 'int64', dims: [2], values: [256, 256] },
      { name: 'small_shape', type: 'int64', dims: [2], values: [16, 16] },
      { name: 'row', type: 'float32', dims: [256], values: Array.from({ length: 256 }, (_, i) => i) },
      { name: 'start', type: 'int64', dims: [], values: [0] },
      { name: 'limit', type: 'int64', dims: [], values: [100000] },
      { name: 'delta', type: 'int64', dims: [], values: [1] },
      {
        name: 'weight',
        type: 'float32',
        dims: [128, 256],
        values: Array.from({ length: big }, (_, i) => i % 7),
      },
    ],
  };
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['ConstantOfShape', 'Expand', 'Range']);
  assert.deepEqual(graph.initializers.get('weight_t')!.dims, [256, 128]);
  assert.deepEqual(graph.initializers.get('few_zeros')!.dims, [16, 16]);
});

test('an initializer a caller may feed is not a constant', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Neg', inputs: ['w'], outputs: ['negated'] },
      { op: 'Add', inputs: ['x', 'negated'], outputs: ['y'] },
    ],
    inputs: [x, { name: 'w', type: 'float32', dims: [3] }],
    outputs: [y],
    initializers: [{ name: 'w', type: 'float32', dims: [3], values: [1, 2, 3] }],
  };
  assert.deepEqual(opTypes(optimized(spec, passes).graph), ['Neg', 'Add']);
  const feeds = {
    x: new Tensor('float32', new Float32Array(6), [2, 3]),
    w: new Tensor('float32', [7, 8, 9], [3]),
  };
  const session = await InferenceSession.create(buildModel(spec), { graphOptimizationLevel: 'all' });
  const out = await session.run(feeds);
  assert.deepEqual([...((out.y as Tensor).data as Float32Array)], [-7, -8, -9, -7, -8, -9]);
  await assertSameOutputs(spec, feeds);
  const defaults = await session.run({ x: feeds.x });
  assertSameTensor(defaults.y as Tensor, new Tensor('float32', [-1, -2, -3, -1, -2, -3], [2, 3]), 'y');
});
