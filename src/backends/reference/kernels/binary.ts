/**
 * Elementwise operators of two or more inputs with broadcasting: arithmetic (Add, Sub, Mul, Div, Pow,
 * Mod), the variadic Max/Min/Sum/Mean, comparisons, boolean and bitwise logic, BitShift and Where.
 * Inputs broadcast numpy-style, except in the opsets that predate it: before opset 7 the second
 * input of a binary operator broadcasts to the first only when asked (`broadcast`, `axis`), and
 * before opset 8 the variadic operators take inputs of one shape. int64 and uint64 compute with
 * BigInts so that they stay exact; every integer result wraps to its width, as numpy's does.
 */

import {
  bitsOf,
  isBigIntType,
  isFloatType,
  isIntegerType,
  isSignedInteger,
  slotsPerElement,
  type DataType,
  type TensorData,
} from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  broadcastIndex,
  broadcastShapes,
  commitNumbers,
  newTensor,
  numberSink,
  sameDims,
  toNumbers,
} from '../util.js';
import { requireFamily, type TypeFamily } from './unary.js';

/** Output dims, and for each input the flat index of its element broadcast to each output element. */
export interface Broadcast {
  dims: number[];
  indices: Int32Array[];
}

/** Numpy broadcasting of inputs of the given dims. */
export function broadcastDims(ctx: KernelContext, inputDims: readonly (readonly number[])[]): Broadcast {
  const dims = broadcastShapes(inputDims, (reason) => ctx.fail(reason));
  return { dims, indices: inputDims.map((d) => broadcastIndex(d, dims)) };
}

function formatDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/**
 * The dims `b` takes to broadcast to `a` under the rule of opsets before 7: only with `broadcast=1`,
 * and then as a single element or as a contiguous run of `a`'s dims starting at `axis` (by default
 * ending with them), padded with ones around it.
 */
function legacyBroadcastDims(ctx: KernelContext, a: Tensor, b: Tensor): readonly number[] {
  if (sameDims(a.dims, b.dims)) return b.dims;
  if (ctx.int('broadcast', 0) === 0) {
    ctx.fail(
      `inputs of dims ${formatDims(a.dims)} and ${formatDims(b.dims)} differ and broadcast is not enabled`,
    );
  }
  if (b.size === 1) return [];
  const rank = a.dims.length;
  const axis = ctx.has('axis') ? ctx.int('axis') : rank - b.dims.length;
  const start = axis < 0 ? axis + rank : axis;
  const fits = start >= 0 && start + b.dims.length <= rank && b.dims.every((d, i) => d === a.dims[start + i]);
  if (!fits) ctx.fail(`dims ${formatDims(b.dims)} do not match dims ${formatDims(a.dims)} at axis ${axis}`);
  return [...b.dims, ...new Array<number>(rank - start - b.dims.length).fill(1)];
}

/** How the two inputs of a binary operator broadcast in the node's opset. */
export function broadcastPair(ctx: KernelContext, a: Tensor, b: Tensor): Broadcast {
  const bDims = ctx.opset < 7 ? legacyBroadcastDims(ctx, a, b) : b.dims;
  return broadcastDims(ctx, [a.dims, bDims]);
}

export function requireSameType(ctx: KernelContext, tensors: readonly Tensor[]): void {
  const first = tensors[0]!;
  const other = tensors.find((t) => t.type !== first.type);
  if (other) ctx.fail(`inputs must share one element type, got ${first.type} and ${other.type}`);
}

/** An operation on numbers, with an exact counterpart on the BigInts of int64/uint64 when it has one. */
export interface Arithmetic {
  number: (x: number, y: number) => number;
  bigint?: (x: bigint, y: bigint) => bigint;
}

/**
 * Applies `op` to the broadcast pairs of elements of `a` and `b` (of one type), writing them into
 * `out`, an `outType` tensor of the broadcast dims (new memory unless given; kernels give
 * `ctx.output`), stored as a cast would store them (rounded, or wrapped to width). Element i is
 * written after its operands are read, so `out` may be `a`'s own memory when `a` is not broadcast.
 */
