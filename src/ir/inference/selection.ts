/**
 * Rules for operators that select some elements by value: TopK (k along one axis, with int64
 * indices), Unique and NonMaxSuppression, whose result sizes depend on the data and stay unknown.
 */

import { knownScalarNumber } from './known-values.js';
import { dimProduct, normalizeAxis, tensorType, withDim } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

function topK(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0)), tensorType('int64')];
  const axis = normalizeAxis(ctx.int('axis', -1), x.length, ctx.fail);
  // TopK-1 took k as an attribute; from opset 10 it is input 1.
  const k = ctx.opset < 10 ? (ctx.has('k') ? ctx.int('k', 0) : undefined) : knownScalarNumber(ctx.value(1));
  const size = x[axis]!;
  if (k !== undefined && typeof size === 'number' && k > size) {
    ctx.fail(`k = ${k} exceeds the axis size ${size}`);
  }
  const shape = withDim(x, axis, k ?? null);
  return [tensorType(ctx.elemType(0), shape), tensorType('int64', shape)];
}

/**
 * Unique: the unique values (along `axis`, or of the flattened input), where each first occurs,
 * where each input element went, and how often each occurs. How many there are is up to the data.
 */
function unique(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const elemType = ctx.elemType(0);
  const perUnique = tensorType('int64', [null]);
  if (!ctx.has('axis')) {
    const size = x ? dimProduct(x) : null;
    return [tensorType(elemType, [null]), perUnique, tensorType('int64', [size]), perUnique];
  }
  if (!x) return [tensorType(elemType), perUnique, tensorType('int64', [null]), perUnique];
  const axis = normalizeAxis(ctx.int('axis', 0), x.length, ctx.fail);
  return [
    tensorType(elemType, withDim(x, axis, null)),
    perUnique,
    tensorType('int64', [x[axis]!]),
    perUnique,
  ];
}

export const rules: InferenceRule[] = [
  { op: 'TopK', infer: topK },
  { op: 'Unique', infer: unique },
  // One row (batch, class, box) per selected box; how many is up to the data.
  { op: 'NonMaxSuppression', infer: () => [tensorType('int64', [null, 3])] },
];
