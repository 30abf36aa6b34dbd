/**
 * Operators that read elements at positions given by another tensor: Gather, GatherElements,
 * GatherND, OneHot, Compress and NonZero. Every index read from a tensor is range-checked. Results
 * are written into the kernels' output memory; Gather and GatherND copy whole contiguous slices at a
 * time. The index helpers here are shared with the scatter family.
 */

import { isBigIntType, isComplexType, slotsPerElement } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { readInts, shapeSize, stridesOf, toNumbers } from '../util.js';
import {
  axisOf,
  copySlots,
  describeDims,
  identityMap,
  outputAllocator,
  selectCoordinates,
  takeElements,
} from './shape.js';

/** The values of an index tensor, which must hold int32 or int64. */
export function indexValues(ctx: KernelContext, indices: Tensor, name = 'indices'): number[] {
  if (indices.type !== 'int32' && indices.type !== 'int64') {
    ctx.fail(`${name} must be int32 or int64, got ${indices.type}`);
  }
  return readInts(indices);
}

/** Resolves a possibly negative index into [0, size), failing on anything outside [-size, size). */
export function resolveIndex(ctx: KernelContext, index: number, size: number, axis: number): number {
  const resolved = index < 0 ? index + size : index;
  if (!(resolved >= 0 && resolved < size))
    ctx.fail(`index ${index} is out of range for axis ${axis} of size ${size}`);
  return resolved;
}

/**
 * Fails unless `indices` has the rank of `data` and no dim larger than data's outside `axis`
 * (the element-wise gathers and scatters pair positions of the two).
 */
export function checkElementwiseIndices(
  ctx: KernelContext,
  data: Tensor,
  indices: Tensor,
  axis: number,
): void {
  const fits =
    indices.dims.length === data.dims.length &&
    indices.dims.every((d, a) => a === axis || d <= data.dims[a]!);
  if (!fits) {
    ctx.fail(
      `indices of dims ${describeDims(indices.dims)} do not fit data of dims ${describeDims(data.dims)}`,
    );
  }
}

/**
 * For each position of an index tensor of `indexDims` (row-major), the flat data index it addresses
 * once its own coordinate along `axis` is replaced by the resolved index value there.
 */
export function elementwiseTargets(
  ctx: KernelContext,
  dataDims: readonly number[],
  indexDims: readonly number[],
  indices: readonly number[],
  axis: number,
): Int32Array {
  const rank = dataDims.length;
  const strides = stridesOf(dataDims);
  const coords = new Array<number>(rank).fill(0);
  const targets = new Int32Array(indices.length);
  for (let p = 0; p < indices.length; p++) {
    let target = 0;
    for (let a = 0; a < rank; a++) {
      const c = a === axis ? resolveIndex(ctx, indices[p]!, dataDims[a]!, a) : coords[a]!;
      target += c * strides[a]!;
    }
    targets[p] = target;
    for (let a = rank - 1; a >= 0 && ++coords[a]! === indexDims[a]; a--) coords[a] = 0;
  }
  return targets;
}

function gather(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const indicesTensor = ctx.input(1);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.dims.length);
  const dim = data.dims[axis]!;
  const indices = indexValues(ctx, indicesTensor).map((i) => resolveIndex(ctx, i, dim, axis));
  const outer = shapeSize(data.dims.slice(0, axis));
  // Each index selects one contiguous slice of the data per outer position: `slice` slots long.
  const slice = shapeSize(data.dims.slice(axis + 1)) * slotsPerElement(data.type);
  const dims = [...data.dims.slice(0, axis), ...indicesTensor.dims, ...data.dims.slice(axis + 1)];
  const out = ctx.output(0, data.type, dims);
  let position = 0;
  for (let o = 0; o < outer; o++) {
    for (const index of indices) {
      copySlots(out.data, position, data.data, (o * dim + index) * slice, slice);
      position += slice;
    }
  }
  return out;
}

