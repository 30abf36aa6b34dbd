/**
 * The op-test harness's cases as data (test/op-harness.test.ts runs them): one node each, with its
 * operator, domain, opset and attributes, and each input's dims, element type, value generator and
 * whether it is fed at run time or a constant (an initializer, which backends may pack once). The
 * sizes are chosen to catch what generated kernels get wrong: ragged edges that are not multiples
 * of any register tile, dimensions of 1, empty tensors, broadcasting in every direction, IEEE edge
 * values, loops large enough to be split across the worker pool, attributes a kernel might ignore,
 * element types a float32 kernel must leave alone, one value read as two inputs, and runs that must
 * fail. Every backend's outputs are compared with the reference backend's, so no case states its
 * expected values.
 */

import type { Tolerance } from '../../src/conformance/runner.js';
import type { DataType } from '../../src/core/dtype.js';
import type { NodeSpec } from './build-model.js';

/** How an operand's values are made (deterministically, from the case's name). */
export type Generator =
  | { kind: 'uniform'; low: number; high: number }
  /** Integers from `low` to `high` inclusive. */
  | { kind: 'ints'; low: number; high: number }
  /** Zeros, signed zeros, ±1, tiny and huge finite values, infinities and NaN, cycled. */
  | { kind: 'special' }
  | { kind: 'values'; values: readonly number[] };

export interface Operand {
  dims: readonly number[];
  /** Default float32. */
  type?: DataType;
  /** Default uniform in [-1, 1] (integers in [0, 9]). */
  values?: Generator;
  /** An initializer of the model rather than a graph input fed at run time. */
  constant?: boolean;
}

/** An input that is the same value as an earlier input of the node (x · x, x + x). */
export interface SameAs {
  sameAs: number;
}

/** Attributes as buildModel takes them. */
export type CaseAttributes = NonNullable<NodeSpec['attributes']>;

export interface OpCase {
  /** Unique: `Op: what the case is about`. */
  name: string;
  op: string;
  /** '' (the default) is ai.onnx. */
  domain?: string;
  /** The opset of the op's domain (default 17 for ai.onnx, 1 for com.heddle). */
  opset?: number;
  attributes?: CaseAttributes;
  /** The node's inputs in order; null leaves an optional input out. */
  inputs: readonly (Operand | SameAs | null)[];
  /** The element type of each output (default one float32 output). */
  outputs?: readonly DataType[];
  /** Default rtol 1e-4, atol 1e-5. */
  tolerance?: Tolerance;
  /**
   * Why the node cannot run (an index out of range ...): the reference backend fails the run, and
   * every other backend must fail it too rather than return anything.
   */
  fails?: string;
}

const HEDDLE = 'com.heddle';

export const DEFAULT_TOLERANCE: Tolerance = { rtol: 1e-4, atol: 1e-5 };
/**
 * Products and sums over a long axis: float32 accumulation (in any order) may differ from the
 * reference's float64 accumulation by about √K rounding errors of the partial sums' size.
 */
const SUMS: Tolerance = { rtol: 1e-4, atol: 1e-4 };

const uniform = (low: number, high: number): Generator => ({ kind: 'uniform', low, high });
const SPECIAL: Generator = { kind: 'special' };

/** A float32 input fed at run time. */
function fed(dims: readonly number[], values?: Generator): Operand {
  return { dims, values };
}

/** A float32 initializer. */
function constant(dims: readonly number[], values?: Generator): Operand {
  return { dims, values, constant: true };
}

/** An int64 initializer with the given values (axes, pads, shapes, split sizes ...). */
function int64s(values: readonly number[], dims: readonly number[] = [values.length]): Operand {
  return { dims, type: 'int64', values: { kind: 'values', values }, constant: true };
}

/** A float32 initializer with the given values (scales, bounds ...). */
function floats(values: readonly number[], dims: readonly number[] = [values.length]): Operand {
  return { dims, values: { kind: 'values', values }, constant: true };
}

/** Booleans, fed at run time. */
function bools(dims: readonly number[]): Operand {
  return { dims, type: 'bool', values: { kind: 'ints', low: 0, high: 1 } };
}

/** Integer indices in [low, high], fed at run time. */
function indices(dims: readonly number[], low: number, high: number, type: DataType = 'int64'): Operand {
  return { dims, type, values: { kind: 'ints', low, high } };
}

const float = (value: number) => ({ float: value });

/**
 * Makes the cases of one operator: a case named `label: what` on `inputs`, with `attributes` when
 * given and `more` (outputs, tolerance, failure, another opset) over that.
 */
type CaseMaker = (
  what: string,
  inputs: OpCase['inputs'],
  attributes?: CaseAttributes,
  more?: Partial<OpCase>,
) => OpCase;

function caseMaker(label: string, node: Pick<OpCase, 'op' | 'domain' | 'opset'>): CaseMaker {
  return (what, inputs, attributes, more = {}) => ({
    name: `${label}: ${what}`,
    ...node,
    ...(attributes === undefined ? {} : { attributes }),
    inputs,
    ...more,
  });
}

/** Cases of the ai.onnx operator `op` at `opset`. */
function casesOf(op: string, opset: number): CaseMaker {
  return caseMaker(op, { op, opset });
}

/** Cases of Heddle's operator `op` (at the domain's default opset), named after `label`. */
function heddleCasesOf(op: string, label = op): CaseMaker {
  return caseMaker(label, { op, domain: HEDDLE });
}

// ---------------------------------------------------------------------------------------------
// Products: MatMul, Gemm

const matMulCase = casesOf('MatMul', 13);

const matmul: OpCase[] = [
  matMulCase('square 8x8', [fed([8, 8]), fed([8, 8])]),
  matMulCase('ragged 5x7 · 7x9, both fed', [fed([5, 7]), fed([7, 9])]),
  matMulCase('ragged 13x29 · constant 29x31', [fed([13, 29]), constant([29, 31])]),
  matMulCase('one row 1x64 · 64x50', [fed([1, 64]), constant([64, 50])]),
  matMulCase('K = 1 (outer product)', [fed([6, 1]), fed([1, 10])]),
  matMulCase('N = 1 (one column)', [fed([17, 33]), constant([33, 1])]),
  matMulCase('1-D A', [fed([7]), constant([7, 5])]),
  matMulCase('1-D B', [fed([4, 7]), fed([7])]),
  matMulCase('1-D · 1-D', [fed([11]), fed([11])]),
  matMulCase('batched 3-D A · constant 2-D B', [fed([2, 5, 12]), constant([12, 19])]),
  matMulCase('4-D broadcast over batch (attention scores)', [fed([2, 3, 5, 8]), fed([1, 3, 8, 6])]),
  matMulCase('A broadcast over B batch', [fed([1, 4, 9]), fed([3, 9, 10])]),
  matMulCase('empty M', [fed([0, 5]), constant([5, 3])]),
  matMulCase('long K', [fed([3, 700]), constant([700, 5])], {}, { tolerance: SUMS }),
  matMulCase(
    'pool-sized 67x96 · constant 96x83',
    [fed([67, 96]), constant([96, 83])],
    {},
    { tolerance: SUMS },
  ),
  matMulCase(
    'pool-sized batched 4x33x64 · 4x64x47',
    [fed([4, 33, 64]), fed([4, 64, 47])],
    {},
    { tolerance: SUMS },
  ),
  matMulCase('opset 1', [fed([3, 4]), constant([4, 6])], {}, { opset: 1 }),
  matMulCase(
    'deep K, blocked',
    [fed([9, 2001], uniform(-0.5, 0.5)), constant([2001, 19], uniform(-0.5, 0.5))],
    {},
    { tolerance: SUMS },
  ),
  matMulCase('batch dims broadcast both ways', [fed([2, 1, 5, 8]), fed([1, 3, 8, 6])]),
  matMulCase(
    'a wide head (3x256 · 256x5003)',
    [fed([3, 256], uniform(-0.5, 0.5)), constant([256, 5003], uniform(-0.5, 0.5))],
    {},
    { tolerance: SUMS },
  ),
  matMulCase('tall and thin (1000x3 · 3x2)', [fed([1000, 3]), constant([3, 2])]),
];

const gemmCase = casesOf('Gemm', 13);

const gemm: OpCase[] = [
  gemmCase('A·B + C along rows', [fed([5, 7]), constant([7, 9]), constant([9])]),
  gemmCase('transB with constant B (a linear layer)', [fed([6, 10]), constant([12, 10]), constant([12])], {
    transB: 1,
  }),
  gemmCase('transA', [fed([7, 5]), fed([7, 9]), constant([5, 9])], { transA: 1 }),
  gemmCase('transA and transB, alpha and beta', [fed([7, 5]), constant([9, 7]), fed([5, 9])], {
    transA: 1,
    transB: 1,
    alpha: float(0.5),
    beta: float(2),
  }),
  gemmCase('scalar C', [fed([4, 3]), constant([3, 6]), constant([1])]),
  gemmCase('C as a column', [fed([4, 3]), constant([3, 6]), constant([4, 1])]),
  gemmCase('no C', [fed([9, 13]), constant([13, 11])]),
  gemmCase(
    'pool-sized linear layer 64x128 · (96x128)ᵀ',
    [fed([64, 128]), constant([96, 128]), constant([96])],
    { transB: 1 },
    { tolerance: SUMS },
  ),
  gemmCase(
    'opset 9, C broadcast',
    [fed([3, 5]), constant([5, 4]), constant([4])],
    { beta: float(0.5) },
    { opset: 9 },
  ),
];

// ---------------------------------------------------------------------------------------------
// Convolutions and pools

/** Conv attributes with the given pads on every spatial edge. */
function convAttributes(
  kernel: readonly number[],
  options: { strides?: number[]; pads?: number[]; dilations?: number[]; group?: number } = {},
) {
  return {
    kernel_shape: [...kernel],
    ...(options.strides && { strides: options.strides }),
    ...(options.pads && { pads: options.pads }),
    ...(options.dilations && { dilations: options.dilations }),
    ...(options.group && { group: options.group }),
  };
}

const convCase = casesOf('Conv', 11);

/**
 * A Conv layer's case at opset 11 (unless `options` says otherwise) on X and W as given, with a
 * constant bias of one value per output channel unless `options.bias` is false.
 */
function convLayer(
  what: string,
  attributes: CaseAttributes,
  [x, w]: [Operand, Operand],
  options: { bias?: false; opset?: number; tolerance?: Tolerance } = {},
): OpCase {
  const { bias, ...more } = options;
  return convCase(what, bias === false ? [x, w] : [x, w, constant([w.dims[0]!])], attributes, more);
}

