/**
 * Models of every opset era run: each operator whose node form changed across opset versions is
 * written the way each era wrote it (attribute or input, legacy attributes, old defaults) and must
 * give the same answer; a small convolutional network written in each era's node forms gives one
 * answer from opset 1 to the newest; and an operator used in an opset older than itself is refused.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../src/index.js';
import { fromNumbers, toNumbers } from '../src/backends/reference/util.js';
import { importModel } from '../src/ir/import.js';
import { inferShapes } from '../src/ir/inference/index.js';
import { loadModelProto } from '../src/onnx/load.js';
import {
  AttributeType,
  decodeModelProto,
  encodeModelProto,
  type AttributeProto,
  type TensorProto,
} from '../src/onnx/proto.js';
import {
  buildModel,
  tensorProto,
  type NodeSpec,
  type TensorSpec,
  type ValueSpec,
} from './support/build-model.js';
import {
  FIRST_OPSETS,
  NEWEST_OPSET,
  batchNorm,
  gemm,
  opsetCases,
  type OpsetCase,
  type TensorAttribute,
  type Values,
} from './support/opset-cases.js';

function toTensor(v: Values): Tensor {
  return fromNumbers(v.type, v.values, v.dims);
}

function initializer(name: string, v: Values): TensorSpec {
  return { name, type: v.type, dims: v.dims, values: v.values };
}

/** Adds TENSOR attributes, which buildModel cannot write, to an encoded model's nodes. */
function withTensorAttributes(bytes: Uint8Array, attributes: TensorAttribute[]): Uint8Array {
  if (attributes.length === 0) return bytes;
  const model = decodeModelProto(bytes);
  for (const a of attributes) {
    const attribute: Partial<AttributeProto> = {
      name: a.name,
      type: AttributeType.TENSOR,
      t: tensorProto({ name: a.name, ...a.value }) as TensorProto,
    };
    model.graph!.node[a.node]!.attribute.push(attribute as AttributeProto);
  }
  return encodeModelProto(model);
}

/** The case's model; its outputs declare their shapes unless shape inference is to find them. */
function caseModel(c: OpsetCase, declareOutputShapes = true): Uint8Array {
  const bytes = buildModel({
    opsets: { '': c.opset },
    nodes: c.nodes,
    inputs: Object.entries(c.feeds).map(([name, v]) => ({ name, type: v.type, dims: v.dims })),
    outputs: Object.entries(c.expected).map(([name, v]) => ({
      name,
      type: v.type,
      dims: declareOutputShapes ? v.dims : undefined,
    })),
    initializers: Object.entries(c.constants).map(([name, v]) => initializer(name, v)),
  });
  return withTensorAttributes(bytes, c.tensorAttributes ?? []);
}

function assertMatches(actual: Tensor, expected: Values, name: string): void {
  assert.equal(actual.type, expected.type, `${name}: type`);
  assert.deepEqual([...actual.dims], expected.dims, `${name}: dims`);
  const got = [...toNumbers(actual)];
  const close = got.every(
    (g, i) => Math.abs(g - expected.values[i]!) <= 1e-5 + 1e-5 * Math.abs(expected.values[i]!),
  );
  assert.ok(
    close,
    `${name}: got [${got.map(round).join(', ')}], expected [${expected.values.map(round).join(', ')}]`,
  );
}

function round(v: number): number {
  return Math.round(v * 1e5) / 1e5;
}

async function runCase(c: OpsetCase): Promise<void> {
  const session = await InferenceSession.create(caseModel(c));
  const feeds = Object.fromEntries(Object.entries(c.feeds).map(([name, v]) => [name, toTensor(v)]));
  const outputs = await session.run(feeds);
  for (const [name, want] of Object.entries(c.expected)) assertMatches(outputs[name] as Tensor, want, name);
}

