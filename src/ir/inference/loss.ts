/**
 * Rules for the losses NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: a scalar when
 * reduced ('mean', 'sum'), otherwise one loss per target element; SoftmaxCrossEntropyLoss may
 * also return the log-probabilities, shaped like the scores.
 */

import { tensorType } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

function loss(ctx: RuleContext): InferredTypes {
  const reduced = ctx.string('reduction', 'mean') !== 'none';
  const perElement = tensorType(ctx.elemType(0), reduced ? [] : ctx.shape(1));
  return [perElement, ctx.tensor(0)];
}

export const rules: InferenceRule[] = [
  { op: 'NegativeLogLikelihoodLoss', infer: loss },
  { op: 'SoftmaxCrossEntropyLoss', infer: loss },
];
