/**
 * Operators that make tensors from attributes and shapes rather than from input elements:
 * Constant, ConstantOfShape, Range and EyeLike. Each writes its result into the kernel's output
 * memory, Constant copying its attribute there.
 */

import {
  dataTypeFromOnnx,
  isBigIntType,
  isComplexType,
  slotsPerElement,
  type DataType,
} from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { numbersToStorage, readInts, toNumbers } from '../util.js';
import { copySlots, fillWith, slotsOf, zeroOf } from './shape.js';

const CONSTANT_ATTRIBUTES = [
  'value',
  'sparse_value',
  'value_float',
  'value_floats',
  'value_int',
  'value_ints',
  'value_string',
  'value_strings',
] as const;

/** The tensor a Constant node's attribute holds. */
function constantValue(ctx: KernelContext): Tensor {
  const given = CONSTANT_ATTRIBUTES.filter((name) => ctx.has(name));
  if (given.length !== 1) {
    ctx.fail(`needs exactly one of ${CONSTANT_ATTRIBUTES.join(', ')}; got ${given.join(', ') || 'none'}`);
  }
  const name = given[0]!;
  switch (name) {
    case 'value':
      return ctx.tensor(name);
    case 'sparse_value': {
      // Sparse tensors arrive already densified by the importer.
      const attribute = ctx.attribute(name);
      if (attribute?.type !== 'sparse_tensor') ctx.fail(`attribute '${name}' must be a sparse tensor`);
      return attribute.value;
    }
    case 'value_float':
      return new Tensor('float32', [ctx.float(name)], []);
    case 'value_floats':
      return new Tensor('float32', Float32Array.from(ctx.floats(name)));
    case 'value_int':
      return new Tensor('int64', [BigInt(ctx.int(name))], []);
    case 'value_ints':
      return new Tensor('int64', BigInt64Array.from(ctx.ints(name), BigInt));
    case 'value_string':
      return new Tensor('string', [ctx.string(name)], []);
    case 'value_strings':
      return new Tensor('string', ctx.strings(name));
  }
}

/** The attribute's value, copied into the output so that it lives where the plan puts it. */
function constant(ctx: KernelContext): Tensor {
  const value = constantValue(ctx);
  const out = ctx.output(0, value.type, value.dims);
  copySlots(out.data, 0, value.data, 0, value.size * slotsPerElement(value.type));
  return out;
}

function constantOfShape(ctx: KernelContext): Tensor {
  const dims = readInts(ctx.input(0));
  if (dims.some((d) => d < 0)) ctx.fail(`shape [${dims.join(', ')}] has a negative dim`);
  const value = ctx.tensor('value', new Tensor('float32', [0], [1]));
  if (value.size !== 1) ctx.fail(`value must hold one element, got ${value.size}`);
  return fillWith(ctx.output(0, value.type, dims), value);
}

function scalarInput(ctx: KernelContext, i: number, name: string): Tensor {
  const t = ctx.input(i);
  if (t.size !== 1) ctx.fail(`${name} must be a scalar, got dims [${t.dims.join(', ')}]`);
  return t;
}

/** ceil((limit - start) / delta) clamped at 0, exact for 64-bit integers. */
function bigIntRangeCount(start: bigint, limit: bigint, delta: bigint): number {
  const span = limit - start;
  if (span === 0n || span > 0n !== delta > 0n) return 0;
  const whole = span / delta;
  return Number(whole * delta === span ? whole : whole + 1n);
}

function range(ctx: KernelContext): Tensor {
  const start = scalarInput(ctx, 0, 'start');
  const limit = scalarInput(ctx, 1, 'limit');
  const delta = scalarInput(ctx, 2, 'delta');
  const type = start.type;
  if (limit.type !== type || delta.type !== type) ctx.fail('start, limit and delta must have the same type');
  if (isBigIntType(type)) {
    // 64-bit ranges stay exact beyond 2^53.
    const [first, stop, step] = [start, limit, delta].map((t) => (t.data as BigInt64Array)[0]!) as [
      bigint,
      bigint,
      bigint,
    ];
    if (step === 0n) ctx.fail('delta cannot be 0');
    const count = bigIntRangeCount(first, stop, step);
    const out = ctx.output(0, type, [count]);
    const values = out.data as BigInt64Array;
    for (let i = 0; i < count; i++) values[i] = first + BigInt(i) * step;
    return out;
  }
  const [first, stop, step] = [start, limit, delta].map((t) => toNumbers(t)[0]!) as [number, number, number];
  if (step === 0) ctx.fail('delta cannot be 0');
  const count = Math.max(Math.ceil((stop - first) / step), 0);
  if (!Number.isFinite(count)) ctx.fail(`range from ${first} to ${stop} by ${step} is not finite`);
  return ctx.outputFromNumbers(
    0,
    type,
    Float64Array.from({ length: count }, (_, i) => first + i * step),
    [count],
  );
}

function eyeLikeType(ctx: KernelContext, input: Tensor): DataType {
  if (!ctx.has('dtype')) return input.type;
  const code = ctx.int('dtype');
  return dataTypeFromOnnx(code) ?? ctx.fail(`dtype ${code} is not a known element type`);
}

function eyeLike(ctx: KernelContext): Tensor {
  const input = ctx.input(0);
  if (input.dims.length !== 2) ctx.fail(`input must be 2-D, got dims [${input.dims.join(', ')}]`);
  const type = eyeLikeType(ctx, input);
  if (type === 'string' || isComplexType(type)) ctx.fail(`cannot make an identity matrix of ${type}`);
  const [rows, cols] = input.dims as [number, number];
  const k = ctx.int('k', 0);
  const out = fillWith(ctx.output(0, type, [rows, cols]), zeroOf(type));
  const one = slotsOf(numbersToStorage(type, [1]))[0];
  const dst = slotsOf(out.data);
  for (let r = Math.max(0, -k); r < rows && r + k < cols; r++) dst[r * cols + r + k] = one;
  return out;
}

export const kernels: KernelDef[] = [
  { op: 'Constant', since: 1, run: (ctx) => [constant(ctx)] },
  { op: 'ConstantOfShape', since: 9, run: (ctx) => [constantOfShape(ctx)] },
  { op: 'Range', since: 11, run: (ctx) => [range(ctx)] },
  { op: 'EyeLike', since: 9, run: (ctx) => [eyeLike(ctx)] },
];
