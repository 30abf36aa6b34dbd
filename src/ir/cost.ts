/**
 * The analytic cost of a node: floating-point operations and bytes moved, from the static shapes of
 * its inputs and outputs (the value types of a plan specialised to its input shapes). The profiler
 * divides these by measured time for achieved GFLOP/s and GB/s and places each operator against
 * the machine's roofline, so the counts follow one convention everywhere, whatever a kernel
 * actually does:
 *
 * - a multiply-add is 2 FLOPs (Conv, ConvTranspose, MatMul, Gemm, Einsum, Attention, RNNs);
 * - an elementwise operator is 1 FLOP per output element, a transcendental (Exp, Erf, Tanh...)
 *   included; a fused node counts the operators it replaced;
 * - reductions count per element read, softmax 5 per element (max, subtract, exp, sum, divide),
 *   normalizations their per-element arithmetic, pooling one per window element;
 * - data movement (Reshape, Transpose, Gather, Concat, Cast...) is 0 FLOPs, and operators outside
 *   these families count 0 FLOPs.
 *
 * Bytes read and written are the sizes of the input and output tensors, except that Shape and
 * Size read only metadata, and Identity, Reshape, Flatten, Squeeze and Unsqueeze relabel the dims
 * of memory that stays where it is: they move nothing; and Gather, GatherElements, GatherND and
 * Slice read of their data only the elements they output (an embedding lookup reads 64 rows of a
 * 50,257-row table, not the table). Sub-byte elements count a byte each, as Heddle stores them.
 */

import { bitsOf, bytesPerElement, type DataType } from '../core/dtype.js';
import {
  floatAttribute,
  HEDDLE_DOMAIN,
  intAttribute,
  intsAttribute,
  opLabel,
  staticShape,
  stringAttribute,
  stringsAttribute,
  type Graph,
  type Node,
  type ValueType,
} from './graph.js';

export interface NodeCost {
  flops: number;
  bytesRead: number;
  bytesWritten: number;
}

/** A tensor whose every dimension is known. */
interface StaticTensor {
  elemType: DataType;
  dims: readonly number[];
  elements: number;
  bytes: number;
}

/** What a rule sees: the node and its tensors (undefined where an optional input is omitted). */
interface CostSite {
  node: Node;
  inputs: readonly (StaticTensor | undefined)[];
  outputs: readonly (StaticTensor | undefined)[];
}

type FlopRule = (site: CostSite) => number;

/**
 * The cost of `node` given the types of its inputs and outputs (in the node's order, entries for
 * omitted inputs ignored). Undefined when a tensor it reads or writes has no static shape, or when
 * the work depends on a subgraph (If, Loop, Scan).
 */
export function nodeCost(
  node: Node,
  inputTypes: readonly (ValueType | undefined)[],
  outputTypes: readonly (ValueType | undefined)[],
): NodeCost | undefined {
  const label = opLabel(node);
  if (SUBGRAPH_OPS.has(label)) return undefined;
  const inputs = staticTensors(node.inputs, inputTypes);
  const outputs = staticTensors(node.outputs, outputTypes);
  if (!inputs || !outputs) return undefined;
  const flops = (FLOP_RULES.get(label) ?? (() => 0))({ node, inputs, outputs });
  if (MOVES_NOTHING.has(label)) return { flops, bytesRead: 0, bytesWritten: 0 };
  const bytesWritten = totalBytes(outputs);
  if (READS_WHAT_IT_OUTPUTS.has(label)) {
    // The data (input 0) is read where the output comes from; indices, starts and ends in full.
    return { flops, bytesRead: totalBytes(inputs.slice(1)) + bytesWritten, bytesWritten };
  }
  return { flops, bytesRead: totalBytes(inputs), bytesWritten };
}

