/** Elimination: no-op nodes bypassed, duplicates merged, dead code removed, and outputs unchanged. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as path from 'node:path';
import { InferenceSession, Tensor } from '../../src/index.js';
import { passes } from '../../src/passes/eliminate.js';
import { passes as folding } from '../../src/passes/constant-folding.js';
import {
  graphAttr,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from '../support/build-model.js';
import { assertSameOutputs, assertSameTensor, int64Bytes, optimized, opTypes } from '../support/cleanup.js';
import { exportModels, modelsDir } from '../helpers/models.js';
import { readNpyFiles } from '../helpers/tensors.js';

const INT64_MAX = 2n ** 63n - 1n;

/** A model of `nodes` from x (float32 [2, 3] unless given) to y. */
function chain(
  nodes: NodeSpec[],
  options: { x?: ValueSpec; y?: ValueSpec; initializers?: TensorSpec[]; opset?: number } = {},
): ModelSpec {
  return {
    nodes,
    inputs: [options.x ?? { name: 'x', type: 'float32', dims: [2, 3] }],
    outputs: [options.y ?? { name: 'y', type: 'float32' }],
    initializers: options.initializers,
    opsets: { '': options.opset ?? 17 },
  };
}

function ints(name: string, values: number[]): TensorSpec {
  return { name, type: 'int64', dims: [values.length], values };
}

