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

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Attributes as buildModel takes them, plus STRINGS attributes (which it cannot write). */
export type CaseAttributes = Record<
  string,
  NonNullable<NodeSpec['attributes']>[string] | { strings: string[] }
>;

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

// ---------------------------------------------------------------------------------------------
// Products: MatMul, Gemm

const matmul: OpCase[] = [
  { name: 'MatMul: square 8x8', op: 'MatMul', opset: 13, inputs: [fed([8, 8]), fed([8, 8])] },
  { name: 'MatMul: ragged 5x7 · 7x9, both fed', op: 'MatMul', opset: 13, inputs: [fed([5, 7]), fed([7, 9])] },
  {
    name: 'MatMul: ragged 13x29 · constant 29x31',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([13, 29]), constant([29, 31])],
  },
  {
    name: 'MatMul: one row 1x64 · 64x50',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([1, 64]), constant([64, 50])],
  },
  { name: 'MatMul: K = 1 (outer product)', op: 'MatMul', opset: 13, inputs: [fed([6, 1]), fed([1, 10])] },
  { name: 'MatMul: N = 1 (one column)', op: 'MatMul', opset: 13, inputs: [fed([17, 33]), constant([33, 1])] },
  { name: 'MatMul: 1-D A', op: 'MatMul', opset: 13, inputs: [fed([7]), constant([7, 5])] },
  { name: 'MatMul: 1-D B', op: 'MatMul', opset: 13, inputs: [fed([4, 7]), fed([7])] },
  { name: 'MatMul: 1-D · 1-D', op: 'MatMul', opset: 13, inputs: [fed([11]), fed([11])] },
  {
    name: 'MatMul: batched 3-D A · constant 2-D B',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([2, 5, 12]), constant([12, 19])],
  },
  {
    name: 'MatMul: 4-D broadcast over batch (attention scores)',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([2, 3, 5, 8]), fed([1, 3, 8, 6])],
  },
  {
    name: 'MatMul: A broadcast over B batch',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([1, 4, 9]), fed([3, 9, 10])],
  },
  { name: 'MatMul: empty M', op: 'MatMul', opset: 13, inputs: [fed([0, 5]), constant([5, 3])] },
  {
    name: 'MatMul: long K',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([3, 700]), constant([700, 5])],
    tolerance: SUMS,
  },
  {
    name: 'MatMul: pool-sized 67x96 · constant 96x83',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([67, 96]), constant([96, 83])],
    tolerance: SUMS,
  },
  {
    name: 'MatMul: pool-sized batched 4x33x64 · 4x64x47',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([4, 33, 64]), fed([4, 64, 47])],
    tolerance: SUMS,
  },
  { name: 'MatMul: opset 1', op: 'MatMul', opset: 1, inputs: [fed([3, 4]), constant([4, 6])] },
  {
    name: 'MatMul: deep K, blocked',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([9, 2001], uniform(-0.5, 0.5)), constant([2001, 19], uniform(-0.5, 0.5))],
    tolerance: SUMS,
  },
  {
    name: 'MatMul: batch dims broadcast both ways',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([2, 1, 5, 8]), fed([1, 3, 8, 6])],
  },
  {
    name: 'MatMul: a wide head (3x256 · 256x5003)',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([3, 256], uniform(-0.5, 0.5)), constant([256, 5003], uniform(-0.5, 0.5))],
    tolerance: SUMS,
  },
  {
    name: 'MatMul: tall and thin (1000x3 · 3x2)',
    op: 'MatMul',
    opset: 13,
    inputs: [fed([1000, 3]), constant([3, 2])],
  },
];

const gemm: OpCase[] = [
  {
    name: 'Gemm: A·B + C along rows',
    op: 'Gemm',
    opset: 13,
    inputs: [fed([5, 7]), constant([7, 9]), constant([9])],
  },
  {
    name: 'Gemm: transB with constant B (a linear layer)',
    op: 'Gemm',
    opset: 13,
    attributes: { transB: 1 },
    inputs: [fed([6, 10]), constant([12, 10]), constant([12])],
  },
  {
    name: 'Gemm: transA',
    op: 'Gemm',
    opset: 13,
    attributes: { transA: 1 },
    inputs: [fed([7, 5]), fed([7, 9]), constant([5, 9])],
  },
  {
    name: 'Gemm: transA and transB, alpha and beta',
    op: 'Gemm',
    opset: 13,
    attributes: { transA: 1, transB: 1, alpha: float(0.5), beta: float(2) },
    inputs: [fed([7, 5]), constant([9, 7]), fed([5, 9])],
  },
  {
    name: 'Gemm: scalar C',
    op: 'Gemm',
    opset: 13,
    inputs: [fed([4, 3]), constant([3, 6]), constant([1])],
  },
  {
    name: 'Gemm: C as a column',
    op: 'Gemm',
    opset: 13,
    inputs: [fed([4, 3]), constant([3, 6]), constant([4, 1])],
  },
  { name: 'Gemm: no C', op: 'Gemm', opset: 13, inputs: [fed([9, 13]), constant([13, 11])] },
  {
    name: 'Gemm: pool-sized linear layer 64x128 · (96x128)ᵀ',
    op: 'Gemm',
    opset: 13,
    attributes: { transB: 1 },
    inputs: [fed([64, 128]), constant([96, 128]), constant([96])],
    tolerance: SUMS,
  },
  {
    name: 'Gemm: opset 9, C broadcast',
    op: 'Gemm',
    opset: 9,
    attributes: { beta: float(0.5) },
    inputs: [fed([3, 5]), constant([5, 4]), constant([4])],
  },
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

const conv: OpCase[] = [
  {
    name: 'Conv: 1x1 with bias',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([1, 1]),
    inputs: [fed([1, 16, 7, 9]), constant([24, 16, 1, 1]), constant([24])],
  },
  {
    name: 'Conv: 3x3 pad 1',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    inputs: [fed([1, 3, 10, 11]), constant([8, 3, 3, 3]), constant([8])],
  },
  {
    name: 'Conv: 3x3 stride 2 pad 1, batch 2, ragged',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }),
    inputs: [fed([2, 5, 13, 9]), constant([7, 5, 3, 3]), constant([7])],
  },
  {
    name: 'Conv: 7x7 stride 2 pad 3 (a ResNet stem)',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([7, 7], { strides: [2, 2], pads: [3, 3, 3, 3] }),
    inputs: [fed([1, 3, 32, 32]), constant([16, 3, 7, 7]), constant([16])],
    tolerance: SUMS,
  },
  {
    name: 'Conv: depthwise 3x3 pad 1',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1], group: 12 }),
    inputs: [fed([1, 12, 9, 10]), constant([12, 1, 3, 3]), constant([12])],
  },
  {
    name: 'Conv: depthwise 3x3 stride 2 pad 1',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], group: 32 }),
    inputs: [fed([1, 32, 15, 14]), constant([32, 1, 3, 3]), constant([32])],
  },
  {
    name: 'Conv: depthwise 5x5 with channel multiplier 2',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([5, 5], { pads: [2, 2, 2, 2], group: 6 }),
    inputs: [fed([1, 6, 8, 7]), constant([12, 1, 5, 5]), constant([12])],
  },
  {
    name: 'Conv: grouped (2 groups)',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { group: 2 }),
    inputs: [fed([1, 8, 6, 7]), constant([12, 4, 3, 3]), constant([12])],
  },
  {
    name: 'Conv: dilation 2',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { dilations: [2, 2], pads: [2, 2, 2, 2] }),
    inputs: [fed([1, 4, 12, 12]), constant([6, 4, 3, 3])],
  },
  {
    name: 'Conv: auto_pad SAME_UPPER stride 2',
    op: 'Conv',
    opset: 11,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' },
    inputs: [fed([1, 3, 8, 7]), constant([5, 3, 3, 3]), constant([5])],
  },
  {
    name: 'Conv: asymmetric pads',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [0, 1, 2, 1] }),
    inputs: [fed([1, 2, 6, 6]), constant([3, 2, 3, 3]), constant([3])],
  },
  {
    name: 'Conv: weights fed at run time, no bias',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    inputs: [fed([1, 4, 5, 6]), fed([5, 4, 3, 3])],
  },
  {
    name: 'Conv: 5x5 ragged channels',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([5, 5]),
    inputs: [fed([1, 6, 11, 13]), constant([10, 6, 5, 5]), constant([10])],
  },
  {
    name: 'Conv: rectangular 1x3 kernel',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([1, 3], { pads: [0, 1, 0, 1] }),
    inputs: [fed([1, 5, 4, 9]), constant([6, 5, 1, 3]), constant([6])],
  },
  {
    name: 'Conv: 1-D',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([5], { pads: [2, 2] }),
    inputs: [fed([1, 4, 20]), constant([6, 4, 5]), constant([6])],
  },
  {
    name: 'Conv: pool-sized 1x1 64→64 on 28x28',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([1, 1]),
    inputs: [fed([1, 64, 28, 28]), constant([64, 64, 1, 1]), constant([64])],
    tolerance: SUMS,
  },
  {
    name: 'Conv: pool-sized 3x3 32→48 on 20x19',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    inputs: [fed([1, 32, 20, 19]), constant([48, 32, 3, 3]), constant([48])],
    tolerance: SUMS,
  },
  {
    name: 'Conv: pool-sized depthwise 3x3 on 96x28x28',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1], group: 96 }),
    inputs: [fed([1, 96, 28, 28]), constant([96, 1, 3, 3]), constant([96])],
  },
  {
    name: 'Conv: pool-sized 3x3 32→32 on 40x40 (in chunks)',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    inputs: [fed([1, 32, 40, 40]), constant([32, 32, 3, 3], uniform(-0.2, 0.2)), constant([32])],
    tolerance: SUMS,
  },
  {
    name: 'Conv: deep K 3x3x160',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3]),
    inputs: [fed([1, 160, 5, 6], uniform(-0.5, 0.5)), constant([9, 160, 3, 3], uniform(-0.5, 0.5))],
    tolerance: SUMS,
  },
  {
    name: 'Conv: 1x1 stride 2 (a ResNet downsample)',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([1, 1], { strides: [2, 2] }),
    inputs: [fed([1, 16, 9, 11]), constant([24, 16, 1, 1])],
  },
  {
    name: 'Conv: 1x1 with padding',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([1, 1], { pads: [1, 0, 1, 2] }),
    inputs: [fed([1, 4, 3, 5]), constant([6, 4, 1, 1]), constant([6])],
  },
  {
    name: 'Conv: kernel as large as the input',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([5, 4]),
    inputs: [fed([2, 3, 5, 4]), constant([7, 3, 5, 4]), constant([7])],
  },
  {
    name: 'Conv: auto_pad SAME_LOWER, stride 2, dilation 2',
    op: 'Conv',
    opset: 11,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], dilations: [2, 2], auto_pad: 'SAME_LOWER' },
    inputs: [fed([1, 3, 11, 10]), constant([4, 3, 3, 3])],
  },
  {
    name: 'Conv: auto_pad VALID',
    op: 'Conv',
    opset: 11,
    attributes: { kernel_shape: [3, 3], auto_pad: 'VALID' },
    inputs: [fed([1, 3, 6, 7]), constant([4, 3, 3, 3])],
  },
  {
    name: 'Conv: depthwise 3x3 dilation 2 stride 2',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3, 3], { strides: [2, 2], dilations: [2, 2], pads: [2, 2, 2, 2], group: 10 }),
    inputs: [fed([1, 10, 13, 12]), constant([10, 1, 3, 3]), constant([10])],
  },
  {
    name: 'Conv: depthwise 7x7 ragged plane',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([7, 7], { pads: [3, 3, 3, 3], group: 5 }),
    inputs: [fed([2, 5, 9, 3]), constant([5, 1, 7, 7])],
  },
  {
    name: 'Conv: depthwise 1-D',
    op: 'Conv',
    opset: 11,
    attributes: convAttributes([3], { pads: [1, 1], group: 6 }),
    inputs: [fed([1, 6, 17]), constant([6, 1, 3]), constant([6])],
  },
  {
    name: 'Conv: opset 1',
    op: 'Conv',
    opset: 1,
    attributes: convAttributes([3, 3], { pads: [1, 1, 1, 1] }),
    inputs: [fed([1, 2, 5, 5]), constant([3, 2, 3, 3]), constant([3])],
  },
];