const conv: OpCase[] = [
  convLayer('1x1 with bias', convAttributes([1, 1]), [fed([1, 16, 7, 9]), constant([24, 16, 1, 1])]),
  convLayer('3x3 pad 1', convAttributes([3, 3], { pads: [1, 1, 1, 1] }), [
    fed([1, 3, 10, 11]),
    constant([8, 3, 3, 3]),
  ]),
  convLayer(
    '3x3 stride 2 pad 1, batch 2, ragged',
    convAttributes([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
    [fed([2, 5, 13, 9]), constant([7, 5, 3, 3])],
  ),
  convLayer(
    '7x7 stride 2 pad 3 (a ResNet stem)',
    convAttributes([7, 7], { strides: [2, 2], pads: [3, 3, 3, 3] }),
    [fed([1, 3, 32, 32]), constant([16, 3, 7, 7])],
    { tolerance: SUMS },
  ),
  convLayer('depthwise 3x3 pad 1', convAttributes([3, 3], { pads: [1, 1, 1, 1], group: 12 }), [
    fed([1, 12, 9, 10]),
    constant([12, 1, 3, 3]),
  ]),
  convLayer(
    'depthwise 3x3 stride 2 pad 1',
    convAttributes([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], group: 32 }),
    [fed([1, 32, 15, 14]), constant([32, 1, 3, 3])],
  ),
  convLayer(
    'depthwise 5x5 with channel multiplier 2',
    convAttributes([5, 5], { pads: [2, 2, 2, 2], group: 6 }),
    [fed([1, 6, 8, 7]), constant([12, 1, 5, 5])],
  ),
  convLayer('grouped (2 groups)', convAttributes([3, 3], { group: 2 }), [
    fed([1, 8, 6, 7]),
    constant([12, 4, 3, 3]),
  ]),
  convLayer(
    'dilation 2',
    convAttributes([3, 3], { dilations: [2, 2], pads: [2, 2, 2, 2] }),
    [fed([1, 4, 12, 12]), constant([6, 4, 3, 3])],
    { bias: false },
  ),
  convLayer(
    'auto_pad SAME_UPPER stride 2',
    { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' },
    [fed([1, 3, 8, 7]), constant([5, 3, 3, 3])],
  ),
  convLayer('asymmetric pads', convAttributes([3, 3], { pads: [0, 1, 2, 1] }), [
    fed([1, 2, 6, 6]),
    constant([3, 2, 3, 3]),
  ]),
  convLayer(
    'weights fed at run time, no bias',
    convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    [fed([1, 4, 5, 6]), fed([5, 4, 3, 3])],
    { bias: false },
  ),
  convLayer('5x5 ragged channels', convAttributes([5, 5]), [fed([1, 6, 11, 13]), constant([10, 6, 5, 5])]),
  convLayer('rectangular 1x3 kernel', convAttributes([1, 3], { pads: [0, 1, 0, 1] }), [
    fed([1, 5, 4, 9]),
    constant([6, 5, 1, 3]),
  ]),
  convLayer('1-D', convAttributes([5], { pads: [2, 2] }), [fed([1, 4, 20]), constant([6, 4, 5])]),
  convLayer(
    'pool-sized 1x1 64→64 on 28x28',
    convAttributes([1, 1]),
    [fed([1, 64, 28, 28]), constant([64, 64, 1, 1])],
    { tolerance: SUMS },
  ),
  convLayer(
    'pool-sized 3x3 32→48 on 20x19',
    convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    [fed([1, 32, 20, 19]), constant([48, 32, 3, 3])],
    { tolerance: SUMS },
  ),
  convLayer(
    'pool-sized depthwise 3x3 on 96x28x28',
    convAttributes([3, 3], { pads: [1, 1, 1, 1], group: 96 }),
    [fed([1, 96, 28, 28]), constant([96, 1, 3, 3])],
  ),
  convLayer(
    'pool-sized 3x3 32→32 on 40x40 (in chunks)',
    convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    [fed([1, 32, 40, 40]), constant([32, 32, 3, 3], uniform(-0.2, 0.2))],
    { tolerance: SUMS },
  ),
  convLayer(
    'deep K 3x3x160',
    convAttributes([3, 3]),
    [fed([1, 160, 5, 6], uniform(-0.5, 0.5)), constant([9, 160, 3, 3], uniform(-0.5, 0.5))],
    { bias: false, tolerance: SUMS },
  ),
  convLayer(
    '1x1 stride 2 (a ResNet downsample)',
    convAttributes([1, 1], { strides: [2, 2] }),
    [fed([1, 16, 9, 11]), constant([24, 16, 1, 1])],
    { bias: false },
  ),
  convLayer('1x1 with padding', convAttributes([1, 1], { pads: [1, 0, 1, 2] }), [
    fed([1, 4, 3, 5]),
    constant([6, 4, 1, 1]),
  ]),
  convLayer('kernel as large as the input', convAttributes([5, 4]), [
    fed([2, 3, 5, 4]),
    constant([7, 3, 5, 4]),
  ]),
  convLayer(
    'auto_pad SAME_LOWER, stride 2, dilation 2',
    { kernel_shape: [3, 3], strides: [2, 2], dilations: [2, 2], auto_pad: 'SAME_LOWER' },
    [fed([1, 3, 11, 10]), constant([4, 3, 3, 3])],
    { bias: false },
  ),
  convLayer(
    'auto_pad VALID',
    { kernel_shape: [3, 3], auto_pad: 'VALID' },
    [fed([1, 3, 6, 7]), constant([4, 3, 3, 3])],
    { bias: false },
  ),
  convLayer(
    'depthwise 3x3 dilation 2 stride 2',
    convAttributes([3, 3], { strides: [2, 2], dilations: [2, 2], pads: [2, 2, 2, 2], group: 10 }),
    [fed([1, 10, 13, 12]), constant([10, 1, 3, 3])],
  ),
  convLayer(
    'depthwise 7x7 ragged plane',
    convAttributes([7, 7], { pads: [3, 3, 3, 3], group: 5 }),
    [fed([2, 5, 9, 3]), constant([5, 1, 7, 7])],
    { bias: false },
  ),
  convLayer('depthwise 1-D', convAttributes([3], { pads: [1, 1], group: 6 }), [
    fed([1, 6, 17]),
    constant([6, 1, 3]),
  ]),
  convLayer(
    'opset 1',
    convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    [fed([1, 2, 5, 5]), constant([3, 2, 3, 3])],
    { opset: 1 },
  ),
];

const convTransposeCase = casesOf('ConvTranspose', 11);

const convTranspose: OpCase[] = [
  convTransposeCase(
    '3x3 stride 2 pad 1 output_padding 1',
    [fed([1, 4, 5, 6]), constant([4, 6, 3, 3]), constant([6])],
    { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] },
  ),
  convTransposeCase('2x2 stride 2 (upsampling)', [fed([1, 8, 7, 7]), constant([8, 4, 2, 2])], {
    kernel_shape: [2, 2],
    strides: [2, 2],
  }),
  convTransposeCase('2 groups', [fed([1, 4, 5, 5]), constant([4, 3, 3, 3]), constant([6])], {
    kernel_shape: [3, 3],
    group: 2,
  }),
  convTransposeCase('output_shape', [fed([1, 3, 5, 4]), constant([3, 2, 3, 3])], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    output_shape: [10, 8],
  }),
  convTransposeCase('dilation 2', [fed([1, 2, 4, 5]), constant([2, 3, 3, 3]), constant([3])], {
    kernel_shape: [3, 3],
    dilations: [2, 2],
  }),
  convTransposeCase('1-D', [fed([2, 3, 9]), constant([3, 5, 4]), constant([5])], {
    kernel_shape: [4],
    strides: [2],
    pads: [1, 1],
  }),
  convTransposeCase(
    'pool-sized 4x4 stride 2 32→16',
    [fed([1, 32, 14, 13]), constant([32, 16, 4, 4]), constant([16])],
    { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] },
    { tolerance: SUMS },
  ),
];

const maxPoolCase = casesOf('MaxPool', 12);
const averagePoolCase = casesOf('AveragePool', 11);
const globalAveragePoolCase = casesOf('GlobalAveragePool', 1);
const globalMaxPoolCase = casesOf('GlobalMaxPool', 1);

const pools: OpCase[] = [
  maxPoolCase('2x2 stride 2', [fed([1, 5, 8, 9])], { kernel_shape: [2, 2], strides: [2, 2] }),
  maxPoolCase('3x3 stride 2 pad 1 (a ResNet stem)', [fed([2, 6, 13, 11])], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  }),
  maxPoolCase('ceil_mode', [fed([1, 3, 10, 9])], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }),
  maxPoolCase('dilations', [fed([1, 2, 7, 7])], { kernel_shape: [2, 2], dilations: [2, 2] }),
  maxPoolCase('special values', [fed([1, 2, 5, 6], SPECIAL)], { kernel_shape: [2, 2], strides: [1, 1] }),
  maxPoolCase(
    'with indices',
    [fed([1, 3, 6, 6])],
    { kernel_shape: [2, 2], strides: [2, 2] },
    { outputs: ['float32', 'int64'] },
  ),
  maxPoolCase('1-D', [fed([2, 4, 15])], { kernel_shape: [3], strides: [2], pads: [1, 1] }),
  maxPoolCase('pool-sized 3x3 stride 2 on 64x56x56', [fed([1, 64, 56, 56])], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  }),
  averagePoolCase('3x3 pad 1, pads not counted', [fed([1, 4, 7, 9])], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
  }),
  averagePoolCase('3x3 pad 1, pads counted', [fed([1, 4, 7, 9])], {
    kernel_shape: [3, 3],
    pads: [1, 1, 1, 1],
    count_include_pad: 1,
  }),
  averagePoolCase('2x2 stride 2 ceil_mode', [fed([2, 3, 7, 5])], {
    kernel_shape: [2, 2],
    strides: [2, 2],
    ceil_mode: 1,
  }),
  averagePoolCase('pool-sized 2x2 on 64x28x28', [fed([1, 64, 28, 28])], {
    kernel_shape: [2, 2],
    strides: [2, 2],
  }),
  globalAveragePoolCase('64x7x7', [fed([1, 64, 7, 7])]),
  globalAveragePoolCase('ragged 2x5x3x1', [fed([2, 5, 3, 1])]),
  globalAveragePoolCase('pool-sized 512x14x14', [fed([1, 512, 14, 14])]),
  globalMaxPoolCase('13x6x5', [fed([2, 13, 6, 5])]),
  globalMaxPoolCase('special values', [fed([1, 3, 6, 1], SPECIAL)]),
  globalMaxPoolCase('1-D', [fed([2, 4, 11])]),
  globalAveragePoolCase('1-D', [fed([2, 4, 11])]),
  globalMaxPoolCase('pool-sized 512x14x14', [fed([1, 512, 14, 14])]),
];