/** Each no-op between Relus: a pattern that must vanish, and a near miss that must stay. */
const NO_OPS: { name: string; removed: ModelSpec; kept: ModelSpec }[] = [
  {
    name: 'Identity',
    removed: chain([
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Identity', inputs: ['a'], outputs: ['b'] },
      { op: 'Relu', inputs: ['b'], outputs: ['y'] },
    ]),
    // From a graph input straight to a graph output: the Identity is what keeps both names.
    kept: chain([{ op: 'Identity', inputs: ['x'], outputs: ['y'] }]),
  },
  {
    name: 'Dropout in inference',
    removed: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Dropout', inputs: ['a', 'ratio', 'off'], outputs: ['b'] },
        { op: 'Relu', inputs: ['b'], outputs: ['y'] },
      ],
      {
        initializers: [
          { name: 'ratio', type: 'float32', dims: [], values: [0.5] },
          { name: 'off', type: 'bool', dims: [], values: [0] },
        ],
      },
    ),
    kept: chain([
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Dropout', inputs: ['a'], outputs: ['b', 'mask'] },
      { op: 'Cast', inputs: ['mask'], outputs: ['m'], attributes: { to: 1 } },
      { op: 'Add', inputs: ['b', 'm'], outputs: ['y'] },
    ]),
  },
  {
    name: 'Cast to the same type',
    removed: chain([
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Cast', inputs: ['a'], outputs: ['b'], attributes: { to: 1 } },
      { op: 'CastLike', inputs: ['b', 'x'], outputs: ['c'] },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ]),
    kept: chain([
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Cast', inputs: ['a'], outputs: ['b'], attributes: { to: 11 } },
      { op: 'Relu', inputs: ['b'], outputs: ['y'] },
    ]),
  },
  {
    name: 'Reshape to the same shape',
    removed: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Reshape', inputs: ['a', 'same'], outputs: ['b'] },
        { op: 'Relu', inputs: ['b'], outputs: ['y'] },
      ],
      { x: { name: 'x', type: 'float32', dims: ['n', 3] }, initializers: [ints('same', [0, 3])] },
    ),
    kept: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Reshape', inputs: ['a', 'inferred'], outputs: ['b'] },
        { op: 'Relu', inputs: ['b'], outputs: ['y'] },
      ],
      // -1 gives back the dim only when no other dim is zero, which 'n' may be.
      { x: { name: 'x', type: 'float32', dims: ['n', 3] }, initializers: [ints('inferred', [0, -1])] },
    ),
  },
  {
    name: 'Expand to the same shape',
    removed: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Expand', inputs: ['a', 'shape'], outputs: ['b'] },
        { op: 'Relu', inputs: ['b'], outputs: ['y'] },
      ],
      { initializers: [ints('shape', [1, 3])] },
    ),
    kept: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Expand', inputs: ['a', 'shape'], outputs: ['b'] },
        { op: 'Relu', inputs: ['b'], outputs: ['y'] },
      ],
      { initializers: [ints('shape', [4, 1, 3])] },
    ),
  },
  {
    name: 'Transposes that cancel',
    removed: chain([
      { op: 'Relu', inputs: ['x'], outputs: ['r'] },
      { op: 'Transpose', inputs: ['r'], outputs: ['b'] },
      { op: 'Transpose', inputs: ['b'], outputs: ['c'], attributes: { perm: [1, 0] } },
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
    ]),
    kept: chain([
      { op: 'Transpose', inputs: ['x'], outputs: ['a'], attributes: { perm: [1, 0] } },
      { op: 'Relu', inputs: ['a'], outputs: ['y'] },
    ]),
  },
  {
    name: 'Squeeze and Unsqueeze on the same axes',
    removed: chain(
      [
        { op: 'Unsqueeze', inputs: ['x', 'axis1'], outputs: ['a'] },
        { op: 'Squeeze', inputs: ['a', 'axis1'], outputs: ['b'] },
        { op: 'Squeeze', inputs: ['b', 'axis0'], outputs: ['c'] },
        { op: 'Unsqueeze', inputs: ['c', 'axis0'], outputs: ['d'] },
        { op: 'Relu', inputs: ['d'], outputs: ['y'] },
      ],
      {
        x: { name: 'x', type: 'float32', dims: [1, 3] },
        initializers: [ints('axis0', [0]), ints('axis1', [1])],
      },
    ),
    kept: chain(
      [
        { op: 'Squeeze', inputs: ['x', 'axis0'], outputs: ['c'] },
        { op: 'Unsqueeze', inputs: ['c', 'axis0'], outputs: ['d'] },
        { op: 'Unsqueeze', inputs: ['d', 'axis0'], outputs: ['e'] },
        { op: 'Squeeze', inputs: ['e', 'axis1'], outputs: ['y'] },
      ],
      // x's first dim may not be 1, so the Squeeze must stay to say so.
      {
        x: { name: 'x', type: 'float32', dims: ['n', 3] },
        initializers: [ints('axis0', [0]), ints('axis1', [1])],
      },
    ),
  },
  {
    name: 'Slice of everything',
    removed: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Slice', inputs: ['a', 'starts', 'ends', 'axes'], outputs: ['b'] },
        { op: 'Slice', inputs: ['b', 'zero', 'end'], outputs: ['c'] },
        { op: 'Relu', inputs: ['c'], outputs: ['y'] },
      ],
      {
        x: { name: 'x', type: 'float32', dims: ['n', 3] },
        initializers: [
          ints('starts', [-3]),
          ints('ends', [3]),
          ints('axes', [-1]),
          ints('zero', [0]),
          { name: 'end', type: 'int64', dims: [1], raw: int64Bytes([INT64_MAX]) },
        ],
      },
    ),
    kept: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Slice', inputs: ['a', 'zero', 'three'], outputs: ['b'] },
        { op: 'Slice', inputs: ['b', 'zero', 'end', 'axes', 'steps'], outputs: ['y'] },
      ],
      {
        x: { name: 'x', type: 'float32', dims: ['n', 3] },
        initializers: [
          ints('zero', [0]),
          ints('three', [3]),
          ints('axes', [1]),
          ints('steps', [2]),
          { name: 'end', type: 'int64', dims: [1], raw: int64Bytes([INT64_MAX]) },
        ],
      },
    ),
  },
  {
    name: 'Pad of nothing and Concat of one input',
    removed: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Pad', inputs: ['a', 'zeros'], outputs: ['b'], attributes: { mode: 'reflect' } },
        { op: 'Concat', inputs: ['b'], outputs: ['c'], attributes: { axis: 0 } },
        { op: 'Relu', inputs: ['c'], outputs: ['y'] },
      ],
      { initializers: [ints('zeros', [0, 0, 0, 0])] },
    ),
    kept: chain(
      [
        { op: 'Relu', inputs: ['x'], outputs: ['a'] },
        { op: 'Pad', inputs: ['a', 'pads'], outputs: ['b'] },
        { op: 'Concat', inputs: ['b', 'b'], outputs: ['y'], attributes: { axis: 0 } },
      ],
      { initializers: [ints('pads', [0, 1, 0, 0])] },
    ),
  },
];

