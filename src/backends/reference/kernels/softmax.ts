/**
 * Softmax, LogSoftmax and Hardmax. Each normalizes "lanes" of the input: before opset 13 the input
 * is coerced to 2-D at `axis` (default 1) and every row is one lane; from opset 13 a lane is the
 * run of elements along `axis` (default -1). The three operators differ only in how a lane is
 * transformed, so one kernel factory takes that transform as data.
 */

import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { commitNumbers, normalizeAxis, numberSink, shapeSize, splitAxis, toNumbers } from '../util.js';

/** Rewrites `lane` (a copy of one lane's values, computed in float64) in place. */
type LaneTransform = (lane: Float64Array) => void;

function laneMax(lane: Float64Array): number {
  let max = -Infinity;
  for (const v of lane) if (v > max || v !== v) max = v;
  return max;
}

/** exp(v - max) in place, returning their sum: the max shift keeps exp from overflowing. */
function shiftedExpSum(lane: Float64Array, max: number): number {
  let sum = 0;
  for (let k = 0; k < lane.length; k++) {
    lane[k] = Math.exp(lane[k]! - max);
    sum += lane[k]!;
  }
  return sum;
}

/** Softmax of one lane in place; also what the fused attention kernel applies to each score row. */
export const softmaxLane: LaneTransform = (lane) => {
  const sum = shiftedExpSum(lane, laneMax(lane));
  for (let k = 0; k < lane.length; k++) lane[k] = lane[k]! / sum;
};

const logSoftmax: LaneTransform = (lane) => {
  const max = laneMax(lane);
  const logSum = Math.log(shiftedExpSum(Float64Array.from(lane), max));
  for (let k = 0; k < lane.length; k++) lane[k] = lane[k]! - max - logSum;
};

/** One-hot of the first maximum. */
const hardmax: LaneTransform = (lane) => {
  let best = 0;
  for (let k = 1; k < lane.length; k++) if (lane[k]! > lane[best]!) best = k;
  lane.fill(0);
  if (lane.length > 0) lane[best] = 1;
};

/** The input seen as [outer, laneLength, inner]; lanes run along the middle dimension. */
export interface LaneLayout {
  outer: number;
  laneLength: number;
  inner: number;
}

/**
 * The lanes of Softmax, LogSoftmax and Hardmax (and of Softmax's Gradient rule and the wasm
 * kernels), given the node's `axis` attribute when it has one. Before opset 13 the input is coerced
 * to 2-D at the axis (default 1) and a lane spans everything after it; from 13 a lane is the one
 * axis (default -1).
 */
export function softmaxLanes(
  dims: readonly number[],
  opset: number,
  axisAttribute: number | undefined,
  fail: (reason: string) => never,
): LaneLayout {
  const rank = dims.length;
  if (opset < 13) {
    const axis = splitAxis(axisAttribute ?? 1, rank, fail);
    return { outer: shapeSize(dims.slice(0, axis)), laneLength: shapeSize(dims.slice(axis)), inner: 1 };
  }
  const axis = normalizeAxis(axisAttribute ?? -1, rank, fail);
  return {
    outer: shapeSize(dims.slice(0, axis)),
    laneLength: dims[axis]!,
    inner: shapeSize(dims.slice(axis + 1)),
  };
}

function laneLayout(ctx: KernelContext, dims: readonly number[]): LaneLayout {
  return softmaxLanes(dims, ctx.opset, ctx.has('axis') ? ctx.int('axis') : undefined, ctx.fail.bind(ctx));
}

/** Transforms every lane of `x` into `out`, rounding each value once as it is stored. */
function applyToLanes(x: Tensor, layout: LaneLayout, transform: LaneTransform, out: Tensor): Tensor {
  const values = toNumbers(x);
  const sink = numberSink(out);
  const { outer, laneLength, inner } = layout;
  const lane = new Float64Array(laneLength);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * laneLength * inner + i;
      for (let k = 0; k < laneLength; k++) lane[k] = values[base + k * inner]!;
      transform(lane);
      for (let k = 0; k < laneLength; k++) sink[base + k * inner] = lane[k]!;
    }
  }
  return commitNumbers(out, sink);
}

function laneKernel(op: string, transform: LaneTransform): KernelDef {
  return {
    op,
    since: 1,
    run: (ctx) => {
      const x = ctx.input(0);
      if (x.type !== 'float32' && x.type !== 'float64' && x.type !== 'float16' && x.type !== 'bfloat16') {
        ctx.fail(`${op} takes float tensors, got ${x.type}`);
      }
      return [applyToLanes(x, laneLayout(ctx, x.dims), transform, ctx.output(0, x.type, x.dims))];
    },
  };
}

export const kernels: KernelDef[] = [
  laneKernel('Softmax', softmaxLane),
  laneKernel('LogSoftmax', logSoftmax),
  laneKernel('Hardmax', hardmax),
];
