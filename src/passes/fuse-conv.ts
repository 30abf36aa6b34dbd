/**
 * Fusions around the linear operators Conv, Gemm and MatMul.
 *
 * Basic, `conv-affine-folding`: a per-output-channel affine step after a Conv with constant
 * weights (an inference-mode BatchNormalization with constant statistics, or a Mul or Add by a
 * constant that varies at most along the channel axis) is folded into new constant weights and
 * bias, leaving one standard Conv. The folded Conv rounds once where the pair rounded twice.
 *
 * Extended, `linear-activation-fusion`: a Conv, Gemm or MatMul followed by a constant bias Add
 * (Gemm and MatMul, along the last axis) and/or an activation becomes one com.heddle FusedConv,
 * FusedGemm or FusedMatMul (kernels, attributes and the activations they know in
 * backends/reference/kernels/fused-conv.ts), which computes exactly what the nodes it replaces did.
 */

import { isFloatType, type DataType } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import { fromNumbers, toNumbers } from '../backends/reference/util.js';
import {
  floatAttribute,
  intAttribute,
  opLabel,
  stringAttribute,
  type Attribute,
  type Node,
} from '../ir/graph.js';
import { elementTypeOf } from './fuse-elementwise.js';
import { isOp } from './graph-edit.js';
import type { GraphPass, PassContext } from './pass.js';

/** Weight types folding keeps accurate: narrower floats would lose bits in the folded weights. */
const FOLDABLE_TYPES: ReadonlySet<DataType> = new Set(['float32', 'float64']);

/** Clip's default bounds before opset 11, where they were attributes. */
const FLOAT32_MAX = 3.4028234663852886e38;

function describe(nodes: readonly Node[]): string {
  return nodes.map((n) => `${opLabel(n)} '${n.name}'`).join(' + ');
}

/** The node reading `value` when it is the only reader and the graph does not return it. */
function soleConsumer(ctx: PassContext, value: string): Node | undefined {
  const [consumer] = ctx.editor.consumers(value);
  return consumer && ctx.editor.onlyFeeds(value, consumer) ? consumer : undefined;
}

/** For a binary node reading `value`, its other operand; undefined when it reads `value` twice. */
function otherOperand(node: Node, value: string): string | undefined {
  const [a, b] = node.inputs;
  if (node.inputs.length !== 2 || a === b) return undefined;
  return a === value ? b : b === value ? a : undefined;
}

// ---------------------------------------------------------------------------------------------
// Folding per-channel affine steps into Conv
// ---------------------------------------------------------------------------------------------

/** y * scale[m] + shift[m] on output channel m (an absent scale is 1, an absent shift 0). */
interface ChannelAffine {
  node: Node;
  scale?: ArrayLike<number>;
  shift?: ArrayLike<number>;
}

/**
 * The values of a constant that broadcasts against a Conv output of `rank` dims and `channels`
 * channels without growing it and varies at most along the channel axis, one per channel.
 */
function perChannel(constant: Tensor, channels: number, rank: number): Float64Array | undefined {
  const offset = rank - constant.dims.length;
  if (offset < 0) return undefined;
  const fits = constant.dims.every((d, i) => d === 1 || (i + offset === 1 && d === channels));
  if (!fits) return undefined;
  const values = toNumbers(constant);
  return Float64Array.from({ length: channels }, (_, m) => values[values.length === 1 ? 0 : m]!);
}

/** BatchNormalization's statistics are used as given (not the batch's) and per channel. */
function isInferenceBatchNorm(node: Node): boolean {
  const extraOutputs = node.outputs.slice(1).some((o) => o !== '');
  const training =
    node.opset >= 14
      ? intAttribute(node, 'training_mode', 0) !== 0
      : node.outputs.length > 1 && !(node.opset < 7 && intAttribute(node, 'is_test', 0) !== 0);
  const perElement = node.opset < 9 && intAttribute(node, 'spatial', 1) === 0;
  return !extraOutputs && !training && !perElement;
}

/** BatchNormalization as y * gamma / sqrt(var + epsilon) + (beta - mean * gamma / sqrt(var + epsilon)). */
function batchNormAffine(ctx: PassContext, bn: Node, weights: Tensor): ChannelAffine | undefined {
  if (!isInferenceBatchNorm(bn)) return undefined;
  const channels = weights.dims[0]!;
  const stats = bn.inputs.slice(1, 5).map((name) => {
    const t = ctx.editor.constant(name);
    return t && t.type === weights.type && t.dims.length === 1 && t.dims[0] === channels
      ? toNumbers(t)
      : undefined;
  });
  const [gamma, beta, mean, variance] = stats;
  if (stats.length !== 4 || !gamma || !beta || !mean || !variance) return undefined;
  const epsilon = floatAttribute(bn, 'epsilon', 1e-5);
  const scale = Float64Array.from(gamma, (g, m) => g / Math.sqrt(variance[m]! + epsilon));
  const shift = Float64Array.from(beta, (b, m) => b - mean[m]! * scale[m]!);
  return { node: bn, scale, shift };
}