for (const { name, removed, kept } of NO_OPS) {
  test(`no-op elimination: ${name}`, async () => {
    const after = opTypes(optimized(removed, passes).graph);
    assert.ok(
      after.every((op) => op === 'Relu'),
      `left ${after.join(', ')}`,
    );
    await assertSameOutputs(removed, { x: feedFor(removed) });
    const { graph, report } = optimized(kept, passes);
    assert.deepEqual(
      opTypes(graph),
      kept.nodes.map((n) => n.op),
      `rewrites: ${JSON.stringify(report.rewrites)}`,
    );
    await assertSameOutputs(kept, { x: feedFor(kept) });
  });
}

/** A random x for a `chain` model, with 1 for its symbolic first dim. */
function feedFor(spec: ModelSpec): Tensor {
  const dims = spec.inputs[0]!.dims!.map((d) => (typeof d === 'number' ? d : 1));
  const size = dims.reduce((a, b) => a * b, 1);
  return new Tensor(
    'float32',
    Float32Array.from({ length: size }, () => Math.random() - 0.5),
    dims,
  );
}

test('no-op elimination: older opsets take axes, pads and slices as attributes', async () => {
  const spec = chain(
    [
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Unsqueeze', inputs: ['a'], outputs: ['b'], attributes: { axes: [0] } },
      { op: 'Squeeze', inputs: ['b'], outputs: ['c'], attributes: { axes: [0] } },
      { op: 'Pad', inputs: ['c'], outputs: ['d'], attributes: { pads: [0, 0, 0, 0] } },
      { op: 'Slice', inputs: ['d'], outputs: ['e'], attributes: { starts: [0], ends: [3], axes: [1] } },
      { op: 'Reshape', inputs: ['e', 'same'], outputs: ['f'] },
      { op: 'Relu', inputs: ['f'], outputs: ['y'] },
    ],
    { opset: 9, initializers: [ints('same', [2, 3])] },
  );
  assert.deepEqual(opTypes(optimized(spec, passes).graph), ['Relu', 'Relu']);
  await assertSameOutputs(spec);
});

test('no-op elimination: Transposes that do not cancel become one', async () => {
  const spec = chain(
    [
      { op: 'Transpose', inputs: ['x'], outputs: ['a'], attributes: { perm: [0, 2, 1, 3] } },
      { op: 'Transpose', inputs: ['a'], outputs: ['y'], attributes: { perm: [0, 1, 3, 2] } },
    ],
    { x: { name: 'x', type: 'float32', dims: [2, 3, 4, 5] } },
  );
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['Transpose']);
  assert.deepEqual(graph.nodes[0]!.attributes.get('perm')?.value, [0, 2, 3, 1]);
  assert.deepEqual(graph.nodes[0]!.inputs, ['x']);
  assert.deepEqual(
    graph.outputs.map((o) => o.name),
    ['y'],
  );
  await assertSameOutputs(spec);
});

test('no-op elimination: a Transpose read elsewhere stays while the next reads past it', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Transpose', inputs: ['x'], outputs: ['a'], attributes: { perm: [1, 0] } },
      { op: 'Transpose', inputs: ['a'], outputs: ['b'], attributes: { perm: [1, 0] } },
      { op: 'Relu', inputs: ['b'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [2, 3] }],
    outputs: [
      { name: 'y', type: 'float32' },
      { name: 'a', type: 'float32' },
    ],
  };
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['Transpose', 'Relu']);
  assert.deepEqual(graph.nodes[1]!.inputs, ['x']);
  await assertSameOutputs(spec);
});

test('no-op elimination: a bypassed graph output keeps its name', async () => {
  const spec = chain([
    { op: 'Relu', inputs: ['x'], outputs: ['a'] },
    { op: 'Cast', inputs: ['a'], outputs: ['y'], attributes: { to: 1 } },
  ]);
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['Relu']);
  assert.deepEqual(graph.nodes[0]!.outputs, ['y']);
  await assertSameOutputs(spec);
});

test('no-op elimination: a Cast of a value of unknown type stays', () => {
  const spec = chain([
    { op: 'Relu', inputs: ['x'], outputs: ['a'] },
    { op: 'Cast', inputs: ['a'], outputs: ['b'], attributes: { to: 1 } },
    { op: 'Relu', inputs: ['b'], outputs: ['y'] },
  ]);
  assert.deepEqual(opTypes(optimized(spec, passes, { infer: false }).graph), ['Relu', 'Cast', 'Relu']);
});

