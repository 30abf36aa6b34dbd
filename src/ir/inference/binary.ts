/**
 * Rules for element-wise operators over several inputs broadcast together: arithmetic, bitwise
 * and logical operators, comparisons (boolean results), the variadic Max/Min/Sum/Mean, and Where.
 * Shape computations lean on some of them (`Mul(Gather(Shape), 4)`, `Where(Equal(s, -1), 1, s)`),
 * so those fold known values too, keeping a symbolic dim where the result provably equals it.
 */

import { isFloatType, type DataType } from '../../core/dtype.js';
import type { Dim } from '../graph.js';
import { rulesFor } from './common.js';
import { broadcastShapes, tensorType } from './dims.js';
import { mapBroadcast, storeAs } from './known-values.js';
import type { InferenceRule, KnownValue, RuleContext, TensorType } from './rule.js';

/** Operators that had the `broadcast`/`axis` attributes before opset 7: the result took A's shape. */
const LEGACY_BROADCAST = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'And',
  'Or',
  'Xor',
  'Equal',
  'Greater',
  'Less',
]);

function broadcastResult(ctx: RuleContext, elemType: DataType | undefined): TensorType | undefined {
  if (ctx.opset < 7 && LEGACY_BROADCAST.has(ctx.node.opType)) return tensorType(elemType, ctx.shape(0));
  const inputs = Array.from({ length: ctx.inputCount }, (_, i) => ctx.shape(i));
  return tensorType(elemType, broadcastShapes(inputs, ctx.fail));
}

const sameTypeAsFirst = (ctx: RuleContext) => [broadcastResult(ctx, ctx.elemType(0))];
const boolean = (ctx: RuleContext) => [broadcastResult(ctx, 'bool')];

type Combine = (a: Dim, b: Dim) => Dim;

const bothNumbers = (a: Dim, b: Dim): [number, number] | undefined =>
  typeof a === 'number' && typeof b === 'number' ? [a, b] : undefined;

const sameSymbol = (a: Dim, b: Dim) => typeof a === 'string' && a === b;

/** A quotient as stored: exact for floats; for integers only where truncating and flooring agree. */
function divide(a: number, b: number, elemType: DataType): number | null {
  if (b === 0) return null;
  const quotient = a / b;
  const unambiguous = isFloatType(elemType) || Number.isInteger(quotient) || quotient > 0;
  return unambiguous ? quotient : null;
}

function arithmetic(elemType: DataType): Record<string, Combine> {
  return {
    Add: (a, b) => {
      const n = bothNumbers(a, b);
      if (n) return n[0] + n[1];
      return a === 0 ? b : b === 0 ? a : null;
    },
    Sub: (a, b) => {
      const n = bothNumbers(a, b);
      if (n) return n[0] - n[1];
      return b === 0 ? a : sameSymbol(a, b) ? 0 : null;
    },
    Mul: (a, b) => {
      const n = bothNumbers(a, b);
      if (n) return n[0] * n[1];
      return a === 1 ? b : b === 1 ? a : a === 0 || b === 0 ? 0 : null;
    },
    Div: (a, b) => {
      const n = bothNumbers(a, b);
      if (n) return divide(n[0], n[1], elemType);
      return b === 1 ? a : sameSymbol(a, b) ? 1 : null;
    },
    Max: (a, b) => {
      const n = bothNumbers(a, b);
      return n ? Math.max(...n) : a === b ? a : null;
    },
    Min: (a, b) => {
      const n = bothNumbers(a, b);
      return n ? Math.min(...n) : a === b ? a : null;
    },
    And: (a, b) => {
      const n = bothNumbers(a, b);
      return n ? Number(n[0] !== 0 && n[1] !== 0) : null;
    },
    Or: (a, b) => {
      const n = bothNumbers(a, b);
      return n ? Number(n[0] !== 0 || n[1] !== 0) : null;
    },
  };
}

const COMPARISONS: Record<string, Combine> = {
  // A dimension is never negative, so a symbolic one differs from any negative number.
  Equal: (a, b) => {
    const n = bothNumbers(a, b);
    if (n) return Number(n[0] === n[1]);
    if (a === b && a !== null) return 1;
    const negative = (x: Dim) => typeof x === 'number' && x < 0;
    return (typeof a === 'string' && negative(b)) || (typeof b === 'string' && negative(a)) ? 0 : null;
  },
  Less: (a, b) => {
    const n = bothNumbers(a, b);
    return n ? Number(n[0] < n[1]) : null;
  },
  LessOrEqual: (a, b) => {
    const n = bothNumbers(a, b);
    return n ? Number(n[0] <= n[1]) : null;
  },
  Greater: (a, b) => {
    const n = bothNumbers(a, b);
    return n ? Number(n[0] > n[1]) : null;
  },
  GreaterOrEqual: (a, b) => {
    const n = bothNumbers(a, b);
    return n ? Number(n[0] >= n[1]) : null;
  },
};

function knownInputs(ctx: RuleContext): KnownValue[] | undefined {
  const values = Array.from({ length: ctx.inputCount }, (_, i) => ctx.value(i));
  return values.every((v) => v !== undefined) && values.length > 0 ? (values as KnownValue[]) : undefined;
}

/** Folds a left-to-right combination of the inputs, stored in `elemType`. */
function foldWith(
  combineFor: (elemType: DataType) => Combine,
  resultType: (ctx: RuleContext) => DataType | undefined,
) {
  return (ctx: RuleContext): (KnownValue | undefined)[] => {
    const values = knownInputs(ctx);
    const elemType = resultType(ctx);
    if (!values || !elemType) return [];
    const combine = combineFor(values[0]!.elemType);
    return [
      mapBroadcast(values, elemType, (xs) => {
        const result = xs.reduce((a, b) => combine(a, b));
        return typeof result === 'number' ? storeAs(elemType, result) : result;
      }),
    ];
  };
}

function where(ctx: RuleContext) {
  const shapes = [ctx.shape(0), ctx.shape(1), ctx.shape(2)];
  return [tensorType(ctx.elemType(1), broadcastShapes(shapes, ctx.fail))];
}

function foldWhere(ctx: RuleContext): (KnownValue | undefined)[] {
  const values = knownInputs(ctx);
  if (!values) return [];
  return [
    mapBroadcast(values, values[1]!.elemType, ([condition, x, y]) => {
      if (typeof condition === 'number') return condition !== 0 ? x! : y!;
      return x === y ? x! : null;
    }),
  ];
}

const FOLDED_ARITHMETIC = ['Add', 'Sub', 'Mul', 'Div', 'Max', 'Min', 'And', 'Or'];

export const rules: InferenceRule[] = [
  ...FOLDED_ARITHMETIC.map((op) => ({
    op,
    infer: sameTypeAsFirst,
    fold: foldWith(
      (elemType) => arithmetic(elemType)[op]!,
      (ctx) => ctx.elemType(0),
    ),
  })),
  ...rulesFor(['Pow', 'Mod', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor', 'Xor', 'Sum', 'Mean'], {
    infer: sameTypeAsFirst,
  }),
  ...Object.entries(COMPARISONS).map(([op, combine]) => ({
    op,
    infer: boolean,
    fold: foldWith(
      () => combine,
      () => 'bool',
    ),
  })),
  // The slope broadcasts towards X only, so the result is shaped like X.
  { op: 'PRelu', infer: (ctx) => [ctx.tensor(0)] },
  { op: 'Where', infer: where, fold: foldWhere },
];
