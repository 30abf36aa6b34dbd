/**
 * Rules for resampling: Resize (sizes, or scales with the output rounded down; opset 18's axes
 * and keep_aspect_ratio_policy), Upsample, GridSample and AffineGrid.
 */

import type { Dim } from '../graph.js';
import { formatShape, normalizeAxes, tensorType, unknownDims } from './dims.js';
import { elementsAsDims, knownNumbers } from './known-values.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

/** The size of an axis scaled by `scale`, rounded down as the reference does. */
function scaledDim(dim: Dim, scale: number): Dim {
  if (scale === 1) return dim;
  return typeof dim === 'number' ? Math.floor(dim * scale) : null;
}

function scaledShape(ctx: RuleContext, x: Dim[], scales: number[] | undefined): Dim[] {
  if (!scales) return unknownDims(x.length);
  if (scales.length !== x.length) ctx.fail(`${scales.length} scales for an input of rank ${x.length}`);
  return x.map((d, i) => scaledDim(d, scales[i]!));
}

/** Sizes, or scales, spread over all axes when opset 18's `axes` names only some. */
function spreadOverAxes<T>(ctx: RuleContext, x: Dim[], given: T[], fill: (axis: number) => T): T[] {
  const axes = ctx.opset >= 18 ? ctx.ints('axes') : undefined;
  if (!axes) return given;
  const normalized = normalizeAxes(axes, x.length, ctx.fail);
  if (given.length !== normalized.length) ctx.fail(`${given.length} values for ${normalized.length} axes`);
  return x.map((_, axis) => (normalized.includes(axis) ? given[normalized.indexOf(axis)]! : fill(axis)));
}

function sizedShape(ctx: RuleContext, x: Dim[], sizes: Dim[]): Dim[] {
  const policy = ctx.opset >= 18 ? ctx.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
  const requested = spreadOverAxes<Dim>(ctx, x, sizes, (axis) => x[axis]!);
  if (requested.length !== x.length) ctx.fail(`${requested.length} sizes for an input of rank ${x.length}`);
  if (policy === 'stretch') return requested;
  const axes = (ctx.ints('axes') ?? x.map((_, i) => i)).map((a) => (a < 0 ? a + x.length : a));
  const ratios = axes.map((axis) => {
    const [size, dim] = [requested[axis], x[axis]];
    return typeof size === 'number' && typeof dim === 'number' ? size / dim : undefined;
  });
  if (ratios.some((r) => r === undefined)) return x.map((d, i) => (axes.includes(i) ? null : d));
  const scale =
    policy === 'not_larger' ? Math.min(...(ratios as number[])) : Math.max(...(ratios as number[]));
  // The policy keeps the aspect ratio: one scale for every axis, rounded half up.
  return x.map((d, i) => (axes.includes(i) ? Math.floor(scale * (d as number) + 0.5) : d));
}

function resizedShape(ctx: RuleContext, x: Dim[]): Dim[] {
  if (ctx.opset < 11) return scaledShape(ctx, x, knownNumbers(ctx.value(1)));
  const sizes = ctx.value(3);
  const sizesLength = sizes?.elements.length ?? ctx.shape(3)?.[0];
  if (ctx.hasInput(3) && sizesLength !== 0) {
    return sizes ? sizedShape(ctx, x, elementsAsDims(sizes)) : unknownDims(x.length);
  }
  // tf_crop_and_resize scales only the region of interest, whose bounds the rounding depends on.
  if (ctx.string('coordinate_transformation_mode', 'half_pixel') === 'tf_crop_and_resize') {
    return unknownDims(x.length);
  }
  const scales = knownNumbers(ctx.value(2));
  return scaledShape(ctx, x, scales && spreadOverAxes(ctx, x, scales, () => 1));
}

function resize(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  return [tensorType(ctx.elemType(0), x && resizedShape(ctx, x))];
}

function upsample(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0))];
  // Upsample-7 took scales as an attribute; Upsample-9 as input 1.
  const scales = ctx.opset < 9 ? ctx.floats('scales') : knownNumbers(ctx.value(1));
  return [tensorType(ctx.elemType(0), scaledShape(ctx, x, scales))];
}

function gridSample(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const grid = ctx.shape(1);
  if (!x || !grid) return [tensorType(ctx.elemType(0))];
  if (grid.length !== x.length) {
    ctx.fail(`grid ${formatShape(grid)} does not match the rank of X ${formatShape(x)}`);
  }
  return [tensorType(ctx.elemType(0), [x[0]!, x[1]!, ...grid.slice(1, -1)])];
}

/** AffineGrid: theta [N, r, r + 1] and size [N, C, spatial...] give a grid [N, spatial..., r]. */
function affineGrid(ctx: RuleContext): InferredTypes {
  const size = ctx.value(1);
  const theta = ctx.shape(0);
  if (size) {
    const [n, , ...spatial] = elementsAsDims(size);
    return [tensorType(ctx.elemType(0), [n ?? null, ...spatial, spatial.length])];
  }
  const spatialRank = theta?.[1];
  if (typeof spatialRank !== 'number') return [tensorType(ctx.elemType(0))];
  return [tensorType(ctx.elemType(0), [theta![0]!, ...unknownDims(spatialRank), spatialRank])];
}

export const rules: InferenceRule[] = [
  { op: 'Resize', infer: resize },
  { op: 'Upsample', infer: upsample },
  { op: 'GridSample', infer: gridSample },
  { op: 'AffineGrid', infer: affineGrid },
];
