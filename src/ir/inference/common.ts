/**
 * Small building blocks most rule families share: passing an input's type through, reading a
 * list that older opsets gave as an attribute and newer ones as an input, and making rules for a
 * list of operators that behave alike.
 */

import { dataTypeFromOnnx, type DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { unknownDims } from './dims.js';
import { elementsAsDims, knownNumbers } from './known-values.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';

/** The output has the type of input `i`, whatever its kind. */
export function sameAsInput(ctx: RuleContext, i = 0): InferredTypes {
  return [ctx.inputType(i)];
}

/**
 * A list that is an attribute before opset `inputSince` and input `index` from then on:
 * the numbers when known, null when given but not known at load time, undefined when absent.
 */
export function listArgument(
  ctx: RuleContext,
  attribute: string,
  index: number,
  inputSince: number,
): number[] | null | undefined {
  if (ctx.opset < inputSince) return ctx.ints(attribute);
  if (!ctx.hasInput(index)) return undefined;
  return knownNumbers(ctx.value(index)) ?? null;
}

/**
 * A shape given as 1-D input `i` (Reshape's, Expand's, ConstantOfShape's...): its elements as
 * dims when known, else as many unknown dims as it has elements, else undefined.
 */
export function shapeArgument(ctx: RuleContext, i: number): Dim[] | undefined {
  const value = ctx.value(i);
  if (value) return elementsAsDims(value);
  const length = lengthOfInput(ctx, i);
  return length === undefined ? undefined : unknownDims(length);
}

/** How many elements a 1-D input holds, when its shape says so. */
export function lengthOfInput(ctx: RuleContext, i: number): number | undefined {
  const shape = ctx.shape(i);
  if (shape?.length === 0) return 1;
  const length = shape?.length === 1 ? shape[0] : undefined;
  return typeof length === 'number' ? length : undefined;
}

/** The ONNX type code of a `to`/`dtype` attribute as a Heddle type; fails on codes ONNX does not define. */
export function dataTypeAttribute(ctx: RuleContext, name: string, fallback?: DataType): DataType | undefined {
  if (!ctx.has(name)) return fallback;
  const code = ctx.int(name, 0);
  const type = dataTypeFromOnnx(code);
  if (!type) ctx.fail(`attribute '${name}' names unknown data type ${code}`);
  return type;
}

/** One rule per operator name, all with the same behaviour. */
export function rulesFor(ops: readonly string[], rule: Omit<InferenceRule, 'op'>): InferenceRule[] {
  return ops.map((op) => ({ ...rule, op }));
}
