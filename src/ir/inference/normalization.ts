/**
 * Rules for normalizations. Every one returns X's type and shape; BatchNormalization's extra
 * outputs are per-channel statistics shaped like its mean input, and LayerNormalization's are
 * the statistics over the normalized axes (kept as size 1), in the stash type.
 */

import { dataTypeFromOnnx } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { rulesFor } from './common.js';
import { normalizeAxis, tensorType } from './dims.js';
import type { InferenceRule, RuleContext, TensorType } from './rule.js';

function batchNormalization(ctx: RuleContext): (TensorType | undefined)[] {
  const statistics = ctx.tensor(3);
  return [ctx.tensor(0), ...new Array<TensorType | undefined>(ctx.outputCount - 1).fill(statistics)];
}

function layerNormalization(ctx: RuleContext): (TensorType | undefined)[] {
  const x = ctx.shape(0);
  const stashType = dataTypeFromOnnx(ctx.int('stash_type', 1));
  if (!stashType) ctx.fail(`attribute 'stash_type' names an unknown data type`);
  if (!x) return [ctx.tensor(0), tensorType(stashType), tensorType(stashType)];
  const axis = normalizeAxis(ctx.int('axis', -1), x.length, ctx.fail);
  const reduced: Dim[] = x.map((d, i) => (i < axis ? d : 1));
  return [ctx.tensor(0), tensorType(stashType, reduced), tensorType(stashType, reduced)];
}

export const rules: InferenceRule[] = [
  { op: 'BatchNormalization', infer: batchNormalization },
  { op: 'LayerNormalization', infer: layerNormalization },
  ...rulesFor(
    [
      'InstanceNormalization',
      'GroupNormalization',
      'RMSNormalization',
      'LpNormalization',
      'MeanVarianceNormalization',
      'LRN',
    ],
    { infer: (ctx) => [ctx.tensor(0)] },
  ),
];
