/**
 * The Conv/Gemm/MatMul fusions: per-channel affine steps folded into Conv, and bias Adds and
 * activations fused into FusedConv, FusedGemm and FusedMatMul; what is left alone when a
 * precondition fails, and that outputs stay those of the unfused graph.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../../src/index.js';
import type { Attribute } from '../../src/ir/graph.js';
import type { Rewrite } from '../../src/passes/index.js';
import { buildModel, type ModelSpec, type NodeSpec, type TensorSpec } from '../support/build-model.js';
import { assertSameAsUnfused, optimize, randomFeeds } from '../support/fuseops.js';

const x = { name: 'x', type: 'float32', dims: [2, 3, 5, 5] } as const;
const y = { name: 'y', type: 'float32' } as const;

/** A float32 initializer of seeded values in [low, low + 1). */
function constant(name: string, dims: number[], low = -0.5, seed = name.length): TensorSpec {
  const values = randomFeeds([{ name, type: 'float32', dims }], {}, seed)[name]!.data as Float32Array;
  return { name, type: 'float32', dims, values: Array.from(values, (v) => v / 6 + 0.5 + low) };
}

const weights = constant('w', [4, 3, 3, 3]);
const convBias = constant('b', [4]);

/** A Conv (3 -> 4 channels, 3x3, padded) from x to 'c', followed by `after`. */
function convModel(after: NodeSpec[], initializers: TensorSpec[] = [], opset = 17): ModelSpec {
  return {
    nodes: [
      {
        op: 'Conv',
        name: 'conv',
        inputs: ['x', 'w', 'b'],
        outputs: ['c'],
        attributes: { pads: [1, 1, 1, 1] },
      },
      ...after,
    ],
    inputs: [x],
    outputs: [y],
    initializers: [weights, convBias, ...initializers],
    opsets: { '': opset },
  };
}

/** What the one rewrite of `pass` says it did. */
function describedBy(rewrites: readonly Rewrite[], pass: string): string {
  const made = rewrites.filter((r) => r.pass === pass);
  assert.equal(made.length, 1, `${pass} rewrites`);
  return made[0]!.description;
}

function attribute(node: { attributes: Map<string, Attribute> }, name: string): unknown {
  return node.attributes.get(name)?.value;
}

const batchNormStats = [
  constant('gamma', [4], 0.5),
  constant('beta', [4]),
  constant('mean', [4]),
  constant('var', [4], 0.5),
];

test('Conv + BatchNormalization fold into one Conv in every opset', async () => {
  for (const opset of [7, 9, 15]) {
    const spec = convModel(
      [
        {
          op: 'BatchNormalization',
          name: 'bn',
          inputs: ['c', 'gamma', 'beta', 'mean', 'var'],
          outputs: ['y'],
          attributes: { epsilon: { float: 1e-3 } },
        },
      ],
      batchNormStats,
      opset,
    );
    const { ops, rewrites } = await optimize(spec, 'basic');
    assert.deepEqual(ops, ['Conv'], `opset ${opset}`);
    assert.match(
      describedBy(rewrites, 'conv-affine-folding'),
      /folded BatchNormalization 'bn' into Conv 'conv' \(new weights and bias\)/,
    );
    await assertSameAsUnfused(spec, { tolerance: 1e-5 });
  }
});

test('a per-channel Mul and Add after a Conv fold into its weights and bias', async () => {
  const spec = convModel(
    [
      { op: 'Mul', inputs: ['c', 'scale'], outputs: ['scaled'] },
      { op: 'Add', inputs: ['shift', 'scaled'], outputs: ['y'] },
    ],
    [constant('scale', [4, 1, 1], 1), constant('shift', [1, 4, 1, 1])],
  );
  assert.deepEqual((await optimize(spec, 'basic')).ops, ['Conv']);
  await assertSameAsUnfused(spec, { tolerance: 1e-5 });
  const scalarShift = convModel([{ op: 'Add', inputs: ['c', 'one'], outputs: ['y'] }], [constant('one', [])]);
  assert.deepEqual((await optimize(scalarShift, 'basic')).ops, ['Conv']);
  await assertSameAsUnfused(scalarShift, { tolerance: 1e-5 });
});

