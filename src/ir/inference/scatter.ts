/**
 * Rules for the scatter family (Scatter, ScatterElements, ScatterND, TensorScatter): each writes
 * updates into a copy of its data input, so the result is shaped and typed like the data.
 */

import { rulesFor } from './common.js';
import type { InferenceRule } from './rule.js';

export const rules: InferenceRule[] = rulesFor(['Scatter', 'ScatterElements', 'ScatterND', 'TensorScatter'], {
  infer: (ctx) => [ctx.tensor(0)],
});