export function mapBinary(
  ctx: KernelContext,
  a: Tensor,
  b: Tensor,
  outType: DataType,
  op: Arithmetic,
  layout: Broadcast = broadcastPair(ctx, a, b),
  out: Tensor = newTensor(outType, layout.dims),
): Tensor {
  const [aIndex, bIndex] = layout.indices as [Int32Array, Int32Array];
  const size = aIndex.length;
  if (op.bigint && isBigIntType(a.type) && isBigIntType(outType)) {
    const x = a.data as BigInt64Array;
    const y = b.data as BigInt64Array;
    const target = out.data as BigInt64Array;
    for (let i = 0; i < size; i++) target[i] = op.bigint(x[aIndex[i]!]!, y[bIndex[i]!]!);
    return out;
  }
  const x = toNumbers(a);
  const y = toNumbers(b);
  const sink = numberSink(out);
  for (let i = 0; i < size; i++) sink[i] = op.number(x[aIndex[i]!]!, y[bIndex[i]!]!);
  return commitNumbers(out, sink);
}

/** Storage as a plain list of slots, to copy elements of any type (strings and BigInts included) unchanged. */
function slotsOf(data: TensorData): unknown[] {
  return data as unknown as unknown[];
}

/** Products that wrap like the storage: 32-bit products can exceed the 2^53 that doubles hold exactly. */
export function multiplyFor(type: DataType): (x: number, y: number) => number {
  return type === 'int32' || type === 'uint32' ? Math.imul : (x, y) => x * y;
}

type Ordered = number | bigint;

function isNaNElement(v: Ordered): boolean {
  return typeof v === 'number' && Number.isNaN(v);
}

/** Elements in a form that compares exactly: BigInts for 64-bit integers, numbers for the rest. */
function orderedElements(t: Tensor): ArrayLike<Ordered> {
  return isBigIntType(t.type) ? (t.data as BigInt64Array) : toNumbers(t);
}

/** The operands of a binary operator, checked to share a type of `family`. */
function operands(ctx: KernelContext, family: TypeFamily): [Tensor, Tensor] {
  const a = ctx.input(0);
  const b = ctx.input(1);
  requireFamily(ctx, a, family);
  requireSameType(ctx, [a, b]);
  return [a, b];
}

/** A binary operator whose output has its inputs' type. */
function arithmeticKernel(
  op: string,
  since: number,
  family: TypeFamily,
  choose: (ctx: KernelContext, type: DataType) => Arithmetic,
): KernelDef {
  return {
    op,
    since,
    run: (ctx) => {
      const [a, b] = operands(ctx, family);
      const arithmetic = choose(ctx, a.type);
      const layout = broadcastPair(ctx, a, b);
      return [mapBinary(ctx, a, b, a.type, arithmetic, layout, ctx.output(0, a.type, layout.dims))];
    },
  };
}

function fixed(arithmetic: Arithmetic): () => Arithmetic {
  return () => arithmetic;
}

function multiplication(_: KernelContext, type: DataType): Arithmetic {
  return { number: multiplyFor(type), bigint: (x, y) => x * y };
}

function division(ctx: KernelContext, type: DataType): Arithmetic {
  if (isFloatType(type)) return { number: (x, y) => x / y };
  // Integer division truncates toward zero, as C and onnxruntime do (numpy's // would floor).
  return {
    number: (x, y) => (y === 0 ? failDivisionByZero(ctx) : Math.trunc(x / y)),
    bigint: (x, y) => (y === 0n ? failDivisionByZero(ctx) : x / y),
  };
}

function failDivisionByZero(ctx: KernelContext): never {
  ctx.fail('integer division by zero');
}

/**
 * With fmod=1 the remainder takes the dividend's sign (C fmod, which JS `%` is); by default it takes
 * the divisor's, as Python's and numpy's mod. The spec asks floats to set fmod=1; a float model that
 * does not gets numpy's mod, as in ONNX's reference implementation.
 */