const convTranspose: OpCase[] = [
  {
    name: 'ConvTranspose: 3x3 stride 2 pad 1 output_padding 1',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] },
    inputs: [fed([1, 4, 5, 6]), constant([4, 6, 3, 3]), constant([6])],
  },
  {
    name: 'ConvTranspose: 2x2 stride 2 (upsampling)',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [2, 2], strides: [2, 2] },
    inputs: [fed([1, 8, 7, 7]), constant([8, 4, 2, 2])],
  },
  {
    name: 'ConvTranspose: 2 groups',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [3, 3], group: 2 },
    inputs: [fed([1, 4, 5, 5]), constant([4, 3, 3, 3]), constant([6])],
  },
  {
    name: 'ConvTranspose: output_shape',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], output_shape: [10, 8] },
    inputs: [fed([1, 3, 5, 4]), constant([3, 2, 3, 3])],
  },
  {
    name: 'ConvTranspose: dilation 2',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [3, 3], dilations: [2, 2] },
    inputs: [fed([1, 2, 4, 5]), constant([2, 3, 3, 3]), constant([3])],
  },
  {
    name: 'ConvTranspose: 1-D',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [4], strides: [2], pads: [1, 1] },
    inputs: [fed([2, 3, 9]), constant([3, 5, 4]), constant([5])],
  },
  {
    name: 'ConvTranspose: pool-sized 4x4 stride 2 32→16',
    op: 'ConvTranspose',
    opset: 11,
    attributes: { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1] },
    inputs: [fed([1, 32, 14, 13]), constant([32, 16, 4, 4]), constant([16])],
    tolerance: SUMS,
  },
];

const pools: OpCase[] = [
  {
    name: 'MaxPool: 2x2 stride 2',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [2, 2], strides: [2, 2] },
    inputs: [fed([1, 5, 8, 9])],
  },
  {
    name: 'MaxPool: 3x3 stride 2 pad 1 (a ResNet stem)',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    inputs: [fed([2, 6, 13, 11])],
  },
  {
    name: 'MaxPool: ceil_mode',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
    inputs: [fed([1, 3, 10, 9])],
  },
  {
    name: 'MaxPool: dilations',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [2, 2], dilations: [2, 2] },
    inputs: [fed([1, 2, 7, 7])],
  },
  {
    name: 'MaxPool: special values',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [2, 2], strides: [1, 1] },
    inputs: [fed([1, 2, 5, 6], SPECIAL)],
  },
  {
    name: 'MaxPool: with indices',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [2, 2], strides: [2, 2] },
    inputs: [fed([1, 3, 6, 6])],
    outputs: ['float32', 'int64'],
  },
  {
    name: 'MaxPool: 1-D',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [3], strides: [2], pads: [1, 1] },
    inputs: [fed([2, 4, 15])],
  },
  {
    name: 'MaxPool: pool-sized 3x3 stride 2 on 64x56x56',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
    inputs: [fed([1, 64, 56, 56])],
  },
  {
    name: 'AveragePool: 3x3 pad 1, pads not counted',
    op: 'AveragePool',
    opset: 11,
    attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] },
    inputs: [fed([1, 4, 7, 9])],
  },
  {
    name: 'AveragePool: 3x3 pad 1, pads counted',
    op: 'AveragePool',
    opset: 11,
    attributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 },
    inputs: [fed([1, 4, 7, 9])],
  },
  {
    name: 'AveragePool: 2x2 stride 2 ceil_mode',
    op: 'AveragePool',
    opset: 11,
    attributes: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
    inputs: [fed([2, 3, 7, 5])],
  },
  {
    name: 'AveragePool: pool-sized 2x2 on 64x28x28',
    op: 'AveragePool',
    opset: 11,
    attributes: { kernel_shape: [2, 2], strides: [2, 2] },
    inputs: [fed([1, 64, 28, 28])],
  },
  { name: 'GlobalAveragePool: 64x7x7', op: 'GlobalAveragePool', opset: 1, inputs: [fed([1, 64, 7, 7])] },
  {
    name: 'GlobalAveragePool: ragged 2x5x3x1',
    op: 'GlobalAveragePool',
    opset: 1,
    inputs: [fed([2, 5, 3, 1])],
  },
  {
    name: 'GlobalAveragePool: pool-sized 512x14x14',
    op: 'GlobalAveragePool',
    opset: 1,
    inputs: [fed([1, 512, 14, 14])],
  },
  { name: 'GlobalMaxPool: 13x6x5', op: 'GlobalMaxPool', opset: 1, inputs: [fed([2, 13, 6, 5])] },
  {
    name: 'GlobalMaxPool: special values',
    op: 'GlobalMaxPool',
    opset: 1,
    inputs: [fed([1, 3, 6, 1], SPECIAL)],
  },
  { name: 'GlobalMaxPool: 1-D', op: 'GlobalMaxPool', opset: 1, inputs: [fed([2, 4, 11])] },
  { name: 'GlobalAveragePool: 1-D', op: 'GlobalAveragePool', opset: 1, inputs: [fed([2, 4, 11])] },
  {
    name: 'GlobalMaxPool: pool-sized 512x14x14',
    op: 'GlobalMaxPool',
    opset: 1,
    inputs: [fed([1, 512, 14, 14])],
  },
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