test('folding leaves training BatchNormalization, varying or fed constants and returned outputs alone', async () => {
  const batchNorm = (attributes: NodeSpec['attributes'] = {}): NodeSpec => ({
    op: 'BatchNormalization',
    inputs: ['c', 'gamma', 'beta', 'mean', 'var'],
    outputs: ['y'],
    attributes,
  });
  const training = convModel([batchNorm({ training_mode: 1 })], batchNormStats);
  assert.deepEqual((await optimize(training, 'basic')).ops, ['Conv', 'BatchNormalization']);

  const alongWidth = convModel(
    [{ op: 'Mul', inputs: ['c', 's'], outputs: ['y'] }],
    [constant('s', [1, 1, 1, 5])],
  );
  assert.deepEqual((await optimize(alongWidth)).ops, ['Conv', 'Mul']);

  const fedWeights: ModelSpec = {
    ...convModel([batchNorm()], batchNormStats),
    inputs: [x, { name: 'w', type: 'float32', dims: [4, 3, 3, 3] }],
  };
  assert.deepEqual((await optimize(fedWeights, 'basic')).ops, ['Conv', 'BatchNormalization']);

  const returned: ModelSpec = {
    ...convModel([batchNorm()], batchNormStats),
    outputs: [y, { name: 'c', type: 'float32' }],
  };
  assert.deepEqual((await optimize(returned, 'basic')).ops, ['Conv', 'BatchNormalization']);
});

/** Each activation after a Conv: its nodes, extra initializers, and the activation and params the fused node should name. */
const activationCases: {
  name: string;
  nodes: NodeSpec[];
  initializers?: TensorSpec[];
  opset?: number;
  activation: string;
  params?: number[];
}[] = [
  { name: 'Relu', nodes: [{ op: 'Relu', inputs: ['c'], outputs: ['y'] }], activation: 'Relu' },
  { name: 'Sigmoid', nodes: [{ op: 'Sigmoid', inputs: ['c'], outputs: ['y'] }], activation: 'Sigmoid' },
  { name: 'Tanh', nodes: [{ op: 'Tanh', inputs: ['c'], outputs: ['y'] }], activation: 'Tanh' },
  { name: 'HardSwish', nodes: [{ op: 'HardSwish', inputs: ['c'], outputs: ['y'] }], activation: 'HardSwish' },
  {
    name: 'LeakyRelu',
    nodes: [{ op: 'LeakyRelu', inputs: ['c'], outputs: ['y'], attributes: { alpha: { float: 0.25 } } }],
    activation: 'LeakyRelu',
    params: [0.25],
  },
  {
    name: 'HardSigmoid (default alpha and beta)',
    nodes: [{ op: 'HardSigmoid', inputs: ['c'], outputs: ['y'] }],
    activation: 'HardSigmoid',
    params: [0.2, 0.5],
  },
  {
    name: 'Clip with constant bounds',
    nodes: [{ op: 'Clip', inputs: ['c', 'zero', 'six'], outputs: ['y'] }],
    initializers: [
      { name: 'zero', type: 'float32', dims: [], values: [0] },
      { name: 'six', type: 'float32', dims: [], values: [0.5] },
    ],
    activation: 'Clip',
    params: [0, 0.5],
  },
  {
    name: 'Clip with only a max',
    nodes: [{ op: 'Clip', inputs: ['c', '', 'six'], outputs: ['y'] }],
    initializers: [{ name: 'six', type: 'float32', dims: [], values: [0.5] }],
    activation: 'Clip',
    params: [-Infinity, 0.5],
  },
  {
    name: 'Clip of opset 6, bounds as attributes',
    nodes: [{ op: 'Clip', inputs: ['c'], outputs: ['y'], attributes: { min: { float: -0.5 } } }],
    opset: 6,
    activation: 'Clip',
    params: [-0.5, 3.4028234663852886e38],
  },
  {
    name: 'Gelu (tanh)',
    nodes: [{ op: 'Gelu', inputs: ['c'], outputs: ['y'], attributes: { approximate: 'tanh' } }],
    opset: 20,
    activation: 'FastGelu',
  },
  {
    name: 'SiLU written as x * Sigmoid(x)',
    nodes: [
      { op: 'Sigmoid', inputs: ['c'], outputs: ['gate'] },
      { op: 'Mul', inputs: ['gate', 'c'], outputs: ['y'] },
    ],
    activation: 'SiLU',
  },
];

