/**
 * Rules for operators that make tensors from attributes or from a requested shape: Constant,
 * ConstantOfShape, Range, EyeLike and the random generators. Constant, ConstantOfShape and Range
 * fold, so that the values they make can drive other shapes.
 */

import type { DataType } from '../../core/dtype.js';
import type { Dim, ValueType } from '../graph.js';
import { dataTypeAttribute, shapeArgument } from './common.js';
import { tensorType } from './dims.js';
import {
  filledValue,
  knownFromTensor,
  knownScalar,
  knownScalarNumber,
  MAX_KNOWN_ELEMENTS,
  storeAs,
} from './known-values.js';
import type { InferenceRule, InferredTypes, KnownValue, RuleContext } from './rule.js';

/** A Constant made of numbers given as attribute values. */
function numbers(
  elemType: DataType,
  elements: number[],
  shape: number[],
): { type: ValueType; value: KnownValue } {
  return { type: { kind: 'tensor', elemType, shape }, value: { elemType, shape, elements } };
}

/** Constant's value, from whichever of its value attributes is set, as a type and a known value. */
function constantValue(ctx: RuleContext): { type: ValueType; value?: KnownValue } {
  const sparse = ctx.tensorAttribute('sparse_value');
  if (sparse) return { type: { kind: 'sparse_tensor', elemType: sparse.type, shape: [...sparse.dims] } };
  const tensor = ctx.tensorAttribute('value');
  if (tensor) {
    return {
      type: { kind: 'tensor', elemType: tensor.type, shape: [...tensor.dims] },
      value: knownFromTensor(tensor),
    };
  }
  const floats = ctx.floats('value_floats');
  const ints = ctx.ints('value_ints');
  const strings = ctx.strings('value_strings');
  if (ctx.has('value_float')) return numbers('float32', [ctx.float('value_float', 0)], []);
  if (floats) return numbers('float32', floats, [floats.length]);
  if (ctx.has('value_int')) return numbers('int64', [ctx.int('value_int', 0)], []);
  if (ints) return numbers('int64', ints, [ints.length]);
  if (ctx.has('value_string')) return { type: { kind: 'tensor', elemType: 'string', shape: [] } };
  if (strings) return { type: { kind: 'tensor', elemType: 'string', shape: [strings.length] } };
  ctx.fail('Constant has none of its value attributes');
}

/** ConstantOfShape's fill: element type and value of its one-element `value` tensor (float 0 by default). */
function fillOf(ctx: RuleContext): { elemType: DataType; fill: Dim } {
  const tensor = ctx.tensorAttribute('value');
  if (!tensor) return { elemType: 'float32', fill: 0 };
  return { elemType: tensor.type, fill: knownFromTensor(tensor)?.elements[0] ?? null };
}

/** Range's length; `Range(0, n, 1)` over a symbolic n (position ids) is n long. */
function rangeLength(ctx: RuleContext): Dim {
  const [start, limit, delta] = [0, 1, 2].map((i) => knownScalar(ctx.value(i)));
  if (delta === 0) ctx.fail('Range delta cannot be 0');
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') {
    return Math.max(Math.ceil((limit - start) / delta), 0);
  }
  return start === 0 && delta === 1 && typeof limit === 'string' ? limit : null;
}

function foldRange(ctx: RuleContext): (KnownValue | undefined)[] {
  const length = rangeLength(ctx);
  const elemType = ctx.elemType(0);
  if (typeof length !== 'number' || !elemType || length > MAX_KNOWN_ELEMENTS) return [];
  const start = knownScalarNumber(ctx.value(0))!;
  const delta = knownScalarNumber(ctx.value(2))!;
  const elements = Array.from({ length }, (_, i) => storeAs(elemType, start + i * delta));
  return [{ elemType, shape: [length], elements }];
}

/** A generator shaped like its input, typed by `dtype` or else like its input. */
function likeInputWithDtype(ctx: RuleContext): InferredTypes {
  return [tensorType(dataTypeAttribute(ctx, 'dtype', ctx.elemType(0)), ctx.shape(0))];
}

function randomFromAttributes(ctx: RuleContext): InferredTypes {
  return [tensorType(dataTypeAttribute(ctx, 'dtype', 'float32'), ctx.ints('shape'))];
}

function multinomial(ctx: RuleContext): InferredTypes {
  const batch = ctx.shape(0)?.[0] ?? null;
  return [tensorType(dataTypeAttribute(ctx, 'dtype', 'int32'), [batch, ctx.int('sample_size', 1)])];
}

export const rules: InferenceRule[] = [
  {
    op: 'Constant',
    infer: (ctx) => [constantValue(ctx).type],
    fold: (ctx) => [constantValue(ctx).value],
  },
  {
    op: 'ConstantOfShape',
    infer: (ctx) => [tensorType(fillOf(ctx).elemType, shapeArgument(ctx, 0))],
    fold: (ctx) => {
      const { elemType, fill } = fillOf(ctx);
      return [filledValue(elemType, shapeArgument(ctx, 0), fill)];
    },
  },
  {
    op: 'Range',
    infer: (ctx) => [tensorType(ctx.elemType(0), [rangeLength(ctx)])],
    fold: foldRange,
  },
  { op: 'EyeLike', infer: likeInputWithDtype },
  { op: 'RandomUniformLike', infer: likeInputWithDtype },
  { op: 'RandomNormalLike', infer: likeInputWithDtype },
  { op: 'Bernoulli', infer: likeInputWithDtype },
  { op: 'RandomUniform', infer: randomFromAttributes },
  { op: 'RandomNormal', infer: randomFromAttributes },
  { op: 'Multinomial', infer: multinomial },
];