// ---------------------------------------------------------------------------------------------
// Elementwise

/** Unary operators with the input range each is defined (and well conditioned) on. */
const UNARY_DOMAINS: readonly [op: string, opset: number, values: Generator][] = [
  ['Abs', 13, uniform(-4, 4)],
  ['Neg', 13, uniform(-4, 4)],
  ['Sign', 13, uniform(-4, 4)],
  ['Floor', 13, uniform(-4, 4)],
  ['Ceil', 13, uniform(-4, 4)],
  ['Round', 11, uniform(-4, 4)],
  ['Sqrt', 13, uniform(0, 9)],
  ['Exp', 13, uniform(-10, 10)],
  ['Log', 13, uniform(0.01, 100)],
  ['Reciprocal', 13, uniform(0.1, 10)],
  ['Erf', 13, uniform(-3, 3)],
  ['Sin', 7, uniform(-6, 6)],
  ['Cos', 7, uniform(-6, 6)],
  ['Tan', 7, uniform(-1.4, 1.4)],
  ['Asin', 7, uniform(-0.99, 0.99)],
  ['Acos', 7, uniform(-0.99, 0.99)],
  ['Atan', 7, uniform(-10, 10)],
  ['Sinh', 9, uniform(-5, 5)],
  ['Cosh', 9, uniform(-5, 5)],
  ['Asinh', 9, uniform(-10, 10)],
  ['Acosh', 9, uniform(1, 10)],
  ['Atanh', 9, uniform(-0.99, 0.99)],
  ['Relu', 14, uniform(-4, 4)],
  ['Sigmoid', 13, uniform(-12, 12)],
  ['Tanh', 13, uniform(-6, 6)],
  ['Softplus', 1, uniform(-10, 10)],
  ['Softsign', 1, uniform(-10, 10)],
  ['HardSwish', 14, uniform(-5, 5)],
  ['Mish', 18, uniform(-6, 6)],
  ['Elu', 6, uniform(-4, 4)],
  ['Selu', 6, uniform(-4, 4)],
  ['Celu', 12, uniform(-4, 4)],
  ['LeakyRelu', 16, uniform(-4, 4)],
  ['HardSigmoid', 6, uniform(-5, 5)],
  ['ThresholdedRelu', 10, uniform(-2, 3)],
  ['Shrink', 9, uniform(-2, 2)],
  ['Gelu', 20, uniform(-5, 5)],
  ['Swish', 24, uniform(-6, 6)],
];

/** Operators whose attributes get a non-default value in a second case. */
const UNARY_ATTRIBUTES: Readonly<Record<string, CaseAttributes>> = {
  LeakyRelu: { alpha: float(0.2) },
  Elu: { alpha: float(0.7) },
  Celu: { alpha: float(1.5) },
  Selu: { alpha: float(1.5), gamma: float(1.2) },
  HardSigmoid: { alpha: float(0.25), beta: float(0.4) },
  ThresholdedRelu: { alpha: float(0.5) },
  Shrink: { bias: float(0.3), lambd: float(0.8) },
  Gelu: { approximate: 'tanh' },
  Swish: { alpha: float(1.5) },
};

const unary: OpCase[] = UNARY_DOMAINS.flatMap(([op, opset, values]): OpCase[] => [
  { name: `${op}: ragged 3x37`, op, opset, inputs: [fed([3, 37], values)] },
  { name: `${op}: one element`, op, opset, inputs: [fed([1], values)] },
  { name: `${op}: special values`, op, opset, inputs: [fed([2, 15], SPECIAL)] },
  { name: `${op}: pool-sized 9x4099`, op, opset, inputs: [fed([9, 4099], values)] },
  ...(UNARY_ATTRIBUTES[op]
    ? [
        {
          name: `${op}: attributes`,
          op,
          opset,
          attributes: UNARY_ATTRIBUTES[op],
          inputs: [fed([5, 11], values)],
        },
      ]
    : []),
]);

const clipCase = casesOf('Clip', 13);

const clip: OpCase[] = [
  clipCase('opset 6 attributes', [fed([4, 9])], { min: float(-0.5), max: float(0.25) }, { opset: 6 }),
  clipCase('bounds as inputs (ReLU6)', [fed([3, 17], uniform(-3, 9)), floats([0], []), floats([6], [])]),
  clipCase('min only', [fed([3, 17]), floats([-0.3], [])]),
  clipCase('max only', [fed([3, 17]), null, floats([0.3], [])]),
  clipCase('no bounds', [fed([3, 17])]),
  clipCase('special values', [fed([2, 15], SPECIAL), floats([-1], []), floats([1], [])]),
  clipCase('pool-sized', [fed([16, 4099], uniform(-3, 9)), floats([0], []), floats([6], [])]),
];

/** Binary operators with the ranges of their two inputs. */
const BINARY_DOMAINS: readonly [op: string, opset: number, a: Generator, b: Generator][] = [
  ['Add', 14, uniform(-4, 4), uniform(-4, 4)],
  ['Sub', 14, uniform(-4, 4), uniform(-4, 4)],
  ['Mul', 14, uniform(-4, 4), uniform(-4, 4)],
  ['Div', 14, uniform(-4, 4), uniform(0.25, 4)],
  ['Pow', 15, uniform(0.1, 3), uniform(-2, 2)],
  ['Max', 13, uniform(-4, 4), uniform(-4, 4)],
  ['Min', 13, uniform(-4, 4), uniform(-4, 4)],
  ['PRelu', 16, uniform(-4, 4), uniform(0, 0.5)],
];

/** Broadcasting patterns: the two inputs' dims, and whether the second is a constant. */
const BROADCASTS: readonly [what: string, a: number[], b: number[], constantB: boolean][] = [
  ['same dims', [4, 33], [4, 33], false],
  ['along rows', [4, 33], [33], true],
  ['along columns', [4, 33], [4, 1], false],
  ['scalar', [5, 7], [], true],
  ['both ways', [4, 1, 7], [1, 5, 7], false],
  ['per channel', [2, 16, 5, 5], [16, 1, 1], true],
  ['pool-sized along rows', [16, 4099], [4099], true],
];

/** PRelu's slope broadcasts to X one way only. */
const ONE_WAY = new Set(['PRelu']);

const binary: OpCase[] = BINARY_DOMAINS.flatMap(([op, opset, a, b]): OpCase[] => [
  ...BROADCASTS.filter(([what]) => !ONE_WAY.has(op) || what !== 'both ways').map(
    ([what, aDims, bDims, constantB]): OpCase => ({
      name: `${op}: ${what}`,
      op,
      opset,
      inputs: [fed(aDims, a), constantB ? constant(bDims, b) : fed(bDims, b)],
    }),
  ),
  ...(ONE_WAY.has(op)
    ? []
    : [{ name: `${op}: B broadcast into A`, op, opset, inputs: [fed([7], a), fed([3, 7], b)] }]),
  // The 18 special values against 17 columns: every pair of them meets somewhere.
  { name: `${op}: special values`, op, opset, inputs: [fed([18, 17], SPECIAL), fed([17], SPECIAL)] },
]);

const maxCase = casesOf('Max', 13);
const minCase = casesOf('Min', 13);
const sumCase = casesOf('Sum', 13);
const meanCase = casesOf('Mean', 13);
const addCase = casesOf('Add', 14);
const whereCase = casesOf('Where', 16);

const variadic: OpCase[] = [
  maxCase('three inputs', [fed([3, 8]), fed([8]), fed([3, 1])]),
  minCase('three inputs', [fed([3, 8]), fed([8]), fed([3, 1])]),
  sumCase('three inputs', [fed([3, 8]), fed([8]), fed([3, 1])]),
  meanCase('three inputs', [fed([3, 8]), fed([8]), fed([3, 1])]),
  sumCase('one input', [fed([4, 7])]),
  meanCase('two inputs, constant', [fed([5, 6]), constant([6])]),
  sumCase('pool-sized', [fed([16, 4099]), fed([16, 4099])]),
  meanCase('pool-sized, four inputs', [fed([8, 4099]), fed([8, 4099]), fed([4099]), fed([8, 1])]),
  maxCase('one input', [fed([5])]),
  addCase(
    'opset 6 legacy broadcast',
    [fed([2, 3, 4, 5]), constant([3, 4])],
    { broadcast: 1, axis: 1 },
    { opset: 6 },
  ),
  whereCase('broadcast condition', [bools([4, 1]), fed([4, 9]), fed([9])]),
  whereCase('same dims', [bools([3, 11]), fed([3, 11]), fed([3, 11])]),
  whereCase('broadcast every way', [bools([1, 5, 1]), fed([3, 1, 6]), constant([1, 6])]),
  whereCase('scalar branches', [bools([6, 7]), floats([2], []), fed([])]),
  whereCase('special values', [bools([2, 18]), fed([2, 18], SPECIAL), fed([18], SPECIAL)]),
  whereCase('opset 9', [bools([5]), fed([2, 5]), fed([5])], {}, { opset: 9 }),
  whereCase('pool-sized', [bools([16, 4099]), fed([16, 4099]), fed([16, 4099])]),
];

// ---------------------------------------------------------------------------------------------
// Softmax and normalization

const softmax: OpCase[] = ['Softmax', 'LogSoftmax'].flatMap((op): OpCase[] => [
  { name: `${op}: last axis, ragged`, op, opset: 13, inputs: [fed([3, 17], uniform(-5, 5))] },
  { name: `${op}: middle axis`, op, opset: 13, attributes: { axis: 1 }, inputs: [fed([2, 5, 7])] },
  { name: `${op}: first axis`, op, opset: 13, attributes: { axis: 0 }, inputs: [fed([6, 3])] },
  { name: `${op}: large logits`, op, opset: 13, inputs: [fed([4, 9], uniform(-90, 90))] },
  { name: `${op}: one class`, op, opset: 13, inputs: [fed([5, 1])] },
  { name: `${op}: special values`, op, opset: 13, inputs: [fed([3, 5], SPECIAL)] },
  {
    name: `${op}: opset 11 flattens from axis`,
    op,
    opset: 11,
    attributes: { axis: 1 },
    inputs: [fed([2, 3, 4])],
  },
  { name: `${op}: pool-sized 64x1000`, op, opset: 13, inputs: [fed([64, 1000], uniform(-8, 8))] },
]);

