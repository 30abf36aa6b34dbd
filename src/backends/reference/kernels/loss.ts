/**
 * Classification losses: NegativeLogLikelihoodLoss, and SoftmaxCrossEntropyLoss, which is the same
 * loss taken on the log-softmax of its scores (returned as the optional second output). Inputs are
 * [N, C, d1, ..., dk] scores with [N, d1, ..., dk] class targets; a target equal to ignore_index
 * contributes nothing, neither loss nor weight.
 */

import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { readInts, shapeSize, toNumbers } from '../util.js';

type LossReduction = 'none' | 'sum' | 'mean';

function lossReduction(ctx: KernelContext): LossReduction {
  const reduction = ctx.string('reduction', 'mean');
  if (reduction !== 'none' && reduction !== 'sum' && reduction !== 'mean') {
    ctx.fail(`reduction must be 'none', 'sum' or 'mean', got '${reduction}'`);
  }
  return reduction;
}

interface ClassLayout {
  batch: number;
  classes: number;
  /** Positions per sample: d1 * ... * dk. */
  positions: number;
}

/** Validates the shapes of scores, target and weight against each other. */
function classLayout(
  ctx: KernelContext,
  scores: Tensor,
  target: Tensor,
  weight: Tensor | undefined,
): ClassLayout {
  const dims = scores.dims;
  if (dims.length < 2) ctx.fail(`the input must have at least 2 dims [N, C, ...], got [${dims.join(', ')}]`);
  const expectedTarget = [dims[0]!, ...dims.slice(2)];
  if (target.dims.length !== expectedTarget.length || target.dims.some((d, i) => d !== expectedTarget[i])) {
    ctx.fail(`target dims [${target.dims.join(', ')}] must be [${expectedTarget.join(', ')}]`);
  }
  const classes = dims[1]!;
  if (weight && (weight.dims.length !== 1 || weight.dims[0] !== classes)) {
    ctx.fail(`weight dims [${weight.dims.join(', ')}] must be [${classes}]`);
  }
  return { batch: dims[0]!, classes, positions: shapeSize(dims.slice(2)) };
}

/**
 * The weighted negative log-likelihood of `logProbs` (laid out [N, C, positions]) at the targets,
 * reduced as asked. Returns the loss values and their dims.
 */
function negativeLogLikelihood(
  ctx: KernelContext,
  layout: ClassLayout,
  logProbs: ArrayLike<number>,
  target: Tensor,
  weight: Tensor | undefined,
): { values: number[]; dims: number[] } {
  const { batch, classes, positions } = layout;
  const targets = readInts(target);
  const weights = weight ? toNumbers(weight) : undefined;
  const ignoreIndex = ctx.has('ignore_index') ? ctx.int('ignore_index') : undefined;
  const losses = new Array<number>(targets.length);
  let lossSum = 0;
  let weightSum = 0;
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < positions; p++) {
      const at = n * positions + p;
      const cls = targets[at]!;
      if (cls === ignoreIndex) {
        losses[at] = 0;
        continue;
      }
      if (cls < 0 || cls >= classes) ctx.fail(`target ${cls} is out of range for ${classes} classes`);
      const w = weights ? weights[cls]! : 1;
      losses[at] = -logProbs[(n * classes + cls) * positions + p]! * w;
      lossSum += losses[at]!;
      weightSum += w;
    }
  }
  const reduction = lossReduction(ctx);
  if (reduction === 'none') return { values: losses, dims: [...target.dims] };
  return { values: [reduction === 'sum' ? lossSum : lossSum / weightSum], dims: [] };
}

function checkFloat(ctx: KernelContext, t: Tensor, what: string): void {
  if (t.type !== 'float32' && t.type !== 'float64' && t.type !== 'float16' && t.type !== 'bfloat16') {
    ctx.fail(`${what} must be a float tensor, got ${t.type}`);
  }
}

/** log-softmax over the class axis (axis 1) of [N, C, positions] scores. */
function logSoftmaxOverClasses(scores: Tensor, { batch, classes, positions }: ClassLayout): Float64Array {
  const values = toNumbers(scores);
  const out = new Float64Array(values.length);
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < positions; p++) {
      const base = n * classes * positions + p;
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, values[base + c * positions]!);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(values[base + c * positions]! - max);
      const logSum = max + Math.log(sum);
      for (let c = 0; c < classes; c++) out[base + c * positions] = values[base + c * positions]! - logSum;
    }
  }
  return out;
}

export const kernels: KernelDef[] = [
  {
    op: 'NegativeLogLikelihoodLoss',
    since: 12,
    run: (ctx) => {
      const input = ctx.input(0);
      checkFloat(ctx, input, 'input');
      const target = ctx.input(1);
      const weight = ctx.optionalInput(2);
      const layout = classLayout(ctx, input, target, weight);
      const loss = negativeLogLikelihood(ctx, layout, toNumbers(input), target, weight);
      return [ctx.outputFromNumbers(0, input.type, loss.values, loss.dims)];
    },
  },
  {
    op: 'SoftmaxCrossEntropyLoss',
    since: 12,
    run: (ctx) => {
      const scores = ctx.input(0);
      checkFloat(ctx, scores, 'scores');
      const target = ctx.input(1);
      const weight = ctx.optionalInput(2);
      const layout = classLayout(ctx, scores, target, weight);
      const logProbs = logSoftmaxOverClasses(scores, layout);
      const loss = negativeLogLikelihood(ctx, layout, logProbs, target, weight);
      return [
        ctx.outputFromNumbers(0, scores.type, loss.values, loss.dims),
        ctx.wantsOutput(1) ? ctx.outputFromNumbers(1, scores.type, logProbs, scores.dims) : undefined,
      ];
    },
  },
];
