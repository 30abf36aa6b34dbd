/**
 * Elementwise operators of one input: the math functions (Abs, Sqrt, Sin, Erf...), rounding, sign,
 * the logical and bitwise negations, and the NaN/infinity tests. Also the small element-mapping
 * toolkit the other elementwise families (activation, binary) build on: floats and the narrow
 * integers are computed as JS numbers and rounded or wrapped by the output storage (written
 * straight into it where its stores convert as a cast does), int64 and uint64 get a BigInt path
 * wherever an operator can be exact on them.
 */

import {
  isBigIntType,
  isFloatType,
  isIntegerType,
  isSignedInteger,
  type DataType,
} from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { commitNumbers, newTensor, numberSink, toNumbers } from '../util.js';

/** The element types an operator accepts, by family. */
export type TypeFamily = 'float' | 'signed' | 'numeric' | 'integer' | 'unsigned' | 'bool';

const FAMILY_DESCRIPTIONS: Record<TypeFamily, string> = {
  float: 'a floating-point type',
  signed: 'a floating-point or signed integer type',
  numeric: 'a numeric type',
  integer: 'an integer type',
  unsigned: 'an unsigned integer type',
  bool: 'bool',
};

function inFamily(type: DataType, family: TypeFamily): boolean {
  switch (family) {
    case 'float':
      return isFloatType(type);
    case 'signed':
      return isFloatType(type) || isSignedInteger(type);
    case 'numeric':
      return isFloatType(type) || isIntegerType(type);
    case 'integer':
      return isIntegerType(type);
    case 'unsigned':
      return isIntegerType(type) && !isSignedInteger(type);
    case 'bool':
      return type === 'bool';
  }
}

/** Fails unless `t`'s element type belongs to `family`. */
export function requireFamily(ctx: KernelContext, t: Tensor, family: TypeFamily, what = 'input'): void {
  if (!inFamily(t.type, family)) {
    ctx.fail(`${what} has type ${t.type}, expected ${FAMILY_DESCRIPTIONS[family]}`);
  }
}

/**
 * Maps every element of `x` into `out`, an `outType` tensor of x's dims (new memory unless given;
 * kernels give `ctx.output`). `onBigInt`, when given, handles int64/uint64 inputs exactly; otherwise
 * they go through `onNumber` as doubles. Results are stored as a cast would store them: rounded to
 * narrow floats, wrapped to integer widths. Element i is read before it is written, so `out` may be
 * `x`'s own memory.
 */
export function mapUnary(
  x: Tensor,
  outType: DataType,
  onNumber: (v: number) => number,
  onBigInt?: (v: bigint) => bigint,
  out: Tensor = newTensor(outType, x.dims),
): Tensor {
  if (onBigInt && isBigIntType(x.type) && isBigIntType(outType)) {
    const src = x.data as BigInt64Array;
    const target = out.data as BigInt64Array;
    for (let i = 0; i < src.length; i++) target[i] = onBigInt(src[i]!);
    return out;
  }
  const src = toNumbers(x);
  const sink = numberSink(out);
  for (let i = 0; i < src.length; i++) sink[i] = onNumber(src[i]!);
  return commitNumbers(out, sink);
}

/** The error function, to about one ulp: a series without cancellation near zero, a continued fraction in the tails. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const magnitude = Math.abs(x);
  if (magnitude < 3) return erfSeries(x);
  // erfc(6) is below half an ulp of 1.
  if (magnitude > 6) return Math.sign(x);
  const tail = erfcContinuedFraction(magnitude);
  return x < 0 ? tail - 1 : 1 - tail;
}

/** erf(x) = 2/√π · e^(-x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)); every term has the sign of x. */
function erfSeries(x: number): number {
  const ratio = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= ratio / (2 * n + 1);
    sum += term;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
}