test('common subexpressions: identical nodes merge, differing attributes and random ops do not', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['m1'] },
      { op: 'Mul', inputs: ['x', 'x'], outputs: ['m2'] },
      { op: 'LeakyRelu', inputs: ['m1'], outputs: ['l1'], attributes: { alpha: { float: 0.1 } } },
      { op: 'LeakyRelu', inputs: ['m2'], outputs: ['l2'], attributes: { alpha: { float: 0.1 } } },
      { op: 'LeakyRelu', inputs: ['m2'], outputs: ['l3'], attributes: { alpha: { float: 0.2 } } },
      { op: 'RandomUniformLike', inputs: ['x'], outputs: ['r1'], attributes: { seed: { float: 1 } } },
      { op: 'RandomUniformLike', inputs: ['x'], outputs: ['r2'], attributes: { seed: { float: 1 } } },
      { op: 'Sum', inputs: ['l1', 'l2', 'l3', 'r1', 'r2'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [2, 3] }],
    outputs: [{ name: 'y', type: 'float32' }],
  };
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), [
    'Mul',
    'LeakyRelu',
    'LeakyRelu',
    'RandomUniformLike',
    'RandomUniformLike',
    'Sum',
  ]);
  assert.deepEqual(graph.nodes[5]!.inputs, ['l1', 'l1', 'l3', 'r1', 'r2']);
  await assertSameOutputs(spec);
});

test('common subexpressions: merged graph outputs keep their names', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['a'] },
      { op: 'Neg', inputs: ['a'], outputs: ['y1'] },
      { op: 'Neg', inputs: ['a'], outputs: ['y2'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [2, 3] }],
    outputs: ['y1', 'y2'].map((name) => ({ name, type: 'float32' as const })),
  };
  const { graph, report } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['Relu', 'Neg', 'Identity']);
  assert.ok(report.rewrites.length <= 2, 'the passes settle');
  await assertSameOutputs(spec);
});

