/**
 * Reductions: the Reduce* family (Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare)
 * and ArgMax/ArgMin. Every Reduce* operator is one `Reduction` (identity, step, finish) run by a
 * shared engine that walks the input once and folds each element into its output slot. Values are
 * folded as float64 numbers; int64/uint64 inputs take an exact BigInt path for the reductions
 * whose results stay integers, since those can be asked about values beyond 2^53.
 */

import {
  integerRange,
  isBigIntType,
  isFloatType,
  isNarrowFloat,
  type DataType,
} from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { fromNumbers, normalizeAxis, readInts, shapeSize, stridesOf, toNumbers } from '../util.js';

/** How one reduction folds a set of values, in float64 arithmetic. */
interface Reduction {
  /** The accumulator before any element is folded in (and so the result over an empty set). */
  identity: (type: DataType) => number;
  step: (acc: number, x: number) => number;
  finish?: (acc: number, count: number) => number;
  /** The same reduction in exact 64-bit integer arithmetic, when its result is an integer. */
  exact?: ExactReduction;
}

interface ExactReduction {
  identity: (type: DataType) => bigint;
  step: (acc: bigint, x: bigint) => bigint;
  finish?: (acc: bigint, count: bigint) => bigint;
}

const add = (acc: number, x: number): number => acc + x;
const addAbs = (acc: number, x: number): number => acc + Math.abs(x);
const addSquare = (acc: number, x: number): number => acc + x * x;
const zero = (): number => 0;
const bigZero = (): bigint => 0n;
const bigAdd = (acc: bigint, x: bigint): bigint => acc + x;
const bigAbs = (x: bigint): bigint => (x < 0n ? -x : x);

/** The most negative / most positive value of a type: the identities of Max and Min. */
function lowest(type: DataType): number {
  return isFloatType(type) ? -Infinity : integerRange(type)[0];
}

function highest(type: DataType): number {
  return isFloatType(type) ? Infinity : integerRange(type)[1];
}

function bigLowest(type: DataType): bigint {
  return type === 'uint64' ? 0n : -(2n ** 63n);
}

function bigHighest(type: DataType): bigint {
  return type === 'uint64' ? 2n ** 64n - 1n : 2n ** 63n - 1n;
}

/** log(exp(a) + exp(b)) without overflow, so LogSumExp needs no separate max pass. */
function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const high = Math.max(a, b);
  return high + Math.log1p(Math.exp(-Math.abs(a - b)));
}

const exactSum: ExactReduction = { identity: bigZero, step: bigAdd };

const REDUCTIONS: Record<string, Reduction> = {
  ReduceSum: { identity: zero, step: add, exact: exactSum },
  ReduceMean: {
    identity: zero,
    step: add,
    finish: (acc, count) => acc / count,
    exact: { ...exactSum, finish: (acc, count) => (count === 0n ? 0n : acc / count) },
  },
  ReduceMax: {
    identity: lowest,
    step: Math.max,
    exact: { identity: bigLowest, step: (acc, x) => (x > acc ? x : acc) },
  },
  ReduceMin: {
    identity: highest,
    step: Math.min,
    exact: { identity: bigHighest, step: (acc, x) => (x < acc ? x : acc) },
  },
  ReduceProd: {
    identity: () => 1,
    step: (acc, x) => acc * x,
    exact: { identity: () => 1n, step: (acc, x) => acc * x },
  },
  ReduceL1: { identity: zero, step: addAbs, exact: { identity: bigZero, step: (acc, x) => acc + bigAbs(x) } },
  ReduceL2: { identity: zero, step: addSquare, finish: Math.sqrt },
  ReduceSumSquare: {
    identity: zero,
    step: addSquare,
    exact: { identity: bigZero, step: (acc, x) => acc + x * x },
  },
  ReduceLogSum: { identity: zero, step: add, finish: Math.log },
  ReduceLogSumExp: { identity: () => -Infinity, step: logAddExp },
};

/** Where the input's axes went: which are reduced, and the output dims with and without them. */
interface ReductionShape {
  reduced: boolean[];
  keptDims: number[];
  outDims: number[];
  count: number;
}

function reductionShape(dims: readonly number[], axes: readonly number[], keepdims: boolean): ReductionShape {
  const reduced = dims.map((_, a) => axes.includes(a));
  const keptDims = dims.map((d, a) => (reduced[a] ? 1 : d));
  const outDims = keepdims ? keptDims : dims.filter((_, a) => !reduced[a]);
  const count = shapeSize(dims.filter((_, a) => reduced[a]));
  return { reduced, keptDims, outDims, count };
}

/** For each input element in order, the flat index of the output slot it folds into. */
function* outputSlots(dims: readonly number[], shape: ReductionShape): Generator<number> {
  const size = shapeSize(dims);
  if (size === 0) return;
  const rank = dims.length;
  const keptStrides = stridesOf(shape.keptDims);
  const steps = dims.map((_, a) => (shape.reduced[a] ? 0 : keptStrides[a]!));
  const counter = new Array<number>(rank).fill(0);
  let slot = 0;
  for (let i = 0; i < size; i++) {
    yield slot;
    for (let a = rank - 1; a >= 0; a--) {
      counter[a]!++;
      slot += steps[a]!;
      if (counter[a]! < dims[a]!) break;
      slot -= steps[a]! * dims[a]!;
      counter[a] = 0;
    }
  }
}