/** `nodeCost` with the types `graph` records for the node's values. */
export function graphNodeCost(node: Node, graph: Graph): NodeCost | undefined {
  const typeOf = (name: string) => valueTypeIn(graph, name);
  return nodeCost(node, node.inputs.map(typeOf), node.outputs.map(typeOf));
}

/** The type `graph` records for a value, or an initializer's own type. */
export function valueTypeIn(graph: Graph, name: string): ValueType | undefined {
  const tensor = graph.initializers.get(name);
  return (
    graph.valueTypes.get(name) ??
    (tensor && { kind: 'tensor', elemType: tensor.type, shape: [...tensor.dims] })
  );
}

/** The named values as static tensors; undefined if a named one has no static tensor type. */
function staticTensors(
  names: readonly string[],
  types: readonly (ValueType | undefined)[],
): (StaticTensor | undefined)[] | undefined {
  const tensors: (StaticTensor | undefined)[] = [];
  for (let i = 0; i < names.length; i++) {
    if (names[i] === '') {
      tensors.push(undefined);
      continue;
    }
    const tensor = staticTensor(types[i]);
    if (!tensor) return undefined;
    tensors.push(tensor);
  }
  return tensors;
}

function staticTensor(type: ValueType | undefined): StaticTensor | undefined {
  const dims = staticShape(type);
  if (!dims || type?.kind !== 'tensor') return undefined;
  const elements = product(dims);
  return { elemType: type.elemType, dims, elements, bytes: elements * elementBytes(type.elemType) };
}

/** Bytes of an element as Heddle stores it: sub-byte types unpacked, strings of unknown size as 0. */
function elementBytes(type: DataType): number {
  if (type === 'string') return 0;
  return bitsOf(type) < 8 ? 1 : bytesPerElement(type);
}

function totalBytes(tensors: readonly (StaticTensor | undefined)[]): number {
  return tensors.reduce((sum, t) => sum + (t?.bytes ?? 0), 0);
}

function product(values: readonly number[]): number {
  return values.reduce((a, b) => a * b, 1);
}

function last(dims: readonly number[], fromEnd = 1): number {
  return dims[dims.length - fromEnd] ?? 1;
}

function output(site: CostSite, index = 0): StaticTensor {
  return site.outputs[index] ?? { elemType: 'float32', dims: [0], elements: 0, bytes: 0 };
}

function input(site: CostSite, index: number): StaticTensor | undefined {
  return site.inputs[index];
}

// ---------------------------------------------------------------------------------------------
// Convolution and matrix products

/**
 * 2·N·Cout·spatialOut·(Cin/group)·kernel: every output element sums (Cin/group)·kernel products,
 * whose count is the weight's dims after the first. Strides, dilations and padding only change
 * how many outputs there are. A bias adds one per output element.
 */
function convFlops(weightIndex: number, biasIndex: number | undefined): FlopRule {
  return (site) => {
    const weight = input(site, weightIndex);
    if (!weight) return 0;
    const out = output(site).elements;
    const bias = biasIndex !== undefined && input(site, biasIndex) ? out : 0;
    return 2 * out * product(weight.dims.slice(1)) + bias;
  };
}

/**
 * ConvTranspose scatters each input element (N·Cin·spatialIn of them) through (Cout/group)·kernel
 * weights: 2·N·Cin·spatialIn·(Cout/group)·kernel, plus one per output element for a bias.
 */
const convTransposeFlops: FlopRule = (site) => {
  const x = input(site, 0);
  const weight = input(site, 1);
  if (!x || !weight) return 0;
  const bias = input(site, 2) ? output(site).elements : 0;
  return 2 * x.elements * product(weight.dims.slice(1)) + bias;
};

/** 2·M·N·K per batch (batch dims broadcast): each output element sums K products, K being A's last dim. */
function matMulFlops(aIndex: number): FlopRule {
  return (site) => {
    const a = input(site, aIndex);
    return a ? 2 * output(site).elements * last(a.dims) : 0;
  };
}