const clip: OpCase[] = [
  {
    name: 'Clip: opset 6 attributes',
    op: 'Clip',
    opset: 6,
    attributes: { min: float(-0.5), max: float(0.25) },
    inputs: [fed([4, 9])],
  },
  {
    name: 'Clip: bounds as inputs (ReLU6)',
    op: 'Clip',
    opset: 13,
    inputs: [fed([3, 17], uniform(-3, 9)), floats([0], []), floats([6], [])],
  },
  { name: 'Clip: min only', op: 'Clip', opset: 13, inputs: [fed([3, 17]), floats([-0.3], [])] },
  { name: 'Clip: max only', op: 'Clip', opset: 13, inputs: [fed([3, 17]), null, floats([0.3], [])] },
  { name: 'Clip: no bounds', op: 'Clip', opset: 13, inputs: [fed([3, 17])] },
  {
    name: 'Clip: special values',
    op: 'Clip',
    opset: 13,
    inputs: [fed([2, 15], SPECIAL), floats([-1], []), floats([1], [])],
  },
  {
    name: 'Clip: pool-sized',
    op: 'Clip',
    opset: 13,
    inputs: [fed([16, 4099], uniform(-3, 9)), floats([0], []), floats([6], [])],
  },
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

const variadic: OpCase[] = [
  { name: 'Max: three inputs', op: 'Max', opset: 13, inputs: [fed([3, 8]), fed([8]), fed([3, 1])] },
  { name: 'Min: three inputs', op: 'Min', opset: 13, inputs: [fed([3, 8]), fed([8]), fed([3, 1])] },
  { name: 'Sum: three inputs', op: 'Sum', opset: 13, inputs: [fed([3, 8]), fed([8]), fed([3, 1])] },
  { name: 'Mean: three inputs', op: 'Mean', opset: 13, inputs: [fed([3, 8]), fed([8]), fed([3, 1])] },
  { name: 'Sum: one input', op: 'Sum', opset: 13, inputs: [fed([4, 7])] },
  { name: 'Mean: two inputs, constant', op: 'Mean', opset: 13, inputs: [fed([5, 6]), constant([6])] },
  { name: 'Sum: pool-sized', op: 'Sum', opset: 13, inputs: [fed([16, 4099]), fed([16, 4099])] },
  {
    name: 'Mean: pool-sized, four inputs',
    op: 'Mean',
    opset: 13,
    inputs: [fed([8, 4099]), fed([8, 4099]), fed([4099]), fed([8, 1])],
  },
  { name: 'Max: one input', op: 'Max', opset: 13, inputs: [fed([5])] },
  {
    name: 'Add: opset 6 legacy broadcast',
    op: 'Add',
    opset: 6,
    attributes: { broadcast: 1, axis: 1 },
    inputs: [fed([2, 3, 4, 5]), constant([3, 4])],
  },
  {
    name: 'Where: broadcast condition',
    op: 'Where',
    opset: 16,
    inputs: [bools([4, 1]), fed([4, 9]), fed([9])],
  },
  { name: 'Where: same dims', op: 'Where', opset: 16, inputs: [bools([3, 11]), fed([3, 11]), fed([3, 11])] },
  {
    name: 'Where: broadcast every way',
    op: 'Where',
    opset: 16,
    inputs: [bools([1, 5, 1]), fed([3, 1, 6]), constant([1, 6])],
  },
  {
    name: 'Where: scalar branches',
    op: 'Where',
    opset: 16,
    inputs: [bools([6, 7]), floats([2], []), fed([])],
  },
  {
    name: 'Where: special values',
    op: 'Where',
    opset: 16,
    inputs: [bools([2, 18]), fed([2, 18], SPECIAL), fed([18], SPECIAL)],
  },
  { name: 'Where: opset 9', op: 'Where', opset: 9, inputs: [bools([5]), fed([2, 5]), fed([5])] },
  {
    name: 'Where: pool-sized',
    op: 'Where',
    opset: 16,
    inputs: [bools([16, 4099]), fed([16, 4099]), fed([16, 4099])],
  },
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

const normalization: OpCase[] = [
  {
    name: 'LayerNormalization: last axis, scale and bias',
    op: 'LayerNormalization',
    opset: 17,
    inputs: [fed([2, 5, 32], uniform(-3, 5)), constant([32]), constant([32])],
  },
  {
    name: 'LayerNormalization: ragged row, no bias',
    op: 'LayerNormalization',
    opset: 17,
    attributes: { epsilon: float(1e-3) },
    inputs: [fed([7, 37]), constant([37])],
  },
  {
    name: 'LayerNormalization: axis -2',
    op: 'LayerNormalization',
    opset: 17,
    attributes: { axis: -2 },
    inputs: [fed([3, 4, 6]), constant([4, 6]), constant([4, 6])],
  },
  {
    name: 'LayerNormalization: constant rows',
    op: 'LayerNormalization',
    opset: 17,
    inputs: [fed([3, 8], { kind: 'values', values: [2] }), constant([8]), constant([8])],
  },
  {
    name: 'LayerNormalization: pool-sized 256x256',
    op: 'LayerNormalization',
    opset: 17,
    inputs: [fed([256, 256]), constant([256]), constant([256])],
  },
  {
    name: 'RMSNormalization: last axis',
    op: 'RMSNormalization',
    opset: 23,
    inputs: [fed([2, 5, 24]), constant([24])],
  },
  {
    name: 'RMSNormalization: axis -2, epsilon',
    op: 'RMSNormalization',
    opset: 23,
    attributes: { axis: -2, epsilon: float(1e-3) },
    inputs: [fed([3, 7, 5]), constant([7, 5])],
  },
  {
    name: 'RMSNormalization: pool-sized 128x512',
    op: 'RMSNormalization',
    opset: 23,
    inputs: [fed([128, 512]), constant([512])],
  },
  ...[15, 9].map((opset): OpCase => ({
    name: `BatchNormalization: opset ${opset}`,
    op: 'BatchNormalization',
    opset,
    inputs: [fed([2, 6, 5, 5]), ...batchNormParameters(6)],
  })),
  {
    name: 'BatchNormalization: rank 2',
    op: 'BatchNormalization',
    opset: 15,
    inputs: [fed([7, 13]), ...batchNormParameters(13)],
  },
  {
    name: 'BatchNormalization: 1-D spatial, epsilon',
    op: 'BatchNormalization',
    opset: 15,
    attributes: { epsilon: float(1e-2) },
    inputs: [fed([2, 5, 9]), ...batchNormParameters(5)],
  },
  {
    name: 'BatchNormalization: pool-sized 64x28x28',
    op: 'BatchNormalization',
    opset: 15,
    inputs: [fed([1, 64, 28, 28]), ...batchNormParameters(64)],
  },
  {
    name: 'InstanceNormalization: 3 channels',
    op: 'InstanceNormalization',
    opset: 6,
    inputs: [fed([2, 3, 4, 5]), constant([3]), constant([3])],
  },
  {
    name: 'InstanceNormalization: ragged plane, epsilon',
    op: 'InstanceNormalization',
    opset: 6,
    attributes: { epsilon: float(1e-2) },
    inputs: [fed([1, 5, 7, 3], uniform(-2, 6)), constant([5]), constant([5])],
  },
  {
    name: 'InstanceNormalization: pool-sized 32x28x28',
    op: 'InstanceNormalization',
    opset: 6,
    inputs: [fed([1, 32, 28, 28]), constant([32]), constant([32])],
  },
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

const transpose: OpCase[] = [
  { name: 'Transpose: 2-D default perm', op: 'Transpose', opset: 13, inputs: [fed([5, 7])] },
  {
    name: 'Transpose: NCHW to NHWC',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [0, 2, 3, 1] },
    inputs: [fed([2, 3, 4, 5])],
  },
  {
    name: 'Transpose: NHWC to NCHW',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [0, 3, 1, 2] },
    inputs: [fed([2, 4, 5, 3])],
  },
  {
    name: 'Transpose: heads split (0, 2, 1, 3)',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [0, 2, 1, 3] },
    inputs: [fed([2, 9, 4, 16])],
  },
  {
    name: 'Transpose: unit axis moved',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [2, 0, 1] },
    inputs: [fed([7, 1, 9])],
  },
  {
    name: 'Transpose: identity perm',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [0, 1, 2] },
    inputs: [fed([3, 4, 5])],
  },
  {
    name: 'Transpose: 6-D',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [5, 3, 1, 0, 2, 4] },
    inputs: [fed([2, 3, 2, 3, 2, 5])],
  },
  { name: 'Transpose: pool-sized 67x1025', op: 'Transpose', opset: 13, inputs: [fed([67, 1025])] },
  {
    name: 'Transpose: pool-sized 4-D',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [0, 2, 3, 1] },
    inputs: [fed([1, 64, 28, 27])],
  },
];

