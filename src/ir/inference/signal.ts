/**
 * Rules for the signal operators: DFT and STFT (complex results as a trailing axis of 2, a
 * one-sided transform keeping half the bins plus one), the window generators and MelWeightMatrix.
 */

import type { Dim } from '../graph.js';
import { dataTypeAttribute } from './common.js';
import { mapDim, normalizeAxis, tensorType } from './dims.js';
import { knownScalarNumber } from './known-values.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

const halfPlusOne = (n: number) => Math.floor(n / 2) + 1;

function dft(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0))];
  // DFT-17 took the axis as an attribute (default 1); DFT-20 takes it as input 2 (default -2).
  const requestedAxis = ctx.opset < 20 ? ctx.int('axis', 1) : ctx.hasInput(2) ? knownScalarNumber(ctx.value(2)) : -2;
  if (requestedAxis === undefined) return [tensorType(ctx.elemType(0), x.map(() => null))];
  const axis = normalizeAxis(requestedAxis, x.length, (reason) => ctx.fail(reason));
  const length: Dim = ctx.hasInput(1) ? (knownScalarNumber(ctx.value(1)) ?? null) : x[axis]!;
  const onesided = ctx.int('onesided', 0) !== 0;
  // An inverse one-sided transform rebuilds a real signal; its length and layout changed between
  // releases of the spec, so only the axes it leaves alone are claimed.
  if (onesided && ctx.int('inverse', 0) !== 0) {
    return [tensorType(ctx.elemType(0), x.map((d, i) => (i === axis || i === x.length - 1 ? null : d)))];
  }
  const bins = onesided ? mapDim(length, halfPlusOne) : length;
  return [tensorType(ctx.elemType(0), x.map((d, i) => (i === x.length - 1 ? 2 : i === axis ? bins : d)))];
}

function stft(ctx: RuleContext): InferredTypes {
  const signal = ctx.shape(0);
  const step = knownScalarNumber(ctx.value(1));
  const frameLength = ctx.hasInput(3) ? (knownScalarNumber(ctx.value(3)) ?? null) : (ctx.shape(2)?.[0] ?? null);
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