/**
 * Gemm, Y = alpha·A'·B' + beta·C: 2·M·N·K for the product, M·N more when alpha ≠ 1 scales it,
 * and with C, M·N for adding it and M·N more when beta ≠ 1 scales it.
 */
const gemmFlops: FlopRule = (site) => {
  const a = input(site, 0);
  if (!a) return 0;
  const k = intAttribute(site.node, 'transA', 0) ? a.dims[0]! : a.dims[1]!;
  const mn = output(site).elements;
  const alpha = floatAttribute(site.node, 'alpha', 1) !== 1 ? mn : 0;
  const c = input(site, 2) ? mn + (floatAttribute(site.node, 'beta', 1) !== 1 ? mn : 0) : 0;
  return 2 * mn * k + alpha + c;
};

/**
 * Einsum: every point of the index space (the sizes of all labels, the ellipsis axes broadcast)
 * multiplies one element of each operand into a sum: operands FLOPs per point, 2 per point for
 * the usual two-operand product, as MatMul counts.
 */
const einsumFlops: FlopRule = (site) => {
  const equation = stringAttribute(site.node, 'equation', '').replace(/\s/g, '');
  const terms = equation.split('->')[0]!.split(',');
  const operands = site.inputs.filter((t): t is StaticTensor => t !== undefined);
  if (terms.length !== operands.length) return 0;
  const sizes = new Map<string, number>();
  let ellipsis: number[] = [];
  terms.forEach((term, i) => {
    const dims = operands[i]!.dims;
    const [before, after] = term.split('...') as [string, string | undefined];
    const letters = [...before, ...(after ?? '')];
    const ellipsisRank = after === undefined ? 0 : dims.length - letters.length;
    const axes = [...before].map((l, k) => [l, dims[k]!] as const);
    if (after !== undefined) {
      axes.push(...[...after].map((l, k) => [l, dims[before.length + ellipsisRank + k]!] as const));
      ellipsis = broadcast(ellipsis, dims.slice(before.length, before.length + ellipsisRank));
    }
    for (const [label, size] of axes) sizes.set(label, Math.max(sizes.get(label) ?? 1, size));
  });
  return operands.length * product([...sizes.values()]) * product(ellipsis);
};

/** numpy broadcasting of two shapes (sizes only: 1 stretches). */
function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    return x === 1 ? y : y === 1 ? x : Math.max(x, y);
  });
}

// ---------------------------------------------------------------------------------------------
// Elementwise operators, alone and fused

/** FLOPs per output element of each activation a fused linear node may name. */
const FUSED_ACTIVATION_FLOPS: ReadonlyMap<string, number> = new Map([
  ['Relu', 1],
  ['Sigmoid', 1],
  ['Tanh', 1],
  ['HardSwish', 1],
  ['LeakyRelu', 1],
  ['HardSigmoid', 1],
  ['Clip', 1],
  ['Gelu', 1],
  ['FastGelu', 1],
  // x · Sigmoid(x): two operators.
  ['SiLU', 2],
]);

/** A fused Conv, Gemm or MatMul: the base's FLOPs, one per output element for the bias, and the activation's. */
function fusedLinearFlops(base: FlopRule, biasIndex: number | undefined): FlopRule {
  return (site) => {
    const out = output(site).elements;
    const bias = biasIndex !== undefined && input(site, biasIndex) ? out : 0;
    const name = stringAttribute(site.node, 'activation', '');
    const activation = name ? (FUSED_ACTIVATION_FLOPS.get(name) ?? 1) * out : 0;
    return base(site) + bias + activation;
  };
}

const perOutputElement =
  (flops: number): FlopRule =>
  (site) =>
    flops * output(site).elements;

const perInputElement =
  (flops: number, perOutput = 0): FlopRule =>
  (site) =>
    flops * (input(site, 0)?.elements ?? 0) + perOutput * output(site).elements;