const layerNormalizationCase = casesOf('LayerNormalization', 17);
const rmsNormalizationCase = casesOf('RMSNormalization', 23);
const batchNormalizationCase = casesOf('BatchNormalization', 15);
const instanceNormalizationCase = casesOf('InstanceNormalization', 6);

const normalization: OpCase[] = [
  layerNormalizationCase('last axis, scale and bias', [
    fed([2, 5, 32], uniform(-3, 5)),
    constant([32]),
    constant([32]),
  ]),
  layerNormalizationCase('ragged row, no bias', [fed([7, 37]), constant([37])], { epsilon: float(1e-3) }),
  layerNormalizationCase('axis -2', [fed([3, 4, 6]), constant([4, 6]), constant([4, 6])], { axis: -2 }),
  layerNormalizationCase('constant rows', [
    fed([3, 8], { kind: 'values', values: [2] }),
    constant([8]),
    constant([8]),
  ]),
  layerNormalizationCase('pool-sized 256x256', [fed([256, 256]), constant([256]), constant([256])]),
  rmsNormalizationCase('last axis', [fed([2, 5, 24]), constant([24])]),
  rmsNormalizationCase('axis -2, epsilon', [fed([3, 7, 5]), constant([7, 5])], {
    axis: -2,
    epsilon: float(1e-3),
  }),
  rmsNormalizationCase('pool-sized 128x512', [fed([128, 512]), constant([512])]),
  ...[15, 9].map((opset): OpCase => ({
    name: `BatchNormalization: opset ${opset}`,
    op: 'BatchNormalization',
    opset,
    inputs: [fed([2, 6, 5, 5]), ...batchNormParameters(6)],
  })),
  batchNormalizationCase('rank 2', [fed([7, 13]), ...batchNormParameters(13)]),
  batchNormalizationCase('1-D spatial, epsilon', [fed([2, 5, 9]), ...batchNormParameters(5)], {
    epsilon: float(1e-2),
  }),
  batchNormalizationCase('pool-sized 64x28x28', [fed([1, 64, 28, 28]), ...batchNormParameters(64)]),
  instanceNormalizationCase('3 channels', [fed([2, 3, 4, 5]), constant([3]), constant([3])]),
  instanceNormalizationCase(
    'ragged plane, epsilon',
    [fed([1, 5, 7, 3], uniform(-2, 6)), constant([5]), constant([5])],
    { epsilon: float(1e-2) },
  ),
  instanceNormalizationCase('pool-sized 32x28x28', [fed([1, 32, 28, 28]), constant([32]), constant([32])]),
];

/** BatchNormalization's scale, bias, mean and (positive) variance for `channels`. */
function batchNormParameters(channels: number): Operand[] {
  return [
    constant([channels]),
    constant([channels]),
    constant([channels]),
    constant([channels], uniform(0.5, 2)),
  ];
}

// ---------------------------------------------------------------------------------------------
// Reductions

const REDUCE_OPS: readonly [op: string, values: Generator][] = [
  ['ReduceSum', uniform(-1, 1)],
  ['ReduceMean', uniform(-1, 1)],
  ['ReduceMax', uniform(-1, 1)],
  ['ReduceMin', uniform(-1, 1)],
  ['ReduceProd', uniform(0.8, 1.25)],
  ['ReduceSumSquare', uniform(-1, 1)],
  ['ReduceL1', uniform(-1, 1)],
  ['ReduceL2', uniform(-1, 1)],
  ['ReduceLogSum', uniform(0.1, 2)],
  ['ReduceLogSumExp', uniform(-20, 20)],
];

/**
 * Reductions whose float32 results on infinities and NaN are what float64 ones round to; the
 * others (squares, logs, exponentials of the huge special values) overflow in float32 where the
 * reference backend, computing in float64, does not.
 */
const NAN_AWARE_REDUCTIONS = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin']);

/** One reduction: axes as an attribute before opset 18 (13 for ReduceSum), as an input from then. */
function reduction(
  op: string,
  opset: number,
  values: Generator,
  dims: number[],
  axes?: number[],
): { inputs: Operand[]; attributes: CaseAttributes } {
  const axesAsInput = opset >= 18 || (op === 'ReduceSum' && opset >= 13);
  const inputs = [fed(dims, values), ...(axes && axesAsInput ? [int64s(axes)] : [])];
  return { inputs, attributes: axes && !axesAsInput ? { axes } : {} };
}

const reductions: OpCase[] = REDUCE_OPS.flatMap(([op, values]): OpCase[] => {
  const at = (
    what: string,
    opset: number,
    dims: number[],
    axes: number[] | undefined,
    keepdims: number,
    tolerance?: Tolerance,
  ): OpCase => {
    const { inputs, attributes } = reduction(op, opset, values, dims, axes);
    return { name: `${op}: ${what}`, op, opset, attributes: { ...attributes, keepdims }, inputs, tolerance };
  };
  return [
    at('last axis', 13, [3, 5, 7], [-1], 1),
    at('middle axis, dropped', 13, [3, 5, 7], [1], 0),
    at('first and last axes', 18, [4, 3, 6], [0, 2], 1),
    at('every axis', 18, [4, 3, 6], undefined, 0),
    at('pool-sized last axis', 18, [64, 2048], [1], 1, SUMS),
    at('pool-sized first axis', 18, [2048, 33], [0], 0, SUMS),
    at('a unit axis', 18, [5, 1, 7], [1], 0),
    {
      name: `${op}: no axes with noop_with_empty_axes`,
      op,
      opset: 18,
      attributes: { noop_with_empty_axes: 1 },
      inputs: [fed([3, 4], values)],
    },
    // Each row lacks one of the special values, so rows differ in their NaNs and infinities.
    ...(NAN_AWARE_REDUCTIONS.has(op)
      ? [{ name: `${op}: special values`, op, opset: 18, inputs: [fed([18, 17], SPECIAL), int64s([1])] }]
      : []),
  ];
});

const argReductions: OpCase[] = ['ArgMax', 'ArgMin'].map((op): OpCase => ({
  name: `${op}: last axis`,
  op,
  opset: 13,
  attributes: { axis: -1, keepdims: 0 },
  inputs: [fed([4, 19])],
  outputs: ['int64'],
}));

// ---------------------------------------------------------------------------------------------
// Data movement

const transposeCase = casesOf('Transpose', 13);

const transpose: OpCase[] = [
  transposeCase('2-D default perm', [fed([5, 7])]),
  transposeCase('NCHW to NHWC', [fed([2, 3, 4, 5])], { perm: [0, 2, 3, 1] }),
  transposeCase('NHWC to NCHW', [fed([2, 4, 5, 3])], { perm: [0, 3, 1, 2] }),
  transposeCase('heads split (0, 2, 1, 3)', [fed([2, 9, 4, 16])], { perm: [0, 2, 1, 3] }),
  transposeCase('unit axis moved', [fed([7, 1, 9])], { perm: [2, 0, 1] }),
  transposeCase('identity perm', [fed([3, 4, 5])], { perm: [0, 1, 2] }),
  transposeCase('6-D', [fed([2, 3, 2, 3, 2, 5])], { perm: [5, 3, 1, 0, 2, 4] }),
  transposeCase('pool-sized 67x1025', [fed([67, 1025])]),
  transposeCase('pool-sized 4-D', [fed([1, 64, 28, 27])], { perm: [0, 2, 3, 1] }),
];

const gatherCase = casesOf('Gather', 13);

const gather: OpCase[] = [
  gatherCase('embedding rows', [constant([50, 16]), indices([2, 7], 0, 49)]),
  gatherCase('negative indices', [constant([20, 5]), indices([6], -20, 19)]),
  gatherCase('axis 1', [fed([4, 10, 6]), indices([3], 0, 9)], { axis: 1 }),
  gatherCase('last axis, 2-D indices', [fed([3, 11]), indices([2, 2], 0, 10)], { axis: -1 }),
  gatherCase('scalar index', [
    fed([5, 8]),
    { dims: [], type: 'int64', values: { kind: 'values', values: [3] } },
  ]),
  gatherCase('int32 indices', [constant([30, 12]), indices([5], 0, 29, 'int32')]),
  gatherCase('constant indices', [fed([2, 9, 3]), int64s([8, 0, 4])], { axis: 1 }),
  gatherCase(
    'an index past the end fails',
    [constant([50, 16]), { dims: [3], type: 'int64', values: { kind: 'values', values: [3, 50, 1] } }],
    {},
    { fails: 'index 50 is out of range for axis 0 of size 50' },
  ),
  gatherCase(
    'a negative index before the start fails',
    [fed([2, 7]), { dims: [2], type: 'int32', values: { kind: 'values', values: [-8, 0] } }],
    { axis: 1 },
    { fails: 'index -8 is out of range for axis 1 of size 7' },
  ),
  gatherCase('pool-sized embedding 5000x256', [constant([5000, 256]), indices([2, 64], 0, 4999)]),
];

const concatCase = casesOf('Concat', 13);

const concat: OpCase[] = [
  concatCase('axis 1', [fed([2, 3, 5]), fed([2, 4, 5])], { axis: 1 }),
  concatCase('last axis, three inputs of ragged widths', [fed([3, 1]), fed([3, 7]), fed([3, 13])], {
    axis: -1,
  }),
  concatCase('axis 0 with a constant', [fed([2, 6]), constant([3, 6])], { axis: 0 }),
  concatCase('an empty input', [fed([0, 4]), fed([3, 4])], { axis: 0 }),
  concatCase('1-D', [fed([5]), fed([9])], { axis: 0 }),
  concatCase('one input', [fed([5, 2])], { axis: 0 }),
  concatCase('pool-sized channels', [fed([1, 64, 28, 28]), fed([1, 32, 28, 28])], { axis: 1 }),
  concatCase('opset 4', [fed([2, 3]), fed([2, 2])], { axis: 1 }, { opset: 4 }),
];

const splitCase = casesOf('Split', 13);