for (const c of activationCases) {
  test(`Conv + ${c.name} fuse into FusedConv`, async () => {
    const spec = convModel(c.nodes, c.initializers, c.opset);
    const { ops, session, rewrites } = await optimize(spec);
    assert.deepEqual(ops, ['com.heddle::FusedConv']);
    const fused = session.model.graph.nodes[0]!;
    assert.equal(attribute(fused, 'activation'), c.activation);
    assert.deepEqual(attribute(fused, 'activation_params'), c.params);
    assert.deepEqual(attribute(fused, 'pads'), [1, 1, 1, 1]);
    assert.match(
      describedBy(rewrites, 'linear-activation-fusion'),
      /^fused Conv 'conv' \+ .* into FusedConv 'conv'$/,
    );
    await assertSameAsUnfused(spec);
  });
}

const rows = { name: 'a', type: 'float32', dims: ['batch', 3, 4] } as const;

function matmulModel(
  after: NodeSpec[],
  initializers: TensorSpec[],
  opsets?: Record<string, number>,
): ModelSpec {
  return {
    nodes: [{ op: 'MatMul', name: 'mm', inputs: ['a', 'm'], outputs: ['p'] }, ...after],
    inputs: [rows],
    outputs: [y],
    initializers: [constant('m', [4, 5]), ...initializers],
    opsets,
  };
}

test('MatMul + bias Add + activation fuse into FusedMatMul', async () => {
  const spec = matmulModel(
    [
      { op: 'Add', inputs: ['bias', 'p'], outputs: ['biased'] },
      { op: 'Relu', inputs: ['biased'], outputs: ['y'] },
    ],
    [constant('bias', [5])],
  );
  const { ops, session } = await optimize(spec);
  assert.deepEqual(ops, ['com.heddle::FusedMatMul']);
  assert.deepEqual(session.model.graph.nodes[0]!.inputs, ['a', 'm', 'bias']);
  await assertSameAsUnfused(spec, { feeds: randomFeeds([rows], { batch: 2 }) });
});

test('MatMul + a [1, N] bias + com.heddle::Gelu fuse, the bias made 1-D', async () => {
  const spec = matmulModel(
    [
      { op: 'Add', inputs: ['p', 'bias'], outputs: ['biased'] },
      { op: 'Gelu', domain: 'com.heddle', inputs: ['biased'], outputs: ['y'] },
    ],
    [constant('bias', [1, 5])],
    { '': 17, 'com.heddle': 1 },
  );
  const { ops, session } = await optimize(spec);
  assert.deepEqual(ops, ['com.heddle::FusedMatMul']);
  const fused = session.model.graph.nodes[0]!;
  assert.equal(attribute(fused, 'activation'), 'Gelu');
  assert.deepEqual(session.model.graph.initializers.get(fused.inputs[2]!)!.dims, [5]);
  await assertSameAsUnfused(spec, { feeds: randomFeeds([rows], { batch: 3 }) });
});