function modulus(ctx: KernelContext, type: DataType): Arithmetic {
  const truncated = ctx.int('fmod', 0) === 1;
  const integer = isIntegerType(type);
  return {
    number: (x, y) => {
      if (integer && y === 0) failDivisionByZero(ctx);
      const r = x % y;
      return truncated || r === 0 || r < 0 === y < 0 ? r : r + y;
    },
    bigint: (x, y) => {
      if (y === 0n) failDivisionByZero(ctx);
      const r = x % y;
      return truncated || r === 0n || r < 0n === y < 0n ? r : r + y;
    },
  };
}

function bitShift(ctx: KernelContext): Arithmetic {
  const direction = ctx.string('direction');
  // JS shifts count modulo 32 (BigInt shifts do not wrap at all): wider shifts are spelled out as 0.
  if (direction === 'LEFT') {
    return { number: (x, y) => (y >= 32 ? 0 : x << y), bigint: (x, y) => (y >= 64n ? 0n : x << y) };
  }
  if (direction === 'RIGHT') {
    return { number: (x, y) => (y >= 32 ? 0 : x >>> y), bigint: (x, y) => (y >= 64n ? 0n : x >> y) };
  }
  ctx.fail(`direction must be LEFT or RIGHT, got '${direction}'`);
}

/** Math.pow, except where C's pow (which numpy follows) defines a result JS leaves NaN. */
function power(x: number, y: number): number {
  if (x === 1 || (x === -1 && !Number.isFinite(y) && !Number.isNaN(y))) return 1;
  return Math.pow(x, y);
}

/** Wraps BigInt results into an integer type's width, as its storage would. */
function wrapperFor(type: DataType): (v: bigint) => bigint {
  const bits = bitsOf(type);
  return isSignedInteger(type) ? (v) => BigInt.asIntN(bits, v) : (v) => BigInt.asUintN(bits, v);
}

/**
 * Integer power by squaring, wrapping at every step as repeated multiplication in the type does.
 * Negative exponents give what the real power truncates to: ±1 for bases ±1, 0 for the rest but 0,
 * whose negative powers are infinite and have no integer value.
 */
function wrappingPower(
  ctx: KernelContext,
  base: bigint,
  exponent: bigint,
  wrap: (v: bigint) => bigint,
): bigint {
  if (exponent < 0n) {
    if (base === 0n) ctx.fail('0 cannot be raised to a negative power in an integer type');
    if (base === 1n) return 1n;
    if (base === -1n) return exponent % 2n === 0n ? 1n : -1n;
    return 0n;
  }
  let result = 1n;
  let square = wrap(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = wrap(result * square);
    square = wrap(square * square);
  }
  return result;
}

function bigInts(t: Tensor): ArrayLike<bigint> {
  return isBigIntType(t.type) ? (t.data as BigInt64Array) : Array.from(toNumbers(t), BigInt);
}

/** Pow: the base's type is the output's; the exponent may be of any numeric type. */
function pow(ctx: KernelContext): Tensor[] {
  const base = ctx.input(0);
  const exponent = ctx.input(1);
  requireFamily(ctx, base, 'numeric', 'base');
  requireFamily(ctx, exponent, 'numeric', 'exponent');
  const layout = broadcastPair(ctx, base, exponent);
  const [baseIndex, exponentIndex] = layout.indices as [Int32Array, Int32Array];
  const size = baseIndex.length;
  const out = ctx.output(0, base.type, layout.dims);
  if (isIntegerType(base.type) && isIntegerType(exponent.type)) {
    const x = bigInts(base);
    const y = bigInts(exponent);
    const wrap = wrapperFor(base.type);
    const powerAt = (i: number) => wrappingPower(ctx, x[baseIndex[i]!]!, y[exponentIndex[i]!]!, wrap);
    if (isBigIntType(base.type)) {
      const target = out.data as BigInt64Array;
      for (let i = 0; i < size; i++) target[i] = powerAt(i);
      return [out];
    }
    // Wrapped to the type already, so each power converts to a number exactly.
    const sink = numberSink(out);
    for (let i = 0; i < size; i++) sink[i] = Number(powerAt(i));
    return [commitNumbers(out, sink)];
  }
  const x = toNumbers(base);
  const y = toNumbers(exponent);
  const sink = numberSink(out);
  for (let i = 0; i < size; i++) sink[i] = power(x[baseIndex[i]!]!, y[exponentIndex[i]!]!);
  return [commitNumbers(out, sink)];
}