function gatherElements(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const indices = ctx.input(1);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.dims.length);
  checkElementwiseIndices(ctx, data, indices, axis);
  const sources = elementwiseTargets(ctx, data.dims, indices.dims, indexValues(ctx, indices), axis);
  return takeElements(data, sources, indices.dims, undefined, outputAllocator(ctx));
}

/** The layout shared by GatherND and ScatterND: index tuples addressing slices of the data. */
export interface NdIndexing {
  /** Flat data index of the first element of each addressed slice, one per index tuple. */
  sliceStarts: Int32Array;
  /** Elements per addressed slice. */
  sliceSize: number;
  /** Dims of the index tuples' grid followed by the slice dims. */
  resultDims: number[];
}

export function ndIndexing(ctx: KernelContext, data: Tensor, indices: Tensor, batchDims: number): NdIndexing {
  const rank = data.dims.length;
  const indexRank = indices.dims.length;
  if (indexRank < 1) ctx.fail('indices must have rank 1 or more');
  const tupleLength = indices.dims[indexRank - 1]!;
  if (batchDims < 0 || batchDims >= Math.min(rank, indexRank)) {
    ctx.fail(`batch_dims ${batchDims} must be below the ranks of data (${rank}) and indices (${indexRank})`);
  }
  if (tupleLength > rank - batchDims) {
    ctx.fail(
      `index tuples of length ${tupleLength} exceed the ${rank - batchDims} indexable dims of the data`,
    );
  }
  for (let a = 0; a < batchDims; a++) {
    if (indices.dims[a] !== data.dims[a]) {
      ctx.fail(`batch dim ${a} is ${indices.dims[a]} in indices but ${data.dims[a]} in data`);
    }
  }
  const values = indexValues(ctx, indices);
  const strides = stridesOf(data.dims);
  const batchSize = batchDims === 0 ? 1 : strides[batchDims - 1]!;
  const tuples = shapeSize(indices.dims.slice(0, -1));
  const tuplesPerBatch = tuples / shapeSize(indices.dims.slice(0, batchDims));
  const sliceStarts = new Int32Array(tuples);
  for (let t = 0; t < sliceStarts.length; t++) {
    let start = Math.floor(t / tuplesPerBatch) * batchSize;
    for (let j = 0; j < tupleLength; j++) {
      const axis = batchDims + j;
      start += resolveIndex(ctx, values[t * tupleLength + j]!, data.dims[axis]!, axis) * strides[axis]!;
    }
    sliceStarts[t] = start;
  }
  const sliceDims = data.dims.slice(batchDims + tupleLength);
  return {
    sliceStarts,
    sliceSize: shapeSize(sliceDims),
    resultDims: [...indices.dims.slice(0, -1), ...sliceDims],
  };
}

function gatherND(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const { sliceStarts, sliceSize, resultDims } = ndIndexing(
    ctx,
    data,
    ctx.input(1),
    ctx.int('batch_dims', 0),
  );
  const out = ctx.output(0, data.type, resultDims);
  const slots = slotsPerElement(data.type);
  sliceStarts.forEach((start, t) => {
    copySlots(out.data, t * sliceSize * slots, data.data, start * slots, sliceSize * slots);
  });
  return out;
}

