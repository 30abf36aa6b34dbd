/**
 * Rules for the optimizers of ai.onnx.preview.training (Adagrad, Momentum, Adam): after the rate
 * R and step count T come groups of n tensors (weights, gradients, then per-weight state), and
 * each output group is the updated copy of one input group, so it has that group's types.
 */

import { TRAINING_DOMAIN } from '../graph.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

/** An optimizer with `groups` input groups whose outputs update the groups listed in `updated`. */
function optimizer(groups: number, updated: number[]) {
  return (ctx: RuleContext): InferredTypes => {
    const n = (ctx.inputCount - 2) / groups;
    if (!Number.isInteger(n)) ctx.fail(`${ctx.inputCount - 2} tensors do not form ${groups} equal groups`);
    return updated.flatMap((group) => Array.from({ length: n }, (_, i) => ctx.inputType(2 + group * n + i)));
  };
}

export const rules: InferenceRule[] = [
  // Inputs X, G, H; outputs X_new, H_new.
  { domain: TRAINING_DOMAIN, op: 'Adagrad', infer: optimizer(3, [0, 2]) },
  // Inputs X, G, V; outputs X_new, V_new.
  { domain: TRAINING_DOMAIN, op: 'Momentum', infer: optimizer(3, [0, 2]) },
  // Inputs X, G, V, H; outputs X_new, V_new, H_new.
  { domain: TRAINING_DOMAIN, op: 'Adam', infer: optimizer(4, [0, 2, 3]) },
];
