/**
 * Rules for linear (de)quantization: QuantizeLinear is typed by its zero point (or
 * `output_dtype`, or uint8), DequantizeLinear by `output_dtype` or its scale, and
 * DynamicQuantizeLinear returns uint8 data with scalar scale and zero point.
 */

import type { DataType } from '../../core/dtype.js';
import { dataTypeAttribute } from './common.js';
import { tensorType } from './dims.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

/** `output_dtype` when set to a type; 0 (its default) means "decided by the inputs". */
function outputDtype(ctx: RuleContext): DataType | undefined {
  return ctx.int('output_dtype', 0) === 0 ? undefined : dataTypeAttribute(ctx, 'output_dtype');
}

function quantize(ctx: RuleContext): InferredTypes {
  const elemType = ctx.elemType(2) ?? outputDtype(ctx) ?? (ctx.hasInput(2) ? undefined : 'uint8');
  return [tensorType(elemType, ctx.shape(0))];
}

function dequantize(ctx: RuleContext): InferredTypes {
  return [tensorType(outputDtype(ctx) ?? ctx.elemType(1), ctx.shape(0))];
}

function dynamicQuantize(ctx: RuleContext): InferredTypes {
  return [tensorType('uint8', ctx.shape(0)), tensorType('float32', []), tensorType('uint8', [])];
}

export const rules: InferenceRule[] = [
  { op: 'QuantizeLinear', infer: quantize },
  { op: 'DequantizeLinear', infer: dequantize },
  { op: 'DynamicQuantizeLinear', infer: dynamicQuantize },
];