const split: OpCase[] = [
  splitCase('equal halves', [fed([6, 5])], { axis: 0 }, { outputs: ['float32', 'float32'] }),
  splitCase(
    'sizes as an input',
    [fed([4, 10]), int64s([3, 7])],
    { axis: 1 },
    { outputs: ['float32', 'float32'] },
  ),
  splitCase(
    'num_outputs, uneven',
    [fed([2, 7])],
    { axis: -1, num_outputs: 3 },
    { opset: 18, outputs: ['float32', 'float32', 'float32'] },
  ),
  splitCase(
    'opset 11 attribute',
    [fed([2, 6, 3])],
    { axis: 1, split: [1, 2, 3] },
    { opset: 11, outputs: ['float32', 'float32', 'float32'] },
  ),
  splitCase(
    'pool-sized qkv',
    [fed([128, 768])],
    { axis: -1 },
    { outputs: ['float32', 'float32', 'float32'] },
  ),
];

const sliceCase = casesOf('Slice', 13);

const slice: OpCase[] = [
  sliceCase('starts, ends and axes', [fed([5, 9]), int64s([1, 2]), int64s([4, 8]), int64s([0, 1])]),
  sliceCase('step 2 on the last axis', [fed([3, 11]), int64s([1]), int64s([11]), int64s([1]), int64s([2])]),
  sliceCase('negative step', [fed([4, 7]), int64s([-1]), int64s([-1000]), int64s([1]), int64s([-1])]),
  sliceCase('axes omitted, ends beyond the end', [
    fed([6, 5, 4]),
    int64s([2, 0, 1]),
    int64s([1000000, 3, -1]),
  ]),
  sliceCase('empty result', [fed([4, 6]), int64s([3]), int64s([3]), int64s([1])]),
  sliceCase(
    'opset 1 attributes',
    [fed([3, 4, 5])],
    { starts: [0, 1], ends: [2, 4], axes: [0, 2] },
    { opset: 1 },
  ),
  sliceCase('pool-sized', [fed([1, 64, 56, 56]), int64s([1, 3]), int64s([55, 50]), int64s([2, 3])]),
];

const padCase = casesOf('Pad', 13);

const pad: OpCase[] = [
  padCase('constant value', [fed([2, 3, 4]), int64s([0, 1, 2, 0, 2, 1]), floats([0.5], [])]),
  padCase('zeros by default (conv padding)', [fed([1, 3, 5, 6]), int64s([0, 0, 1, 1, 0, 0, 1, 1])]),
  padCase('reflect', [fed([3, 5]), int64s([1, 2, 2, 3])], { mode: 'reflect' }),
  padCase('edge', [fed([3, 5]), int64s([2, 0, 1, 4])], { mode: 'edge' }),
  padCase('negative pads crop', [fed([4, 6]), int64s([-1, 2, 0, -3])]),
  padCase('opset 2 attributes', [fed([2, 3])], { pads: [1, 0, 0, 2], value: float(-1) }, { opset: 2 }),
  padCase('opset 18 axes', [fed([2, 3, 4]), int64s([1, 2]), null, int64s([-1])], {}, { opset: 18 }),
  padCase('opset 19 wrap', [fed([3, 4]), int64s([1, 1, 2, 3])], { mode: 'wrap' }, { opset: 19 }),
  padCase('pool-sized', [fed([1, 64, 28, 28]), int64s([0, 0, 1, 2, 0, 0, 2, 1])]),
];

/** Resize at opset 13: X, roi (omitted), then scales or sizes. */
function resize(
  what: string,
  attributes: CaseAttributes,
  dims: number[],
  target: { scales: number[] } | { sizes: number[] },
  options: { opset?: number; roi?: number[] } = {},
): OpCase {
  const last = 'scales' in target ? [floats(target.scales)] : [null, int64s(target.sizes)];
  const roi = options.roi ? floats(options.roi) : null;
  return casesOf('Resize', options.opset ?? 13)(what, [fed(dims), roi, ...last], attributes);
}

const resizeCase = casesOf('Resize', 10);
const upsampleCase = casesOf('Upsample', 9);