/** A Mul or Add (numpy broadcasting, opset 7 on) of the Conv output by a per-channel constant. */
function constantAffine(
  ctx: PassContext,
  node: Node,
  convOutput: string,
  weights: Tensor,
): ChannelAffine | undefined {
  if (node.opset < 7) return undefined;
  const operand = otherOperand(node, convOutput);
  const constant = operand === undefined ? undefined : ctx.editor.constant(operand);
  if (!constant || constant.type !== weights.type) return undefined;
  const values = perChannel(constant, weights.dims[0]!, weights.dims.length);
  if (!values) return undefined;
  return node.opType === 'Mul' ? { node, scale: values } : { node, shift: values };
}

function channelAffine(
  ctx: PassContext,
  node: Node,
  convOutput: string,
  weights: Tensor,
): ChannelAffine | undefined {
  if (isOp(node, 'BatchNormalization') && node.inputs[0] === convOutput) {
    return batchNormAffine(ctx, node, weights);
  }
  if (isOp(node, 'Mul') || isOp(node, 'Add')) return constantAffine(ctx, node, convOutput, weights);
  return undefined;
}

/** W'[m] = W[m] * scale[m] and B'[m] = B[m] * scale[m] + shift[m]; undefined if any is not finite. */
function foldedParameters(weights: Tensor, bias: Tensor | undefined, affine: ChannelAffine) {
  const channels = weights.dims[0]!;
  const { scale, shift } = affine;
  const biasValues = bias ? toNumbers(bias) : new Float64Array(channels);
  const newBias = fromNumbers(
    weights.type,
    Float64Array.from({ length: channels }, (_, m) => biasValues[m]! * (scale?.[m] ?? 1) + (shift?.[m] ?? 0)),
    [channels],
  );
  let newWeights: Tensor | undefined;
  if (scale) {
    const w = toNumbers(weights);
    const perFilter = weights.size / channels;
    const scaled = Float64Array.from(w, (v, i) => v * scale[Math.floor(i / perFilter)]!);
    newWeights = fromNumbers(weights.type, scaled, weights.dims);
  }
  const finite = (t: Tensor | undefined) => !t || toNumbers(t).every(Number.isFinite);
  return finite(newWeights) && finite(newBias) ? { newWeights, newBias } : undefined;
}

function foldIntoConv(ctx: PassContext, conv: Node): boolean {
  const weights = ctx.editor.constant(conv.inputs[1] ?? '');
  if (!weights || !FOLDABLE_TYPES.has(weights.type) || weights.dims.length < 3) return false;
  const channels = weights.dims[0]!;
  const biasName = conv.inputs[2] ?? '';
  const bias = biasName === '' ? undefined : ctx.editor.constant(biasName);
  if (biasName !== '' && (!bias || bias.type !== weights.type || bias.size !== channels)) return false;
  const output = conv.outputs[0]!;
  const consumer = soleConsumer(ctx, output);
  const affine = consumer && channelAffine(ctx, consumer, output, weights);
  const folded = affine && foldedParameters(weights, bias, affine);
  if (!affine || !folded) return false;
  const weightsName = folded.newWeights
    ? ctx.editor.addConstant(`${conv.name}_weights`, folded.newWeights)
    : conv.inputs[1]!;
  const biasValue = ctx.editor.addConstant(`${conv.name}_bias`, folded.newBias);
  const replacement: Node = {
    ...conv,
    inputs: [conv.inputs[0]!, weightsName, biasValue],
    outputs: [affine.node.outputs[0]!],
    attributes: new Map(conv.attributes),
  };
  ctx.editor.replace([conv, affine.node], replacement);
  ctx.record(
    `folded ${describe([affine.node])} into Conv '${conv.name}' (new ${folded.newWeights ? 'weights and ' : ''}bias)`,
    [conv, affine.node],
  );
  return true;
}