const gather: OpCase[] = [
  {
    name: 'Gather: embedding rows',
    op: 'Gather',
    opset: 13,
    inputs: [constant([50, 16]), indices([2, 7], 0, 49)],
  },
  {
    name: 'Gather: negative indices',
    op: 'Gather',
    opset: 13,
    inputs: [constant([20, 5]), indices([6], -20, 19)],
  },
  {
    name: 'Gather: axis 1',
    op: 'Gather',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([4, 10, 6]), indices([3], 0, 9)],
  },
  {
    name: 'Gather: last axis, 2-D indices',
    op: 'Gather',
    opset: 13,
    attributes: { axis: -1 },
    inputs: [fed([3, 11]), indices([2, 2], 0, 10)],
  },
  {
    name: 'Gather: scalar index',
    op: 'Gather',
    opset: 13,
    inputs: [fed([5, 8]), { dims: [], type: 'int64', values: { kind: 'values', values: [3] } }],
  },
  {
    name: 'Gather: int32 indices',
    op: 'Gather',
    opset: 13,
    inputs: [constant([30, 12]), indices([5], 0, 29, 'int32')],
  },
  {
    name: 'Gather: constant indices',
    op: 'Gather',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([2, 9, 3]), int64s([8, 0, 4])],
  },
  {
    name: 'Gather: an index past the end fails',
    op: 'Gather',
    opset: 13,
    inputs: [
      constant([50, 16]),
      { dims: [3], type: 'int64', values: { kind: 'values', values: [3, 50, 1] } },
    ],
    fails: 'index 50 is out of range for axis 0 of size 50',
  },
  {
    name: 'Gather: a negative index before the start fails',
    op: 'Gather',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([2, 7]), { dims: [2], type: 'int32', values: { kind: 'values', values: [-8, 0] } }],
    fails: 'index -8 is out of range for axis 1 of size 7',
  },
  {
    name: 'Gather: pool-sized embedding 5000x256',
    op: 'Gather',
    opset: 13,
    inputs: [constant([5000, 256]), indices([2, 64], 0, 4999)],
  },
];

const concat: OpCase[] = [
  {
    name: 'Concat: axis 1',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([2, 3, 5]), fed([2, 4, 5])],
  },
  {
    name: 'Concat: last axis, three inputs of ragged widths',
    op: 'Concat',
    opset: 13,
    attributes: { axis: -1 },
    inputs: [fed([3, 1]), fed([3, 7]), fed([3, 13])],
  },
  {
    name: 'Concat: axis 0 with a constant',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 0 },
    inputs: [fed([2, 6]), constant([3, 6])],
  },
  {
    name: 'Concat: an empty input',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 0 },
    inputs: [fed([0, 4]), fed([3, 4])],
  },
  { name: 'Concat: 1-D', op: 'Concat', opset: 13, attributes: { axis: 0 }, inputs: [fed([5]), fed([9])] },
  { name: 'Concat: one input', op: 'Concat', opset: 13, attributes: { axis: 0 }, inputs: [fed([5, 2])] },
  {
    name: 'Concat: pool-sized channels',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([1, 64, 28, 28]), fed([1, 32, 28, 28])],
  },
  {
    name: 'Concat: opset 4',
    op: 'Concat',
    opset: 4,
    attributes: { axis: 1 },
    inputs: [fed([2, 3]), fed([2, 2])],
  },
];

const split: OpCase[] = [
  {
    name: 'Split: equal halves',
    op: 'Split',
    opset: 13,
    attributes: { axis: 0 },
    inputs: [fed([6, 5])],
    outputs: ['float32', 'float32'],
  },
  {
    name: 'Split: sizes as an input',
    op: 'Split',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([4, 10]), int64s([3, 7])],
    outputs: ['float32', 'float32'],
  },
  {
    name: 'Split: num_outputs, uneven',
    op: 'Split',
    opset: 18,
    attributes: { axis: -1, num_outputs: 3 },
    inputs: [fed([2, 7])],
    outputs: ['float32', 'float32', 'float32'],
  },
  {
    name: 'Split: opset 11 attribute',
    op: 'Split',
    opset: 11,
    attributes: { axis: 1, split: [1, 2, 3] },
    inputs: [fed([2, 6, 3])],
    outputs: ['float32', 'float32', 'float32'],
  },
  {
    name: 'Split: pool-sized qkv',
    op: 'Split',
    opset: 13,
    attributes: { axis: -1 },
    inputs: [fed([128, 768])],
    outputs: ['float32', 'float32', 'float32'],
  },
];

const slice: OpCase[] = [
  {
    name: 'Slice: starts, ends and axes',
    op: 'Slice',
    opset: 13,
    inputs: [fed([5, 9]), int64s([1, 2]), int64s([4, 8]), int64s([0, 1])],
  },
  {
    name: 'Slice: step 2 on the last axis',
    op: 'Slice',
    opset: 13,
    inputs: [fed([3, 11]), int64s([1]), int64s([11]), int64s([1]), int64s([2])],
  },
  {
    name: 'Slice: negative step',
    op: 'Slice',
    opset: 13,
    inputs: [fed([4, 7]), int64s([-1]), int64s([-1000]), int64s([1]), int64s([-1])],
  },
  {
    name: 'Slice: axes omitted, ends beyond the end',
    op: 'Slice',
    opset: 13,
    inputs: [fed([6, 5, 4]), int64s([2, 0, 1]), int64s([1000000, 3, -1])],
  },
  {
    name: 'Slice: empty result',
    op: 'Slice',
    opset: 13,
    inputs: [fed([4, 6]), int64s([3]), int64s([3]), int64s([1])],
  },
  {
    name: 'Slice: opset 1 attributes',
    op: 'Slice',
    opset: 1,
    attributes: { starts: [0, 1], ends: [2, 4], axes: [0, 2] },
    inputs: [fed([3, 4, 5])],
  },
  {
    name: 'Slice: pool-sized',
    op: 'Slice',
    opset: 13,
    inputs: [fed([1, 64, 56, 56]), int64s([1, 3]), int64s([55, 50]), int64s([2, 3])],
  },
];

