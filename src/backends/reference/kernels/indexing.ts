/**
 * Operators that order, accumulate or select elements by their position or value: Trilu, CumSum,
 * CumProd, TopK, Unique and ReverseSequence. Results are written into the kernels' output memory.
 */

import { isBigIntType, isComplexType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { numbersToStorage, readInts, shapeSize, stridesOf, toNumbers } from '../util.js';
import { indexValues } from './gather.js';
import { combinerFor } from './scatter.js';
import {
  axisOf,
  describeDims,
  identityMap,
  outputAllocator,
  selectCoordinates,
  slotsOf,
  takeElements,
  zeroOf,
} from './shape.js';

/** A scalar input (or one-element vector) as a number; `fallback` when omitted. */
function optionalScalar(ctx: KernelContext, i: number, name: string, fallback: number): number {
  const input = ctx.optionalInput(i);
  if (!input) return fallback;
  if (input.size !== 1) ctx.fail(`${name} must hold one value, got dims ${describeDims(input.dims)}`);
  return readInts(input)[0]!;
}

function trilu(ctx: KernelContext): Tensor {
  const input = ctx.input(0);
  const rank = input.dims.length;
  if (rank < 2) ctx.fail(`input must have rank 2 or more, got dims ${describeDims(input.dims)}`);
  const k = optionalScalar(ctx, 1, 'k', 0);
  const upper = ctx.int('upper', 1) === 1;
  const rows = input.dims[rank - 2]!;
  const cols = input.dims[rank - 1]!;
  const sources = new Int32Array(input.size);
  for (let p = 0; p < input.size; p++) {
    const diagonal = (p % cols) - (Math.floor(p / cols) % rows);
    const kept = upper ? diagonal >= k : diagonal <= k;
    sources[p] = kept ? p : -1;
  }
  return takeElements(input, sources, input.dims, zeroOf(input.type), outputAllocator(ctx));
}

/** CumSum and CumProd: running reductions along an axis given as an input tensor. */
function cumulative(ctx: KernelContext, reduction: 'add' | 'mul'): Tensor {
  const x = ctx.input(0);
  const axisInput = ctx.input(1);
  if (axisInput.size !== 1) ctx.fail(`axis must hold one value, got dims ${describeDims(axisInput.dims)}`);
  const axis = axisOf(ctx, indexValues(ctx, axisInput, 'axis')[0]!, x.dims.length);
  const exclusive = ctx.int('exclusive', 0) === 1;
  const reverse = ctx.int('reverse', 0) === 1;
  const combine = combinerFor(ctx, x.type, reduction);
  const identity = slotsOf(numbersToStorage(x.type, [reduction === 'add' ? 0 : 1]))[0];
  const dim = x.dims[axis]!;
  const inner = shapeSize(x.dims.slice(axis + 1));
  const outer = shapeSize(x.dims.slice(0, axis));
  const src = slotsOf(x.data);
  const out = ctx.output(0, x.type, x.dims);
  const dst = slotsOf(out.data);
  // The running value is read back from the output, so it is rounded (or wrapped) as the type's
  // own arithmetic would at every step.
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (step: number): number => (o * dim + (reverse ? dim - 1 - step : step)) * inner + i;
      for (let step = 0; step < dim; step++) {
        const incoming = exclusive ? (step === 0 ? identity : src[at(step - 1)]) : src[at(step)];
        dst[at(step)] = step === 0 ? incoming : combine(dst[at(step - 1)], incoming);
      }
    }
  }
  return out;
}

type SortKey = number | bigint | string;

/** Elements as values that order like the numbers (or strings) they stand for. */
function sortKeys(ctx: KernelContext, t: Tensor): ArrayLike<SortKey> {
  if (isComplexType(t.type)) ctx.fail(`${t.type} values have no order`);
  if (t.type === 'string' || isBigIntType(t.type)) return slotsOf(t.data) as SortKey[];
  return toNumbers(t);
}

/** Ascending order with NaN after every number, as numpy sorts. */
function compareKeys(a: SortKey, b: SortKey): number {
  if (a < b) return -1;
  if (a > b) return 1;
  const aIsNaN = a !== a;
  const bIsNaN = b !== b;
  return aIsNaN === bIsNaN ? 0 : aIsNaN ? 1 : -1;
}

function topKCount(ctx: KernelContext, dim: number): number {
  let k: number;
  if (ctx.opset < 10) {
    k = ctx.int('k');
  } else {
    const input = ctx.input(1);
    if (input.size !== 1) ctx.fail(`K must hold one value, got dims ${describeDims(input.dims)}`);
    k = indexValues(ctx, input, 'K')[0]!;
  }
  if (k < 0 || k > dim) ctx.fail(`k ${k} is out of range for an axis of size ${dim}`);
  return k;
}

/** The k extreme values along the axis, and (when the node names that output) their positions. */
function topK(ctx: KernelContext): (Tensor | undefined)[] {
  const x = ctx.input(0);
  const axis = axisOf(ctx, ctx.int('axis', -1), x.dims.length);
  const dim = x.dims[axis]!;
  const k = topKCount(ctx, dim);
  const largest = ctx.int('largest', 1) === 1;
  // With sorted=0 the order is unspecified; the sorted order is as good as any.
  const keys = sortKeys(ctx, x);
  const inner = shapeSize(x.dims.slice(axis + 1));
  const outer = shapeSize(x.dims.slice(0, axis));
  const dims = x.dims.map((d, a) => (a === axis ? k : d));
  const sources = new Int32Array(outer * k * inner);
  const indices = ctx.wantsOutput(1) ? ctx.output(1, 'int64', dims) : undefined;
  const positions = indices?.data as BigInt64Array;
  const lane = identityMap(dim);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const flat = (position: number): number => (o * dim + position) * inner + i;
      // Ties keep the smaller index first, whichever direction the values go.
      const order = Array.from(lane).sort((a, b) => {
        const byValue = compareKeys(keys[flat(a)]!, keys[flat(b)]!);
        return (largest ? -byValue : byValue) || a - b;
      });
      for (let r = 0; r < k; r++) {
        sources[(o * k + r) * inner + i] = flat(order[r]!);
        if (indices) positions[(o * k + r) * inner + i] = BigInt(order[r]!);
      }
    }
  }
  return [takeElements(x, sources, dims, undefined, outputAllocator(ctx)), indices];
}

