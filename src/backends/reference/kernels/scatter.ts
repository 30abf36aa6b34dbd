/**
 * Operators that write elements of one tensor into a copy of another at positions given by
 * indices: Scatter (deprecated), ScatterElements, ScatterND and TensorScatter (the KV-cache update).
 * The copy is made in the kernel's output memory. The element reductions here (add, mul, max, min
 * on storage values) are shared with CumSum and CumProd.
 */

import {
  isBigIntType,
  isComplexType,
  isNarrowFloat,
  slotsPerElement,
  type DataType,
} from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { narrowDecoder, narrowEncoder, shapeSize } from '../util.js';
import { checkElementwiseIndices, elementwiseTargets, indexValues, ndIndexing } from './gather.js';
import { axisOf, copySlots, describeDims, slotsOf } from './shape.js';

export type Reduction = 'none' | 'add' | 'mul' | 'max' | 'min';

/** Merges an incoming storage value into the current one. */
export type Combine = (current: unknown, incoming: unknown) => unknown;

function numeric(op: (a: number, b: number) => number): Combine {
  return (a, b) => op(a as number, b as number);
}

function bigint(op: (a: bigint, b: bigint) => bigint): Combine {
  return (a, b) => op(a as bigint, b as bigint);
}

/**
 * How `reduction` merges two storage values of `type`. Results are written back into the
 * storage array, so integers wrap as the type's arithmetic would.
 */
export function combinerFor(ctx: KernelContext, type: DataType, reduction: Reduction): Combine {
  if (reduction === 'none') return (_, incoming) => incoming;
  if (type === 'string' || isComplexType(type))
    ctx.fail(`reduction '${reduction}' is not defined for ${type}`);
  if (isBigIntType(type)) {
    const ops = {
      add: (a: bigint, b: bigint) => a + b,
      mul: (a: bigint, b: bigint) => a * b,
      max: (a: bigint, b: bigint) => (a > b ? a : b),
      min: (a: bigint, b: bigint) => (a < b ? a : b),
    };
    return bigint(ops[reduction]);
  }
  if (type === 'bool') {
    // Sums and maxima of booleans are "any"; products and minima are "all".
    return numeric(reduction === 'add' || reduction === 'max' ? (a, b) => a | b : (a, b) => a & b);
  }
  const ops = {
    add: (a: number, b: number) => a + b,
    // Math.imul keeps the low 32 bits exact where a double product would round.
    mul: type === 'int32' || type === 'uint32' ? Math.imul : (a: number, b: number) => a * b,
    max: Math.max,
    min: Math.min,
  };
  const op = ops[reduction];
  if (!isNarrowFloat(type)) return numeric(op);
  const decode = narrowDecoder(type);
  const encode = narrowEncoder(type);
  return numeric((a, b) => encode(op(decode(a), decode(b))));
}

function reductionOf(ctx: KernelContext): Reduction {
  const reduction = ctx.string('reduction', 'none');
  if (!['none', 'add', 'mul', 'max', 'min'].includes(reduction)) ctx.fail(`unknown reduction '${reduction}'`);
  return reduction as Reduction;
}

/**
 * A copy of `data` with updates[p] merged into element targets[p], in order (so with duplicate
 * targets and no reduction the last update wins).
 */
function scatterInto(
  ctx: KernelContext,
  data: Tensor,
  updates: Tensor,
  targets: Int32Array,
  combine: Combine,
): Tensor {
  if (updates.type !== data.type) ctx.fail(`updates are ${updates.type} but data is ${data.type}`);
  const slots = slotsPerElement(data.type);
  const out = ctx.output(0, data.type, data.dims);
  copySlots(out.data, 0, data.data, 0, data.size * slots);
  const dst = slotsOf(out.data);
  const incoming = slotsOf(updates.data);
  targets.forEach((target, p) => {
    for (let s = 0; s < slots; s++) {
      dst[target * slots + s] = combine(dst[target * slots + s], incoming[p * slots + s]);
    }
  });
  return out;
}