const pad: OpCase[] = [
  {
    name: 'Pad: constant value',
    op: 'Pad',
    opset: 13,
    inputs: [fed([2, 3, 4]), int64s([0, 1, 2, 0, 2, 1]), floats([0.5], [])],
  },
  {
    name: 'Pad: zeros by default (conv padding)',
    op: 'Pad',
    opset: 13,
    inputs: [fed([1, 3, 5, 6]), int64s([0, 0, 1, 1, 0, 0, 1, 1])],
  },
  {
    name: 'Pad: reflect',
    op: 'Pad',
    opset: 13,
    attributes: { mode: 'reflect' },
    inputs: [fed([3, 5]), int64s([1, 2, 2, 3])],
  },
  {
    name: 'Pad: edge',
    op: 'Pad',
    opset: 13,
    attributes: { mode: 'edge' },
    inputs: [fed([3, 5]), int64s([2, 0, 1, 4])],
  },
  {
    name: 'Pad: negative pads crop',
    op: 'Pad',
    opset: 13,
    inputs: [fed([4, 6]), int64s([-1, 2, 0, -3])],
  },
  {
    name: 'Pad: opset 2 attributes',
    op: 'Pad',
    opset: 2,
    attributes: { pads: [1, 0, 0, 2], value: float(-1) },
    inputs: [fed([2, 3])],
  },
  {
    name: 'Pad: opset 18 axes',
    op: 'Pad',
    opset: 18,
    inputs: [fed([2, 3, 4]), int64s([1, 2]), null, int64s([-1])],
  },
  {
    name: 'Pad: opset 19 wrap',
    op: 'Pad',
    opset: 19,
    attributes: { mode: 'wrap' },
    inputs: [fed([3, 4]), int64s([1, 1, 2, 3])],
  },
  {
    name: 'Pad: pool-sized',
    op: 'Pad',
    opset: 13,
    inputs: [fed([1, 64, 28, 28]), int64s([0, 0, 1, 2, 0, 0, 2, 1])],
  },
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
  return {
    name: `Resize: ${what}`,
    op: 'Resize',
    opset: options.opset ?? 13,
    attributes,
    inputs: [fed(dims), roi, ...last],
  };
}

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
  {
    name: 'Resize: opset 10',
    op: 'Resize',
    opset: 10,
    attributes: { mode: 'linear' },
    inputs: [fed([1, 2, 3, 4]), floats([1, 1, 2, 1.5])],
  },
  {
    name: 'Resize: opset 11 with roi',
    op: 'Resize',
    opset: 11,
    attributes: { mode: 'nearest' },
    inputs: [fed([1, 1, 4, 4]), floats([]), floats([1, 1, 2, 2])],
  },
  {
    name: 'Upsample: opset 9 nearest',
    op: 'Upsample',
    opset: 9,
    attributes: { mode: 'nearest' },
    inputs: [fed([1, 2, 3, 3]), floats([1, 1, 2, 2])],
  },
  {
    name: 'Upsample: opset 9 linear',
    op: 'Upsample',
    opset: 9,
    attributes: { mode: 'linear' },
    inputs: [fed([1, 2, 4, 3]), floats([1, 1, 2, 3])],
  },
  {
    name: 'Upsample: opset 7 scales attribute',
    op: 'Upsample',
    opset: 7,
    attributes: { mode: 'nearest', scales: { floats: [1, 1, 3, 2] } },
    inputs: [fed([1, 3, 2, 4])],
  },
  {
    name: 'Upsample: pool-sized nearest ×2',
    op: 'Upsample',
    opset: 9,
    attributes: { mode: 'nearest' },
    inputs: [fed([1, 64, 28, 28]), floats([1, 1, 2, 2])],
  },
];

