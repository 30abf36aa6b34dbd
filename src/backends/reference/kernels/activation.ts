/**
 * Activation functions: the rectifiers (Relu, LeakyRelu, PRelu, ThresholdedRelu), the exponential
 * family (Elu, Selu, Celu), the sigmoids and their relatives (Sigmoid, HardSigmoid, HardSwish,
 * Softplus, Softsign, Tanh, Gelu, Mish, Swish), Shrink and Clip. All are elementwise and computed
 * in doubles, rounded once to the input's type; the formulas are written to stay finite where the
 * naive ones overflow (Sigmoid and Softplus of large magnitudes).
 */

import { isBigIntType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { toNumbers } from '../util.js';
import { broadcastDims, mapBinary, multiplyFor, requireSameType } from './binary.js';
import { erf, mapUnary, requireFamily } from './unary.js';

const FLOAT32_MAX = 3.4028234663852886e38;

function sigmoid(v: number): number {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/** log(1 + e^v), without overflowing e^v for large v. */
function softplus(v: number): number {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}

function hardSigmoid(v: number, alpha: number, beta: number): number {
  return Math.max(0, Math.min(1, alpha * v + beta));
}

function gelu(ctx: KernelContext): (v: number) => number {
  const approximate = ctx.string('approximate', 'none');
  if (approximate === 'none') return (v) => 0.5 * v * (1 + erf(v / Math.SQRT2));
  if (approximate === 'tanh') {
    const scale = Math.sqrt(2 / Math.PI);
    return (v) => 0.5 * v * (1 + Math.tanh(scale * (v + 0.044715 * v * v * v)));
  }
  ctx.fail(`approximate must be 'none' or 'tanh', got '${approximate}'`);
}

function selu(ctx: KernelContext): (v: number) => number {
  const alpha = ctx.float('alpha', 1.67326319217681884765625);
  const gamma = ctx.float('gamma', 1.05070102214813232421875);
  return (v) => (v > 0 ? gamma * v : gamma * alpha * Math.expm1(v));
}

function celu(ctx: KernelContext): (v: number) => number {
  const alpha = ctx.float('alpha', 1);
  return (v) => Math.max(0, v) + Math.min(0, alpha * Math.expm1(v / alpha));
}

/** Shrink also takes integers; their results are truncated back to the type, as the spec's output type is the input's. */
function shrink(ctx: KernelContext): (v: number) => number {
  const lambd = ctx.float('lambd', 0.5);
  const bias = ctx.float('bias', 0);
  return (v) => (v < -lambd ? v + bias : v > lambd ? v - bias : 0);
}

/** An activation of floats, its formula built once per node from the node's attributes. */
function floatActivation(
  op: string,
  since: number,
  formula: (ctx: KernelContext) => (v: number) => number,
): KernelDef {
  return {
    op,
    since,
    run: (ctx) => {
      const x = ctx.input(0);
      requireFamily(ctx, x, 'float');
      return [mapUnary(x, x.type, formula(ctx), undefined, ctx.output(0, x.type, x.dims))];
    },
  };
}

function rectify(v: number): number {
  return Math.max(v, 0);
}

function bigRectify(v: bigint): bigint {
  return v > 0n ? v : 0n;
}

function relu(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'signed');
  return [mapUnary(x, x.type, rectify, bigRectify, ctx.output(0, x.type, x.dims))];
}

function shrinkKernel(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'numeric');
  return [mapUnary(x, x.type, shrink(ctx), undefined, ctx.output(0, x.type, x.dims))];
}

/**
 * Before opset 7 the slope was either one value or, in the common per-channel use, a vector along
 * axis 1; from opset 7 it broadcasts to X numpy-style. The per-channel slope is laid out to broadcast.
 */
function slopeDims(ctx: KernelContext, x: Tensor, slope: Tensor): readonly number[] {
  const perChannel =
    ctx.opset < 7 && slope.dims.length === 1 && x.dims.length > 2 && slope.dims[0] === x.dims[1];
  return perChannel ? [slope.dims[0]!, ...new Array<number>(x.dims.length - 2).fill(1)] : slope.dims;
}