/** Compares the broadcast pairs of elements, giving the node's bool output. */
function compareElements<T>(
  ctx: KernelContext,
  layout: Broadcast,
  x: ArrayLike<T>,
  y: ArrayLike<T>,
  test: (x: T, y: T) => boolean,
): Tensor {
  const [aIndex, bIndex] = layout.indices as [Int32Array, Int32Array];
  const result = ctx.output(0, 'bool', layout.dims);
  const out = result.data as Uint8Array;
  for (let i = 0; i < out.length; i++) out[i] = test(x[aIndex[i]!]!, y[bIndex[i]!]!) ? 1 : 0;
  return result;
}

function comparisonKernel(op: string, since: number, test: (x: Ordered, y: Ordered) => boolean): KernelDef {
  return {
    op,
    since,
    run: (ctx) => {
      const [a, b] = operands(ctx, 'numeric');
      return [compareElements(ctx, broadcastPair(ctx, a, b), orderedElements(a), orderedElements(b), test)];
    },
  };
}

/** Equal also takes bools, and strings from opset 19. */
function equal(ctx: KernelContext): Tensor[] {
  const a = ctx.input(0);
  const b = ctx.input(1);
  requireSameType(ctx, [a, b]);
  const layout = broadcastPair(ctx, a, b);
  if (a.type === 'string') {
    return [compareElements(ctx, layout, a.data as string[], b.data as string[], (x, y) => x === y)];
  }
  if (a.type !== 'bool') requireFamily(ctx, a, 'numeric');
  return [compareElements(ctx, layout, orderedElements(a), orderedElements(b), (x, y) => x === y)];
}

/** The inputs of a variadic operator, of one type; before opset 8 they must also share one shape. */
function variadicInputs(ctx: KernelContext, family: TypeFamily): { inputs: Tensor[]; layout: Broadcast } {
  if (ctx.inputs.length === 0) ctx.fail('at least one input is required');
  const inputs = ctx.inputs.map((_, i) => ctx.input(i));
  requireFamily(ctx, inputs[0]!, family);
  requireSameType(ctx, inputs);
  const dims = inputs.map((t) => t.dims);
  const mismatch = dims.find((d) => !sameDims(d, dims[0]!));
  if (ctx.opset < 8 && mismatch) {
    ctx.fail(
      `inputs must share one shape before opset 8, got ${formatDims(dims[0]!)} and ${formatDims(mismatch)}`,
    );
  }
  return { inputs, layout: broadcastDims(ctx, dims) };
}

/** Max and Min: each output element copies the preferred of the broadcast input elements. */
function selectionKernel(op: string, prefer: (candidate: Ordered, current: Ordered) => boolean): KernelDef {
  return {
    op,
    since: 1,
    run: (ctx) => {
      const { inputs, layout } = variadicInputs(ctx, 'numeric');
      const values = inputs.map(orderedElements);
      const storages = inputs.map((t) => slotsOf(t.data));
      const result = ctx.output(0, inputs[0]!.type, layout.dims);
      const out = slotsOf(result.data);
      const elementAt = (k: number, i: number) => layout.indices[k]![i]!;
      for (let i = 0; i < out.length; i++) {
        let chosen = 0;
        for (let k = 1; k < inputs.length; k++) {
          if (prefer(values[k]![elementAt(k, i)]!, values[chosen]![elementAt(chosen, i)]!)) chosen = k;
        }
        out[i] = storages[chosen]![elementAt(chosen, i)];
      }
      return [result];
    },
  };
}

