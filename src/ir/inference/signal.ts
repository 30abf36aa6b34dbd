/**
 * Rules for the signal operators: DFT and STFT (complex results as a trailing axis of 2, a
 * one-sided transform keeping half the bins plus one), the window generators and MelWeightMatrix.
 */

import type { Dim } from '../graph.js';
import { dataTypeAttribute } from './common.js';
import { mapDim, normalizeAxis, tensorType, unknownDims, withDim } from './dims.js';
import { knownScalarNumber } from './known-values.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

const halfPlusOne = (n: number) => Math.floor(n / 2) + 1;

function dftShape(ctx: RuleContext, x: Dim[]): Dim[] {
  // DFT-17 took the axis as an attribute (default 1); DFT-20 takes it as input 2 (default -2).
  const requestedAxis =
    ctx.opset < 20 ? ctx.int('axis', 1) : ctx.hasInput(2) ? knownScalarNumber(ctx.value(2)) : -2;
  if (requestedAxis === undefined) return unknownDims(x.length);
  const axis = normalizeAxis(requestedAxis, x.length, ctx.fail);
  const last = x.length - 1;
  const onesided = ctx.int('onesided', 0) !== 0;
  // An inverse one-sided transform rebuilds a real signal; its length and layout changed between
  // releases of the spec, so only the axes it leaves alone are claimed.
  if (onesided && ctx.int('inverse', 0) !== 0) return withDim(withDim(x, axis, null), last, null);
  const length: Dim = ctx.hasInput(1) ? (knownScalarNumber(ctx.value(1)) ?? null) : x[axis]!;
  const bins = onesided ? mapDim(length, halfPlusOne) : length;
  return withDim(withDim(x, axis, bins), last, 2);
}

function dft(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  return [tensorType(ctx.elemType(0), x && dftShape(ctx, x))];
}

function stft(ctx: RuleContext): InferredTypes {
  const signal = ctx.shape(0);
  const step = knownScalarNumber(ctx.value(1));
  const frameLength = ctx.hasInput(3)
    ? (knownScalarNumber(ctx.value(3)) ?? null)
    : (ctx.shape(2)?.[0] ?? null);
  const length = signal?.[1];
  const frames =
    typeof length === 'number' && typeof frameLength === 'number' && step !== undefined
      ? Math.floor((length - frameLength) / step) + 1
      : null;
  const bins = ctx.int('onesided', 1) !== 0 ? mapDim(frameLength, halfPlusOne) : frameLength;
  return [tensorType(ctx.elemType(0), [signal?.[0] ?? null, frames, bins, 2])];
}

function window(ctx: RuleContext): InferredTypes {
  const size = knownScalarNumber(ctx.value(0));
  return [tensorType(dataTypeAttribute(ctx, 'output_datatype', 'float32'), [size ?? null])];
}

function melWeightMatrix(ctx: RuleContext): InferredTypes {
  const bins = knownScalarNumber(ctx.value(0));
  const dftLength = knownScalarNumber(ctx.value(1));
  const shape = [dftLength === undefined ? null : halfPlusOne(dftLength), bins ?? null];
  return [tensorType(dataTypeAttribute(ctx, 'output_datatype', 'float32'), shape)];
}

export const rules: InferenceRule[] = [
  { op: 'DFT', infer: dft },
  { op: 'STFT', infer: stft },
  { op: 'HannWindow', infer: window },
  { op: 'HammingWindow', infer: window },
  { op: 'BlackmanWindow', infer: window },
  { op: 'MelWeightMatrix', infer: melWeightMatrix },
];
