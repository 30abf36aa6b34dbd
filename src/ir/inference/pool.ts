/**
 * Rules for pooling: windowed pools (MaxPool with its indices, AveragePool, LpPool), global
 * pools (spatial axes become 1), MaxUnpool (the inverse window arithmetic) and the region pools
 * MaxRoiPool and RoiAlign (one pooled map per region).
 */

import type { Dim } from '../graph.js';
import { rulesFor, shapeArgument } from './common.js';
import { tensorType } from './dims.js';
import type { InferenceRule, RuleContext, TensorType } from './rule.js';
import { readWindow, windowOutput } from './windows.js';

function pooledShape(ctx: RuleContext): Dim[] | undefined {
  const x = ctx.shape(0);
  if (!x) return undefined;
  if (x.length < 3) ctx.fail(`pooling needs rank 3 or more, got rank ${x.length}`);
  return [x[0]!, x[1]!, ...windowOutput(ctx, x.slice(2), readWindow(ctx, x.length - 2))];
}

function windowPool(ctx: RuleContext): (TensorType | undefined)[] {
  const shape = pooledShape(ctx);
  // Only MaxPool has a second output: the flat indices of the maxima.
  return [tensorType(ctx.elemType(0), shape), tensorType('int64', shape)];
}

function globalPool(ctx: RuleContext): (TensorType | undefined)[] {
  const x = ctx.shape(0);
  if (x && x.length < 2) ctx.fail(`global pooling needs rank 2 or more, got rank ${x.length}`);
  return [tensorType(ctx.elemType(0), x && [x[0]!, x[1]!, ...new Array<Dim>(x.length - 2).fill(1)])];
}

function maxUnpool(ctx: RuleContext): (TensorType | undefined)[] {
  const elemType = ctx.elemType(0);
  if (ctx.hasInput(2)) return [tensorType(elemType, shapeArgument(ctx, 2))];
  const x = ctx.shape(0);
  if (!x) return [tensorType(elemType)];
  const spatialRank = x.length - 2;
  const window = readWindow(ctx, spatialRank);
  const spatial = x.slice(2).map((size, axis): Dim => {
    const kernel = window.kernel[axis];
    if (typeof size !== 'number' || kernel === undefined) return null;
    const pads = window.pads[axis]! + window.pads[axis + spatialRank]!;
    return (size - 1) * window.strides[axis]! + kernel - pads;
  });
  return [tensorType(elemType, [x[0]!, x[1]!, ...spatial])];
}

function regionPool(height: (ctx: RuleContext) => number, width: (ctx: RuleContext) => number) {
  return (ctx: RuleContext): (TensorType | undefined)[] => {
    const x = ctx.shape(0);
    const rois = ctx.shape(1);
    return [tensorType(ctx.elemType(0), [rois?.[0] ?? null, x?.[1] ?? null, height(ctx), width(ctx)])];
  };
}

function pooledSize(ctx: RuleContext, index: number): number {
  const shape = ctx.ints('pooled_shape');
  if (!shape || shape.length !== 2) ctx.fail(`attribute 'pooled_shape' must hold 2 values`);
  return shape[index]!;
}

export const rules: InferenceRule[] = [
  ...rulesFor(['MaxPool', 'AveragePool', 'LpPool'], { infer: windowPool }),
  ...rulesFor(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'], { infer: globalPool }),
  { op: 'MaxUnpool', infer: maxUnpool },
  {
    op: 'MaxRoiPool',
    infer: regionPool(
      (ctx) => pooledSize(ctx, 0),
      (ctx) => pooledSize(ctx, 1),
    ),
  },
  {
    op: 'RoiAlign',
    infer: regionPool(
      (ctx) => ctx.int('output_height', 1),
      (ctx) => ctx.int('output_width', 1),
    ),
  },
];