/** Shape inference must agree with the run: every dim it claims to know is the real one. */
function checkInference(c: OpsetCase): void {
  const model = importModel(loadModelProto(caseModel(c, false)));
  const report = inferShapes(model);
  assert.deepEqual(report.findings, [], 'inference findings');
  for (const [name, want] of Object.entries(c.expected)) {
    const inferred = model.graph.valueTypes.get(name);
    assert.ok(inferred?.kind === 'tensor', `${name}: inferred as a tensor`);
    assert.equal(inferred.elemType, want.type, `${name}: inferred type`);
    if (!inferred.shape) continue;
    const agrees =
      inferred.shape.length === want.dims.length &&
      inferred.shape.every((d, i) => typeof d !== 'number' || d === want.dims[i]);
    assert.ok(
      agrees,
      `${name}: inferred shape [${inferred.shape.join(', ')}], real [${want.dims.join(', ')}]`,
    );
  }
}

const byOp = new Map<string, OpsetCase[]>();
for (const c of opsetCases()) byOp.set(c.op, [...(byOp.get(c.op) ?? []), c]);

for (const [op, cases] of byOp) {
  test(`${op} in each opset's node form`, async (t) => {
    for (const c of cases) await t.test(`opset ${c.opset}: ${c.form}`, () => runCase(c));
  });
  test(`${op} shape inference in each opset's node form`, async (t) => {
    for (const c of cases) await t.test(`opset ${c.opset}: ${c.form}`, () => checkInference(c));
  });
}

/** Conv → BatchNormalization → Relu → MaxPool → Dropout → Reshape → Gemm → Softmax, as each era wrote it. */
const network = {
  x: { type: 'float32', dims: [1, 1, 4, 4], values: Array.from({ length: 16 }, (_, i) => ((i * 5) % 7) - 3) },
  w: {
    type: 'float32',
    dims: [2, 1, 3, 3],
    values: Array.from({ length: 18 }, (_, i) => ((i * 7) % 11) / 10 - 0.5),
  },
  b: { type: 'float32', dims: [2], values: [0.1, -0.2] },
  bn_scale: { type: 'float32', dims: [2], values: [1.5, 0.5] },
  bn_bias: { type: 'float32', dims: [2], values: [0.2, 0.1] },
  bn_mean: { type: 'float32', dims: [2], values: [0.3, -0.1] },
  bn_var: { type: 'float32', dims: [2], values: [2, 0.5] },
  fc_w: {
    type: 'float32',
    dims: [3, 8],
    values: Array.from({ length: 24 }, (_, i) => ((i * 3) % 5) / 4 - 0.5),
  },
  fc_b: { type: 'float32', dims: [3], values: [0.5, 0, -0.5] },
} satisfies Record<string, Values>;

type Attributes = NonNullable<NodeSpec['attributes']>;