/** erfc(x) = e^(-x²)/√π · 1/(x + ½/(x + 1/(x + 3⁄2/(x + …)))), converged to double precision for x ≥ 3 in 40 terms. */
function erfcContinuedFraction(x: number): number {
  let denominator = x;
  for (let k = 40; k >= 1; k--) denominator = x + k / 2 / denominator;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * denominator);
}

/** Rounds to the nearest integer, ties to even (IEEE and numpy's rule, unlike Math.round). */
function roundHalfToEven(v: number): number {
  const rounded = Math.round(v);
  return rounded - v === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

function negate(v: number): number {
  return -v;
}

function bigNegate(v: bigint): bigint {
  return -v;
}

function bitwiseNot(v: number): number {
  return ~v;
}

function bigBitwiseNot(v: bigint): bigint {
  return ~v;
}

function bigAbs(v: bigint): bigint {
  return v < 0n ? -v : v;
}

function bigSign(v: bigint): bigint {
  return v > 0n ? 1n : v < 0n ? -1n : 0n;
}

/** A kernel applying a function to every element, keeping the input's type. */
function elementwise(
  op: string,
  since: number,
  family: TypeFamily,
  onNumber: (v: number) => number,
  onBigInt?: (v: bigint) => bigint,
): KernelDef {
  return {
    op,
    since,
    run: (ctx) => {
      const x = ctx.input(0);
      requireFamily(ctx, x, family);
      return [mapUnary(x, x.type, onNumber, onBigInt, ctx.output(0, x.type, x.dims))];
    },
  };
}

function detectInfinity(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'float');
  const negative = ctx.int('detect_negative', 1) !== 0;
  const positive = ctx.int('detect_positive', 1) !== 0;
  const isInfinity = (v: number) => Number((v === Infinity && positive) || (v === -Infinity && negative));
  return [mapUnary(x, 'bool', isInfinity, undefined, ctx.output(0, 'bool', x.dims))];
}

function detectNaN(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'float');
  return [mapUnary(x, 'bool', (v) => Number(Number.isNaN(v)), undefined, ctx.output(0, 'bool', x.dims))];
}

export const kernels: KernelDef[] = [
  elementwise('Abs', 1, 'numeric', Math.abs, bigAbs),
  elementwise('Neg', 1, 'signed', negate, bigNegate),
  elementwise('Sign', 9, 'numeric', Math.sign, bigSign),
  elementwise('Floor', 1, 'float', Math.floor),
  elementwise('Ceil', 1, 'float', Math.ceil),
  elementwise('Round', 11, 'float', roundHalfToEven),
  elementwise('Sqrt', 1, 'float', Math.sqrt),
  elementwise('Exp', 1, 'float', Math.exp),
  elementwise('Log', 1, 'float', Math.log),
  elementwise('Reciprocal', 1, 'float', (v) => 1 / v),
  elementwise('Sin', 7, 'float', Math.sin),
  elementwise('Cos', 7, 'float', Math.cos),
  elementwise('Tan', 7, 'float', Math.tan),
  elementwise('Asin', 7, 'float', Math.asin),
  elementwise('Acos', 7, 'float', Math.acos),
  elementwise('Atan', 7, 'float', Math.atan),
  elementwise('Sinh', 9, 'float', Math.sinh),
  elementwise('Cosh', 9, 'float', Math.cosh),
  elementwise('Asinh', 9, 'float', Math.asinh),
  elementwise('Acosh', 9, 'float', Math.acosh),
  elementwise('Atanh', 9, 'float', Math.atanh),
  // Integer inputs are allowed from opset 13; the result is stored truncated, as the output keeps the input type.
  elementwise('Erf', 9, 'numeric', erf),
  elementwise('Not', 1, 'bool', (v) => 1 - v),
  elementwise('BitwiseNot', 18, 'integer', bitwiseNot, bigBitwiseNot),
  { op: 'IsNaN', since: 9, run: detectNaN },
  { op: 'IsInf', since: 10, run: detectInfinity },
];
