/**
 * Rules for operators whose output is shaped like their input: element-wise math functions,
 * activations, the softmax family, running sums and products, Trilu, Identity and Dropout, and
 * the predicates that turn a tensor into booleans of the same shape. The few that shape
 * computations use (Identity, Neg, Abs, Floor, Ceil, Not, Relu) also fold known values.
 */

import type { Dim } from '../graph.js';
import { rulesFor, sameAsInput } from './common.js';
import { tensorType } from './dims.js';
import { storeAs } from './known-values.js';
import type { InferenceRule, KnownValue, RuleContext } from './rule.js';

const SAME_TYPE_AND_SHAPE = [
  'Acos',
  'Acosh',
  'Asin',
  'Asinh',
  'Atan',
  'Atanh',
  'Cos',
  'Cosh',
  'Erf',
  'Exp',
  'Log',
  'Reciprocal',
  'Round',
  'Sigmoid',
  'Sign',
  'Sin',
  'Sinh',
  'Sqrt',
  'Tan',
  'Tanh',
  'BitwiseNot',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Celu',
  'HardSigmoid',
  'HardSwish',
  'Softplus',
  'Softsign',
  'ThresholdedRelu',
  'Mish',
  'Gelu',
  'Swish',
  'Shrink',
  'Clip',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'CumSum',
  'CumProd',
  'Trilu',
];

/** Element-wise functions that shape arithmetic uses, with how each acts on one element. */
const FOLDING: Record<string, (x: number) => number> = {
  Neg: (x) => -x,
  Abs: (x) => Math.abs(x),
  Floor: Math.floor,
  Ceil: Math.ceil,
  Not: (x) => (x === 0 ? 1 : 0),
  Relu: (x) => Math.max(x, 0),
};

function sameShape(ctx: RuleContext) {
  return [ctx.tensor(0)];
}

function foldElementwise(fn: (x: number) => number) {
  return (ctx: RuleContext): (KnownValue | undefined)[] => {
    const input = ctx.value(0);
    if (!input) return [];
    const elements: Dim[] = input.elements.map((e) =>
      typeof e === 'number' ? storeAs(input.elemType, fn(e)) : null,
    );
    return [{ ...input, elements }];
  };
}

function booleanOfSameShape(ctx: RuleContext) {
  return [tensorType('bool', ctx.shape(0))];
}

function dropout(ctx: RuleContext) {
  const input = ctx.tensor(0);
  // The mask had the data's type until opset 10 made it boolean.
  const mask = tensorType(ctx.opset < 10 ? input?.elemType : 'bool', input?.shape);
  return [input, mask];
}

export const rules: InferenceRule[] = [
  ...rulesFor(SAME_TYPE_AND_SHAPE, { infer: sameShape }),
  ...Object.entries(FOLDING).map(([op, fn]) => ({ op, infer: sameShape, fold: foldElementwise(fn) })),
  {
    op: 'Identity',
    infer: (ctx) => sameAsInput(ctx),
    fold: (ctx) => [ctx.value(0)],
  },
  ...rulesFor(['IsNaN', 'IsInf'], { infer: booleanOfSameShape }),
  { op: 'Dropout', infer: dropout },
];