test('Gemm + bias Add + Tanh, and Gemm with C + LeakyRelu, fuse into FusedGemm', async () => {
  const a = { name: 'a', type: 'float32', dims: [3, 4] } as const;
  const biasAfter: ModelSpec = {
    nodes: [
      {
        op: 'Gemm',
        name: 'g',
        inputs: ['a', 'bt'],
        outputs: ['p'],
        attributes: { transB: 1, alpha: { float: 0.5 } },
      },
      { op: 'Add', inputs: ['p', 'bias'], outputs: ['biased'] },
      { op: 'Tanh', inputs: ['biased'], outputs: ['y'] },
    ],
    inputs: [a],
    outputs: [y],
    initializers: [constant('bt', [5, 4]), constant('bias', [5])],
  };
  const fusedBias = await optimize(biasAfter);
  assert.deepEqual(fusedBias.ops, ['com.heddle::FusedGemm']);
  assert.deepEqual(fusedBias.session.model.graph.nodes[0]!.inputs, ['a', 'bt', '', 'bias']);
  await assertSameAsUnfused(biasAfter);

  const withC: ModelSpec = {
    nodes: [
      { op: 'Gemm', inputs: ['a', 'm', 'c'], outputs: ['p'] },
      { op: 'LeakyRelu', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [a],
    outputs: [y],
    initializers: [constant('m', [4, 5]), constant('c', [1, 5])],
  };
  const fusedC = await optimize(withC);
  assert.deepEqual(fusedC.ops, ['com.heddle::FusedGemm']);
  assert.deepEqual(attribute(fusedC.session.model.graph.nodes[0]!, 'activation_params'), [0.01]);
  await assertSameAsUnfused(withC);
});

test('no fusion where the bias varies along rows, is not constant, or a value has other readers', async () => {
  const rowBias = matmulModel(
    [{ op: 'Add', inputs: ['p', 'grid'], outputs: ['y'] }],
    [constant('grid', [3, 5])],
  );
  assert.deepEqual((await optimize(rowBias)).ops, ['MatMul', 'Add']);

  const fedBias: ModelSpec = {
    ...matmulModel([{ op: 'Add', inputs: ['p', 'fed'], outputs: ['y'] }], []),
    inputs: [rows, { name: 'fed', type: 'float32', dims: [5] }],
  };
  assert.deepEqual((await optimize(fedBias)).ops, ['MatMul', 'Add']);

  const shared: ModelSpec = {
    ...convModel([
      { op: 'Relu', inputs: ['c'], outputs: ['y'] },
      { op: 'Neg', inputs: ['c'], outputs: ['z'] },
    ]),
    outputs: [y, { name: 'z', type: 'float32' }],
  };
  assert.deepEqual((await optimize(shared)).ops, ['Conv', 'Relu', 'Neg']);

  const fedBound: ModelSpec = {
    ...convModel([{ op: 'Clip', inputs: ['c', 'low'], outputs: ['y'] }]),
    inputs: [x, { name: 'low', type: 'float32', dims: [] }],
  };
  assert.deepEqual((await optimize(fedBound)).ops, ['Conv', 'Clip']);
});

test('integer MatMul + Relu is left alone', async () => {
  const spec: ModelSpec = {
    nodes: [
      { op: 'MatMul', inputs: ['a', 'b'], outputs: ['p'] },
      { op: 'Relu', inputs: ['p'], outputs: ['y'] },
    ],
    inputs: [
      { name: 'a', type: 'int32', dims: [2, 3] },
      { name: 'b', type: 'int32', dims: [3, 2] },
    ],
    outputs: [{ name: 'y', type: 'int32' }],
  };
  assert.deepEqual((await optimize(spec)).ops, ['MatMul', 'Relu']);
});

test('the fused kernels reject unknown activations, missing params and misshapen biases', async () => {
  const a = { name: 'a', type: 'float32', dims: [3, 4] } as const;
  const run = async (node: NodeSpec) => {
    const bytes = buildModel({
      nodes: [node],
      inputs: [a],
      outputs: [y],
      initializers: [constant('m', [4, 5]), constant('grid', [3, 5])],
      opsets: { '': 17, 'com.heddle': 1 },
    });
    const session = await InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
    return session.run({ a: new Tensor('float32', new Float32Array(12), [3, 4]) });
  };
  const fused = (attributes: NodeSpec['attributes'], inputs = ['a', 'm']): NodeSpec => ({
    op: 'FusedMatMul',
    domain: 'com.heddle',
    inputs,
    outputs: ['y'],
    attributes,
  });
  await assert.rejects(run(fused({ activation: 'Swoosh' })), /unknown activation 'Swoosh'/);
  await assert.rejects(
    run(fused({ activation: 'LeakyRelu' })),
    /activation LeakyRelu takes 1 activation_params \(alpha\), got 0/,
  );
  await assert.rejects(
    run(fused({}, ['a', 'm', 'grid'])),
    /bias of dims \[3, 5\] does not run along the last axis/,
  );
});