const shapes: OpCase[] = [
  { name: 'Reshape: flatten rows', op: 'Reshape', opset: 14, inputs: [fed([2, 3, 4]), int64s([6, -1])] },
  { name: 'Flatten: axis 1', op: 'Flatten', opset: 13, attributes: { axis: 1 }, inputs: [fed([2, 3, 4, 5])] },
  { name: 'Unsqueeze: two axes', op: 'Unsqueeze', opset: 13, inputs: [fed([3, 4]), int64s([0, 3])] },
  { name: 'Squeeze: unit axes', op: 'Squeeze', opset: 13, inputs: [fed([1, 3, 1, 4]), int64s([0, 2])] },
  { name: 'Expand: broadcast rows', op: 'Expand', opset: 13, inputs: [fed([3, 1]), int64s([2, 3, 5])] },
  {
    name: 'Expand: shape of ones keeps dims',
    op: 'Expand',
    opset: 13,
    inputs: [fed([2, 4]), int64s([1, 1])],
  },
  {
    name: 'Expand: per channel to planes',
    op: 'Expand',
    opset: 8,
    inputs: [fed([1, 6, 1, 1]), int64s([2, 6, 5, 7])],
  },
  {
    name: 'Expand: pool-sized',
    op: 'Expand',
    opset: 13,
    inputs: [fed([1, 64, 1, 28]), int64s([2, 64, 28, 28])],
  },
  { name: 'Identity: copy', op: 'Identity', opset: 16, inputs: [fed([4, 5])] },
  { name: 'Tile: repeats', op: 'Tile', opset: 13, inputs: [fed([2, 3]), int64s([2, 3])] },
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

const lstmOutputs: DataType[] = ['float32', 'float32', 'float32'];
const gruOutputs: DataType[] = ['float32', 'float32'];

const rnns: OpCase[] = [
  {
    name: 'LSTM: forward',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 16 },
    inputs: recurrent('LSTM', { seq: 5, batch: 2, input: 8, hidden: 16, directions: 1, initial: false }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: bidirectional with initial state, ragged sizes',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 13, direction: 'bidirectional' },
    inputs: recurrent('LSTM', { seq: 4, batch: 3, input: 7, hidden: 13, directions: 2, initial: true }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: reverse, batch 1',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 8, direction: 'reverse' },
    inputs: recurrent('LSTM', { seq: 6, batch: 1, input: 5, hidden: 8, directions: 1, initial: false }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: pool-sized hidden 128, 20 steps',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 128 },
    inputs: recurrent('LSTM', { seq: 20, batch: 1, input: 64, hidden: 128, directions: 1, initial: false }),
    outputs: lstmOutputs,
    tolerance: SUMS,
  },
  {
    name: 'LSTM: opset 7',
    op: 'LSTM',
    opset: 7,
    attributes: { hidden_size: 6 },
    inputs: recurrent('LSTM', { seq: 3, batch: 2, input: 4, hidden: 6, directions: 1, initial: false }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: sequence_lens',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 8, direction: 'bidirectional' },
    inputs: recurrent('LSTM', {
      seq: 5,
      batch: 3,
      input: 4,
      hidden: 8,
      directions: 2,
      initial: true,
      lengths: [5, 2, 4],
    }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: peepholes',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 7 },
    inputs: recurrent('LSTM', {
      seq: 4,
      batch: 2,
      input: 5,
      hidden: 7,
      directions: 1,
      initial: true,
      peepholes: true,
    }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: clip',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 6, clip: float(0.3) },
    inputs: recurrent('LSTM', { seq: 4, batch: 2, input: 5, hidden: 6, directions: 1, initial: false }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: input_forget',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 6, input_forget: 1 },
    inputs: recurrent('LSTM', { seq: 4, batch: 2, input: 5, hidden: 6, directions: 1, initial: true }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: layout 1 (batch first)',
    op: 'LSTM',
    opset: 14,
    attributes: { hidden_size: 6, layout: 1 },
    inputs: recurrent('LSTM', {
      seq: 3,
      batch: 4,
      input: 5,
      hidden: 6,
      directions: 1,
      initial: true,
      batchFirst: true,
    }),
    outputs: lstmOutputs,
  },
  {
    name: 'LSTM: other activations',
    op: 'LSTM',
    opset: 14,
    attributes: {
      hidden_size: 6,
      activations: { strings: ['HardSigmoid', 'Tanh', 'Relu'] },
      activation_alpha: { floats: [0.3] },
      activation_beta: { floats: [0.4] },
    },
    inputs: recurrent('LSTM', { seq: 4, batch: 2, input: 5, hidden: 6, directions: 1, initial: false }),
    outputs: lstmOutputs,
  },
  {
    name: 'GRU: sequence_lens',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 7 },
    inputs: recurrent('GRU', {
      seq: 5,
      batch: 3,
      input: 4,
      hidden: 7,
      directions: 1,
      initial: true,
      lengths: [1, 5, 3],
    }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: clip',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 5, clip: float(0.5) },
    inputs: recurrent('GRU', { seq: 3, batch: 2, input: 4, hidden: 5, directions: 1, initial: false }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: layout 1 (batch first)',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 6, layout: 1, direction: 'reverse' },
    inputs: recurrent('GRU', {
      seq: 3,
      batch: 2,
      input: 5,
      hidden: 6,
      directions: 1,
      initial: true,
      batchFirst: true,
    }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: other activations',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 6, activations: { strings: ['Sigmoid', 'Relu'] } },
    inputs: recurrent('GRU', { seq: 4, batch: 2, input: 5, hidden: 6, directions: 1, initial: false }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: forward',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 16 },
    inputs: recurrent('GRU', { seq: 5, batch: 2, input: 8, hidden: 16, directions: 1, initial: false }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: linear_before_reset',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 12, linear_before_reset: 1 },
    inputs: recurrent('GRU', { seq: 4, batch: 3, input: 7, hidden: 12, directions: 1, initial: true }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: bidirectional, ragged sizes',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 9, direction: 'bidirectional' },
    inputs: recurrent('GRU', { seq: 3, batch: 2, input: 5, hidden: 9, directions: 2, initial: true }),
    outputs: gruOutputs,
  },
  {
    name: 'GRU: pool-sized hidden 128, 20 steps',
    op: 'GRU',
    opset: 14,
    attributes: { hidden_size: 128, linear_before_reset: 1 },
    inputs: recurrent('GRU', { seq: 20, batch: 1, input: 64, hidden: 128, directions: 1, initial: false }),
    outputs: gruOutputs,
    tolerance: SUMS,
  },
];

// ---------------------------------------------------------------------------------------------
// Heddle's fused operators (src/backends/reference/kernels/fused-*.ts)

/** Every activation the fused linear operators take, with its activation_params. */
const FUSED_ACTIVATIONS: readonly [name: string, params: number[]][] = [
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

const fusedConv: OpCase[] = [
  ...FUSED_ACTIVATIONS.map(([name, params]): OpCase => ({
    name: `FusedConv: 3x3 with ${name}`,
    op: 'FusedConv',
    domain: HEDDLE,
    attributes: { ...convAttributes([3, 3], { pads: [1, 1, 1, 1] }), ...activationAttributes(name, params) },
    inputs: [fed([1, 5, 7, 9], uniform(-2, 2)), constant([6, 5, 3, 3]), constant([6])],
  })),
  {
    name: 'FusedConv: no activation',
    op: 'FusedConv',
    domain: HEDDLE,
    attributes: convAttributes([1, 1]),
    inputs: [fed([1, 8, 5, 5]), constant([12, 8, 1, 1]), constant([12])],
  },
  {
    name: 'FusedConv: depthwise stride 2 with Clip (MobileNet)',
    op: 'FusedConv',
    domain: HEDDLE,
    attributes: {
      ...convAttributes([3, 3], { strides: [2, 2], pads: [1, 1, 1, 1], group: 24 }),
      ...activationAttributes('Clip', [0, 6]),
    },
    inputs: [fed([1, 24, 15, 15], uniform(-4, 8)), constant([24, 1, 3, 3]), constant([24])],
  },
  {
    name: 'FusedConv: 1x1 without bias, Relu',
    op: 'FusedConv',
    domain: HEDDLE,
    attributes: { ...convAttributes([1, 1]), ...activationAttributes('Relu', []) },
    inputs: [fed([2, 7, 3, 5]), constant([9, 7, 1, 1])],
  },
  {
    name: 'FusedConv: pool-sized 3x3 64→64 on 14x14, Relu',
    op: 'FusedConv',
    domain: HEDDLE,
    attributes: { ...convAttributes([3, 3], { pads: [1, 1, 1, 1] }), ...activationAttributes('Relu', []) },
    inputs: [fed([1, 64, 14, 14]), constant([64, 64, 3, 3]), constant([64])],
    tolerance: SUMS,
  },
];

const fusedGemm: OpCase[] = [
  {
    name: 'FusedGemm: transB with bias and Relu',
    op: 'FusedGemm',
    domain: HEDDLE,
    attributes: { transB: 1, ...activationAttributes('Relu', []) },
    inputs: [fed([5, 12]), constant([9, 12]), null, constant([9])],
  },
  {
    name: 'FusedGemm: C and bias, alpha and beta, Gelu',
    op: 'FusedGemm',
    domain: HEDDLE,
    attributes: { alpha: float(0.5), beta: float(2), ...activationAttributes('Gelu', []) },
    inputs: [fed([4, 6]), constant([6, 11]), constant([4, 11]), constant([11])],
  },
  {
    name: 'FusedGemm: C only, LeakyRelu',
    op: 'FusedGemm',
    domain: HEDDLE,
    attributes: { transB: 1, ...activationAttributes('LeakyRelu', [0.01]) },
    inputs: [fed([3, 10]), constant([7, 10]), constant([7])],
  },
  {
    name: 'FusedGemm: pool-sized 64x256 · (128x256)ᵀ, Tanh',
    op: 'FusedGemm',
    domain: HEDDLE,
    attributes: { transB: 1, ...activationAttributes('Tanh', []) },
    inputs: [fed([64, 256]), constant([128, 256], uniform(-0.1, 0.1)), null, constant([128])],
    tolerance: SUMS,
  },
];

const fusedMatMul: OpCase[] = [
  {
    name: 'FusedMatMul: batched with bias and Gelu',
    op: 'FusedMatMul',
    domain: HEDDLE,
    attributes: activationAttributes('Gelu', []),
    inputs: [fed([2, 5, 12]), constant([12, 20]), constant([20])],
  },
  {
    name: 'FusedMatMul: bias only',
    op: 'FusedMatMul',
    domain: HEDDLE,
    inputs: [fed([3, 7]), constant([7, 9]), constant([9])],
  },
  {
    name: 'FusedMatMul: no bias, SiLU',
    op: 'FusedMatMul',
    domain: HEDDLE,
    attributes: activationAttributes('SiLU', []),
    inputs: [fed([6, 9]), constant([9, 13])],
  },
  {
    name: 'FusedMatMul: pool-sized 1x64x256 · 256x1024, FastGelu',
    op: 'FusedMatMul',
    domain: HEDDLE,
    attributes: activationAttributes('FastGelu', []),
    inputs: [fed([1, 64, 256]), constant([256, 1024], uniform(-0.1, 0.1)), constant([1024])],
    tolerance: SUMS,
  },
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

const elementwiseChain: OpCase[] = [
  {
    name: 'ElementwiseChain: x·a + b, Relu',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Mul', [0, 1]],
      ['Add', [3, 2]],
      ['Relu', [4]],
    ]),
    inputs: [fed([3, 19]), constant([19]), constant([3, 1])],
  },
  {
    name: 'ElementwiseChain: per-channel scale and shift (BatchNorm), LeakyRelu',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Mul', [0, 1]],
      ['Add', [3, 2]],
      ['LeakyRelu', [4], { alpha: 0.1 }],
    ]),
    inputs: [fed([2, 6, 5, 7]), constant([6, 1, 1]), constant([6, 1, 1])],
  },
  {
    name: 'ElementwiseChain: Gelu decomposed (x·0.5·(1 + erf(x/√2)))',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Div', [0, 1]],
      ['Erf', [4]],
      ['Add', [5, 2]],
      ['Mul', [0, 6]],
      ['Mul', [7, 3]],
    ]),
    inputs: [fed([4, 33], uniform(-4, 4)), floats([Math.SQRT2], []), floats([1], []), floats([0.5], [])],
  },
  {
    name: 'ElementwiseChain: Clip with an omitted bound, then Sigmoid',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Clip', [0, 1, -1]],
      ['Sigmoid', [2]],
    ]),
    inputs: [fed([5, 9], uniform(-6, 6)), floats([-2], [])],
  },
  {
    name: 'ElementwiseChain: Where, Sub, Pow, Max',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Sub', [1, 2]],
      ['Pow', [4, 3]],
      ['Where', [0, 5, 1]],
      ['Max', [6, 2]],
    ]),
    inputs: [
      { dims: [4, 1], type: 'bool', values: { kind: 'ints', low: 0, high: 1 } },
      fed([4, 6], uniform(1, 3)),
      fed([6], uniform(0, 0.5)),
      floats([2], []),
    ],
  },
  {
    name: 'ElementwiseChain: broadcast both ways, HardSwish and Tanh',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Add', [0, 1]],
      ['HardSwish', [2]],
      ['Tanh', [3]],
    ]),
    inputs: [fed([3, 1, 5]), fed([1, 4, 5])],
  },
  {
    name: 'ElementwiseChain: special values',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Mul', [0, 1]],
      ['Abs', [2]],
      ['Sqrt', [3]],
    ]),
    inputs: [fed([2, 15], SPECIAL), floats([-2], [])],
  },
  {
    name: 'ElementwiseChain: pool-sized residual add and Relu',
    op: 'ElementwiseChain',
    domain: HEDDLE,
    attributes: chain([
      ['Add', [0, 1]],
      ['Relu', [2]],
    ]),
    inputs: [fed([1, 64, 28, 28]), fed([1, 64, 28, 28])],
  },
];

const fusedTransformer: OpCase[] = [
  {
    name: 'com.heddle LayerNormalization: scale and bias',
    op: 'LayerNormalization',
    domain: HEDDLE,
    inputs: [fed([2, 7, 48], uniform(-2, 3)), constant([48]), constant([48])],
  },
  {
    name: 'com.heddle LayerNormalization: ragged, epsilon, no bias',
    op: 'LayerNormalization',
    domain: HEDDLE,
    attributes: { epsilon: float(1e-3) },
    inputs: [fed([5, 37]), constant([37])],
  },
  {
    name: 'com.heddle LayerNormalization: no scale or bias',
    op: 'LayerNormalization',
    domain: HEDDLE,
    inputs: [fed([4, 20])],
  },
  {
    name: 'com.heddle LayerNormalization: pool-sized 256x256',
    op: 'LayerNormalization',
    domain: HEDDLE,
    inputs: [fed([2, 128, 256]), constant([256]), constant([256])],
  },
  {
    name: 'com.heddle RMSNormalization: scale',
    op: 'RMSNormalization',
    domain: HEDDLE,
    inputs: [fed([2, 7, 48]), constant([48])],
  },
  {
    name: 'com.heddle RMSNormalization: ragged, epsilon',
    op: 'RMSNormalization',
    domain: HEDDLE,
    attributes: { epsilon: float(1e-6) },
    inputs: [fed([3, 29]), constant([29])],
  },
  {
    name: 'com.heddle Gelu: erf form',
    op: 'Gelu',
    domain: HEDDLE,
    inputs: [fed([3, 37], uniform(-5, 5))],
  },
  {
    name: 'com.heddle Gelu: tanh form',
    op: 'Gelu',
    domain: HEDDLE,
    attributes: { approximate: 'tanh' },
    inputs: [fed([3, 37], uniform(-5, 5))],
  },
  {
    name: 'com.heddle Gelu: special values',
    op: 'Gelu',
    domain: HEDDLE,
    inputs: [fed([2, 15], SPECIAL)],
  },
  {
    name: 'com.heddle Gelu: tanh form, special values',
    op: 'Gelu',
    domain: HEDDLE,
    attributes: { approximate: 'tanh' },
    inputs: [fed([2, 15], SPECIAL)],
  },
  {
    name: 'com.heddle Gelu: pool-sized',
    op: 'Gelu',
    domain: HEDDLE,
    inputs: [fed([128, 1024], uniform(-5, 5))],
  },
  {
    name: 'Attention: Kᵀ stored, mask over keys',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.25), transpose_k: 1 },
    inputs: [fed([2, 4, 7, 16]), fed([2, 4, 9, 16]), fed([2, 4, 9, 16]), fed([2, 1, 1, 9], uniform(-3, 0))],
  },
  {
    name: 'Attention: K already transposed, no mask',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.3) },
    inputs: [fed([2, 3, 5, 8]), fed([2, 3, 8, 6]), fed([2, 3, 6, 8])],
  },
  {
    name: 'Attention: causal mask broadcast over batch and heads',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.125), transpose_k: 1 },
    inputs: [
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      constant([6, 6], { kind: 'values', values: causalMask(6) }),
    ],
  },
  {
    name: 'Attention: rank 3, heads broadcast',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.5), transpose_k: 1 },
    inputs: [fed([3, 4, 10]), fed([1, 5, 10]), fed([1, 5, 7])],
  },
  {
    name: 'Attention: ragged head size and key length, full mask',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.3), transpose_k: 1 },
    inputs: [fed([2, 3, 5, 13]), fed([2, 3, 11, 13]), fed([2, 3, 11, 7]), fed([2, 3, 5, 11], uniform(-2, 0))],
  },
  {
    name: 'Attention: 2-D mask over queries and keys',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.2), transpose_k: 1 },
    inputs: [fed([1, 2, 7, 8]), fed([1, 2, 9, 8]), fed([1, 2, 9, 8]), fed([7, 9], uniform(-4, 0))],
  },
  {
    name: 'Attention: one query (decoding)',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.125), transpose_k: 1 },
    inputs: [fed([1, 4, 1, 64]), fed([1, 4, 37, 64]), fed([1, 4, 37, 64])],
    tolerance: SUMS,
  },
  {
    name: 'Attention: pool-sized BERT layer 2x4x128x64',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.125), transpose_k: 1 },
    inputs: [fed([2, 4, 128, 64]), fed([2, 4, 128, 64]), fed([2, 4, 128, 64]), fed([2, 1, 1, 128])],
    tolerance: SUMS,
  },
  {
    name: "Attention: select, GPT's causal keep mask, fill -inf",
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.125), transpose_k: 1, mask_mode: 'select', mask_fill: float(-Infinity) },
    inputs: [
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      fed([1, 2, 6, 12]),
      { ...bools([6, 6]), values: { kind: 'values', values: causalKeep(6) }, constant: true },
    ],
  },
  {
    name: 'Attention: select, bool mask over keys, finite fill',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.25), transpose_k: 1, mask_mode: 'select', mask_fill: float(-1e9) },
    inputs: [fed([2, 4, 7, 16]), fed([2, 4, 9, 16]), fed([2, 4, 9, 16]), bools([2, 1, 1, 9])],
  },
  {
    name: 'Attention: select, bool mask per query row, K already transposed',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.3), mask_mode: 'select', mask_fill: float(-2) },
    inputs: [fed([2, 3, 5, 8]), fed([2, 3, 8, 6]), fed([2, 3, 6, 8]), bools([2, 3, 5, 1])],
  },
  {
    name: 'Attention: select, ragged full bool mask, infinite and NaN scores',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.3), transpose_k: 1, mask_mode: 'select', mask_fill: float(-Infinity) },
    inputs: [
      fed([2, 3, 5, 13]),
      fed([2, 3, 11, 13], { kind: 'values', values: keysWithSpecialScores(11, 13) }),
      fed([2, 3, 11, 7]),
      bools([2, 3, 5, 11]),
    ],
  },
  {
    name: 'Attention: select, bool mask broadcasting the batch, NaN fill',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.2), transpose_k: 1, mask_mode: 'select', mask_fill: float(NaN) },
    inputs: [fed([2, 1, 7, 8]), fed([2, 1, 9, 8]), fed([2, 1, 9, 8]), bools([3, 2, 1, 7, 9])],
  },
  {
    name: 'Attention: select mode refuses a float mask',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.5), transpose_k: 1, mask_mode: 'select' },
    inputs: [fed([1, 2, 4, 8]), fed([1, 2, 4, 8]), fed([1, 2, 4, 8]), fed([4, 4])],
    fails: "a 'select' mask must be bool",
  },
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

