/**
 * Rules for convolutions: Conv and its integer, quantized and deformable forms (N from X,
 * channels from W, spatial sizes from the window), ConvTranspose (its output grows by the
 * strides) and Col2Im (columns folded back into an image).
 */

import type { DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { shapeArgument } from './common.js';
import {
  divideDim,
  dimProduct,
  dimsCompatible,
  formatShape,
  multiplyDims,
  tensorType,
  unknownDims,
} from './dims.js';
import { knownNumbers } from './known-values.js';
import type { InferenceRule, RuleContext, TensorType } from './rule.js';
import { readWindow, windowOutput } from './windows.js';

/** Input rank from X or, when X's shape is unknown, from W; fails below rank 3. */
function convolutionRank(ctx: RuleContext, x: Dim[] | undefined, w: Dim[] | undefined): number | undefined {
  const rank = x?.length ?? w?.length;
  if (rank !== undefined && rank < 3) ctx.fail(`a convolution needs rank 3 or more, got rank ${rank}`);
  return rank;
}

function checkChannels(
  ctx: RuleContext,
  x: Dim[] | undefined,
  w: Dim[] | undefined,
  perGroup: Dim,
  total: Dim,
): void {
  if (x && w && !dimsCompatible(x[1]!, total)) {
    ctx.fail(
      `X ${formatShape(x)} has ${x[1]} channels, W ${formatShape(w)} expects ${total} (${perGroup} per group)`,
    );
  }
}

function convolution(xIndex: number, wIndex: number, elemType: (ctx: RuleContext) => DataType | undefined) {
  return (ctx: RuleContext): (TensorType | undefined)[] => {
    const x = ctx.shape(xIndex);
    const w = ctx.shape(wIndex);
    const rank = convolutionRank(ctx, x, w);
    if (rank === undefined) return [tensorType(elemType(ctx))];
    const window = readWindow(ctx, rank - 2, w?.slice(2));
    const perGroup = w?.[1] ?? null;
    checkChannels(ctx, x, w, perGroup, multiplyDims(perGroup, ctx.int('group', 1)));
    const spatial = x ? windowOutput(ctx, x.slice(2), window) : unknownDims(rank - 2);
    return [tensorType(elemType(ctx), [x?.[0] ?? null, w?.[0] ?? null, ...spatial])];
  };
}

function convTranspose(ctx: RuleContext): (TensorType | undefined)[] {
  const x = ctx.shape(0);
  const w = ctx.shape(1);
  const rank = convolutionRank(ctx, x, w);
  if (rank === undefined) return [tensorType(ctx.elemType(0))];
  const spatialRank = rank - 2;
  const group = ctx.int('group', 1);
  checkChannels(ctx, x, w, w ? divideDim(w[0]!, group) : null, w?.[0] ?? null);
  const channels = multiplyDims(w?.[1] ?? null, group);
  const explicit = ctx.ints('output_shape');
  // output_shape may give all dims or only the spatial ones.
  const requested = explicit?.slice(explicit.length - spatialRank);
  if (requested) return [tensorType(ctx.elemType(0), [x?.[0] ?? null, channels, ...requested])];
  const window = readWindow(ctx, spatialRank, w?.slice(2));
  const outputPadding = ctx.ints('output_padding') ?? new Array<number>(spatialRank).fill(0);
  const spatial = (x?.slice(2) ?? unknownDims(spatialRank)).map((size, axis): Dim => {
    const kernel = window.kernel[axis];
    const stride = window.strides[axis]!;
    if (typeof size !== 'number') return null;
    if (window.autoPad === 'SAME_UPPER' || window.autoPad === 'SAME_LOWER') return size * stride;
    if (kernel === undefined) return null;
    const pads = window.autoPad === 'VALID' ? 0 : window.pads[axis]! + window.pads[axis + spatialRank]!;
    const span = (kernel - 1) * window.dilations[axis]! + 1;
    return stride * (size - 1) + outputPadding[axis]! + span - pads;
  });
  return [tensorType(ctx.elemType(0), [x?.[0] ?? null, channels, ...spatial])];
}

function col2Im(ctx: RuleContext): (TensorType | undefined)[] {
  const input = ctx.shape(0);
  const imageDims = shapeArgument(ctx, 1);
  const block = knownNumbers(ctx.value(2));
  if (!imageDims) return [tensorType(ctx.elemType(0))];
  const blockSize = block ? dimProduct(block) : null;
  const channels = input && typeof blockSize === 'number' ? divideDim(input[1]!, blockSize) : null;
  return [tensorType(ctx.elemType(0), [input?.[0] ?? null, channels, ...imageDims])];
}

export const rules: InferenceRule[] = [
  { op: 'Conv', infer: convolution(0, 1, (ctx) => ctx.elemType(0)) },
  { op: 'ConvInteger', infer: convolution(0, 1, () => 'int32') },
  // Quantized like its output zero point (input 7).
  { op: 'QLinearConv', infer: convolution(0, 3, (ctx) => ctx.elemType(7)) },
  { op: 'DeformConv', infer: convolution(0, 1, (ctx) => ctx.elemType(0)) },
  { op: 'ConvTranspose', infer: convTranspose },
  { op: 'Col2Im', infer: col2Im },
];