/** Sum, Max, Min and Mean of n inputs: n - 1 binary operations per output element (Mean one more). */
function variadicFlops(extraPerOutput: number): FlopRule {
  return (site) => {
    const operands = site.inputs.filter((t) => t !== undefined).length;
    return (operands - 1 + extraPerOutput) * output(site).elements;
  };
}

/**
 * ElementwiseChain: each instruction is one operator over the broadcast shape of its operands (the
 * node's inputs or earlier results), as the unfused nodes were.
 */
const elementwiseChainFlops: FlopRule = (site) => {
  const ops = stringsAttribute(site.node, 'ops');
  const counts = intsAttribute(site.node, 'operand_counts');
  const operands = intsAttribute(site.node, 'operands');
  if (!ops || !counts || !operands) return 0;
  const shapes: (readonly number[])[] = site.inputs.map((t) => t?.dims ?? []);
  let next = 0;
  let flops = 0;
  for (const count of counts) {
    const refs = operands.slice(next, (next += count));
    const shape = refs.reduce<number[]>(
      (acc, ref) => (ref < 0 ? acc : broadcast(acc, shapes[ref] ?? [])),
      [],
    );
    shapes.push(shape);
    flops += product(shape);
  }
  return flops;
};

// ---------------------------------------------------------------------------------------------
// Normalizations, softmax, attention, pooling, recurrences

/** Softmax over a lane: max, subtract, exp, sum and divide per element. */
const SOFTMAX_FLOPS = 5;

/**
 * Per element: the mean (an add), the centring (a subtract), the square and its sum, and the
 * multiplication by the inverse deviation, then one more each for a scale and a bias.
 */
function layerNormFlops(scaleIndex: number | undefined, biasIndex: number | undefined): FlopRule {
  return (site) => {
    const affine =
      (scaleIndex !== undefined && input(site, scaleIndex) ? 1 : 0) +
      (biasIndex !== undefined && input(site, biasIndex) ? 1 : 0);
    return (5 + affine) * output(site).elements;
  };
}

/** RMS normalization: square, sum, and multiply by the inverse root per element, then the scale. */
const rmsNormFlops: FlopRule = (site) => (3 + (input(site, 1) ? 1 : 0)) * output(site).elements;

/** LRN: the square-sum over `size` neighbouring channels (2·size), then scale, power and divide. */
const lrnFlops: FlopRule = (site) => (2 * intAttribute(site.node, 'size', 1) + 3) * output(site).elements;

/** Window elements per output: kernel_shape's product. */
function windowFlops(perWindowElement: number, perOutput: number): FlopRule {
  return (site) => {
    const kernel = product(intsAttribute(site.node, 'kernel_shape') ?? []);
    return (perWindowElement * kernel + perOutput) * output(site).elements;
  };
}

/**
 * softmax(Q·Kᵀ·scale + mask)·V: with S the number of scores (queries × keys per head and batch), 2·S·D
 * for the scores, S for the scale, S for a mask, 5·S for the softmax, and 2·S·Dv for the product
 * with V. Heddle's Attention keeps heads apart; ai.onnx's packs them in the last axis of 3-D inputs.
 */
function attentionFlops(site: CostSite, keys: number, headSize: number, valueHeadSize: number): number {
  const out = output(site).elements;
  const scores = (out / valueHeadSize) * keys;
  const masked = input(site, 3) || intAttribute(site.node, 'is_causal', 0) ? scores : 0;
  return 2 * scores * headSize + scores + masked + SOFTMAX_FLOPS * scores + 2 * out * keys;
}

const heddleAttentionFlops: FlopRule = (site) => {
  const q = input(site, 0);
  const k = input(site, 1);
  if (!q || !k) return 0;
  const keys = intAttribute(site.node, 'transpose_k', 0) ? last(k.dims, 2) : last(k.dims);
  return attentionFlops(site, keys, last(q.dims), last(output(site).dims));
};