function prelu(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const slope = ctx.input(1);
  requireFamily(ctx, x, 'numeric');
  requireSameType(ctx, [x, slope]);
  const layout = broadcastDims(ctx, [x.dims, slopeDims(ctx, x, slope)]);
  if (layout.dims.length !== x.dims.length || layout.dims.some((d, i) => d !== x.dims[i])) {
    ctx.fail(
      `slope of dims [${slope.dims.join(', ')}] does not broadcast to input dims [${x.dims.join(', ')}]`,
    );
  }
  const multiply = multiplyFor(x.type);
  const op = {
    number: (v: number, s: number) => (v < 0 ? multiply(v, s) : v),
    bigint: (v: bigint, s: bigint) => (v < 0n ? v * s : v),
  };
  return [mapBinary(ctx, x, slope, x.type, op, layout, ctx.output(0, x.type, x.dims))];
}

/** A Clip bound given as an input (opset 11 on): a single element of X's type. */
function clipBound(ctx: KernelContext, x: Tensor, index: number, name: string): Tensor | undefined {
  const bound = ctx.optionalInput(index);
  if (!bound) return undefined;
  if (bound.type !== x.type) ctx.fail(`${name} has type ${bound.type}, expected the input's type ${x.type}`);
  if (bound.size !== 1) ctx.fail(`${name} must be a single value, got dims [${bound.dims.join(', ')}]`);
  return bound;
}

/** Clamps to [lo, hi]; when lo > hi every value becomes hi, as the spec says. NaN passes through. */
function clamp<T extends number | bigint>(lo: T | undefined, hi: T | undefined): (v: T) => T {
  return (v) => {
    let clamped = v;
    if (lo !== undefined && clamped < lo) clamped = lo;
    if (hi !== undefined && clamped > hi) clamped = hi;
    return clamped;
  };
}

/** Clip: bounds are float attributes before opset 11, optional scalar inputs after (integers from 12). */
function clip(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  if (ctx.opset < 11) {
    requireFamily(ctx, x, 'float');
    const clampToAttributes = clamp(ctx.float('min', -FLOAT32_MAX), ctx.float('max', FLOAT32_MAX));
    return [mapUnary(x, x.type, clampToAttributes, undefined, ctx.output(0, x.type, x.dims))];
  }
  requireFamily(ctx, x, 'numeric');
  const min = clipBound(ctx, x, 1, 'min');
  const max = clipBound(ctx, x, 2, 'max');
  const numberBound = (t: Tensor | undefined) => (t ? toNumbers(t)[0] : undefined);
  const bigIntBound = (t: Tensor | undefined) =>
    t && isBigIntType(t.type) ? (t.data as BigInt64Array)[0] : undefined;
  const out = ctx.output(0, x.type, x.dims);
  return [
    mapUnary(
      x,
      x.type,
      clamp(numberBound(min), numberBound(max)),
      clamp(bigIntBound(min), bigIntBound(max)),
      out,
    ),
  ];
}

export const kernels: KernelDef[] = [
  { op: 'Relu', since: 1, run: relu },
  floatActivation('LeakyRelu', 1, (ctx) => {
    const alpha = ctx.float('alpha', 0.01);
    return (v) => (v < 0 ? alpha * v : v);
  }),
  { op: 'PRelu', since: 1, run: prelu },
  floatActivation('ThresholdedRelu', 10, (ctx) => {
    const alpha = ctx.float('alpha', 1);
    return (v) => (v > alpha ? v : 0);
  }),
  floatActivation('Elu', 1, (ctx) => {
    const alpha = ctx.float('alpha', 1);
    return (v) => (v < 0 ? alpha * Math.expm1(v) : v);
  }),
  floatActivation('Selu', 1, selu),
  floatActivation('Celu', 12, celu),
  floatActivation('Sigmoid', 1, () => sigmoid),
  floatActivation('HardSigmoid', 1, (ctx) => {
    const alpha = ctx.float('alpha', 0.2);
    const beta = ctx.float('beta', 0.5);
    return (v) => hardSigmoid(v, alpha, beta);
  }),
  floatActivation('HardSwish', 14, () => (v) => v * hardSigmoid(v, 1 / 6, 0.5)),
  floatActivation('Softplus', 1, () => softplus),
  floatActivation('Softsign', 1, () => (v) => v / (1 + Math.abs(v))),
  floatActivation('Tanh', 1, () => Math.tanh),
  floatActivation('Gelu', 20, gelu),
  floatActivation('Mish', 18, () => (v) => v * Math.tanh(softplus(v))),
  floatActivation('Swish', 24, (ctx) => {
    const alpha = ctx.float('alpha', 1);
    return (v) => v * sigmoid(alpha * v);
  }),
  { op: 'Shrink', since: 9, run: shrinkKernel },
  { op: 'Clip', since: 1, run: clip },
];