/** Sum and Mean, accumulated in doubles and rounded once. */
function accumulationKernel(op: string, finish: (sum: number, count: number) => number): KernelDef {
  return {
    op,
    since: 1,
    run: (ctx) => {
      const { inputs, layout } = variadicInputs(ctx, 'float');
      const values = inputs.map(toNumbers);
      const out = ctx.output(0, inputs[0]!.type, layout.dims);
      const sink = numberSink(out);
      for (let i = 0; i < out.size; i++) {
        let sum = 0;
        for (let k = 0; k < values.length; k++) sum += values[k]![layout.indices[k]![i]!]!;
        sink[i] = finish(sum, inputs.length);
      }
      return [commitNumbers(out, sink)];
    },
  };
}

/** Where: elements of X where the condition holds, of Y elsewhere, all three broadcast together. */
function where(ctx: KernelContext): Tensor[] {
  const condition = ctx.input(0);
  const x = ctx.input(1);
  const y = ctx.input(2);
  requireFamily(ctx, condition, 'bool', 'condition');
  requireSameType(ctx, [x, y]);
  const layout = broadcastDims(ctx, [condition.dims, x.dims, y.dims]);
  const [conditionIndex, xIndex, yIndex] = layout.indices as [Int32Array, Int32Array, Int32Array];
  const flags = condition.data as Uint8Array;
  const xData = slotsOf(x.data);
  const yData = slotsOf(y.data);
  // Complex elements span two storage slots.
  const slots = slotsPerElement(x.type);
  const result = ctx.output(0, x.type, layout.dims);
  const out = slotsOf(result.data);
  for (let i = 0; i < conditionIndex.length; i++) {
    const [source, at] = flags[conditionIndex[i]!] ? [xData, xIndex[i]!] : [yData, yIndex[i]!];
    for (let s = 0; s < slots; s++) out[i * slots + s] = source[at * slots + s];
  }
  return [result];
}

const add: Arithmetic = { number: (x, y) => x + y, bigint: (x, y) => x + y };
const subtract: Arithmetic = { number: (x, y) => x - y, bigint: (x, y) => x - y };

export const kernels: KernelDef[] = [
  arithmeticKernel('Add', 1, 'numeric', fixed(add)),
  arithmeticKernel('Sub', 1, 'numeric', fixed(subtract)),
  arithmeticKernel('Mul', 1, 'numeric', multiplication),
  arithmeticKernel('Div', 1, 'numeric', division),
  arithmeticKernel('Mod', 10, 'numeric', modulus),
  { op: 'Pow', since: 1, run: pow },
  selectionKernel('Max', (candidate, current) => candidate > current || isNaNElement(candidate)),
  selectionKernel('Min', (candidate, current) => candidate < current || isNaNElement(candidate)),
  accumulationKernel('Sum', (sum) => sum),
  accumulationKernel('Mean', (sum, count) => sum / count),
  { op: 'Equal', since: 1, run: equal },
  comparisonKernel('Less', 1, (x, y) => x < y),
  comparisonKernel('Greater', 1, (x, y) => x > y),
  comparisonKernel('LessOrEqual', 12, (x, y) => x <= y),
  comparisonKernel('GreaterOrEqual', 12, (x, y) => x >= y),
  arithmeticKernel('And', 1, 'bool', fixed({ number: (x, y) => x & y })),
  arithmeticKernel('Or', 1, 'bool', fixed({ number: (x, y) => x | y })),
  arithmeticKernel('Xor', 1, 'bool', fixed({ number: (x, y) => x ^ y })),
  arithmeticKernel('BitwiseAnd', 18, 'integer', fixed({ number: (x, y) => x & y, bigint: (x, y) => x & y })),
  arithmeticKernel('BitwiseOr', 18, 'integer', fixed({ number: (x, y) => x | y, bigint: (x, y) => x | y })),
  arithmeticKernel('BitwiseXor', 18, 'integer', fixed({ number: (x, y) => x ^ y, bigint: (x, y) => x ^ y })),
  arithmeticKernel('BitShift', 11, 'unsigned', bitShift),
  { op: 'Where', since: 9, run: where },
];