function scatterElements(ctx: KernelContext, reduction: Reduction): Tensor {
  const data = ctx.input(0);
  const indices = ctx.input(1);
  const updates = ctx.input(2);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.dims.length);
  if (updates.dims.length !== indices.dims.length || updates.dims.some((d, a) => d !== indices.dims[a])) {
    ctx.fail(
      `updates of dims ${describeDims(updates.dims)} must match indices of dims ${describeDims(indices.dims)}`,
    );
  }
  checkElementwiseIndices(ctx, data, indices, axis);
  const targets = elementwiseTargets(ctx, data.dims, indices.dims, indexValues(ctx, indices), axis);
  return scatterInto(ctx, data, updates, targets, combinerFor(ctx, data.type, reduction));
}

function scatterND(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const updates = ctx.input(2);
  const { sliceStarts, sliceSize, resultDims } = ndIndexing(ctx, data, ctx.input(1), 0);
  if (updates.dims.length !== resultDims.length || updates.dims.some((d, a) => d !== resultDims[a])) {
    ctx.fail(`updates have dims ${describeDims(updates.dims)}, expected ${describeDims(resultDims)}`);
  }
  const targets = new Int32Array(sliceStarts.length * sliceSize);
  sliceStarts.forEach((start, t) => {
    for (let i = 0; i < sliceSize; i++) targets[t * sliceSize + i] = start + i;
  });
  return scatterInto(ctx, data, updates, targets, combinerFor(ctx, data.type, reductionOf(ctx)));
}

function tensorScatter(ctx: KernelContext): Tensor {
  const cache = ctx.input(0);
  const update = ctx.input(1);
  const writeIndicesInput = ctx.optionalInput(2);
  const rank = cache.dims.length;
  const axis = axisOf(ctx, ctx.int('axis', -2), rank);
  if (axis === 0) ctx.fail('axis cannot be the batch axis 0');
  const mode = ctx.string('mode', 'linear');
  if (mode !== 'linear' && mode !== 'circular') ctx.fail(`unknown mode '${mode}'`);
  const compatible =
    update.dims.length === rank &&
    update.dims.every((d, a) => (a === axis ? d <= cache.dims[a]! : d === cache.dims[a]));
  if (!compatible) {
    ctx.fail(
      `update of dims ${describeDims(update.dims)} does not fit the cache of dims ${describeDims(cache.dims)}`,
    );
  }
  const batch = cache.dims[0]!;
  const maxLength = cache.dims[axis]!;
  const length = update.dims[axis]!;
  const writeIndices = writeIndicesInput
    ? indexValues(ctx, writeIndicesInput, 'write_indices')
    : new Array<number>(batch).fill(0);
  if (writeIndices.length !== batch)
    ctx.fail(`write_indices has ${writeIndices.length} entries for batch ${batch}`);
  for (const start of writeIndices) {
    const fits = mode === 'circular' ? start >= 0 : start >= 0 && start + length <= maxLength;
    if (!fits)
      ctx.fail(`write index ${start} does not fit ${length} updates into a sequence of ${maxLength}`);
  }
  const prefixes = shapeSize(cache.dims.slice(0, axis));
  const prefixesPerBatch = prefixes / Math.max(batch, 1);
  const inner = shapeSize(cache.dims.slice(axis + 1));
  const targets = new Int32Array(update.size);
  let p = 0;
  for (let prefix = 0; prefix < prefixes; prefix++) {
    const start = writeIndices[Math.floor(prefix / prefixesPerBatch)]!;
    for (let s = 0; s < length; s++) {
      const position = mode === 'circular' ? (start + s) % maxLength : start + s;
      for (let i = 0; i < inner; i++) targets[p++] = (prefix * maxLength + position) * inner + i;
    }
  }
  return scatterInto(ctx, cache, update, targets, combinerFor(ctx, cache.type, 'none'));
}

export const kernels: KernelDef[] = [
  { op: 'Scatter', since: 9, run: (ctx) => [scatterElements(ctx, 'none')] },
  { op: 'ScatterElements', since: 11, run: (ctx) => [scatterElements(ctx, reductionOf(ctx))] },
  { op: 'ScatterND', since: 11, run: (ctx) => [scatterND(ctx)] },
  { op: 'TensorScatter', since: 24, run: (ctx) => [tensorScatter(ctx)] },
];