const otherTypes: OpCase[] = [
  {
    name: 'Add: int32',
    op: 'Add',
    opset: 14,
    inputs: [typed('int32', [3, 17]), typed('int32', [17])],
    outputs: ['int32'],
  },
  {
    name: 'Mul: int64',
    op: 'Mul',
    opset: 14,
    inputs: [typed('int64', [4, 5]), typed('int64', [4, 5])],
    outputs: ['int64'],
  },
  {
    name: 'Div: int32 truncates',
    op: 'Div',
    opset: 14,
    inputs: [typed('int32', [20]), typed('int32', [20], 1, 7)],
    outputs: ['int32'],
  },
  {
    name: 'Max: int32',
    op: 'Max',
    opset: 13,
    inputs: [typed('int32', [6]), typed('int32', [2, 6])],
    outputs: ['int32'],
  },
  { name: 'Abs: int32', op: 'Abs', opset: 13, inputs: [typed('int32', [9])], outputs: ['int32'] },
  { name: 'Neg: int64', op: 'Neg', opset: 13, inputs: [typed('int64', [9])], outputs: ['int64'] },
  { name: 'Relu: int32', op: 'Relu', opset: 14, inputs: [typed('int32', [3, 5])], outputs: ['int32'] },
  {
    name: 'Add: float64',
    op: 'Add',
    opset: 14,
    inputs: [typed('float64', [3, 4]), typed('float64', [4])],
    outputs: ['float64'],
  },
  {
    name: 'Sigmoid: float64',
    op: 'Sigmoid',
    opset: 13,
    inputs: [typed('float64', [7])],
    outputs: ['float64'],
  },
  {
    name: 'Add: float16',
    op: 'Add',
    opset: 14,
    inputs: [typed('float16', [3, 4]), typed('float16', [4])],
    outputs: ['float16'],
  },
  {
    name: 'Where: int64 branches',
    op: 'Where',
    opset: 16,
    inputs: [bools([2, 3]), typed('int64', [2, 3]), typed('int64', [3])],
    outputs: ['int64'],
  },
  {
    name: 'Clip: int32 bounds',
    op: 'Clip',
    opset: 13,
    inputs: [
      typed('int32', [10]),
      { ...typed('int32', [], -2, -2), constant: true },
      { ...typed('int32', [], 3, 3), constant: true },
    ],
    outputs: ['int32'],
  },
  {
    name: 'MatMul: float64',
    op: 'MatMul',
    opset: 13,
    inputs: [typed('float64', [3, 5]), typed('float64', [5, 4])],
    outputs: ['float64'],
  },
  {
    name: 'MatMul: int32',
    op: 'MatMul',
    opset: 13,
    inputs: [typed('int32', [3, 5]), typed('int32', [5, 4])],
    outputs: ['int32'],
  },
  {
    name: 'Conv: float64',
    op: 'Conv',
    opset: 11,
    attributes: { kernel_shape: [3, 3] },
    inputs: [typed('float64', [1, 2, 5, 5]), typed('float64', [3, 2, 3, 3])],
    outputs: ['float64'],
  },
  {
    name: 'MaxPool: uint8',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [2, 2] },
    inputs: [typed('uint8', [1, 2, 4, 5], 0, 255)],
    outputs: ['uint8'],
  },
  {
    name: 'Softmax: float64',
    op: 'Softmax',
    opset: 13,
    inputs: [typed('float64', [3, 6])],
    outputs: ['float64'],
  },
  {
    name: 'Transpose: int64',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [1, 0, 2] },
    inputs: [typed('int64', [3, 4, 5])],
    outputs: ['int64'],
  },
  {
    name: 'Transpose: uint8',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [0, 2, 3, 1] },
    inputs: [typed('uint8', [1, 3, 5, 7], 0, 255)],
    outputs: ['uint8'],
  },
  { name: 'Transpose: bool', op: 'Transpose', opset: 13, inputs: [bools([4, 6])], outputs: ['bool'] },
  {
    name: 'Transpose: float16',
    op: 'Transpose',
    opset: 13,
    inputs: [typed('float16', [3, 5])],
    outputs: ['float16'],
  },
  {
    name: 'Concat: int64 (shapes)',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 0 },
    inputs: [typed('int64', [2]), { ...typed('int64', [3]), constant: true }],
    outputs: ['int64'],
  },
  {
    name: 'Concat: bool',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [bools([2, 3]), bools([2, 2])],
    outputs: ['bool'],
  },
  {
    name: 'Gather: int64 data',
    op: 'Gather',
    opset: 13,
    inputs: [typed('int64', [6, 3]), indices([4], 0, 5)],
    outputs: ['int64'],
  },
  {
    name: 'Gather: uint8 data',
    op: 'Gather',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [typed('uint8', [2, 9], 0, 255), indices([5], 0, 8)],
    outputs: ['uint8'],
  },
  {
    name: 'Slice: int32',
    op: 'Slice',
    opset: 13,
    inputs: [typed('int32', [5, 6]), int64s([1]), int64s([5]), int64s([1]), int64s([2])],
    outputs: ['int32'],
  },
  {
    name: 'Pad: int64 with a value',
    op: 'Pad',
    opset: 13,
    inputs: [typed('int64', [2, 3]), int64s([1, 0, 0, 2]), { ...typed('int64', [], 7, 7), constant: true }],
    outputs: ['int64'],
  },
  {
    name: 'Split: int64',
    op: 'Split',
    opset: 13,
    attributes: { axis: 0 },
    inputs: [typed('int64', [4])],
    outputs: ['int64', 'int64'],
  },
  {
    name: 'Expand: bool',
    op: 'Expand',
    opset: 13,
    inputs: [bools([3, 1]), int64s([3, 4])],
    outputs: ['bool'],
  },
  {
    name: 'Resize: uint8 nearest',
    op: 'Resize',
    opset: 13,
    attributes: { mode: 'nearest' },
    inputs: [typed('uint8', [1, 1, 3, 4], 0, 255), null, floats([1, 1, 2, 2])],
    outputs: ['uint8'],
  },
];

