/**
 * Rules for the operators that change only the element type: Cast (type from `to`), CastLike
 * (type of its second input) and BitCast. Cast folds known values, since exporters cast shape
 * tensors between int64, int32 and float on their way to Reshape or Resize.
 */

import { dataTypeFromOnnxName, isFloatType, isIntegerType, type DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { dataTypeAttribute } from './common.js';
import { tensorType } from './dims.js';
import { storeAs } from './known-values.js';
import type { InferenceRule, InferredTypes, KnownValue, RuleContext } from './rule.js';

function castTo(ctx: RuleContext, elemType: DataType | undefined): InferredTypes {
  return [tensorType(elemType, ctx.shape(0))];
}

/** A symbolic dim stays itself in any numeric type; it has no boolean or string form to keep. */
function castElement(element: Dim, to: DataType): Dim {
  if (typeof element === 'number') return storeAs(to, element);
  return isIntegerType(to) || isFloatType(to) ? element : null;
}

function foldCast(to: (ctx: RuleContext) => DataType | undefined) {
  return (ctx: RuleContext): (KnownValue | undefined)[] => {
    const input = ctx.value(0);
    const target = to(ctx);
    if (!input || !target || !(isIntegerType(target) || isFloatType(target) || target === 'bool')) return [];
    return [
      { elemType: target, shape: input.shape, elements: input.elements.map((e) => castElement(e, target)) },
    ];
  };
}

function castTarget(ctx: RuleContext): DataType | undefined {
  const to = ctx.attribute('to');
  if (to?.type !== 'string') return dataTypeAttribute(ctx, 'to');
  return dataTypeFromOnnxName(to.value) ?? ctx.fail(`attribute 'to' names unknown type '${to.value}'`);
}

const likeTarget = (ctx: RuleContext) => ctx.elemType(1);

export const rules: InferenceRule[] = [
  { op: 'Cast', infer: (ctx) => castTo(ctx, castTarget(ctx)), fold: foldCast(castTarget) },
  { op: 'CastLike', infer: (ctx) => castTo(ctx, likeTarget(ctx)), fold: foldCast(likeTarget) },
  // Same bit width in and out (the operator requires it), so the shape is unchanged.
  { op: 'BitCast', infer: (ctx) => castTo(ctx, castTarget(ctx)) },
];
