/**
 * The wasm backend's Conv and FusedConv against the reference backend, node by node: random
 * weights and inputs over kernel sizes 1 to 7, strides, dilations, asymmetric pads and auto_pad,
 * groups (depthwise with and without a channel multiplier, and grouped GEMMs), ragged channel and
 * pixel counts, batch 2, 1-D convolutions, every activation; ConvTranspose likewise with
 * output_padding and output_shape. Each at 1 and 2 threads, with the input and output in the wasm
 * heap and outside it, and weights both constant and fed.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import { HEDDLE_DOMAIN, type Node, type ValueType } from '../../src/ir/graph.js';
import type { KernelOutputs } from '../../src/backends/backend.js';
import { ReferenceBackend } from '../../src/backends/reference/backend.js';
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
  randomTensor,
  type AttributeValue,
  type Random,
  typesOf,
} from '../support/wasm-checks.js';
import { FUSED_ACTIVATIONS } from '../support/op-cases.js';

interface ConvCase {
  /** Conv (the default, FusedConv with an activation) or ConvTranspose. */
  op?: 'ConvTranspose';
  x: Tensor;
  w: Tensor;
  bias?: Tensor;
  attributes: Record<string, AttributeValue | undefined>;
  /** FusedConv's activation and its params; a plain Conv without. */
  activation?: [string, number[]];
}

function nodeOf(c: ConvCase): Node {
  const attrs = { ...c.attributes };
  if (c.activation) {
    attrs.activation = c.activation[0];
    attrs.activation_params = { floats: c.activation[1] };
  }
  return {
    name: 'conv_case',
    opType: c.op ?? (c.activation ? 'FusedConv' : 'Conv'),
    domain: c.activation ? HEDDLE_DOMAIN : '',
    opset: c.activation ? 1 : 11,
    inputs: ['x', 'w', ...(c.bias ? ['b'] : [])],
    outputs: ['y'],
    attributes: attributes(attrs),
  };
}

function inputsOf(c: ConvCase): Tensor[] {
  return [c.x, c.w, ...(c.bias ? [c.bias] : [])];
}

const wasmBackend = backendsBy((threads) => ({ threads, tune: false }));

interface Placement {
  threads: number;
  heap: boolean;
  constantWeights: boolean;
}

const PLACEMENTS: Placement[] = [
  { threads: 1, heap: true, constantWeights: true },
  { threads: 2, heap: true, constantWeights: true },
  { threads: 1, heap: false, constantWeights: false },
  { threads: 2, heap: false, constantWeights: true },
];

async function runWasm(c: ConvCase, placement: Placement): Promise<KernelOutputs> {
  const backend = wasmBackend(placement.threads);
  const node = nodeOf(c);
  const inputs = inputsOf(c);
  const types = typesOf(node, inputs);
  const constants = new Map<string, Tensor>();
  if (placement.constantWeights) inputs.slice(1).forEach((t, i) => constants.set(node.inputs[i + 1]!, t));
  assert.equal(backend.supports(node, types), true, 'wasm claims the node');
  const kernel = backend.prepare(node, constants, types);
  const fed = inputs.map((t, i) =>
    placement.heap && (i === 0 || !placement.constantWeights) ? inHeap(backend, t) : t,
  );
  return kernel.run(argsOf(fed, placement.heap ? heapMemory(backend) : ownMemory));
}

const TOLERANCE = { rtol: 2e-4, atol: 2e-4 };

async function check(c: ConvCase): Promise<void> {
  const expected = (await new ReferenceBackend().prepare(nodeOf(c)).run(argsOf(inputsOf(c), ownMemory)))[0];
  assert.ok(expected instanceof Tensor);
  const describe = `${nodeOf(c).opType} x[${c.x.dims}] w[${c.w.dims}]${c.bias ? ' bias' : ''} ${JSON.stringify(c.attributes)} ${c.activation?.[0] ?? ''}`;
  for (const placement of PLACEMENTS) {
    const actual = (await runWasm(c, placement))[0];
    const where = `${describe}, ${placement.threads} threads, ${placement.heap ? 'in' : 'out of'} heap`;
    assertClose(actual, expected, where, TOLERANCE);
  }
}

