/**
 * Rules for operators that pick elements by index or by condition: Gather (which also folds, as
 * `Gather(Shape(x), i)` is how exporters read one dim), GatherElements, GatherND, Compress,
 * NonZero (whose count is data-dependent unless its input is known) and OneHot.
 */

import type { Dim } from '../graph.js';
import { formatShape, normalizeAxis, tensorType, withDim } from './dims.js';
import { knownNumbers, knownScalarNumber, MAX_KNOWN_ELEMENTS } from './known-values.js';
import type { InferenceRule, InferredTypes, KnownValue, RuleContext } from './rule.js';

function gather(ctx: RuleContext): InferredTypes {
  const data = ctx.shape(0);
  const indices = ctx.shape(1);
  if (!data || !indices) return [tensorType(ctx.elemType(0))];
  const axis = normalizeAxis(ctx.int('axis', 0), data.length, ctx.fail);
  const size = data[axis]!;
  const known = knownNumbers(ctx.value(1));
  if (known && typeof size === 'number') {
    const bad = known.find((i) => i < -size || i >= size);
    if (bad !== undefined) ctx.fail(`index ${bad} is out of range for axis ${axis} of size ${size}`);
  }
  return [tensorType(ctx.elemType(0), [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)])];
}

function foldGather(ctx: RuleContext): (KnownValue | undefined)[] {
  const data = ctx.value(0);
  const indices = ctx.value(1);
  const picks = knownNumbers(indices);
  if (!data || !indices || !picks) return [];
  const axis = normalizeAxis(ctx.int('axis', 0), data.shape.length, ctx.fail);
  const outer = data.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const size = data.shape[axis]!;
  const inner = data.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (outer * picks.length * inner > MAX_KNOWN_ELEMENTS) return [];
  const elements: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    for (const pick of picks) {
      const start = (o * size + (pick < 0 ? pick + size : pick)) * inner;
      elements.push(...data.elements.slice(start, start + inner));
    }
  }
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  return [{ elemType: data.elemType, shape, elements }];
}

function gatherND(ctx: RuleContext): InferredTypes {
  const data = ctx.shape(0);
  const indices = ctx.shape(1);
  const depth = indices?.[indices.length - 1];
  if (!data || !indices || typeof depth !== 'number') return [tensorType(ctx.elemType(0))];
  const batchDims = ctx.int('batch_dims', 0);
  if (batchDims + depth > data.length) {
    ctx.fail(`indices ${formatShape(indices)} index deeper than data ${formatShape(data)} allows`);
  }
  return [tensorType(ctx.elemType(0), [...indices.slice(0, -1), ...data.slice(batchDims + depth)])];
}

/** How many of the first `limit` known conditions are true, or null. */
function countTrue(value: KnownValue | undefined, limit = Infinity): Dim {
  const conditions = knownNumbers(value);
  return conditions ? conditions.slice(0, limit).filter((c) => c !== 0).length : null;
}

function compress(ctx: RuleContext): InferredTypes {
  const data = ctx.shape(0);
  if (!ctx.has('axis')) return [tensorType(ctx.elemType(0), [countTrue(ctx.value(1))])];
  if (!data) return [tensorType(ctx.elemType(0))];
  const axis = normalizeAxis(ctx.int('axis', 0), data.length, ctx.fail);
  const size = data[axis]!;
  const kept = countTrue(ctx.value(1), typeof size === 'number' ? size : Infinity);
  return [tensorType(ctx.elemType(0), withDim(data, axis, kept))];
}

function nonZero(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  return [tensorType('int64', [x ? x.length : null, countTrue(ctx.value(0))])];
}

function oneHot(ctx: RuleContext): InferredTypes {
  const indices = ctx.shape(0);
  const elemType = ctx.elemType(2);
  if (!indices) return [tensorType(elemType)];
  const axis = normalizeAxis(ctx.int('axis', -1), indices.length + 1, ctx.fail);
  const depth = knownScalarNumber(ctx.value(1));
  const out = [...indices];
  out.splice(axis, 0, depth === undefined ? null : Math.trunc(depth));
  return [tensorType(elemType, out)];
}

export const rules: InferenceRule[] = [
  { op: 'Gather', infer: gather, fold: foldGather },
  { op: 'GatherElements', infer: (ctx) => [tensorType(ctx.elemType(0), ctx.shape(1))] },
  { op: 'GatherND', infer: gatherND },
  { op: 'Compress', infer: compress },
  { op: 'NonZero', infer: nonZero },
  { op: 'OneHot', infer: oneHot },
];