/** `count` fed operands of `dims`. */
function many(count: number, dims: readonly number[]): Operand[] {
  return Array.from({ length: count }, () => fed(dims));
}

/** Empty tensors, many operands, rank 7: the limits of what a generated loop is handed. */
const limits: OpCase[] = [
  { name: 'MatMul: K = 0 gives zeros', op: 'MatMul', opset: 13, inputs: [fed([3, 0]), fed([0, 4])] },
  {
    name: 'Gemm: K = 0 gives beta·C',
    op: 'Gemm',
    opset: 13,
    attributes: { beta: float(0.5) },
    inputs: [fed([3, 0]), fed([0, 4]), constant([4])],
  },
  { name: 'Relu: empty', op: 'Relu', opset: 14, inputs: [fed([0, 5])] },
  { name: 'Add: empty broadcast', op: 'Add', opset: 14, inputs: [fed([0, 5]), fed([5])] },
  { name: 'Softmax: no rows', op: 'Softmax', opset: 13, inputs: [fed([0, 7])] },
  { name: 'Transpose: empty', op: 'Transpose', opset: 13, inputs: [fed([3, 0, 2])] },
  {
    name: 'MaxPool: empty batch',
    op: 'MaxPool',
    opset: 12,
    attributes: { kernel_shape: [2, 2] },
    inputs: [fed([0, 3, 4, 4])],
  },
  {
    name: 'Conv: empty batch',
    op: 'Conv',
    opset: 11,
    attributes: { kernel_shape: [3, 3] },
    inputs: [fed([0, 2, 5, 5]), constant([4, 2, 3, 3])],
  },
  {
    name: 'LayerNormalization: no rows',
    op: 'LayerNormalization',
    opset: 17,
    inputs: [fed([0, 8]), constant([8]), constant([8])],
  },
  {
    name: 'Concat: twenty inputs',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 1 },
    inputs: many(20, [3, 2]),
  },
  { name: 'Sum: twenty inputs', op: 'Sum', opset: 13, inputs: many(20, [4, 5]) },
  { name: 'Max: twenty inputs', op: 'Max', opset: 13, inputs: many(20, [4, 5]) },
  {
    name: 'Split: twenty outputs',
    op: 'Split',
    opset: 18,
    attributes: { axis: 0, num_outputs: 20 },
    inputs: [fed([20, 3])],
    outputs: new Array<DataType>(20).fill('float32'),
  },
  {
    name: 'Transpose: rank 7',
    op: 'Transpose',
    opset: 13,
    attributes: { perm: [6, 0, 5, 1, 4, 2, 3] },
    inputs: [fed([2, 3, 2, 2, 3, 2, 3])],
  },
  {
    name: 'Add: rank 7 broadcast',
    op: 'Add',
    opset: 14,
    inputs: [fed([2, 1, 3, 1, 2, 1, 3]), fed([3, 1, 2, 2, 1])],
  },
  {
    name: 'Slice: rank 7',
    op: 'Slice',
    opset: 13,
    inputs: [
      fed([2, 3, 2, 4, 3, 2, 5]),
      int64s([1, 1, 0]),
      int64s([3, 4, 4]),
      int64s([1, 3, 6]),
      int64s([1, 2, 3]),
    ],
  },
  {
    name: 'Pad: rank 7',
    op: 'Pad',
    opset: 13,
    inputs: [fed([2, 1, 2, 1, 2, 1, 3]), int64s([0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 2])],
  },
  {
    name: 'Slice: negative steps on two axes',
    op: 'Slice',
    opset: 13,
    inputs: [fed([6, 7, 5]), int64s([-1, 5]), int64s([-7, 0]), int64s([0, 1]), int64s([-2, -3])],
  },
  { name: 'Relu: 1-D, 2^18 + 3 elements', op: 'Relu', opset: 14, inputs: [fed([262147])] },
];

const aliased: OpCase[] = [
  { name: 'Mul: one input twice (x · x)', op: 'Mul', opset: 14, inputs: [fed([5, 9]), { sameAs: 0 }] },
  { name: 'MatMul: A · A', op: 'MatMul', opset: 13, inputs: [fed([12, 12]), { sameAs: 0 }] },
  {
    name: 'Attention: self-attention with Q, K and V one tensor',
    op: 'Attention',
    domain: HEDDLE,
    attributes: { scale: float(0.25), transpose_k: 1 },
    inputs: [fed([1, 2, 9, 16]), { sameAs: 0 }, { sameAs: 0 }],
  },
  {
    name: 'Concat: one input twice',
    op: 'Concat',
    opset: 13,
    attributes: { axis: 1 },
    inputs: [fed([3, 4]), { sameAs: 0 }],
  },
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