/** A convolution of random shape and attributes whose window fits its input. */
function randomCase(rng: Random, grouping: 'dense' | 'depthwise' | 'grouped'): ConvCase {
  const spatial = rng() < 0.15 ? 1 : 2;
  const kernel = Array.from({ length: spatial }, () => pick(rng, [1, 3, 3, 5, 7]));
  const strides = Array.from({ length: spatial }, () => pick(rng, [1, 1, 2, 3]));
  const dilations = Array.from({ length: spatial }, () => pick(rng, [1, 1, 1, 2]));
  const autoPad = pick(rng, ['NOTSET', 'NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);
  const pads = Array.from({ length: 2 * spatial }, (_, i) =>
    autoPad === 'NOTSET' ? integer(rng, 0, kernel[i % spatial]! - 1) : 0,
  );
  const inSpatial = kernel.map((k, d) => {
    const span = (k - 1) * dilations[d]! + 1;
    return Math.max(1, span - pads[d]! - pads[d + spatial]!) + integer(rng, 0, 17);
  });
  const group = grouping === 'dense' ? 1 : grouping === 'grouped' ? pick(rng, [2, 3]) : integer(rng, 1, 13);
  const groupChannels = grouping === 'depthwise' ? 1 : integer(rng, 1, 9);
  const multiplier = grouping === 'depthwise' ? pick(rng, [1, 1, 2]) : integer(rng, 1, 11);
  const inChannels = group * groupChannels;
  const outChannels = group * multiplier;
  const batch = pick(rng, [1, 1, 2]);
  return {
    x: randomTensor(rng, [batch, inChannels, ...inSpatial]),
    w: randomTensor(rng, [outChannels, groupChannels, ...kernel]),
    bias: rng() < 0.7 ? randomTensor(rng, [outChannels]) : undefined,
    attributes: {
      group,
      strides,
      dilations,
      pads: autoPad === 'NOTSET' ? pads : undefined,
      auto_pad: autoPad === 'NOTSET' ? undefined : autoPad,
      kernel_shape: rng() < 0.5 ? kernel : undefined,
    },
    activation: rng() < 0.6 ? pick(rng, FUSED_ACTIVATIONS) : undefined,
  };
}

test('Conv: dense convolutions of random shapes (im2col and GEMM)', async () => {
  const rng = random(1);
  for (let round = 0; round < 40; round++) await check(randomCase(rng, 'dense'));
});

test('Conv: depthwise convolutions of random shapes, with channel multipliers (direct kernels)', async () => {
  const rng = random(2);
  for (let round = 0; round < 40; round++) await check(randomCase(rng, 'depthwise'));
});

test('Conv: grouped convolutions of random shapes (a GEMM per group)', async () => {
  const rng = random(3);
  for (let round = 0; round < 20; round++) await check(randomCase(rng, 'grouped'));
});

test('Conv: every activation, on both kernels', async () => {
  const rng = random(4);
  for (const activation of FUSED_ACTIVATIONS) {
    for (const group of [1, 6]) {
      await check({
        x: randomTensor(rng, [1, 6, 9, 11]),
        w: randomTensor(rng, [6, 6 / group, 3, 3]),
        bias: randomTensor(rng, [6]),
        attributes: { group, pads: [1, 1, 1, 1] },
        activation,
      });
    }
  }
});

test('Conv: the shapes of ResNet, MobileNetV2 and SqueezeNet layers, in small', async () => {
  const rng = random(5);
  const cases: [number[], number[], Record<string, AttributeValue>][] = [
    [[1, 3, 45, 45], [16, 3, 7, 7], { strides: [2, 2], pads: [3, 3, 3, 3] }],
    [[1, 16, 14, 14], [16, 16, 3, 3], { pads: [1, 1, 1, 1] }],
    [[1, 16, 14, 14], [32, 16, 1, 1], { strides: [2, 2] }],
    [[2, 24, 28, 28], [24, 1, 3, 3], { group: 24, pads: [1, 1, 1, 1] }],
    [[1, 24, 28, 28], [24, 1, 3, 3], { group: 24, pads: [1, 1, 1, 1], strides: [2, 2] }],
    [[1, 32, 7, 7], [32, 1, 3, 3], { group: 32, pads: [1, 1, 1, 1] }],
    [[1, 24, 13, 13], [40, 24, 1, 1], {}],
    [[1, 3, 37, 37], [16, 3, 3, 3], { strides: [2, 2] }],
    [[1, 16, 27, 27], [24, 16, 3, 3], { pads: [1, 1, 1, 1] }],
    [[1, 8, 55, 55], [24, 8, 3, 3], { pads: [1, 1, 1, 1] }],
  ];
  for (const [xDims, wDims, attrs] of cases) {
    await check({
      x: randomTensor(rng, xDims),
      w: randomTensor(rng, wDims),
      bias: randomTensor(rng, [wDims[0]!]),
      attributes: attrs,
      activation: ['Relu', []],
    });
  }
});

test('Conv: a convolution of several panel blocks per thread', async () => {
  const rng = random(6);
  await check({
    x: randomTensor(rng, [1, 32, 61, 59]),
    w: randomTensor(rng, [20, 32, 3, 3]),
    bias: randomTensor(rng, [20]),
    attributes: { pads: [1, 1, 1, 1] },
  });
});

/** A transposed convolution of random shape and attributes. */
function randomTranspose(rng: Random): ConvCase {
  const spatial = rng() < 0.2 ? 1 : 2;
  const kernel = Array.from({ length: spatial }, () => pick(rng, [1, 2, 3, 4, 5]));
  const strides = Array.from({ length: spatial }, () => pick(rng, [1, 2, 2, 3]));
  const dilations = Array.from({ length: spatial }, () => pick(rng, [1, 1, 2]));
  const inSpatial = Array.from({ length: spatial }, () => integer(rng, 1, 13));
  const group = pick(rng, [1, 1, 2]);
  const groupChannels = integer(rng, 1, 5);
  const groupOutChannels = integer(rng, 1, 6);
  const mode = pick(rng, ['pads', 'pads', 'output_shape', 'SAME_UPPER', 'SAME_LOWER']);
  const full = inSpatial.map((n, d) => strides[d]! * (n - 1) + (kernel[d]! - 1) * dilations[d]! + 1);
  const pads = Array.from({ length: 2 * spatial }, (_, i) =>
    integer(rng, 0, Math.floor((full[i % spatial]! - 1) / 2)),
  );
  const outputPadding = strides.map((s) => integer(rng, 0, s - 1));
  return {
    op: 'ConvTranspose',
    x: randomTensor(rng, [pick(rng, [1, 2]), group * groupChannels, ...inSpatial]),
    w: randomTensor(rng, [group * groupChannels, groupOutChannels, ...kernel]),
    bias: rng() < 0.6 ? randomTensor(rng, [group * groupOutChannels]) : undefined,
    attributes: {
      group,
      strides,
      dilations,
      pads: mode === 'pads' ? pads : undefined,
      output_padding: mode === 'pads' ? outputPadding : undefined,
      output_shape: mode === 'output_shape' ? full.map((n) => n + integer(rng, -2, 2)) : undefined,
      auto_pad: mode.startsWith('SAME') ? mode : undefined,
    },
  };
}

test('ConvTranspose: random shapes, strides, dilations, pads, output_padding and output_shape', async () => {
  const rng = random(9);
  for (let round = 0; round < 40; round++) await check(randomTranspose(rng));
});

test('Conv: a padded batch too large for one bordered copy runs an image group at a time', async () => {
  const rng = random(11);
  await check({
    x: randomTensor(rng, [3, 96, 100, 100]),
    w: randomTensor(rng, [3, 96, 3, 3]),
    bias: randomTensor(rng, [3]),
    attributes: { pads: [1, 1, 1, 1] },
    activation: ['Relu', []],
  });
});

test('Conv: runs one after another with new inputs pack their panels again', async () => {
  const rng = random(10);
  const w = randomTensor(rng, [8, 6, 3, 3]);
  const c = (x: Tensor): ConvCase => ({ x, w, attributes: { pads: [1, 1, 1, 1] } });
  for (const threads of [1, 2]) {
    const planned = c(randomTensor(rng, [1, 6, 12, 12]));
    const node = nodeOf(planned);
    const types = typesOf(node, inputsOf(planned));
    const kernel = wasmBackend(threads).prepare(node, new Map([['w', w]]), types);
    for (let run = 0; run < 3; run++) {
      const x = randomTensor(rng, [1, 6, 12, 12]);
      const [actual] = await kernel.run(argsOf([x, w], ownMemory));
      const [expected] = await new ReferenceBackend().prepare(node).run(argsOf([x, w], ownMemory));
      assertClose(actual, expected, `threads ${threads}, run ${run}`, TOLERANCE);
    }
  }
});

test('Conv: a run whose input shape differs from the plan goes to the reference kernel', async () => {
  const rng = random(7);
  const planned = randomTensor(rng, [1, 4, 8, 8]);
  const c: ConvCase = { x: planned, w: randomTensor(rng, [5, 4, 3, 3]), attributes: { pads: [1, 1, 1, 1] } };
  const backend = wasmBackend(1);
  const node = nodeOf(c);
  const types = typesOf(node, inputsOf(c));
  const kernel = backend.prepare(node, new Map([['w', c.w]]), types);
  const other = randomTensor(rng, [2, 4, 6, 7]);
  const actual = (await kernel.run(argsOf([other, c.w], ownMemory)))[0] as Tensor;
  const expected = (
    await new ReferenceBackend().prepare(node).run(argsOf([other, c.w], ownMemory))
  )[0] as Tensor;
  assert.deepEqual(actual.dims, expected.dims);
  assert.deepEqual([...(actual.data as Float32Array)], [...(expected.data as Float32Array)]);
});

test('Conv: what the wasm kernels leave to others', () => {
  const backend = wasmBackend(1);
  const rng = random(8);
  const c: ConvCase = {
    x: randomTensor(rng, [1, 2, 4, 4, 4]),
    w: randomTensor(rng, [2, 2, 1, 1, 1]),
    attributes: {},
  };
  const shape = (dims: readonly number[]): ValueType => ({
    kind: 'tensor',
    elemType: 'float32',
    shape: [...dims],
  });
  const types = new Map([
    ['x', shape(c.x.dims)],
    ['w', shape(c.w.dims)],
  ]);
  assert.match(String(backend.supports(nodeOf(c), types)), /1-D and 2-D/);
  assert.match(
    String(backend.supports(nodeOf({ ...c, x: randomTensor(rng, [1, 2, 4, 4]) }), new Map())),
    /static/,
  );
});