function eraNodes(opset: number): NodeSpec[] {
  const batchNormAttributes: Attributes =
    opset < 6
      ? { consumed_inputs: [0, 0, 0, 1, 1], is_test: 1 }
      : opset < 7
        ? { is_test: 1 }
        : opset < 9
          ? { spatial: 1 }
          : {};
  const dropoutAttributes: Attributes =
    opset < 7 ? { is_test: 1 } : opset < 12 ? { ratio: { float: 0.5 } } : {};
  const reshape: NodeSpec =
    opset < 5
      ? { op: 'Reshape', inputs: ['dropped'], outputs: ['flat'], attributes: { shape: [1, -1] } }
      : { op: 'Reshape', inputs: ['dropped', 'flat_shape'], outputs: ['flat'] };
  return [
    {
      op: 'Conv',
      inputs: ['x', 'w', 'b'],
      outputs: ['conv'],
      attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    },
    {
      op: 'BatchNormalization',
      inputs: ['conv', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'],
      outputs: ['normed'],
      attributes: batchNormAttributes,
    },
    {
      op: 'Relu',
      inputs: ['normed'],
      outputs: ['relu'],
      attributes: opset < 6 ? { consumed_inputs: [0] } : {},
    },
    {
      op: 'MaxPool',
      inputs: ['relu'],
      outputs: ['pooled'],
      attributes: { kernel_shape: [2, 2], strides: [2, 2] },
    },
    { op: 'Dropout', inputs: ['pooled'], outputs: ['dropped'], attributes: dropoutAttributes },
    reshape,
    {
      op: 'Gemm',
      inputs: ['flat', 'fc_w', 'fc_b'],
      outputs: ['logits'],
      attributes: opset < 7 ? { broadcast: 1, transB: 1 } : { transB: 1 },
    },
    { op: 'Softmax', inputs: ['logits'], outputs: ['probs'] },
  ];
}

/**
 * An IR version 3 model (opset 1's era) lists its initializers among the graph inputs too, as
 * inputs with a default; later ones need not.
 */
function eraModel(opset: number): Uint8Array {
  const { x, ...weights } = network;
  const constants: Record<string, Values> = { ...weights };
  if (opset >= 5) constants.flat_shape = { type: 'int64', dims: [2], values: [1, -1] };
  const irVersion = opset === 1 ? 3 : 8;
  const defaults: ValueSpec[] =
    irVersion === 3
      ? Object.entries(constants).map(([name, v]) => ({ name, type: v.type, dims: v.dims }))
      : [];
  return buildModel({
    opsets: { '': opset },
    irVersion,
    nodes: eraNodes(opset),
    inputs: [{ name: 'x', type: x.type, dims: x.dims }, ...defaults],
    outputs: [{ name: 'probs', type: 'float32' }],
    initializers: Object.entries(constants).map(([name, v]) => initializer(name, v)),
  });
}

/** The network computed directly in JS. */
function networkByHand(): number[] {
  const { x, w, b } = network;
  const conv = Array.from({ length: 32 }, (_, i) => {
    const [channel, row, col] = [Math.floor(i / 16), Math.floor(i / 4) % 4, i % 4];
    let total = b.values[channel]!;
    for (let kr = 0; kr < 3; kr++) {
      for (let kc = 0; kc < 3; kc++) {
        const [r, c] = [row + kr - 1, col + kc - 1];
        if (r >= 0 && r < 4 && c >= 0 && c < 4)
          total += x.values[r * 4 + c]! * w.values[channel * 9 + kr * 3 + kc]!;
      }
    }
    return total;
  });
  const normed = batchNorm(conv, 2, {
    scale: network.bn_scale.values,
    bias: network.bn_bias.values,
    mean: network.bn_mean.values,
    variance: network.bn_var.values,
  });
  const relu = normed.map((v) => Math.max(v, 0));
  const pooled = Array.from({ length: 8 }, (_, i) => {
    const [channel, row, col] = [Math.floor(i / 4), Math.floor(i / 2) % 2, i % 2];
    const at = (r: number, c: number) => relu[channel * 16 + (row * 2 + r) * 4 + col * 2 + c]!;
    return Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
  });
  const fcTransposed = Array.from(
    { length: 24 },
    (_, i) => network.fc_w.values[(i % 3) * 8 + Math.floor(i / 3)]!,
  );
  const logits = gemm(pooled, fcTransposed, 1, 8, 3, 1, 1, network.fc_b);
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, v) => a + v, 0);
  return exps.map((v) => v / total);
}

test('one network written in each era gives one answer', async (t) => {
  const expected: Values = { type: 'float32', dims: [1, 3], values: networkByHand() };
  for (const opset of [1, 6, 7, 9, 11, 13, 17, 21, 24, NEWEST_OPSET]) {
    await t.test(`opset ${opset}`, async () => {
      const session = await InferenceSession.create(eraModel(opset));
      const { probs } = await session.run({ x: toTensor(network.x) });
      assertMatches(probs as Tensor, expected, 'probs');
    });
  }
});

test('an operator is refused in an opset older than itself', async (t) => {
  const model = (op: string, opset: number) =>
    buildModel({
      opsets: { '': opset },
      nodes: [{ op, inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float32', dims: [2] }],
      outputs: [{ name: 'y', type: 'float32' }],
    });
  for (const [op, first] of FIRST_OPSETS) {
    await t.test(`${op} (opset ${first})`, async () => {
      await assert.rejects(
        InferenceSession.create(model(op, first - 1)),
        new RegExp(`'${op}' does not exist in opset ${first - 1}`),
      );
      await InferenceSession.create(model(op, first));
    });
  }
});