test('common subexpressions: nodes with subgraphs are never merged', () => {
  const branch = graphAttr({
    nodes: [{ op: 'Neg', inputs: ['x'], outputs: ['n'] }],
    inputs: [],
    outputs: [{ name: 'n', type: 'float32' }],
  });
  const spec: ModelSpec = {
    nodes: [
      { op: 'If', inputs: ['c'], outputs: ['i1'], attributes: { then_branch: branch, else_branch: branch } },
      { op: 'If', inputs: ['c'], outputs: ['i2'], attributes: { then_branch: branch, else_branch: branch } },
      { op: 'Add', inputs: ['i1', 'i2'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'x', type: 'float32', dims: [2] },
      { name: 'c', type: 'bool', dims: [] },
    ],
    outputs: [{ name: 'y', type: 'float32' }],
  };
  assert.deepEqual(opTypes(optimized(spec, passes).graph), ['If', 'If', 'Add']);
});

test('common subexpressions: small identical initializers merge, large ones stay apart', async () => {
  const large = Array.from({ length: 300 }, (_, i) => i);
  const spec: ModelSpec = {
    nodes: [
      { op: 'Add', inputs: ['x', 'one_a'], outputs: ['a'] },
      { op: 'Add', inputs: ['a', 'one_b'], outputs: ['b'] },
      { op: 'Add', inputs: ['b', 'one_int'], outputs: ['c'] },
      { op: 'Add', inputs: ['big_a', 'big_b'], outputs: ['d'] },
      { op: 'Mul', inputs: ['c', 'd'], outputs: ['y'] },
    ],
    inputs: [{ name: 'x', type: 'float32', dims: [300] }],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [
      { name: 'one_a', type: 'float32', dims: [], values: [1] },
      { name: 'one_b', type: 'float32', dims: [], values: [1] },
      { name: 'one_int', type: 'float32', dims: [1], values: [1] },
      { name: 'big_a', type: 'float32', dims: [300], values: large },
      { name: 'big_b', type: 'float32', dims: [300], values: large },
    ],
  };
  const { graph } = optimized(spec, passes);
  assert.deepEqual(graph.nodes[1]!.inputs, ['a', 'one_a']);
  assert.deepEqual([...graph.initializers.keys()].sort(), ['big_a', 'big_b', 'one_a', 'one_int']);
  await assertSameOutputs(spec);
});

test('dead code: unread nodes and initializers go, outer-scope reads keep theirs', async () => {
  const branch = (value: string) =>
    graphAttr({
      nodes: [{ op: 'Identity', inputs: [value], outputs: [`${value}_out`] }],
      inputs: [],
      outputs: [{ name: `${value}_out`, type: 'float32' }],
    });
  const spec: ModelSpec = {
    nodes: [
      { op: 'Relu', inputs: ['x'], outputs: ['unused'] },
      { op: 'Neg', inputs: ['unused'], outputs: ['also_unused'] },
      { op: 'Add', inputs: ['x', 'spare'], outputs: ['dead_add'] },
      { op: 'Neg', inputs: ['x'], outputs: ['negated'] },
      {
        op: 'If',
        inputs: ['c'],
        outputs: ['y'],
        attributes: { then_branch: branch('negated'), else_branch: branch('w') },
      },
    ],
    inputs: [
      { name: 'x', type: 'float32', dims: [2] },
      { name: 'c', type: 'bool', dims: [] },
    ],
    outputs: [{ name: 'y', type: 'float32' }],
    initializers: [
      { name: 'spare', type: 'float32', dims: [2], values: [1, 2] },
      { name: 'w', type: 'float32', dims: [2], values: [3, 4] },
    ],
  };
  const { graph } = optimized(spec, passes);
  assert.deepEqual(opTypes(graph), ['Neg', 'If']);
  assert.deepEqual([...graph.initializers.keys()], ['w']);
  for (const c of [0, 1]) {
    await assertSameOutputs(spec, { x: new Tensor('float32', [1, -2], [2]), c: new Tensor('bool', [c], []) });
  }
});

const REAL_MODELS = ['resnet18', 'mobilenet_v2', 'bert', 'lstm'];
const exported = exportModels(REAL_MODELS);

for (const name of REAL_MODELS) {
  const folder = path.join(modelsDir, name);
  const skip = exported.skipReason;
  test(
    `${name}: basic cleanup keeps its outputs, and shrinks what has constants to fold`,
    { skip },
    async (t) => {
      if (exported.failure) throw new Error(exported.failure);
      const file = path.join(folder, 'model.onnx');
      const basic = await InferenceSession.create(file, { graphOptimizationLevel: 'basic' });
      const plain = await InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
      const feeds = readNpyFiles(path.join(folder, 'inputs'), basic.inputNames);
      const specialised = basic.planFor(new Map(Object.entries(feeds).map(([input, v]) => [input, v.dims])));
      const { nodesBefore, nodesAfter } = basic.optimization;
      t.diagnostic(
        `${nodesBefore} nodes -> ${nodesAfter}, ${specialised.plan.graph.nodes.length} for the feeds' shapes`,
      );
      assert.ok(nodesAfter <= nodesBefore);
      if (name !== 'resnet18') assert.ok(nodesAfter < nodesBefore, 'its Constant nodes fold');
      if (name === 'bert')
        assert.ok(specialised.plan.graph.nodes.length < nodesAfter, 'its shape computations fold');
      const actual = await basic.run(feeds);
      const expected = await plain.run(feeds);
      for (const output of plain.outputNames)
        assertSameTensor(actual[output] as Tensor, expected[output] as Tensor, output);
    },
  );
}

test('folding and elimination together leave a fixed point', () => {
  const spec = chain([
    { op: 'Shape', inputs: ['x'], outputs: ['s'] },
    { op: 'Cast', inputs: ['s'], outputs: ['s64'], attributes: { to: 7 } },
    { op: 'Reshape', inputs: ['x', 's64'], outputs: ['r'] },
    { op: 'Identity', inputs: ['r'], outputs: ['y'] },
  ]);
  const { graph, report } = optimized(spec, [...folding, ...passes]);
  assert.deepEqual(
    graph.nodes.map((n) => n.opType),
    ['Identity'],
  );
  assert.ok(report.rewrites.length < 10, JSON.stringify(report.rewrites));
});
