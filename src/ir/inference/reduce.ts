/**
 * Rules for reductions: the Reduce* family (axes an attribute until ReduceSum-13 and the others'
 * opset 18, an input after; keepdims; noop_with_empty_axes) and ArgMax/ArgMin (one axis, int64).
 */

import type { Dim } from '../graph.js';
import { lengthOfInput, listArgument, rulesFor } from './common.js';
import { normalizeAxes, normalizeAxis, tensorType, unknownDims, withDim, withoutAxis } from './dims.js';
import type { InferenceRule, RuleContext, TensorType } from './rule.js';

const REDUCTIONS = [
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceMax',
  'ReduceMean',
  'ReduceMin',
  'ReduceProd',
  'ReduceSum',
  'ReduceSumSquare',
];

function reduce(ctx: RuleContext): (TensorType | undefined)[] {
  const elemType = ctx.elemType(0);
  const x = ctx.shape(0);
  const axes = listArgument(ctx, 'axes', 1, ctx.node.opType === 'ReduceSum' ? 13 : 18);
  const keepDims = ctx.int('keepdims', 1) !== 0;
  if (!x) return [tensorType(elemType)];
  if (axes === null) return [tensorType(elemType, unknownAxesResult(ctx, x, keepDims))];
  if (!axes || axes.length === 0) {
    if (ctx.int('noop_with_empty_axes', 0) !== 0) return [ctx.tensor(0)];
    return [tensorType(elemType, keepDims ? x.map(() => 1) : [])];
  }
  const reduced = new Set(normalizeAxes(axes, x.length, ctx.fail));
  const shape = keepDims ? x.map((d, i) => (reduced.has(i) ? 1 : d)) : x.filter((_, i) => !reduced.has(i));
  return [tensorType(elemType, shape)];
}

/** Axes given at run time: with keepdims the rank stays (a dim of 1 stays 1); without, the count of axes tells the rank. */
function unknownAxesResult(ctx: RuleContext, x: Dim[], keepDims: boolean): Dim[] | undefined {
  if (keepDims) return x.map((d) => (d === 1 ? 1 : null));
  const count = lengthOfInput(ctx, 1);
  return count !== undefined && count > 0 ? unknownDims(x.length - count) : undefined;
}

function argReduce(ctx: RuleContext): (TensorType | undefined)[] {
  const x = ctx.shape(0);
  if (!x) return [tensorType('int64')];
  const axis = normalizeAxis(ctx.int('axis', 0), x.length, ctx.fail);
  const keepDims = ctx.int('keepdims', 1) !== 0;
  return [tensorType('int64', keepDims ? withDim(x, axis, 1) : withoutAxis(x, axis))];
}

export const rules: InferenceRule[] = [
  ...rulesFor(REDUCTIONS, { infer: reduce }),
  ...rulesFor(['ArgMax', 'ArgMin'], { infer: argReduce }),
];