const onnxAttentionFlops: FlopRule = (site) => {
  const q = input(site, 0);
  const k = input(site, 1);
  if (!q || !k) return 0;
  const packed = q.dims.length === 3;
  const heads = packed ? intAttribute(site.node, 'q_num_heads', 1) : 1;
  const past = input(site, 4);
  const keys = (packed ? k.dims[1]! : last(k.dims, 2)) + (past ? last(past.dims, 2) : 0);
  return attentionFlops(site, keys, last(q.dims) / heads, last(output(site).dims) / heads);
};

/** Gates of each recurrence and the elementwise FLOPs per hidden unit and step (bias adds, activations, cell update). */
const RECURRENCES: ReadonlyMap<string, { gates: number; elementwise: number }> = new Map([
  ['RNN', { gates: 1, elementwise: 3 }],
  ['GRU', { gates: 3, elementwise: 14 }],
  ['LSTM', { gates: 4, elementwise: 17 }],
]);

/**
 * Every step, for each direction and batch row: 2·gates·hidden·(input + hidden) for the input and
 * recurrent products, and the elementwise work per hidden unit.
 */
function recurrenceFlops(op: string): FlopRule {
  const { gates, elementwise } = RECURRENCES.get(op)!;
  return (site) => {
    const x = input(site, 0);
    const r = input(site, 2);
    if (!x || !r) return 0;
    const [steps, batch, inputSize] = x.dims as [number, number, number];
    const [directions, , hidden] = r.dims as [number, number, number];
    const perUnit = 2 * gates * (inputSize + hidden) + elementwise;
    return directions * steps * batch * hidden * perUnit;
  };
}

/** Resize: 0 for nearest, else per output element and resized axis 3 (linear) or 8 (cubic: 4 taps). */
const resizeFlops: FlopRule = (site) => {
  const mode = stringAttribute(site.node, 'mode', 'nearest');
  if (mode === 'nearest') return 0;
  const x = input(site, 0);
  const out = output(site);
  const resized = out.dims.filter((d, axis) => d !== x?.dims[axis]).length;
  return (mode === 'cubic' ? 8 : 3) * resized * out.elements;
};

// ---------------------------------------------------------------------------------------------
// The table

const ELEMENTWISE_OPS = (
  'Abs Neg Sign Floor Ceil Round Sqrt Exp Log Reciprocal Erf Sin Cos Tan Asin Acos Atan Sinh Cosh ' +
  'Asinh Acosh Atanh Relu LeakyRelu ThresholdedRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish ' +
  'Softplus Softsign Tanh Gelu Mish Swish Shrink Where Clip PRelu Add Sub Mul Div Pow Mod BitShift ' +
  'And Or Xor Not BitwiseAnd BitwiseOr BitwiseXor BitwiseNot Equal Greater Less GreaterOrEqual ' +
  'LessOrEqual IsNaN IsInf'
).split(' ');

const REDUCTIONS: readonly [string, FlopRule][] = [
  ['ReduceSum', perInputElement(1)],
  ['ReduceMean', perInputElement(1, 1)],
  ['ReduceMax', perInputElement(1)],
  ['ReduceMin', perInputElement(1)],
  ['ReduceProd', perInputElement(1)],
  ['ReduceL1', perInputElement(2)],
  ['ReduceL2', perInputElement(2, 1)],
  ['ReduceSumSquare', perInputElement(2)],
  ['ReduceLogSum', perInputElement(1, 1)],
  ['ReduceLogSumExp', perInputElement(2, 1)],
  ['ArgMax', perInputElement(1)],
  ['ArgMin', perInputElement(1)],
  ['CumSum', perInputElement(1)],
  ['CumProd', perInputElement(1)],
  ['TopK', perInputElement(1)],
];

const heddle = (op: string) => `${HEDDLE_DOMAIN}::${op}`;

