/**
 * Rules for operators that make tensors from attributes or from a requested shape: Constant,
 * ConstantOfShape, Range, EyeLike and the random generators. Constant, ConstantOfShape and Range
 * fold, so that the values they make can drive other shapes.
 */

import type { DataType } from '../../core/dtype.js';
import type { Dim, ValueType } from '../graph.js';
import { dataTypeAttribute, lengthOfInput } from './common.js';
import { tensorType, unknownDims } from './dims.js';
import {
  elementsAsDims,
  filledValue,
  knownFromTensor,
  knownScalar,
  knownScalarNumber,
  MAX_KNOWN_ELEMENTS,
  storeAs,
} from './known-values.js';
import type { InferenceRule, InferredTypes, KnownValue, RuleContext } from './rule.js';

/** Constant's value attribute (exactly one is set) as a known value and a type. */
function constantValue(ctx: RuleContext): { type: ValueType; value?: KnownValue } {
  const tensor = ctx.tensorAttribute('value') ?? ctx.tensorAttribute('sparse_value');
  if (tensor) {
    if (ctx.has('sparse_value')) return { type: { kind: 'sparse_tensor', elemType: tensor.type, shape: [...tensor.dims] } };
    return { type: { kind: 'tensor', elemType: tensor.type, shape: [...tensor.dims] }, value: knownFromTensor(tensor) };
  }
  const list = (elemType: DataType, elements: number[] | undefined, scalar: boolean) => {
    const shape = scalar ? [] : [elements!.length];
    const value = elemType === 'string' ? undefined : { elemType, shape, elements: elements! };
    return { type: { kind: 'tensor' as const, elemType, shape }, value };
  };
  if (ctx.has('value_float')) return list('float32', [ctx.float('value_float', 0)], true);
  if (ctx.has('value_floats')) return list('float32', ctx.floats('value_floats'), false);
  if (ctx.has('value_int')) return list('int64', [ctx.int('value_int', 0)], true);
  if (ctx.has('value_ints')) return list('int64', ctx.ints('value_ints'), false);
  if (ctx.has('value_string')) return { type: { kind: 'tensor', elemType: 'string', shape: [] } };
  const strings = ctx.attribute('value_strings');
  if (strings?.type === 'strings') return { type: { kind: 'tensor', elemType: 'string', shape: [strings.value.length] } };
  ctx.fail('Constant has none of its value attributes');
}

/** ConstantOfShape's fill: element type and value of its one-element `value` tensor (float 0 by default). */
function fillOf(ctx: RuleContext): { elemType: DataType; fill: Dim } {
  const tensor = ctx.tensorAttribute('value');
  if (!tensor) return { elemType: 'float32', fill: 0 };
  return { elemType: tensor.type, fill: knownFromTensor(tensor)?.elements[0] ?? null };
}

function requestedShape(ctx: RuleContext): Dim[] | undefined {
  const value = ctx.value(0);
  if (value) return elementsAsDims(value);
  const length = lengthOfInput(ctx, 0);
  return length === undefined ? undefined : unknownDims(length);
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
    infer: (ctx) => [tensorType(fillOf(ctx).elemType, requestedShape(ctx))],
    fold: (ctx) => {
      const { elemType, fill } = fillOf(ctx);
      return [filledValue(elemType, requestedShape(ctx), fill)];
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
