/**
 * Reductions: the Reduce* family (Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare)
 * and ArgMax/ArgMin. Every Reduce* operator is one `Reduction` (identity, step, finish) run by a
 * shared engine that folds each output element's inputs, in input order, into one accumulator and
 * writes the result straight into the output. Values are folded as float64 numbers; int64/uint64
 * inputs take an exact BigInt path for the reductions whose results stay integers, since those
 * can be asked about values beyond 2^53.
 */

import {
  integerRange,
  isBigIntType,
  isFloatType,
  isNarrowFloat,
  type DataType,
} from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  commitNumbers,
  normalizeAxis,
  numberSink,
  readInts,
  shapeSize,
  stridesOf,
  toNumbers,
} from '../util.js';

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

/** The output dims of reducing `axes` of `dims`, with the reduced axes kept as ones or dropped. */
function reducedDims(dims: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  if (keepdims) return dims.map((d, a) => (axes.includes(a) ? 1 : d));
  return dims.filter((_, a) => !axes.includes(a));
}

/**
 * How the input folds into the output: `starts` holds, for each output element in order, the flat
 * index of the first input element it reduces; `members` the offsets from there of all the input
 * elements it reduces, in input order.
 */
interface ReductionWalk {
  starts: Int32Array;
  members: Int32Array;
}

function reductionWalk(dims: readonly number[], axes: readonly number[]): ReductionWalk {
  const all = dims.map((_, a) => a);
  return {
    starts: axisOffsets(
      dims,
      all.filter((a) => !axes.includes(a)),
    ),
    members: axisOffsets(
      dims,
      all.filter((a) => axes.includes(a)),
    ),
  };
}

/** The flat indices, in row-major order, of the elements reached from the first along `axes` alone. */
function axisOffsets(dims: readonly number[], axes: readonly number[]): Int32Array {
  const strides = stridesOf(dims);
  const offsets = new Int32Array(shapeSize(axes.map((a) => dims[a]!)));
  const counter = new Array<number>(axes.length).fill(0);
  let offset = 0;
  for (let i = 0; i < offsets.length; i++) {
    offsets[i] = offset;
    for (let j = axes.length - 1; j >= 0; j--) {
      const axis = axes[j]!;
      counter[j]!++;
      offset += strides[axis]!;
      if (counter[j]! < dims[axis]!) break;
      offset -= strides[axis]! * dims[axis]!;
      counter[j] = 0;
    }
  }
  return offsets;
}

/** Folds each output element's inputs in one float64 accumulator, rounded once as it is stored. */
function reduceNumbers(x: Tensor, reduction: Reduction, walk: ReductionWalk, out: Tensor): Tensor {
  const values = toNumbers(x);
  const sink = numberSink(out);
  const { starts, members } = walk;
  const identity = reduction.identity(x.type);
  const { step, finish } = reduction;
  for (let s = 0; s < starts.length; s++) {
    const start = starts[s]!;
    let acc = identity;
    for (let j = 0; j < members.length; j++) acc = step(acc, values[start + members[j]!]!);
    sink[s] = finish ? finish(acc, members.length) : acc;
  }
  return commitNumbers(out, sink);
}

function reduceExact(x: Tensor, reduction: ExactReduction, walk: ReductionWalk, out: Tensor): Tensor {
  const values = x.data as BigInt64Array | BigUint64Array;
  const target = out.data as BigInt64Array | BigUint64Array;
  const { starts, members } = walk;
  const identity = reduction.identity(x.type);
  const { step, finish } = reduction;
  const count = BigInt(members.length);
  const wrap = x.type === 'uint64' ? BigInt.asUintN : BigInt.asIntN;
  for (let s = 0; s < starts.length; s++) {
    const start = starts[s]!;
    let acc = identity;
    for (let j = 0; j < members.length; j++) acc = step(acc, values[start + members[j]!]!);
    target[s] = wrap(64, finish ? finish(acc, count) : acc);
  }
  return out;
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
  return normalizedReductionAxes(axes, rank, ctx.fail.bind(ctx));
}

/**
 * The axes a reduction names, normalized (all of them when it names none); naming one twice fails.
 * Reduce*, the Gradient rules of ReduceSum and ReduceMean and the wasm reductions take them.
 */
export function normalizedReductionAxes(
  axes: readonly number[],
  rank: number,
  fail: (reason: string) => never,
): number[] {
  if (axes.length === 0) return Array.from({ length: rank }, (_, a) => a);
  const normalized = axes.map((a) => normalizeAxis(a, rank, fail));
  if (new Set(normalized).size !== normalized.length) fail(`axes [${axes.join(', ')}] repeat an axis`);
  return normalized;
}

/** Strings and complex numbers have no order or sum the reductions could use. */
function refuseUnordered(ctx: KernelContext, op: string, x: Tensor): void {
  if (x.type === 'string' || x.type === 'complex64' || x.type === 'complex128') {
    ctx.fail(`${op} does not accept ${x.type} tensors`);
  }
}

function reduceKernel(op: string, reduction: Reduction, axesInputSince: number): KernelDef {
  return {
    op,
    since: 1,
    run: (ctx) => {
      const x = ctx.input(0);
      refuseUnordered(ctx, op, x);
      const axes = reductionAxes(ctx, x.dims.length, ctx.opset >= axesInputSince) ?? [];
      const walk = reductionWalk(x.dims, axes);
      const out = ctx.output(0, x.type, reducedDims(x.dims, axes, ctx.int('keepdims', 1) !== 0));
      if (isBigIntType(x.type) && reduction.exact) return [reduceExact(x, reduction.exact, walk, out)];
      return [reduceNumbers(x, reduction, walk, out)];
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
      refuseUnordered(ctx, op, x);
      const rank = x.dims.length;
      const axis = normalizeAxis(ctx.int('axis', 0), rank, ctx.fail.bind(ctx));
      const selectLast = ctx.int('select_last_index', 0) !== 0;
      const axisSize = x.dims[axis]!;
      const outer = shapeSize(x.dims.slice(0, axis));
      const inner = shapeSize(x.dims.slice(axis + 1));
      if (axisSize === 0 && outer * inner > 0)
        ctx.fail(`${op} cannot choose an index along an empty axis ${axis}`);
      const keepdims = ctx.int('keepdims', 1) !== 0;
      const outDims = keepdims
        ? x.dims.map((d, a) => (a === axis ? 1 : d))
        : x.dims.filter((_, a) => a !== axis);
      const values = comparableValues(x);
      const result = ctx.output(0, 'int64', outDims);
      const out = result.data as BigInt64Array;
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
      return [result];
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
