/**
 * The analytic cost model against counts worked out by hand: Conv (groups, strides, dilations,
 * padding, 1-D to 3-D, bias), ConvTranspose, MatMul (batch broadcast, 1-D operands) and Gemm
 * (transposes, alpha, beta and C), fused nodes counting the operators they replaced, and Gather
 * and Slice reading only what they output. Shapes come from the planner's own shape inference, so
 * strides and dilations reach the counts the way they do in a profile.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession } from '../../src/index.js';
import { graphNodeCost } from '../../src/ir/cost.js';
import { buildModel, type NodeSpec, type TensorSpec, type ValueSpec } from '../support/build-model.js';

const FLOAT_BYTES = 4;

interface OneNode {
  node: NodeSpec;
  inputs: ValueSpec[];
  initializers?: TensorSpec[];
  output: ValueSpec;
}

/** The cost of the plan's node `name` for a model of one node (or more, with `extra`). */
async function planCost(
  { node, inputs, initializers, output }: OneNode,
  level: 'disabled' | 'all' = 'disabled',
) {
  const session = await InferenceSession.create(
    buildModel({ nodes: [node], inputs, outputs: [output], initializers }),
    { graphOptimizationLevel: level },
  );
  const dims = new Map(inputs.map((i) => [i.name, i.dims as number[]]));
  const { plan } = session.planFor(dims);
  const planned = plan.graph.nodes.find((n) => n.name === node.name)!;
  return { cost: graphNodeCost(planned, plan.graph)!, type: plan.graph.valueTypes.get(output.name) };
}

function weights(name: string, dims: number[]): TensorSpec {
  return { name, type: 'float32', dims, values: new Array(dims.reduce((a, b) => a * b, 1)).fill(0.5) };
}

const float = (name: string, dims: number[]): ValueSpec => ({ name, type: 'float32', dims });

test('Conv: 2·N·Cout·spatialOut·(Cin/group)·kernel, with groups, strides, dilations, padding and bias', async () => {
  // H: (17 + 1 + 1 - 2·(3-1) - 1) / 2 + 1 = 8; W: (19 + 2 + 2 - 1·(5-1) - 1) / 3 + 1 = 7.
  const { cost, type } = await planCost({
    node: {
      op: 'Conv',
      name: 'conv',
      inputs: ['x', 'w', 'b'],
      outputs: ['y'],
      attributes: { group: 2, strides: [2, 3], dilations: [2, 1], pads: [1, 2, 1, 2] },
    },
    inputs: [float('x', [2, 8, 17, 19])],
    initializers: [weights('w', [16, 4, 3, 5]), weights('b', [16])],
    output: float('y', [2, 16, 8, 7]),
  });
  assert.deepEqual(type, { kind: 'tensor', elemType: 'float32', shape: [2, 16, 8, 7] });
  const outputs = 2 * 16 * 8 * 7;
  assert.equal(cost.flops, 2 * 2 * 16 * (8 * 7) * (8 / 2) * (3 * 5) + outputs);
  assert.equal(cost.bytesRead, (2 * 8 * 17 * 19 + 16 * 4 * 3 * 5 + 16) * FLOAT_BYTES);
  assert.equal(cost.bytesWritten, outputs * FLOAT_BYTES);
});

test('Conv: depthwise (group = channels) and 3-D with strides, no bias', async () => {
  const depthwise = await planCost({
    node: {
      op: 'Conv',
      name: 'conv',
      inputs: ['x', 'w'],
      outputs: ['y'],
      attributes: { group: 32, pads: [1, 1, 1, 1] },
    },
    inputs: [float('x', [1, 32, 28, 28])],
    initializers: [weights('w', [32, 1, 3, 3])],
    output: float('y', [1, 32, 28, 28]),
  });
  assert.equal(depthwise.cost.flops, 2 * 1 * 32 * (28 * 28) * (32 / 32) * 9);
  // Spatial out: 5 - 2 + 1 = 4, (6 - 2) / 2 + 1 = 3, (7 - 2) / 3 + 1 = 2.
  const volumetric = await planCost({
    node: {
      op: 'Conv',
      name: 'conv',
      inputs: ['x', 'w'],
      outputs: ['y'],
      attributes: { strides: [1, 2, 3] },
    },
    inputs: [float('x', [1, 2, 5, 6, 7])],
    initializers: [weights('w', [4, 2, 2, 2, 2])],
    output: float('y', [1, 4, 4, 3, 2]),
  });
  assert.equal(volumetric.cost.flops, 2 * 1 * 4 * (4 * 3 * 2) * 2 * (2 * 2 * 2));
});

test('ConvTranspose: 2·N·Cin·spatialIn·(Cout/group)·kernel plus the bias', async () => {
  // Spatial out: (5 - 1)·2 + 3 = 11.
  const { cost, type } = await planCost({
    node: {
      op: 'ConvTranspose',
      name: 'up',
      inputs: ['x', 'w', 'b'],
      outputs: ['y'],
      attributes: { strides: [2, 2] },
    },
    inputs: [float('x', [1, 4, 5, 5])],
    initializers: [weights('w', [4, 3, 3, 3]), weights('b', [3])],
    output: float('y', [1, 3, 11, 11]),
  });
  assert.deepEqual(type, { kind: 'tensor', elemType: 'float32', shape: [1, 3, 11, 11] });
  assert.equal(cost.flops, 2 * 1 * 4 * (5 * 5) * 3 * 9 + 3 * 11 * 11);
});