const FLOP_RULES: ReadonlyMap<string, FlopRule> = new Map<string, FlopRule>([
  ['Conv', convFlops(1, 2)],
  ['ConvInteger', convFlops(1, undefined)],
  ['QLinearConv', convFlops(3, 8)],
  ['DeformConv', convFlops(1, 3)],
  ['ConvTranspose', convTransposeFlops],
  ['MatMul', matMulFlops(0)],
  ['MatMulInteger', matMulFlops(0)],
  ['QLinearMatMul', matMulFlops(0)],
  ['Gemm', gemmFlops],
  ['Einsum', einsumFlops],
  [heddle('FusedConv'), fusedLinearFlops(convFlops(1, 2), undefined)],
  [heddle('FusedGemm'), fusedLinearFlops(gemmFlops, 3)],
  [heddle('FusedMatMul'), fusedLinearFlops(matMulFlops(0), 2)],
  [heddle('ElementwiseChain'), elementwiseChainFlops],
  [heddle('Gelu'), perOutputElement(1)],
  [heddle('Attention'), heddleAttentionFlops],
  [heddle('LayerNormalization'), layerNormFlops(1, 2)],
  [heddle('RMSNormalization'), rmsNormFlops],
  ...ELEMENTWISE_OPS.map((op): [string, FlopRule] => [op, perOutputElement(1)]),
  ['Sum', variadicFlops(0)],
  ['Max', variadicFlops(0)],
  ['Min', variadicFlops(0)],
  ['Mean', variadicFlops(1)],
  // Swish(A)·B with Swish(a) = a·sigmoid(alpha·a): scale, sigmoid, two products.
  ['SwiGLU', perOutputElement(4)],
  // Each rotated feature: two products and a sum.
  ['RotaryEmbedding', perOutputElement(3)],
  ['QuantizeLinear', perOutputElement(2)],
  ['DequantizeLinear', perOutputElement(2)],
  ['DynamicQuantizeLinear', perInputElement(4)],
  ...REDUCTIONS,
  ['Softmax', perOutputElement(SOFTMAX_FLOPS)],
  ['LogSoftmax', perOutputElement(SOFTMAX_FLOPS)],
  ['Hardmax', perOutputElement(1)],
  // (x - mean) / sqrt(var + epsilon) · scale + B.
  ['BatchNormalization', perOutputElement(4)],
  ['InstanceNormalization', layerNormFlops(1, 2)],
  ['GroupNormalization', layerNormFlops(1, 2)],
  ['LayerNormalization', layerNormFlops(1, 2)],
  ['RMSNormalization', rmsNormFlops],
  ['MeanVarianceNormalization', layerNormFlops(undefined, undefined)],
  // |x| or x², its sum, and the division.
  ['LpNormalization', perOutputElement(3)],
  ['LRN', lrnFlops],
  ['MaxPool', windowFlops(1, 0)],
  ['AveragePool', windowFlops(1, 1)],
  ['LpPool', windowFlops(2, 1)],
  ['GlobalMaxPool', perInputElement(1)],
  ['GlobalAveragePool', perInputElement(1, 1)],
  ['GlobalLpPool', perInputElement(2, 1)],
  ['Attention', onnxAttentionFlops],
  ...[...RECURRENCES.keys()].map((op): [string, FlopRule] => [op, recurrenceFlops(op)]),
  ['Resize', resizeFlops],
  ['Upsample', resizeFlops],
]);

/** Operators that read of their data (input 0) only the elements they output. */
const READS_WHAT_IT_OUTPUTS: ReadonlySet<string> = new Set(['Gather', 'GatherElements', 'GatherND', 'Slice']);

/** Operators whose work is their subgraphs' and cannot be counted from shapes. */
const SUBGRAPH_OPS: ReadonlySet<string> = new Set(['If', 'Loop', 'Scan', 'SequenceMap']);

/** Operators that read only their input's metadata or relabel memory in place. */
const MOVES_NOTHING: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'Identity',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
]);