interface UniqueSlice {
  /** Index along the axis of the slice's first occurrence. */
  first: number;
  count: number;
  keys: SortKey[];
}

function compareSlices(a: UniqueSlice, b: UniqueSlice): number {
  for (let i = 0; i < a.keys.length; i++) {
    const order = compareKeys(a.keys[i]!, b.keys[i]!);
    if (order !== 0) return order;
  }
  return 0;
}

/** A string that is equal for equal slices; all NaNs count as equal, and 0 equals -0. */
function sliceIdentity(keys: readonly SortKey[]): string {
  return keys.map((key) => (typeof key === 'string' ? JSON.stringify(key) : String(key))).join(',');
}

/** The unique slices, then (each when the node names it) first occurrences, inverse indices and counts. */
function unique(ctx: KernelContext): (Tensor | undefined)[] {
  const input = ctx.input(0);
  const data = ctx.has('axis') ? input : input.reshape([input.size]);
  const axis = ctx.has('axis') ? axisOf(ctx, ctx.int('axis'), data.dims.length) : 0;
  const keys = sortKeys(ctx, data);
  const dim = data.dims[axis]!;
  const inner = shapeSize(data.dims.slice(axis + 1));
  const outer = shapeSize(data.dims.slice(0, axis));
  const slices: UniqueSlice[] = [];
  const byIdentity = new Map<string, UniqueSlice>();
  const sliceOf: UniqueSlice[] = [];
  for (let s = 0; s < dim; s++) {
    const sliceKeys: SortKey[] = [];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) sliceKeys.push(keys[(o * dim + s) * inner + i]!);
    }
    const identity = sliceIdentity(sliceKeys);
    let slice = byIdentity.get(identity);
    if (!slice) {
      slice = { first: s, count: 0, keys: sliceKeys };
      byIdentity.set(identity, slice);
      slices.push(slice);
    }
    slice.count++;
    sliceOf.push(slice);
  }
  if (ctx.int('sorted', 1) === 1) slices.sort(compareSlices);
  const rankOf = new Map(slices.map((slice, r) => [slice, r]));
  const maps = data.dims.map(identityMap);
  maps[axis] = Int32Array.from(slices, (slice) => slice.first);
  const int64 = (index: number, values: number[]): Tensor | undefined => {
    if (!ctx.wantsOutput(index)) return undefined;
    const out = ctx.output(index, 'int64', [values.length]);
    const data = out.data as BigInt64Array;
    values.forEach((v, i) => (data[i] = BigInt(v)));
    return out;
  };
  return [
    selectCoordinates(data, maps, undefined, outputAllocator(ctx)),
    int64(
      1,
      slices.map((slice) => slice.first),
    ),
    int64(
      2,
      sliceOf.map((slice) => rankOf.get(slice)!),
    ),
    int64(
      3,
      slices.map((slice) => slice.count),
    ),
  ];
}

function reverseSequence(ctx: KernelContext): Tensor {
  const input = ctx.input(0);
  const rank = input.dims.length;
  if (rank < 2) ctx.fail(`input must have rank 2 or more, got dims ${describeDims(input.dims)}`);
  const timeAxis = axisOf(ctx, ctx.int('time_axis', 0), rank);
  const batchAxis = axisOf(ctx, ctx.int('batch_axis', 1), rank);
  if (timeAxis > 1 || batchAxis > 1 || timeAxis === batchAxis) {
    ctx.fail(`time_axis ${timeAxis} and batch_axis ${batchAxis} must be 0 and 1 in some order`);
  }
  const maxTime = input.dims[timeAxis]!;
  const batch = input.dims[batchAxis]!;
  const lengths = indexValues(ctx, ctx.input(1), 'sequence_lens');
  if (lengths.length !== batch) ctx.fail(`sequence_lens has ${lengths.length} entries for batch ${batch}`);
  for (const length of lengths) {
    if (length < 0 || length > maxTime) ctx.fail(`sequence length ${length} is outside [0, ${maxTime}]`);
  }
  const strides = stridesOf(input.dims);
  const sources = new Int32Array(input.size);
  for (let p = 0; p < input.size; p++) {
    const time = Math.floor(p / strides[timeAxis]!) % maxTime;
    const length = lengths[Math.floor(p / strides[batchAxis]!) % batch]!;
    const reversedTime = time < length ? length - 1 - time : time;
    sources[p] = p + (reversedTime - time) * strides[timeAxis]!;
  }
  return takeElements(input, sources, input.dims, undefined, outputAllocator(ctx));
}

export const kernels: KernelDef[] = [
  { op: 'Trilu', since: 14, run: (ctx) => [trilu(ctx)] },
  { op: 'CumSum', since: 11, run: (ctx) => [cumulative(ctx, 'add')] },
  { op: 'CumProd', since: 26, run: (ctx) => [cumulative(ctx, 'mul')] },
  { op: 'TopK', since: 1, run: topK },
  { op: 'Unique', since: 11, run: unique },
  { op: 'ReverseSequence', since: 10, run: (ctx) => [reverseSequence(ctx)] },
];