test('MatMul: 2·M·N·K per broadcast batch, and 1-D operands', async () => {
  const matMul = (a: number[], b: number[], out: number[]) =>
    planCost({
      node: { op: 'MatMul', name: 'mm', inputs: ['a', 'b'], outputs: ['y'] },
      inputs: [float('a', a), float('b', b)],
      output: float('y', out),
    });
  const batched = await matMul([2, 1, 5, 7], [3, 7, 4], [2, 3, 5, 4]);
  assert.equal(batched.cost.flops, 2 * (2 * 3) * 5 * 4 * 7);
  assert.equal(batched.cost.bytesRead, (2 * 5 * 7 + 3 * 7 * 4) * FLOAT_BYTES);
  assert.equal(batched.cost.bytesWritten, 2 * 3 * 5 * 4 * FLOAT_BYTES);
  assert.equal((await matMul([7], [7, 4], [4])).cost.flops, 2 * 4 * 7);
  assert.equal((await matMul([3, 5, 7], [7], [3, 5])).cost.flops, 2 * 3 * 5 * 7);
});

test('Gemm: 2·M·N·K with transposes, alpha and beta scaling, and C', async () => {
  // A' = Aᵀ is 5×7 (M = 5, K = 7); B' = Bᵀ is 7×4 (N = 4).
  const full = await planCost({
    node: {
      op: 'Gemm',
      name: 'gemm',
      inputs: ['a', 'b', 'c'],
      outputs: ['y'],
      attributes: { transA: 1, transB: 1, alpha: { float: 0.5 }, beta: { float: 2 } },
    },
    inputs: [float('a', [7, 5]), float('b', [4, 7])],
    initializers: [weights('c', [4])],
    output: float('y', [5, 4]),
  });
  const mn = 5 * 4;
  assert.equal(full.cost.flops, 2 * mn * 7 + mn /* alpha */ + mn /* + C */ + mn /* beta */);
  const plain = await planCost({
    node: { op: 'Gemm', name: 'gemm', inputs: ['a', 'b'], outputs: ['y'] },
    inputs: [float('a', [6, 9]), float('b', [9, 3])],
    output: float('y', [6, 3]),
  });
  assert.equal(plain.cost.flops, 2 * 6 * 3 * 9);
});

test('fused nodes count the operators they replaced', async () => {
  const session = await InferenceSession.create(
    buildModel({
      nodes: [
        {
          op: 'Conv',
          name: 'conv',
          inputs: ['x', 'w', 'b'],
          outputs: ['c'],
          attributes: { pads: [1, 1, 1, 1] },
        },
        { op: 'Relu', name: 'relu', inputs: ['c'], outputs: ['y'] },
      ],
      inputs: [float('x', [1, 3, 8, 8])],
      outputs: [float('y', [1, 4, 8, 8])],
      initializers: [weights('w', [4, 3, 3, 3]), weights('b', [4])],
    }),
  );
  const { plan } = session.planFor(new Map([['x', [1, 3, 8, 8]]]));
  assert.equal(plan.graph.nodes.length, 1);
  const [fused] = plan.graph.nodes;
  assert.equal(fused!.opType, 'FusedConv');
  const outputs = 4 * 8 * 8;
  assert.equal(
    graphNodeCost(fused!, plan.graph)!.flops,
    2 * outputs * 3 * 9 + outputs /* bias */ + outputs /* Relu */,
  );
});

test('Gather and Slice read of their data only what they output, and their indices in full', async () => {
  const gather = await planCost({
    node: { op: 'Gather', name: 'lookup', inputs: ['table', 'ids'], outputs: ['rows'] },
    inputs: [float('table', [1000, 16]), { name: 'ids', type: 'int64', dims: [2, 3] }],
    output: float('rows', [2, 3, 16]),
  });
  const rowBytes = 2 * 3 * 16 * FLOAT_BYTES;
  assert.deepEqual(gather.cost, { flops: 0, bytesRead: rowBytes + 6 * 8, bytesWritten: rowBytes });
  const slice = await planCost({
    node: { op: 'Slice', name: 'slice', inputs: ['x', 'starts', 'ends'], outputs: ['y'] },
    inputs: [float('x', [100, 10])],
    initializers: [
      { name: 'starts', type: 'int64', dims: [1], values: [10] },
      { name: 'ends', type: 'int64', dims: [1], values: [14] },
    ],
    output: float('y', [4, 10]),
  });
  assert.equal(slice.cost.bytesRead, 4 * 10 * FLOAT_BYTES + 2 * 8);
});

test('views move no bytes; a shape unknown to the plan leaves the cost unknown', async () => {
  const reshape = await planCost({
    node: { op: 'Reshape', name: 'reshape', inputs: ['x', 'shape'], outputs: ['y'] },
    inputs: [float('x', [2, 6])],
    initializers: [{ name: 'shape', type: 'int64', dims: [2], values: [3, 4] }],
    output: float('y', [3, 4]),
  });
  assert.deepEqual(reshape.cost, { flops: 0, bytesRead: 0, bytesWritten: 0 });
  const session = await InferenceSession.create(
    buildModel({
      nodes: [
        { op: 'NonZero', name: 'nz', inputs: ['x'], outputs: ['i'] },
        { op: 'Relu', name: 'relu', inputs: ['i'], outputs: ['y'] },
      ],
      inputs: [float('x', [4])],
      outputs: [{ name: 'y', type: 'int64' }],
    }),
    { graphOptimizationLevel: 'disabled' },
  );
  const { plan } = session.planFor(new Map([['x', [4]]]));
  const relu = plan.graph.nodes.find((n) => n.name === 'relu')!;
  assert.equal(graphNodeCost(relu, plan.graph), undefined);
});