function reduceNumbers(x: Tensor, reduction: Reduction, shape: ReductionShape): Tensor {
  const values = toNumbers(x);
  const acc = new Float64Array(shapeSize(shape.outDims)).fill(reduction.identity(x.type));
  let i = 0;
  for (const slot of outputSlots(x.dims, shape)) acc[slot] = reduction.step(acc[slot]!, values[i++]!);
  const finish = reduction.finish;
  if (finish) for (let s = 0; s < acc.length; s++) acc[s] = finish(acc[s]!, shape.count);
  return fromNumbers(x.type, acc, shape.outDims);
}

function reduceExact(x: Tensor, reduction: ExactReduction, shape: ReductionShape): Tensor {
  const values = x.data as BigInt64Array | BigUint64Array;
  const acc = new Array<bigint>(shapeSize(shape.outDims)).fill(reduction.identity(x.type));
  let i = 0;
  for (const slot of outputSlots(x.dims, shape)) acc[slot] = reduction.step(acc[slot]!, values[i++]!);
  const finish = reduction.finish;
  const count = BigInt(shape.count);
  const wrap = x.type === 'uint64' ? BigInt.asUintN : BigInt.asIntN;
  const out = x.type === 'uint64' ? new BigUint64Array(acc.length) : new BigInt64Array(acc.length);
  for (let s = 0; s < acc.length; s++) out[s] = wrap(64, finish ? finish(acc[s]!, count) : acc[s]!);
  return new Tensor(x.type, out, shape.outDims);
}

/**
 * The axes to reduce, or undefined for "reduce nothing" (noop_with_empty_axes). Axes became an
 * input in opset 13 for ReduceSum and in opset 18 for the others.
 */
function reductionAxes(ctx: KernelContext, rank: number, axesAreInput: boolean): number[] | undefined {
  let axes: number[];
  if (axesAreInput) {
    const axesInput = ctx.optionalInput(1);
    axes = axesInput ? readInts(axesInput) : [];
    if (axes.length === 0 && ctx.int('noop_with_empty_axes', 0) !== 0) return undefined;
  } else {
    axes = ctx.ints('axes', []);
  }
  if (axes.length === 0) return Array.from({ length: rank }, (_, a) => a);
  const normalized = axes.map((a) => normalizeAxis(a, rank, ctx.fail.bind(ctx)));
  if (new Set(normalized).size !== normalized.length) ctx.fail(`axes [${axes.join(', ')}] repeat an axis`);
  return normalized;
}

function reduceKernel(op: string, reduction: Reduction, axesInputSince: number): KernelDef {
  return {
    op,
    since: 1,
    run: (ctx) => {
      const x = ctx.input(0);
      if (x.type === 'string' || x.type === 'complex64' || x.type === 'complex128') {
        ctx.fail(`${op} does not accept ${x.type} tensors`);
      }
      const axes = reductionAxes(ctx, x.dims.length, ctx.opset >= axesInputSince) ?? [];
      const shape = reductionShape(x.dims, axes, ctx.int('keepdims', 1) !== 0);
      if (isBigIntType(x.type) && reduction.exact) return [reduceExact(x, reduction.exact, shape)];
      return [reduceNumbers(x, reduction, shape)];
    },
  };
}

/** The elements as values that compare correctly: raw storage except for the narrow floats. */
function comparableValues(x: Tensor): ArrayLike<number | bigint> {
  return isNarrowFloat(x.type) ? toNumbers(x) : (x.data as ArrayLike<number | bigint>);
}

/**
 * ArgMax/ArgMin along one axis. NaN beats every number (as in numpy); ties go to the first index,
 * or to the last with select_last_index.
 */
function argKernel(op: string, beats: (x: number | bigint, best: number | bigint) => boolean): KernelDef {
  return {
    op,
    since: 1,
    run: (ctx) => {
      const x = ctx.input(0);
      if (x.type === 'string' || x.type === 'complex64' || x.type === 'complex128') {
        ctx.fail(`${op} does not accept ${x.type} tensors`);
      }
      const rank = x.dims.length;
      const axis = normalizeAxis(ctx.int('axis', 0), rank, ctx.fail.bind(ctx));
      const selectLast = ctx.int('select_last_index', 0) !== 0;
      const axisSize = x.dims[axis]!;
      const outer = shapeSize(x.dims.slice(0, axis));
      const inner = shapeSize(x.dims.slice(axis + 1));
      if (axisSize === 0 && outer * inner > 0)
        ctx.fail(`${op} cannot choose an index along an empty axis ${axis}`);
      const values = comparableValues(x);
      const out = new BigInt64Array(outer * inner);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * axisSize * inner + i;
          let bestIndex = 0;
          let best = values[base]!;
          for (let k = 1; k < axisSize; k++) {
            const v = values[base + k * inner]!;
            const tie = v === best || (v !== v && best !== best);
            if (beats(v, best) || (selectLast && tie)) {
              best = v;
              bestIndex = k;
            }
          }
          out[o * inner + i] = BigInt(bestIndex);
        }
      }
      const keepdims = ctx.int('keepdims', 1) !== 0;
      const outDims = keepdims
        ? x.dims.map((d, a) => (a === axis ? 1 : d))
        : x.dims.filter((_, a) => a !== axis);
      return [new Tensor('int64', out, outDims)];
    },
  };
}

const isNaNValue = (v: number | bigint): boolean => v !== v;

export const kernels: KernelDef[] = [
  ...Object.entries(REDUCTIONS).map(([op, reduction]) =>
    reduceKernel(op, reduction, op === 'ReduceSum' ? 13 : 18),
  ),
  argKernel('ArgMax', (x, best) => (isNaNValue(x) && !isNaNValue(best)) || x > best),
  argKernel('ArgMin', (x, best) => (isNaNValue(x) && !isNaNValue(best)) || x < best),
];