const resizes: OpCase[] = [
  resize(
    'nearest ×2, asymmetric floor',
    { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
    [1, 3, 5, 6],
    { scales: [1, 1, 2, 2] },
  ),
  resize('nearest, default modes, to sizes', { mode: 'nearest' }, [1, 2, 5, 7], { sizes: [1, 2, 8, 9] }),
  resize('linear half_pixel ×2', { mode: 'linear' }, [1, 3, 4, 5], { scales: [1, 1, 2, 2] }),
  resize(
    'linear align_corners, to sizes',
    { mode: 'linear', coordinate_transformation_mode: 'align_corners' },
    [2, 2, 5, 4],
    { sizes: [2, 2, 9, 7] },
  ),
  resize('linear downscale', { mode: 'linear' }, [1, 2, 9, 8], { scales: [1, 1, 0.5, 0.75] }),
  resize('cubic', { mode: 'cubic' }, [1, 1, 6, 5], { scales: [1, 1, 1.5, 2] }),
  resize(
    'nearest round_prefer_ceil, pytorch_half_pixel',
    {
      mode: 'nearest',
      coordinate_transformation_mode: 'pytorch_half_pixel',
      nearest_mode: 'round_prefer_ceil',
    },
    [1, 2, 4, 5],
    { sizes: [1, 2, 7, 3] },
  ),
  resize(
    'tf_crop_and_resize with extrapolation',
    { mode: 'linear', coordinate_transformation_mode: 'tf_crop_and_resize', extrapolation_value: float(-1) },
    [1, 1, 5, 6],
    { sizes: [1, 1, 4, 4] },
    { roi: [0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3] },
  ),
  resize('nearest on 2-D', { mode: 'nearest' }, [4, 5], { scales: [2, 3] }),
  resize('linear on 3-D', { mode: 'linear' }, [2, 3, 5], { sizes: [2, 3, 9] }),
  resize(
    'half_pixel_symmetric (opset 19)',
    { mode: 'linear', coordinate_transformation_mode: 'half_pixel_symmetric' },
    [1, 2, 4, 5],
    { scales: [1, 1, 1.5, 1.3] },
    { opset: 19 },
  ),
  resize(
    'cubic, exclude_outside, a = -0.5',
    { mode: 'cubic', exclude_outside: 1, cubic_coeff_a: float(-0.5) },
    [1, 1, 5, 6],
    { scales: [1, 1, 1.6, 0.8] },
  ),
  resize(
    'antialias downscale',
    { mode: 'linear', antialias: 1 },
    [1, 2, 9, 10],
    { scales: [1, 1, 0.4, 0.6] },
    { opset: 18 },
  ),
  resize(
    'keep_aspect_ratio_policy not_larger',
    { mode: 'nearest', keep_aspect_ratio_policy: 'not_larger' },
    [1, 1, 4, 6],
    { sizes: [1, 1, 8, 9] },
    { opset: 18 },
  ),
  resize(
    'pool-sized nearest ×2',
    { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
    [1, 64, 28, 28],
    { scales: [1, 1, 2, 2] },
  ),
  resizeCase('opset 10', [fed([1, 2, 3, 4]), floats([1, 1, 2, 1.5])], { mode: 'linear' }),
  resizeCase(
    'opset 11 with roi',
    [fed([1, 1, 4, 4]), floats([]), floats([1, 1, 2, 2])],
    { mode: 'nearest' },
    { opset: 11 },
  ),
  upsampleCase('opset 9 nearest', [fed([1, 2, 3, 3]), floats([1, 1, 2, 2])], { mode: 'nearest' }),
  upsampleCase('opset 9 linear', [fed([1, 2, 4, 3]), floats([1, 1, 2, 3])], { mode: 'linear' }),
  upsampleCase(
    'opset 7 scales attribute',
    [fed([1, 3, 2, 4])],
    { mode: 'nearest', scales: { floats: [1, 1, 3, 2] } },
    { opset: 7 },
  ),
  upsampleCase('pool-sized nearest ×2', [fed([1, 64, 28, 28]), floats([1, 1, 2, 2])], { mode: 'nearest' }),
];

const reshapeCase = casesOf('Reshape', 14);
const flattenCase = casesOf('Flatten', 13);
const unsqueezeCase = casesOf('Unsqueeze', 13);
const squeezeCase = casesOf('Squeeze', 13);
const expandCase = casesOf('Expand', 13);
const identityCase = casesOf('Identity', 16);
const tileCase = casesOf('Tile', 13);

const shapes: OpCase[] = [
  reshapeCase('flatten rows', [fed([2, 3, 4]), int64s([6, -1])]),
  flattenCase('axis 1', [fed([2, 3, 4, 5])], { axis: 1 }),
  unsqueezeCase('two axes', [fed([3, 4]), int64s([0, 3])]),
  squeezeCase('unit axes', [fed([1, 3, 1, 4]), int64s([0, 2])]),
  expandCase('broadcast rows', [fed([3, 1]), int64s([2, 3, 5])]),
  expandCase('shape of ones keeps dims', [fed([2, 4]), int64s([1, 1])]),
  expandCase('per channel to planes', [fed([1, 6, 1, 1]), int64s([2, 6, 5, 7])], {}, { opset: 8 }),
  expandCase('pool-sized', [fed([1, 64, 1, 28]), int64s([2, 64, 28, 28])]),
  identityCase('copy', [fed([4, 5])]),
  tileCase('repeats', [fed([2, 3]), int64s([2, 3])]),
];

// ---------------------------------------------------------------------------------------------
// Recurrent layers

interface RecurrentShape {
  seq: number;
  batch: number;
  input: number;
  hidden: number;
  directions: number;
  /** Initial states fed. */
  initial: boolean;
  /** sequence_lens, one per batch entry. */
  lengths?: number[];
  /** LSTM's peephole weights P. */
  peepholes?: boolean;
  /** layout 1: batch before sequence in X and the states. */
  batchFirst?: boolean;
}

/** LSTM or GRU inputs: X, W, R, B, sequence_lens, initial_h, then initial_c and P for LSTM. */
function recurrent(op: 'LSTM' | 'GRU', shape: RecurrentShape): (Operand | null)[] {
  const { seq, batch, input, hidden, directions, initial, lengths, peepholes, batchFirst } = shape;
  const gates = op === 'LSTM' ? 4 : 3;
  const stateDims = batchFirst ? [batch, directions, hidden] : [directions, batch, hidden];
  const state = () => (initial ? fed(stateDims) : null);
  const lstmExtras = op === 'LSTM' ? [state(), peepholes ? constant([directions, 3 * hidden]) : null] : [];
  return [
    fed(batchFirst ? [batch, seq, input] : [seq, batch, input]),
    constant([directions, gates * hidden, input], uniform(-0.5, 0.5)),
    constant([directions, gates * hidden, hidden], uniform(-0.5, 0.5)),
    constant([directions, 2 * gates * hidden], uniform(-0.5, 0.5)),
    lengths
      ? { dims: [batch], type: 'int32', values: { kind: 'values', values: lengths }, constant: true }
      : null,
    state(),
    ...lstmExtras,
  ];
}

interface RecurrentLayer extends Omit<RecurrentShape, 'directions' | 'initial'> {
  direction?: 'reverse' | 'bidirectional';
  initial?: boolean;
  opset?: number;
  tolerance?: Tolerance;
}

/**
 * An LSTM or GRU case: hidden_size, direction and layout follow from `layer`, `attributes` adds
 * the rest; every output is wanted.
 */
function recurrentCase(
  op: 'LSTM' | 'GRU',
  what: string,
  layer: RecurrentLayer,
  attributes: CaseAttributes = {},
): OpCase {
  const { direction, opset = 14, tolerance, initial = false, ...shape } = layer;
  return casesOf(op, opset)(
    what,
    recurrent(op, { ...shape, initial, directions: direction === 'bidirectional' ? 2 : 1 }),
    {
      hidden_size: layer.hidden,
      ...(direction ? { direction } : {}),
      ...(layer.batchFirst ? { layout: 1 } : {}),
      ...attributes,
    },
    {
      outputs: new Array<DataType>(op === 'LSTM' ? 3 : 2).fill('float32'),
      ...(tolerance ? { tolerance } : {}),
    },
  );
}

const rnns: OpCase[] = [
  recurrentCase('LSTM', 'forward', { seq: 5, batch: 2, input: 8, hidden: 16 }),
  recurrentCase('LSTM', 'bidirectional with initial state, ragged sizes', {
    seq: 4,
    batch: 3,
    input: 7,
    hidden: 13,
    direction: 'bidirectional',
    initial: true,
  }),
  recurrentCase('LSTM', 'reverse, batch 1', { seq: 6, batch: 1, input: 5, hidden: 8, direction: 'reverse' }),
  recurrentCase('LSTM', 'pool-sized hidden 128, 20 steps', {
    seq: 20,
    batch: 1,
    input: 64,
    hidden: 128,
    tolerance: SUMS,
  }),
  recurrentCase('LSTM', 'opset 7', { seq: 3, batch: 2, input: 4, hidden: 6, opset: 7 }),
  recurrentCase('LSTM', 'sequence_lens', {
    seq: 5,
    batch: 3,
    input: 4,
    hidden: 8,
    direction: 'bidirectional',
    initial: true,
    lengths: [5, 2, 4],
  }),
  recurrentCase('LSTM', 'peepholes', {
    seq: 4,
    batch: 2,
    input: 5,
    hidden: 7,
    initial: true,
    peepholes: true,
  }),
  recurrentCase('LSTM', 'clip', { seq: 4, batch: 2, input: 5, hidden: 6 }, { clip: float(0.3) }),
  recurrentCase(
    'LSTM',
    'input_forget',
    { seq: 4, batch: 2, input: 5, hidden: 6, initial: true },
    { input_forget: 1 },
  ),
  recurrentCase('LSTM', 'layout 1 (batch first)', {
    seq: 3,
    batch: 4,
    input: 5,
    hidden: 6,
    initial: true,
    batchFirst: true,
  }),
  recurrentCase(
    'LSTM',
    'other activations',
    { seq: 4, batch: 2, input: 5, hidden: 6 },
    {
      activations: { strings: ['HardSigmoid', 'Tanh', 'Relu'] },
      activation_alpha: { floats: [0.3] },
      activation_beta: { floats: [0.4] },
    },
  ),
  recurrentCase('GRU', 'sequence_lens', {
    seq: 5,
    batch: 3,
    input: 4,
    hidden: 7,
    initial: true,
    lengths: [1, 5, 3],
  }),
  recurrentCase('GRU', 'clip', { seq: 3, batch: 2, input: 4, hidden: 5 }, { clip: float(0.5) }),
  recurrentCase('GRU', 'layout 1 (batch first)', {
    seq: 3,
    batch: 2,
    input: 5,
    hidden: 6,
    direction: 'reverse',
    initial: true,
    batchFirst: true,
  }),
  recurrentCase(
    'GRU',
    'other activations',
    { seq: 4, batch: 2, input: 5, hidden: 6 },
    { activations: { strings: ['Sigmoid', 'Relu'] } },
  ),
  recurrentCase('GRU', 'forward', { seq: 5, batch: 2, input: 8, hidden: 16 }),
  recurrentCase(
    'GRU',
    'linear_before_reset',
    { seq: 4, batch: 3, input: 7, hidden: 12, initial: true },
    { linear_before_reset: 1 },
  ),
  recurrentCase('GRU', 'bidirectional, ragged sizes', {
    seq: 3,
    batch: 2,
    input: 5,
    hidden: 9,
    direction: 'bidirectional',
    initial: true,
  }),
  recurrentCase(
    'GRU',
    'pool-sized hidden 128, 20 steps',
    { seq: 20, batch: 1, input: 64, hidden: 128, tolerance: SUMS },
    { linear_before_reset: 1 },
  ),
];

// ---------------------------------------------------------------------------------------------
// Heddle's fused operators (src/backends/reference/kernels/fused-*.ts)

/** Every activation the fused linear operators take, with its activation_params. */
export const FUSED_ACTIVATIONS: readonly [name: string, params: number[]][] = [
  ['Relu', []],
  ['Clip', [0, 6]],
  ['LeakyRelu', [0.1]],
  ['HardSigmoid', [0.2, 0.5]],
  ['HardSwish', []],
  ['Sigmoid', []],
  ['Tanh', []],
  ['Gelu', []],
  ['FastGelu', []],
  ['SiLU', []],
];

function activationAttributes(name: string, params: number[]): CaseAttributes {
  return params.length > 0
    ? { activation: name, activation_params: { floats: params } }
    : { activation: name };
}

const fusedConvCase = heddleCasesOf('FusedConv');

const fusedConv: OpCase[] = [
  ...FUSED_ACTIVATIONS.map(([name, params]) =>
    fusedConvCase(
      `3x3 with ${name}`,
      [fed([1, 5, 7, 9], uniform(-2, 2)), constant([6, 5, 3, 3]), constant([6])],
      { ...convAttributes([3, 3], { pads: [1, 1, 1, 1] }), ...activationAttributes(name, params) },
    ),
  ),
  fusedConvCase(
    'no activation',
    [fed([1, 8, 5, 5]), constant([12, 8, 1, 1]), constant([12])],
    convAttributes([1, 1]),
  ),
  fusedConvCase(
    'depthwise stride 2 with Clip (MobileNet)',
    [fed([1, 24, 15, 15], uniform(-4, 8)), constant([24, 1, 3, 3]), constant([24])],
    {
      ...convAttributes([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], group: 24 }),
      ...activationAttributes('Clip', [0, 6]),
    },
  ),
  fusedConvCase('1x1 without bias, Relu', [fed([2, 7, 3, 5]), constant([9, 7, 1, 1])], {
    ...convAttributes([1, 1]),
    ...activationAttributes('Relu', []),
  }),
  fusedConvCase(
    'pool-sized 3x3 64→64 on 14x14, Relu',
    [fed([1, 64, 14, 14]), constant([64, 64, 3, 3]), constant([64])],
    { ...convAttributes([3, 3], { pads: [1, 1, 1, 1] }), ...activationAttributes('Relu', []) },
    { tolerance: SUMS },
  ),
];

const fusedGemmCase = heddleCasesOf('FusedGemm');

const fusedGemm: OpCase[] = [
  fusedGemmCase('transB with bias and Relu', [fed([5, 12]), constant([9, 12]), null, constant([9])], {
    transB: 1,
    ...activationAttributes('Relu', []),
  }),
  fusedGemmCase(
    'C and bias, alpha and beta, Gelu',
    [fed([4, 6]), constant([6, 11]), constant([4, 11]), constant([11])],
    { alpha: float(0.5), beta: float(2), ...activationAttributes('Gelu', []) },
  ),
  fusedGemmCase('C only, LeakyRelu', [fed([3, 10]), constant([7, 10]), constant([7])], {
    transB: 1,
    ...activationAttributes('LeakyRelu', [0.01]),
  }),
  fusedGemmCase(
    'pool-sized 64x256 · (128x256)ᵀ, Tanh',
    [fed([64, 256]), constant([128, 256], uniform(-0.1, 0.1)), null, constant([128])],
    { transB: 1, ...activationAttributes('Tanh', []) },
    { tolerance: SUMS },
  ),
];

const fusedMatMulCase = heddleCasesOf('FusedMatMul');

const fusedMatMul: OpCase[] = [
  fusedMatMulCase(
    'batched with bias and Gelu',
    [fed([2, 5, 12]), constant([12, 20]), constant([20])],
    activationAttributes('Gelu', []),
  ),
  fusedMatMulCase('bias only', [fed([3, 7]), constant([7, 9]), constant([9])]),
  fusedMatMulCase('no bias, SiLU', [fed([6, 9]), constant([9, 13])], activationAttributes('SiLU', [])),
  fusedMatMulCase(
    'pool-sized 1x64x256 · 256x1024, FastGelu',
    [fed([1, 64, 256]), constant([256, 1024], uniform(-0.1, 0.1)), constant([1024])],
    activationAttributes('FastGelu', []),
    { tolerance: SUMS },
  ),
];

/** An ElementwiseChain program: instructions as [op, operands, attributes?]. */
function chain(
  program: readonly [op: string, operands: number[], attributes?: Record<string, number>][],
): CaseAttributes {
  const owners: number[] = [];
  const names: string[] = [];
  const values: number[] = [];
  program.forEach(([, , attributes = {}], j) => {
    for (const [name, value] of Object.entries(attributes)) {
      owners.push(j);
      names.push(name);
      values.push(value);
    }
  });
  return {
    ops: { strings: program.map(([op]) => op) },
    operand_counts: program.map(([, operands]) => operands.length),
    operands: program.flatMap(([, operands]) => operands),
    ...(owners.length > 0 && {
      attribute_owners: owners,
      attribute_names: { strings: names },
      attribute_values: { floats: values },
    }),
  };
}

const elementwiseChainCase = heddleCasesOf('ElementwiseChain');

const elementwiseChain: OpCase[] = [
  elementwiseChainCase(
    'x·a + b, Relu',
    [fed([3, 19]), constant([19]), constant([3, 1])],
    chain([
      ['Mul', [0, 1]],
      ['Add', [3, 2]],
      ['Relu', [4]],
    ]),
  ),
  elementwiseChainCase(
    'per-channel scale and shift (BatchNorm), LeakyRelu',
    [fed([2, 6, 5, 7]), constant([6, 1, 1]), constant([6, 1, 1])],
    chain([
      ['Mul', [0, 1]],
      ['Add', [3, 2]],
      ['LeakyRelu', [4], { alpha: 0.1 }],
    ]),
  ),
  elementwiseChainCase(
    'Gelu decomposed (x·0.5·(1 + erf(x/√2)))',
    [fed([4, 33], uniform(-4, 4)), floats([Math.SQRT2], []), floats([1], []), floats([0.5], [])],
    chain([
      ['Div', [0, 1]],
      ['Erf', [4]],
      ['Add', [5, 2]],
      ['Mul', [0, 6]],
      ['Mul', [7, 3]],
    ]),
  ),
  elementwiseChainCase(
    'Clip with an omitted bound, then Sigmoid',
    [fed([5, 9], uniform(-6, 6)), floats([-2], [])],
    chain([
      ['Clip', [0, 1, -1]],
      ['Sigmoid', [2]],
    ]),
  ),
  elementwiseChainCase(
    'Where, Sub, Pow, Max',
    [
      { dims: [4, 1], type: 'bool', values: { kind: 'ints', low: 0, high: 1 } },
      fed([4, 6], uniform(1, 3)),
      fed([6], uniform(0, 0.5)),
      floats([2], []),
    ],
    chain([
      ['Sub', [1, 2]],
      ['Pow', [4, 3]],
      ['Where', [0, 5, 1]],
      ['Max', [6, 2]],
    ]),
  ),
  elementwiseChainCase(
    'broadcast both ways, HardSwish and Tanh',
    [fed([3, 1, 5]), fed([1, 4, 5])],
    chain([
      ['Add', [0, 1]],
      ['HardSwish', [2]],
      ['Tanh', [3]],
    ]),
  ),
  elementwiseChainCase(
    'special values',
    [fed([2, 15], SPECIAL), floats([-2], [])],
    chain([
      ['Mul', [0, 1]],
      ['Abs', [2]],
      ['Sqrt', [3]],
    ]),
  ),
  elementwiseChainCase(
    'pool-sized residual add and Relu',
    [fed([1, 64, 28, 28]), fed([1, 64, 28, 28])],
    chain([
      ['Add', [0, 1]],
      ['Relu', [2]],
    ]),
  ),
];

const heddleLayerNormalizationCase = heddleCasesOf('LayerNormalization', 'com.heddle LayerNormalization');
const heddleRmsNormalizationCase = heddleCasesOf('RMSNormalization', 'com.heddle RMSNormalization');
const addLayerNormalizationCase = heddleCasesOf('AddLayerNormalization');
const heddleGeluCase = heddleCasesOf('Gelu', 'com.heddle Gelu');
const attentionCase = heddleCasesOf('Attention');

const fusedTransformer: OpCase[] = [
  heddleLayerNormalizationCase('scale and bias', [
    fed([2, 7, 48], uniform(-2, 3)),
    constant([48]),
    constant([48]),
  ]),
  heddleLayerNormalizationCase('ragged, epsilon, no bias', [fed([5, 37]), constant([37])], {
    epsilon: float(1e-3),
  }),
  heddleLayerNormalizationCase('no scale or bias', [fed([4, 20])]),
  heddleLayerNormalizationCase('pool-sized 256x256', [fed([2, 128, 256]), constant([256]), constant([256])]),
  addLayerNormalizationCase(
    'residual sum written out',
    [fed([2, 7, 48], uniform(-2, 3)), fed([2, 7, 48]), constant([48]), constant([48])],
    {},
    { outputs: ['float32', 'float32'] },
  ),
  addLayerNormalizationCase(
    'sum not wanted, ragged rows, epsilon',
    [fed([5, 37]), fed([5, 37]), constant([37])],
    {
      epsilon: float(1e-3),
    },
  ),
  addLayerNormalizationCase(
    'pool-sized BERT residual 2x128x256',
    [fed([2, 128, 256]), fed([2, 128, 256]), constant([256]), constant([256])],
    {},
    { outputs: ['float32', 'float32'] },
  ),
  addLayerNormalizationCase(
    'A and B of different dims',
    [fed([2, 7, 48]), fed([7, 48]), constant([48]), constant([48])],
    {},
    { fails: 'A and B must have the same dims, got [2, 7, 48] and [7, 48]' },
  ),
  heddleRmsNormalizationCase('scale', [fed([2, 7, 48]), constant([48])]),
  heddleRmsNormalizationCase('ragged, epsilon', [fed([3, 29]), constant([29])], { epsilon: float(1e-6) }),
  heddleGeluCase('erf form', [fed([3, 37], uniform(-5, 5))]),
  heddleGeluCase('tanh form', [fed([3, 37], uniform(-5, 5))], { approximate: 'tanh' }),
  heddleGeluCase('special values', [fed([2, 15], SPECIAL)]),
  heddleGeluCase('tanh form, special values', [fed([2, 15], SPECIAL)], { approximate: 'tanh' }),
  heddleGeluCase('pool-sized', [fed([128, 1024], uniform(-5, 5))]),
  attentionCase(
    'Kᵀ stored, mask over keys',
    [fed([2, 4, 7, 16]), fed([2, 4, 9, 16]), fed([2, 4, 9, 16]), fed([2, 1, 1, 9], uniform(-3, 0))],
    { scale: float(0.25), transpose_k: 1 },
  ),
  attentionCase('K already transposed, no mask', [fed([2, 3, 5, 8]), fed([2, 3, 8, 6]), fed([2, 3, 6, 8])], {
    scale: float(0.3),
  }),
  attentionCase(
    'causal mask broadcast over batch and heads',
    [
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      constant([6, 6], { kind: 'values', values: causalMask(6) }),
    ],
    { scale: float(0.125), transpose_k: 1 },
  ),
  attentionCase('rank 3, heads broadcast', [fed([3, 4, 10]), fed([1, 5, 10]), fed([1, 5, 7])], {
    scale: float(0.5),
    transpose_k: 1,
  }),
  attentionCase(
    'ragged head size and key length, full mask',
    [fed([2, 3, 5, 13]), fed([2, 3, 11, 13]), fed([2, 3, 11, 7]), fed([2, 3, 5, 11], uniform(-2, 0))],
    { scale: float(0.3), transpose_k: 1 },
  ),
  attentionCase(
    '2-D mask over queries and keys',
    [fed([1, 2, 7, 8]), fed([1, 2, 9, 8]), fed([1, 2, 9, 8]), fed([7, 9], uniform(-4, 0))],
    { scale: float(0.2), transpose_k: 1 },
  ),
  attentionCase(
    'one query (decoding)',
    [fed([1, 4, 1, 64]), fed([1, 4, 37, 64]), fed([1, 4, 37, 64])],
    { scale: float(0.125), transpose_k: 1 },
    { tolerance: SUMS },
  ),
  attentionCase(
    'pool-sized BERT layer 2x4x128x64',
    [fed([2, 4, 128, 64]), fed([2, 4, 128, 64]), fed([2, 4, 128, 64]), fed([2, 1, 1, 128])],
    { scale: float(0.125), transpose_k: 1 },
    { tolerance: SUMS },
  ),
  attentionCase(
    "select, GPT's causal keep mask, fill -inf",
    [
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      { ...bools([6, 6]), values: { kind: 'values', values: causalKeep(6) }, constant: true },
    ],
    { scale: float(0.125), transpose_k: 1, mask_mode: 'select', mask_fill: float(-Infinity) },
  ),
  attentionCase(
    'BSNH: heads read in place, mask over keys',
    [fed([2, 7, 3, 16]), fed([2, 9, 3, 16]), fed([2, 9, 3, 8]), fed([2, 1, 1, 9], uniform(-3, 0))],
    { scale: float(0.25), transpose_k: 1, qkv_layout: 'BSNH' },
  ),
  attentionCase(
    'BSNH: ragged sizes, full mask',
    [fed([1, 5, 2, 13]), fed([1, 11, 2, 13]), fed([1, 11, 2, 7]), fed([1, 2, 5, 11], uniform(-2, 0))],
    { scale: float(0.3), transpose_k: 1, qkv_layout: 'BSNH' },
  ),
  attentionCase(
    "BSNH packed QKV: GPT's causal keep mask",
    [fed([2, 6, 3 * 2 * 8]), null, null, bools([6, 6])],
    {
      scale: float(0.35),
      transpose_k: 1,
      qkv_layout: 'BSNH',
      packed_heads: 2,
      mask_mode: 'select',
      mask_fill: float(-Infinity),
    },
  ),
  attentionCase(
    'BSNH packed QKV, pool-sized GPT layer 1x64x(3x4x64)',
    [fed([1, 64, 768]), null, null],
    { scale: float(0.125), transpose_k: 1, qkv_layout: 'BSNH', packed_heads: 4 },
    { tolerance: SUMS },
  ),
  attentionCase(
    'packed QKV that does not split into the heads',
    [fed([1, 6, 40]), null, null],
    { scale: float(0.5), transpose_k: 1, qkv_layout: 'BSNH', packed_heads: 2 },
    { fails: 'a packed QKV input of dims [1, 6, 40] does not split into 3 × 2 heads' },
  ),
  attentionCase(
    'select, bool mask over keys, finite fill',
    [fed([2, 4, 7, 16]), fed([2, 4, 9, 16]), fed([2, 4, 9, 16]), bools([2, 1, 1, 9])],
    { scale: float(0.25), transpose_k: 1, mask_mode: 'select', mask_fill: float(-1e9) },
  ),
  attentionCase(
    'select, bool mask per query row, K already transposed',
    [fed([2, 3, 5, 8]), fed([2, 3, 8, 6]), fed([2, 3, 6, 8]), bools([2, 3, 5, 1])],
    { scale: float(0.3), mask_mode: 'select', mask_fill: float(-2) },
  ),
  attentionCase(
    'select, ragged full bool mask, infinite and NaN scores',
    [
      fed([2, 3, 5, 13]),
      fed([2, 3, 11, 13], { kind: 'values', values: keysWithSpecialScores(11, 13) }),
      fed([2, 3, 11, 7]),
      bools([2, 3, 5, 11]),
    ],
    { scale: float(0.3), transpose_k: 1, mask_mode: 'select', mask_fill: float(-Infinity) },
  ),
  attentionCase(
    'select, bool mask broadcasting the batch, NaN fill',
    [fed([2, 1, 7, 8]), fed([2, 1, 9, 8]), fed([2, 1, 9, 8]), bools([3, 2, 1, 7, 9])],
    { scale: float(0.2), transpose_k: 1, mask_mode: 'select', mask_fill: float(NaN) },
  ),
  attentionCase(
    'select mode refuses a float mask',
    [fed([1, 2, 4, 8]), fed([1, 2, 4, 8]), fed([1, 2, 4, 8]), fed([4, 4])],
    { scale: float(0.5), transpose_k: 1, mask_mode: 'select' },
    { fails: "a 'select' mask must be bool" },
  ),
];

/** 0 on and below the diagonal, a large negative number above it. */
function causalMask(size: number): number[] {
  return Array.from({ length: size * size }, (_, i) => (i % size > Math.floor(i / size) ? -1e9 : 0));
}

/**
 * A [keys, depth] K (cycled over every head) whose first key has an infinite element and whose
 * key 7 a NaN: their scores are ±Infinity and NaN, which a select mask must drop where it masks
 * them (adding -Infinity would leave NaN). The other elements are small, so no score overflows
 * float32 where the reference's float64 would not.
 */
function keysWithSpecialScores(keys: number, depth: number): number[] {
  return Array.from({ length: keys * depth }, (_, i) =>
    i === 0 ? Infinity : i === 7 * depth + 3 ? NaN : ((i * 37) % 19) / 9.5 - 1,
  );
}

/** 1 (keep) on and below the diagonal, 0 above it: the bool form of causalMask. */
function causalKeep(size: number): number[] {
  return Array.from({ length: size * size }, (_, i) => +(i % size <= Math.floor(i / size)));
}

// ---------------------------------------------------------------------------------------------
// Other element types, which a float32 kernel must leave to reference, and aliased inputs

/** An operand of `type` with integers in [low, high]. */
function typed(type: DataType, dims: readonly number[], low = -9, high = 9): Operand {
  return { dims, type, values: { kind: 'ints', low, high } };
}

const mulCase = casesOf('Mul', 14);
const divCase = casesOf('Div', 14);
const absCase = casesOf('Abs', 13);
const negCase = casesOf('Neg', 13);
const reluCase = casesOf('Relu', 14);
const sigmoidCase = casesOf('Sigmoid', 13);
const softmaxCase = casesOf('Softmax', 13);

const otherTypes: OpCase[] = [
  addCase('int32', [typed('int32', [3, 17]), typed('int32', [17])], {}, { outputs: ['int32'] }),
  mulCase('int64', [typed('int64', [4, 5]), typed('int64', [4, 5])], {}, { outputs: ['int64'] }),
  divCase('int32 truncates', [typed('int32', [20]), typed('int32', [20], 1, 7)], {}, { outputs: ['int32'] }),
  maxCase('int32', [typed('int32', [6]), typed('int32', [2, 6])], {}, { outputs: ['int32'] }),
  absCase('int32', [typed('int32', [9])], {}, { outputs: ['int32'] }),
  negCase('int64', [typed('int64', [9])], {}, { outputs: ['int64'] }),
  reluCase('int32', [typed('int32', [3, 5])], {}, { outputs: ['int32'] }),
  addCase('float64', [typed('float64', [3, 4]), typed('float64', [4])], {}, { outputs: ['float64'] }),
  sigmoidCase('float64', [typed('float64', [7])], {}, { outputs: ['float64'] }),
  addCase('float16', [typed('float16', [3, 4]), typed('float16', [4])], {}, { outputs: ['float16'] }),
  whereCase(
    'int64 branches',
    [bools([2, 3]), typed('int64', [2, 3]), typed('int64', [3])],
    {},
    { outputs: ['int64'] },
  ),
  clipCase(
    'int32 bounds',
    [
      typed('int32', [10]),
      { ...typed('int32', [], -2, -2), constant: true },
      { ...typed('int32', [], 3, 3), constant: true },
    ],
    {},
    { outputs: ['int32'] },
  ),
  matMulCase('float64', [typed('float64', [3, 5]), typed('float64', [5, 4])], {}, { outputs: ['float64'] }),
  matMulCase('int32', [typed('int32', [3, 5]), typed('int32', [5, 4])], {}, { outputs: ['int32'] }),
  convCase(
    'float64',
    [typed('float64', [1, 2, 5, 5]), typed('float64', [3, 2, 3, 3])],
    { kernel_shape: [3, 3] },
    { outputs: ['float64'] },
  ),
  maxPoolCase(
    'uint8',
    [typed('uint8', [1, 2, 4, 5], 0, 255)],
    { kernel_shape: [2, 2] },
    { outputs: ['uint8'] },
  ),
  softmaxCase('float64', [typed('float64', [3, 6])], {}, { outputs: ['float64'] }),
  transposeCase('int64', [typed('int64', [3, 4, 5])], { perm: [1, 0, 2] }, { outputs: ['int64'] }),
  transposeCase(
    'uint8',
    [typed('uint8', [1, 3, 5, 7], 0, 255)],
    { perm: [0, 2, 3, 1] },
    { outputs: ['uint8'] },
  ),
  transposeCase('bool', [bools([4, 6])], {}, { outputs: ['bool'] }),
  transposeCase('float16', [typed('float16', [3, 5])], {}, { outputs: ['float16'] }),
  concatCase(
    'int64 (shapes)',
    [typed('int64', [2]), { ...typed('int64', [3]), constant: true }],
    { axis: 0 },
    { outputs: ['int64'] },
  ),
  concatCase('bool', [bools([2, 3]), bools([2, 2])], { axis: 1 }, { outputs: ['bool'] }),
  gatherCase('int64 data', [typed('int64', [6, 3]), indices([4], 0, 5)], {}, { outputs: ['int64'] }),
  gatherCase(
    'uint8 data',
    [typed('uint8', [2, 9], 0, 255), indices([5], 0, 8)],
    { axis: 1 },
    { outputs: ['uint8'] },
  ),
  sliceCase(
    'int32',
    [typed('int32', [5, 6]), int64s([1]), int64s([5]), int64s([1]), int64s([2])],
    {},
    { outputs: ['int32'] },
  ),
  padCase(
    'int64 with a value',
    [typed('int64', [2, 3]), int64s([1, 0, 0, 2]), { ...typed('int64', [], 7, 7), constant: true }],
    {},
    { outputs: ['int64'] },
  ),
  splitCase('int64', [typed('int64', [4])], { axis: 0 }, { outputs: ['int64', 'int64'] }),
  expandCase('bool', [bools([3, 1]), int64s([3, 4])], {}, { outputs: ['bool'] }),
  resizeCase(
    'uint8 nearest',
    [typed('uint8', [1, 1, 3, 4], 0, 255), null, floats([1, 1, 2, 2])],
    { mode: 'nearest' },
    { opset: 13, outputs: ['uint8'] },
  ),
];

/** `count` fed operands of `dims`. */
function many(count: number, dims: readonly number[]): Operand[] {
  return Array.from({ length: count }, () => fed(dims));
}

/** Empty tensors, many operands, rank 7: the limits of what a generated loop is handed. */
const limits: OpCase[] = [
  matMulCase('K = 0 gives zeros', [fed([3, 0]), fed([0, 4])]),
  gemmCase('K = 0 gives beta·C', [fed([3, 0]), fed([0, 4]), constant([4])], { beta: float(0.5) }),
  reluCase('empty', [fed([0, 5])]),
  addCase('empty broadcast', [fed([0, 5]), fed([5])]),
  softmaxCase('no rows', [fed([0, 7])]),
  transposeCase('empty', [fed([3, 0, 2])]),
  maxPoolCase('empty batch', [fed([0, 3, 4, 4])], { kernel_shape: [2, 2] }),
  convCase('empty batch', [fed([0, 2, 5, 5]), constant([4, 2, 3, 3])], { kernel_shape: [3, 3] }),
  layerNormalizationCase('no rows', [fed([0, 8]), constant([8]), constant([8])]),
  concatCase('twenty inputs', many(20, [3, 2]), { axis: 1 }),
  sumCase('twenty inputs', many(20, [4, 5])),
  maxCase('twenty inputs', many(20, [4, 5])),
  splitCase(
    'twenty outputs',
    [fed([20, 3])],
    { axis: 0, num_outputs: 20 },
    { opset: 18, outputs: new Array<DataType>(20).fill('float32') },
  ),
  transposeCase('rank 7', [fed([2, 3, 2, 2, 3, 2, 3])], { perm: [6, 0, 5, 1, 4, 2, 3] }),
  addCase('rank 7 broadcast', [fed([2, 1, 3, 1, 2, 1, 3]), fed([3, 1, 2, 2, 1])]),
  sliceCase('rank 7', [
    fed([2, 3, 2, 4, 3, 2, 5]),
    int64s([1, 1, 0]),
    int64s([3, 4, 4]),
    int64s([1, 3, 6]),
    int64s([1, 2, 3]),
  ]),
  padCase('rank 7', [fed([2, 1, 2, 1, 2, 1, 3]), int64s([0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 2])]),
  sliceCase('negative steps on two axes', [
    fed([6, 7, 5]),
    int64s([-1, 5]),
    int64s([-7, 0]),
    int64s([0, 1]),
    int64s([-2, -3]),
  ]),
  reluCase('1-D, 2^18 + 3 elements', [fed([262147])]),
];

const aliased: OpCase[] = [
  mulCase('one input twice (x · x)', [fed([5, 9]), { sameAs: 0 }]),
  matMulCase('A · A', [fed([12, 12]), { sameAs: 0 }]),
  attentionCase(
    'self-attention with Q, K and V one tensor',
    [fed([1, 2, 9, 16]), { sameAs: 0 }, { sameAs: 0 }],
    { scale: float(0.25), transpose_k: 1 },
  ),
  concatCase('one input twice', [fed([3, 4]), { sameAs: 0 }], { axis: 1 }),
];

export const OP_CASES: readonly OpCase[] = [
  ...matmul,
  ...gemm,
  ...conv,
  ...convTranspose,
  ...pools,
  ...unary,
  ...clip,
  ...binary,
  ...variadic,
  ...softmax,
  ...normalization,
  ...reductions,
  ...argReductions,
  ...transpose,
  ...gather,
  ...concat,
  ...split,
  ...slice,
  ...pad,
  ...resizes,
  ...shapes,
  ...rnns,
  ...fusedConv,
  ...fusedGemm,
  ...fusedMatMul,
  ...elementwiseChain,
  ...fusedTransformer,
  ...otherTypes,
  ...limits,
  ...aliased,
];
