/**
 * Rules for sequences and optionals. A sequence's type is one element type that fits every
 * element (dims that differ between elements become unknown); the operators that take a tensor
 * out of a sequence or an optional give that element type back.
 */

import type { Dim, ValueType } from '../graph.js';
import { dataTypeAttribute } from './common.js';
import { normalizeAxis, tensorType, withDim, withoutAxis } from './dims.js';
import { knownNumbers, knownScalarNumber } from './known-values.js';
import type { InferenceRule, InferredTypes, RuleContext } from './rule.js';
import { commonType } from './value-types.js';

function sequenceOf(elem: ValueType | undefined): ValueType {
  return { kind: 'sequence', elem };
}

function elementOf(ctx: RuleContext, i: number): ValueType | undefined {
  const type = ctx.inputType(i);
  return type?.kind === 'sequence' || type?.kind === 'optional' ? type.elem : undefined;
}

function construct(ctx: RuleContext): InferredTypes {
  const types = Array.from({ length: ctx.inputCount }, (_, i) => ctx.inputType(i));
  return [sequenceOf(types.length > 0 ? types.reduce(commonType) : undefined)];
}

function insert(ctx: RuleContext): InferredTypes {
  if (ctx.inputType(0)?.kind !== 'sequence') return [undefined];
  return [sequenceOf(commonType(elementOf(ctx, 0), ctx.inputType(1)))];
}

/** The size of each chunk SplitToSequence makes along an axis of `size`, when all chunks share it. */
function chunkSize(ctx: RuleContext, size: Dim): Dim {
  const split = ctx.value(1);
  const scalar = split?.shape.length === 0 ? knownScalarNumber(split) : undefined;
  if (scalar !== undefined) return typeof size === 'number' && size % scalar === 0 ? scalar : null;
  const sizes = knownNumbers(split);
  return sizes && sizes.length > 0 && sizes.every((s) => s === sizes[0]) ? sizes[0]! : null;
}

function splitToSequence(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [sequenceOf(tensorType(ctx.elemType(0)))];
  const axis = normalizeAxis(ctx.int('axis', 0), x.length, ctx.fail);
  if (ctx.hasInput(1)) {
    return [sequenceOf(tensorType(ctx.elemType(0), withDim(x, axis, chunkSize(ctx, x[axis]!))))];
  }
  // Without split, every element is one slice along the axis, kept as size 1 unless keepdims is 0.
  const keepDims = ctx.int('keepdims', 1) !== 0;
  const shape = keepDims ? withDim(x, axis, 1) : withoutAxis(x, axis);
  return [sequenceOf(tensorType(ctx.elemType(0), shape))];
}

function concatFromSequence(ctx: RuleContext): InferredTypes {
  const elem = elementOf(ctx, 0);
  if (elem?.kind !== 'tensor') return [undefined];
  if (!elem.shape) return [tensorType(elem.elemType)];
  const newAxis = ctx.int('new_axis', 0) !== 0;
  const rank = elem.shape.length + (newAxis ? 1 : 0);
  const axis = normalizeAxis(ctx.int('axis', 0), rank, ctx.fail);
  const shape = [...elem.shape];
  if (newAxis) shape.splice(axis, 0, null);
  else shape[axis] = null;
  return [tensorType(elem.elemType, shape)];
}

function sequenceMap(ctx: RuleContext): InferredTypes {
  const body = ctx.graph('body');
  if (!body) ctx.fail(`attribute 'body' (a graph) is missing`);
  const inputs = Array.from({ length: ctx.inputCount }, (_, i) => {
    const type = ctx.inputType(i);
    return type?.kind === 'sequence' ? type.elem : type;
  });
  return ctx.inferSubgraph(body, inputs).map(sequenceOf);
}

/** Optional: wraps its input, or is empty and typed by its `type` attribute. */
function optional(ctx: RuleContext): InferredTypes {
  if (ctx.hasInput(0)) return [{ kind: 'optional', elem: ctx.inputType(0) }];
  const declared = ctx.attribute('type');
  return [{ kind: 'optional', elem: declared?.type === 'type_proto' ? declared.value : undefined }];
}

/** OptionalGetElement: the optional's element; from opset 18 a plain tensor or sequence passes through. */
function optionalElement(ctx: RuleContext): InferredTypes {
  const type = ctx.inputType(0);
  return [type?.kind === 'optional' ? type.elem : type];
}

export const rules: InferenceRule[] = [
  {
    op: 'SequenceEmpty',
    infer: (ctx) => [sequenceOf(tensorType(dataTypeAttribute(ctx, 'dtype', 'float32')))],
  },
  { op: 'SequenceConstruct', infer: construct },
  { op: 'SequenceInsert', infer: insert },
  { op: 'SequenceAt', infer: (ctx) => [elementOf(ctx, 0)] },
  { op: 'SequenceErase', infer: (ctx) => [ctx.inputType(0)] },
  { op: 'SequenceLength', infer: () => [tensorType('int64', [])] },
  { op: 'SplitToSequence', infer: splitToSequence },
  { op: 'ConcatFromSequence', infer: concatFromSequence },
  { op: 'SequenceMap', infer: sequenceMap },
  { op: 'Optional', infer: optional },
  { op: 'OptionalHasElement', infer: () => [tensorType('bool', [])] },
  { op: 'OptionalGetElement', infer: optionalElement },
];