function oneHot(ctx: KernelContext): Tensor {
  const indices = ctx.input(0);
  const depthTensor = ctx.input(1);
  const values = ctx.input(2);
  if (depthTensor.size !== 1) ctx.fail(`depth must be a scalar, got dims ${describeDims(depthTensor.dims)}`);
  const depth = Math.trunc(toNumbers(depthTensor)[0]!);
  if (!(depth >= 0)) ctx.fail(`depth must be non-negative, got ${depth}`);
  if (values.size !== 2) ctx.fail(`values must hold [off_value, on_value], got ${values.size} elements`);
  const rank = indices.dims.length + 1;
  const axis = axisOf(ctx, ctx.int('axis', -1), rank);
  // Opset 11 made negative indices count from the end; before, they were simply out of range.
  const wrapsNegatives = ctx.opset >= 11;
  const positions = Array.from(toNumbers(indices), (v) => {
    const index = Math.trunc(v);
    return index < 0 && wrapsNegatives ? index + depth : index;
  });
  const outer = shapeSize(indices.dims.slice(0, axis));
  const inner = shapeSize(indices.dims.slice(axis));
  const selectors = new Int32Array(outer * depth * inner);
  let p = 0;
  for (let o = 0; o < outer; o++) {
    for (let d = 0; d < depth; d++) {
      for (let i = 0; i < inner; i++) selectors[p++] = positions[o * inner + i] === d ? 1 : 0;
    }
  }
  const dims = [...indices.dims.slice(0, axis), depth, ...indices.dims.slice(axis)];
  return takeElements(values, selectors, dims, undefined, outputAllocator(ctx));
}

function compress(ctx: KernelContext): Tensor {
  const input = ctx.input(0);
  const condition = ctx.input(1);
  if (condition.dims.length !== 1)
    ctx.fail(`condition must be 1-D, got dims ${describeDims(condition.dims)}`);
  const data = ctx.has('axis') ? input : input.reshape([input.size]);
  const axis = ctx.has('axis') ? axisOf(ctx, ctx.int('axis'), data.dims.length) : 0;
  const dim = data.dims[axis]!;
  const selected: number[] = [];
  toNumbers(condition).forEach((flag, i) => {
    if (!flag) return;
    if (i >= dim) ctx.fail(`condition selects slice ${i} of axis ${axis}, which has only ${dim}`);
    selected.push(i);
  });
  const maps = data.dims.map(identityMap);
  maps[axis] = Int32Array.from(selected);
  return selectCoordinates(data, maps, undefined, outputAllocator(ctx));
}

/** A test of whether element i is non-zero (non-empty for strings; NaN counts as non-zero). */
function nonZeroTest(t: Tensor): (i: number) => boolean {
  if (t.type === 'string') {
    const strings = t.data as string[];
    return (i) => strings[i] !== '';
  }
  if (isBigIntType(t.type)) {
    const big = t.data as BigInt64Array;
    return (i) => big[i] !== 0n;
  }
  if (isComplexType(t.type)) {
    const parts = t.data as Float32Array;
    return (i) => parts[2 * i] !== 0 || parts[2 * i + 1] !== 0;
  }
  const values = toNumbers(t);
  return (i) => values[i] !== 0;
}

function nonZero(ctx: KernelContext): Tensor {
  const input = ctx.input(0);
  // A scalar counts as a one-element vector, as numpy and onnxruntime treat it.
  const dims = input.dims.length === 0 ? [1] : input.dims;
  const isNonZero = nonZeroTest(input);
  const hits: number[] = [];
  for (let i = 0; i < input.size; i++) if (isNonZero(i)) hits.push(i);
  const strides = stridesOf(dims);
  const out = ctx.output(0, 'int64', [dims.length, hits.length]);
  const coords = out.data as BigInt64Array;
  hits.forEach((flat, k) => {
    dims.forEach((d, a) => {
      coords[a * hits.length + k] = BigInt(Math.floor(flat / strides[a]!) % d);
    });
  });
  return out;
}

export const kernels: KernelDef[] = [
  { op: 'Gather', since: 1, run: (ctx) => [gather(ctx)] },
  { op: 'GatherElements', since: 11, run: (ctx) => [gatherElements(ctx)] },
  { op: 'GatherND', since: 11, run: (ctx) => [gatherND(ctx)] },
  { op: 'OneHot', since: 9, run: (ctx) => [oneHot(ctx)] },
  { op: 'Compress', since: 9, run: (ctx) => [compress(ctx)] },
  { op: 'NonZero', since: 9, run: (ctx) => [nonZero(ctx)] },
];