function foldConvAffine(ctx: PassContext): boolean {
  let changed = false;
  for (const node of [...ctx.graph.nodes]) {
    if (isOp(node, 'Conv') && foldIntoConv(ctx, node)) changed = true;
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Fusing bias and activation into Conv, Gemm and MatMul
// ---------------------------------------------------------------------------------------------

/**
 * The fusable base operators: the fused op, how many inputs the base takes, whether a bias Add
 * can follow, and which nodes of it mean what the fused kernel (running the base at a fixed
 * opset) computes: Gemm's C is optional from opset 11 and broadcasts numpy-style from opset 7.
 */
interface LinearOp {
  fused: string;
  arity: number;
  takesBias: boolean;
  fusable: (node: Node) => boolean;
}

const LINEAR_OPS: ReadonlyMap<string, LinearOp> = new Map([
  ['Conv', { fused: 'FusedConv', arity: 3, takesBias: false, fusable: () => true }],
  [
    'Gemm',
    {
      fused: 'FusedGemm',
      arity: 3,
      takesBias: true,
      fusable: (node: Node) => node.opset >= 11 || (node.opset >= 7 && (node.inputs[2] ?? '') !== ''),
    },
  ],
  ['MatMul', { fused: 'FusedMatMul', arity: 2, takesBias: true, fusable: () => true }],
]);

/** The number of columns of a Gemm or MatMul result, from its declared shape or its B operand. */
function columnsOf(ctx: PassContext, node: Node): number | undefined {
  const declared = ctx.editor.shape(node.outputs[0]!)?.at(-1);
  if (typeof declared === 'number') return declared;
  const b = ctx.editor.shape(node.inputs[1] ?? '');
  const columns = node.opType === 'Gemm' ? b?.[intAttribute(node, 'transB', 0) !== 0 ? 0 : 1] : b?.at(-1);
  const matrix = node.opType === 'Gemm' ? b?.length === 2 : (b?.length ?? 0) >= 2;
  return matrix && typeof columns === 'number' ? columns : undefined;
}

/** The rank of a Gemm or MatMul result, when known. */
function rankOf(ctx: PassContext, node: Node): number | undefined {
  if (node.opType === 'Gemm') return 2;
  const declared = ctx.editor.shape(node.outputs[0]!);
  if (declared) return declared.length;
  const ranks = node.inputs.map((i) => ctx.editor.shape(i)?.length);
  return ranks.every((r) => r !== undefined && r >= 2) ? Math.max(...(ranks as number[])) : undefined;
}

interface BiasMatch {
  add: Node;
  /** The bias as the 1-D tensor the fused op takes, and its value name when the Add's constant already is one. */
  bias: Tensor;
  name?: string;
}

/** An Add of a constant that runs along the last axis of the Gemm or MatMul result without growing it. */
function matchBias(ctx: PassContext, base: Node, type: DataType): BiasMatch | undefined {
  const output = base.outputs[0]!;
  const add = soleConsumer(ctx, output);
  if (!isOp(add, 'Add') || add.opset < 7) return undefined;
  const operand = otherOperand(add, output);
  const constant = operand === undefined ? undefined : ctx.editor.constant(operand);
  const alongLastAxis = constant?.type === type && constant.dims.slice(0, -1).every((d) => d === 1);
  if (!constant || !alongLastAxis) return undefined;
  const length = constant.dims.at(-1) ?? 1;
  if (length !== 1 && length !== columnsOf(ctx, base)) return undefined;
  if (constant.dims.length > 1 && !((rankOf(ctx, base) ?? 0) >= constant.dims.length)) return undefined;
  if (constant.dims.length === 1) return { add, bias: constant, name: operand };
  return { add, bias: new Tensor(constant.type, constant.data, [length]) };
}

interface ActivationMatch {
  nodes: Node[];
  output: string;
  name: string;
  params: number[];
}

/** Clip's bounds, when constant: attributes before opset 11, optional scalar inputs from it. */
function clipBounds(ctx: PassContext, clip: Node, type: DataType): number[] | undefined {
  if (clip.opset < 11) {
    return [floatAttribute(clip, 'min', -FLOAT32_MAX), floatAttribute(clip, 'max', FLOAT32_MAX)];
  }
  const bound = (index: number, absent: number): number | undefined => {
    const name = clip.inputs[index] ?? '';
    if (name === '') return absent;
    const t = ctx.editor.constant(name);
    return t && t.type === type && t.size === 1 ? toNumbers(t)[0] : undefined;
  };
  const bounds = [bound(1, -Infinity), bound(2, Infinity)];
  // activation_params are float32 attributes: a bound they cannot hold exactly stays a Clip.
  return bounds.every((b) => b !== undefined && Math.fround(b) === b) ? (bounds as number[]) : undefined;
}

/** The activation params of `node` (reading the linear result as its only input), or undefined. */
function activationOf(
  ctx: PassContext,
  node: Node,
  type: DataType,
): { name: string; params: number[] } | undefined {
  const op = node.domain === '' ? node.opType : opLabel(node);
  switch (op) {
    case 'Relu':
    case 'Sigmoid':
    case 'Tanh':
    case 'HardSwish':
      return { name: op, params: [] };
    case 'LeakyRelu':
      return { name: op, params: [floatAttribute(node, 'alpha', 0.01)] };
    case 'HardSigmoid':
      return { name: op, params: [floatAttribute(node, 'alpha', 0.2), floatAttribute(node, 'beta', 0.5)] };
    case 'Clip': {
      const params = clipBounds(ctx, node, type);
      return params && { name: op, params };
    }
    case 'Gelu':
    case 'com.heddle::Gelu': {
      const approximate = stringAttribute(node, 'approximate', 'none');
      if (approximate === 'none') return { name: 'Gelu', params: [] };
      return approximate === 'tanh' ? { name: 'FastGelu', params: [] } : undefined;
    }
    default:
      return undefined;
  }
}

/** x * Sigmoid(x): `value` read by exactly a Sigmoid and the Mul of it with that Sigmoid's result. */
function matchSiLU(ctx: PassContext, value: string): ActivationMatch | undefined {
  const readers = ctx.editor.consumers(value);
  if (readers.length !== 2 || ctx.editor.isGraphOutput(value)) return undefined;
  const sigmoid = readers.find((n) => isOp(n, 'Sigmoid') && n.inputs[0] === value);
  const mul = readers.find((n) => n !== sigmoid);
  const gate = sigmoid?.outputs[0] ?? '';
  if (
    !sigmoid ||
    !isOp(mul, 'Mul') ||
    otherOperand(mul, value) !== gate ||
    !ctx.editor.onlyFeeds(gate, mul)
  ) {
    return undefined;
  }
  return { nodes: [sigmoid, mul], output: mul.outputs[0]!, name: 'SiLU', params: [] };
}

function matchActivation(ctx: PassContext, value: string, type: DataType): ActivationMatch | undefined {
  const node = soleConsumer(ctx, value);
  if (!node) return matchSiLU(ctx, value);
  const readsOnlyFirst = node.inputs[0] === value && !node.inputs.slice(1).includes(value);
  const activation = readsOnlyFirst && node.outputs.length === 1 ? activationOf(ctx, node, type) : undefined;
  return activation && { nodes: [node], output: node.outputs[0]!, ...activation };
}

function fuseLinear(ctx: PassContext, base: Node, linear: LinearOp): boolean {
  const type = elementTypeOf(ctx.editor, base.outputs[0]!);
  if (!type || !isFloatType(type) || !linear.fusable(base)) return false;
  const bias = linear.takesBias ? matchBias(ctx, base, type) : undefined;
  const activation = matchActivation(ctx, bias?.add.outputs[0] ?? base.outputs[0]!, type);
  if (!bias && !activation) return false;
  const inputs = [...base.inputs];
  if (bias) {
    while (inputs.length < linear.arity) inputs.push('');
    inputs.push(bias.name ?? ctx.editor.addConstant(`${base.name}_bias`, bias.bias));
  }
  const attributes: Attribute[] = [...base.attributes.values()];
  if (activation) {
    attributes.push({ name: 'activation', type: 'string', value: activation.name });
    if (activation.params.length > 0) {
      attributes.push({ name: 'activation_params', type: 'floats', value: activation.params });
    }
  }
  const replaced = [base, ...(bias ? [bias.add] : []), ...(activation?.nodes ?? [])];
  const output = activation?.output ?? bias!.add.outputs[0]!;
  ctx.editor.replace(replaced, ctx.editor.heddleNode(linear.fused, base.name, inputs, [output], attributes));
  ctx.record(`fused ${describe(replaced)} into ${linear.fused} '${base.name}'`, replaced);
  return true;
}

function fuseLinearActivations(ctx: PassContext): boolean {
  let changed = false;
  for (const node of [...ctx.graph.nodes]) {
    const linear = node.domain === '' ? LINEAR_OPS.get(node.opType) : undefined;
    if (linear && node.outputs.length === 1 && fuseLinear(ctx, node, linear)) changed = true;
  }
  return changed;
}

export const passes: GraphPass[] = [
  { name: 'conv-affine-folding', level: 'basic', run: foldConvAffine },
  { name: 'linear-activation-fusion', level: 'extended', run: fuseLinearActivations },
];
