/**
 * Rules for the ai.onnx.ml operators Heddle runs: LabelEncoder (typed by its values), Binarizer,
 * ArrayFeatureExtractor (picks columns of the last axis) and TreeEnsemble (one column per target).
 */

import type { DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { dimProduct, tensorType } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

const ML_DOMAIN = 'ai.onnx.ml';

function labelEncoderType(ctx: RuleContext): DataType | undefined {
  if (ctx.has('values_strings')) return 'string';
  if (ctx.has('values_int64s')) return 'int64';
  if (ctx.has('values_floats')) return 'float32';
  return ctx.tensorAttribute('values_tensor')?.type;
}

function arrayFeatureExtractor(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const indices = ctx.shape(1);
  const picked = indices ? dimProduct(indices) : null;
  if (!x) return [tensorType(ctx.elemType(0))];
  // A 1-D input gives one row of the picked elements.
  const shape: Dim[] = x.length === 1 ? [1, picked] : [...x.slice(0, -1), picked];
  return [tensorType(ctx.elemType(0), shape)];
}

function treeEnsemble(ctx: RuleContext): InferredTypes {
  const rows = ctx.shape(0)?.[0] ?? null;
  const targets = ctx.has('n_targets') ? ctx.int('n_targets', 0) : null;
  return [tensorType(ctx.elemType(0), [rows, targets])];
}

export const rules: InferenceRule[] = [
  {
    domain: ML_DOMAIN,
    op: 'LabelEncoder',
    infer: (ctx) => [tensorType(labelEncoderType(ctx), ctx.shape(0))],
  },
  { domain: ML_DOMAIN, op: 'Binarizer', infer: (ctx) => [ctx.tensor(0)] },
  { domain: ML_DOMAIN, op: 'ArrayFeatureExtractor', infer: arrayFeatureExtractor },
  { domain: ML_DOMAIN, op: 'TreeEnsemble', infer: treeEnsemble },
];
