/**
 * Shape manipulation: operators that move or relabel elements without computing new values
 * (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Shape, Size, Expand, Concat, Split, Slice, Tile,
 * Pad, CenterCropPad, DepthToSpace, SpaceToDepth, Identity). They copy storage slots, so they work for
 * every element type. The element-copying helpers here are shared with the gather, scatter and
 * indexing families.
 */

import { allocateStorage, slotsPerElement, type DataType, type TensorData } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  broadcastShapes,
  fromNumbers,
  normalizeAxis,
  readInts,
  shapeSize,
  splitAxis,
  stridesOf,
} from '../util.js';

/** Storage viewed as plain slots, so one loop copies numbers, bigints and strings alike. */
export function slotsOf(data: TensorData): unknown[] {
  return data as unknown as unknown[];
}

/**
 * A tensor of `dims` whose element i is `source`'s element `indices[i]`, or `fill`'s only element
 * where the index is negative.
 */
export function takeElements(
  source: Tensor,
  indices: ArrayLike<number>,
  dims: readonly number[],
  fill?: Tensor,
): Tensor {
  const slots = slotsPerElement(source.type);
  const out = allocateStorage(source.type, indices.length);
  const src = slotsOf(source.data);
  const dst = slotsOf(out);
  const padding = fill ? slotsOf(fill.data) : [];
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]!;
    for (let s = 0; s < slots; s++) dst[i * slots + s] = from < 0 ? padding[s] : src[from * slots + s];
  }
  return new Tensor(source.type, out, dims);
}

/**
 * Flat source indices of an output walked in row-major order, where `axisOffsets[a][o]` is what
 * coordinate o of output axis a adds to the source index, or -1 where that coordinate reads no
 * source element (padding).
 */
function flatIndices(axisOffsets: readonly Int32Array[]): Int32Array {
  const rank = axisOffsets.length;
  const indices = new Int32Array(shapeSize(axisOffsets.map((offsets) => offsets.length)));
  if (rank === 0) return indices;
  let position = 0;
  const visit = (axis: number, base: number): void => {
    const offsets = axisOffsets[axis]!;
    for (let o = 0; o < offsets.length; o++) {
      const index = base < 0 || offsets[o]! < 0 ? -1 : base + offsets[o]!;
      if (axis === rank - 1) indices[position++] = index;
      else visit(axis + 1, index);
    }
  };
  visit(0, 0);
  return indices;
}

/**
 * Selects elements axis by axis: output coordinate o of axis a reads source coordinate
 * `coordinateMaps[a][o]`, or `fill` where that is -1.
 */
export function selectCoordinates(
  source: Tensor,
  coordinateMaps: readonly Int32Array[],
  fill?: Tensor,
): Tensor {
  const strides = stridesOf(source.dims);
  const offsets = coordinateMaps.map((map, a) => map.map((c) => (c < 0 ? -1 : c * strides[a]!)));
  return takeElements(
    source,
    flatIndices(offsets),
    coordinateMaps.map((map) => map.length),
    fill,
  );
}

/** A scalar holding the zero of `type` (false, '' and 0 alike). */
export function zeroOf(type: DataType): Tensor {
  return new Tensor(type, allocateStorage(type, 1), []);
}

export function identityMap(size: number): Int32Array {
  return Int32Array.from({ length: size }, (_, i) => i);
}

/** Output axis i is source axis perm[i]. */
export function transposeTensor(source: Tensor, perm: readonly number[]): Tensor {
  const strides = stridesOf(source.dims);
  const offsets = perm.map((p) => identityMap(source.dims[p]!).map((c) => c * strides[p]!));
  return takeElements(
    source,
    flatIndices(offsets),
    perm.map((p) => source.dims[p]!),
  );
}

export function axisOf(ctx: KernelContext, axis: number, rank: number): number {
  return normalizeAxis(axis, rank, (reason) => ctx.fail(reason));
}

export function describeDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}

/** An int list that older opsets take as an attribute and newer ones as input `inputIndex`. */
function intsFromAttributeOrInput(
  ctx: KernelContext,
  name: string,
  inputIndex: number,
  firstInputOpset: number,
): number[] | undefined {
  if (ctx.opset < firstInputOpset) return ctx.has(name) ? ctx.ints(name) : undefined;
  const input = ctx.optionalInput(inputIndex);
  return input ? readInts(input) : undefined;
}

function reshape(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const requested = ctx.opset < 5 ? ctx.ints('shape') : readInts(ctx.input(1));
  const allowZero = ctx.int('allowzero', 0) === 1;
  let inferredAxis = -1;
  const dims = requested.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= data.dims.length) {
        ctx.fail(`shape entry ${i} is 0 but the input has only ${data.dims.length} dims`);
      }
      return data.dims[i]!;
    }
    if (d === -1) {
      if (inferredAxis >= 0) ctx.fail('shape may contain at most one -1');
      inferredAxis = i;
      return 1;
    }
    if (d < 0) ctx.fail(`shape entry ${i} is ${d}; only -1 may be negative`);
    return d;
  });
  if (inferredAxis >= 0) {
    const known = shapeSize(dims);
    if (known === 0 || data.size % known !== 0) {
      ctx.fail(`cannot infer the -1 of shape ${describeDims(requested)} for ${data.size} elements`);
    }
    dims[inferredAxis] = data.size / known;
  }
  if (shapeSize(dims) !== data.size) {
    ctx.fail(`cannot reshape dims ${describeDims(data.dims)} into ${describeDims(dims)}`);
  }
  return data.reshape(dims);
}

function flatten(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const rank = data.dims.length;
  const axis = splitAxis(ctx.int('axis', 1), rank, ctx.fail.bind(ctx));
  return data.reshape([shapeSize(data.dims.slice(0, axis)), shapeSize(data.dims.slice(axis))]);
}

function squeeze(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const requested = intsFromAttributeOrInput(ctx, 'axes', 1, 13);
  const rank = data.dims.length;
  const axes = new Set(requested?.map((a) => axisOf(ctx, a, rank)));
  for (const a of axes) {
    if (data.dims[a] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${data.dims[a]}`);
  }
  const dims = data.dims.filter((d, a) => (requested ? !axes.has(a) : d !== 1));
  return data.reshape(dims);
}

function unsqueeze(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const requested = intsFromAttributeOrInput(ctx, 'axes', 1, 13);
  if (!requested) ctx.fail('axes are required');
  const rank = data.dims.length + requested.length;
  const axes = new Set(requested.map((a) => axisOf(ctx, a, rank)));
  if (axes.size !== requested.length) ctx.fail(`axes ${describeDims(requested)} repeat an axis`);
  const dims: number[] = [];
  let next = 0;
  for (let a = 0; a < rank; a++) dims.push(axes.has(a) ? 1 : data.dims[next++]!);
  return data.reshape(dims);
}

function transpose(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const rank = data.dims.length;
  const perm = ctx.ints('perm', [...data.dims.keys()].reverse());
  const isPermutation =
    perm.length === rank &&
    perm.every((p) => Number.isInteger(p) && p >= 0 && p < rank) &&
    new Set(perm).size === rank;
  if (!isPermutation) ctx.fail(`perm ${describeDims(perm)} is not a permutation of ${rank} axes`);
  return transposeTensor(data, perm);
}

function shape(ctx: KernelContext): Tensor {
  const dims = ctx.input(0).dims;
  const rank = dims.length;
  const clamp = (i: number): number => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
  const start = clamp(ctx.int('start', 0));
  const end = clamp(ctx.int('end', rank));
  const selected = dims.slice(start, Math.max(start, end));
  return new Tensor('int64', BigInt64Array.from(selected, BigInt), [selected.length]);
}

function expand(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const requested = readInts(ctx.input(1));
  if (requested.some((d) => d < 0)) ctx.fail(`shape ${describeDims(requested)} has a negative dim`);
  const dims = broadcastShapes([data.dims, requested], (reason) => ctx.fail(reason));
  const leading = dims.length - data.dims.length;
  const strides = stridesOf(data.dims);
  const offsets = dims.map((d, a) => {
    const sourceDim = a < leading ? 1 : data.dims[a - leading]!;
    return identityMap(d).map((c) => (sourceDim === 1 ? 0 : c * strides[a - leading]!));
  });
  return takeElements(data, flatIndices(offsets), dims);
}

function concat(ctx: KernelContext): Tensor {
  const parts = ctx.inputs.map((_, i) => ctx.input(i));
  const first = parts[0] ?? ctx.fail('needs at least one input');
  const rank = first.dims.length;
  // Concat-1 defaulted to axis 1; from opset 4 the axis is required.
  const axis = axisOf(ctx, ctx.opset < 4 ? ctx.int('axis', 1) : ctx.int('axis'), rank);
  for (const part of parts) {
    const compatible =
      part.type === first.type &&
      part.dims.length === rank &&
      part.dims.every((d, a) => a === axis || d === first.dims[a]);
    if (!compatible) {
      ctx.fail(
        `cannot concatenate ${part.type}${describeDims(part.dims)} with ${first.type}${describeDims(first.dims)} on axis ${axis}`,
      );
    }
  }
  const dims = [...first.dims];
  dims[axis] = parts.reduce((sum, part) => sum + part.dims[axis]!, 0);
  const slots = slotsPerElement(first.type);
  const outer = shapeSize(first.dims.slice(0, axis));
  const out = allocateStorage(first.type, shapeSize(dims));
  const dst = slotsOf(out);
  const rowSlots = shapeSize(dims.slice(axis)) * slots;
  let rowOffset = 0;
  for (const part of parts) {
    const src = slotsOf(part.data);
    const chunk = shapeSize(part.dims.slice(axis)) * slots;
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < chunk; s++) dst[o * rowSlots + rowOffset + s] = src[o * chunk + s];
    }
    rowOffset += chunk;
  }
  return new Tensor(first.type, out, dims);
}

/** Elements [start, start + length) of `axis`, all of every other axis. */
function sliceAxis(data: Tensor, axis: number, start: number, length: number): Tensor {
  const maps = data.dims.map((d, a) =>
    a === axis ? Int32Array.from({ length }, (_, i) => start + i) : identityMap(d),
  );
  return selectCoordinates(data, maps);
}

function splitLengths(ctx: KernelContext, dim: number): number[] {
  let lengths: number[] | undefined;
  if (ctx.opset >= 13) lengths = intsFromAttributeOrInput(ctx, 'split', 1, 13);
  else if (ctx.has('split')) lengths = ctx.ints('split');
  else if (ctx.optionalInput(1)) lengths = readInts(ctx.input(1)); // Split-1 also took it as an input.
  if (lengths) {
    if (lengths.length !== ctx.outputCount) {
      ctx.fail(`split has ${lengths.length} entries for ${ctx.outputCount} outputs`);
    }
    if (lengths.some((l) => l < 0) || lengths.reduce((a, b) => a + b, 0) !== dim) {
      ctx.fail(`split ${describeDims(lengths)} does not add up to the axis size ${dim}`);
    }
    return lengths;
  }
  const parts = ctx.opset >= 18 ? ctx.int('num_outputs', ctx.outputCount) : ctx.outputCount;
  if (parts !== ctx.outputCount) {
    ctx.fail(`num_outputs is ${parts} but the node has ${ctx.outputCount} outputs`);
  }
  if (ctx.opset < 18 && dim % parts !== 0) {
    ctx.fail(`axis of size ${dim} cannot be split into ${parts} equal parts`);
  }
  // From opset 18 an uneven split makes every chunk ceil(dim / parts) long except a shorter last.
  const chunk = Math.ceil(dim / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
}

function split(ctx: KernelContext): Tensor[] {
  const data = ctx.input(0);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.dims.length);
  let start = 0;
  return splitLengths(ctx, data.dims[axis]!).map((length) => {
    const part = sliceAxis(data, axis, start, length);
    start += length;
    return part;
  });
}

interface SliceSpec {
  starts: number[];
  ends: number[];
  axes: number[] | undefined;
  steps: number[] | undefined;
}

function sliceSpec(ctx: KernelContext): SliceSpec {
  if (ctx.opset < 10) {
    return {
      starts: ctx.ints('starts'),
      ends: ctx.ints('ends'),
      axes: ctx.has('axes') ? ctx.ints('axes') : undefined,
      steps: undefined,
    };
  }
  const optionalInts = (i: number): number[] | undefined => {
    const input = ctx.optionalInput(i);
    return input ? readInts(input) : undefined;
  };
  return {
    starts: readInts(ctx.input(1)),
    ends: readInts(ctx.input(2)),
    axes: optionalInts(3),
    steps: optionalInts(4),
  };
}

/** The source coordinates a slice of one axis reads, following numpy's clamping rules. */
function sliceCoordinates(dim: number, start: number, end: number, step: number): Int32Array {
  const resolve = (i: number, low: number, high: number): number =>
    Math.min(Math.max(i < 0 ? i + dim : i, low), high);
  const first = step > 0 ? resolve(start, 0, dim) : resolve(start, 0, dim - 1);
  const stop = step > 0 ? resolve(end, 0, dim) : resolve(end, -1, dim - 1);
  const count = Math.max(0, Math.ceil((stop - first) / step));
  return Int32Array.from({ length: count }, (_, i) => first + i * step);
}

function slice(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const rank = data.dims.length;
  const { starts, ends, axes, steps } = sliceSpec(ctx);
  const sliced = axes ?? starts.map((_, i) => i);
  if (
    ends.length !== starts.length ||
    sliced.length !== starts.length ||
    (steps && steps.length !== starts.length)
  ) {
    ctx.fail('starts, ends, axes and steps must have the same length');
  }
  const maps = data.dims.map(identityMap);
  const seen = new Set<number>();
  sliced.forEach((requested, i) => {
    const axis = axisOf(ctx, requested, rank);
    if (seen.has(axis)) ctx.fail(`axis ${axis} is sliced twice`);
    seen.add(axis);
    const step = steps?.[i] ?? 1;
    if (step === 0) ctx.fail('slice steps cannot be 0');
    maps[axis] = sliceCoordinates(data.dims[axis]!, starts[i]!, ends[i]!, step);
  });
  return selectCoordinates(data, maps);
}

function tileRepeats(ctx: KernelContext, rank: number): number[] {
  if (ctx.opset >= 6) return readInts(ctx.input(1));
  // Tile-1 repeated along a single axis given as a third input.
  const tiles = readInts(ctx.input(1))[0] ?? ctx.fail('tiles must hold one value');
  const axis = axisOf(ctx, readInts(ctx.input(2))[0] ?? ctx.fail('axis must hold one value'), rank);
  return Array.from({ length: rank }, (_, a) => (a === axis ? tiles : 1));
}

function tile(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const repeats = tileRepeats(ctx, data.dims.length);
  if (repeats.length !== data.dims.length || repeats.some((r) => r < 0)) {
    ctx.fail(`repeats ${describeDims(repeats)} must be ${data.dims.length} non-negative counts`);
  }
  const maps = data.dims.map((d, a) => Int32Array.from({ length: d * repeats[a]! }, (_, o) => o % d));
  return selectCoordinates(data, maps);
}

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/** Source coordinate of output coordinate `o` along an axis padded with `before` elements, or -1. */
function paddedCoordinate(o: number, dim: number, before: number, mode: PadMode): number {
  const c = o - before;
  if (c >= 0 && c < dim) return c;
  switch (mode) {
    case 'constant':
      return -1;
    case 'edge':
      return c < 0 ? 0 : dim - 1;
    case 'wrap':
      return ((c % dim) + dim) % dim;
    case 'reflect': {
      if (dim === 1) return 0;
      const period = 2 * (dim - 1);
      const folded = ((c % period) + period) % period;
      return folded < dim ? folded : period - folded;
    }
  }
}

interface PadSpec {
  pads: number[];
  axes: number[] | undefined;
  /** The single padding element, of the data's type. */
  fill: Tensor;
}

function padSpec(ctx: KernelContext, data: Tensor): PadSpec {
  if (ctx.opset < 11) {
    return {
      pads: ctx.ints(ctx.opset < 2 ? 'paddings' : 'pads'),
      axes: undefined,
      fill: fromNumbers(data.type, [ctx.float('value', 0)], []),
    };
  }
  const constant = ctx.optionalInput(2);
  if (constant && (constant.type !== data.type || constant.size !== 1)) {
    ctx.fail(`constant_value must be one ${data.type}, got ${constant.type}${describeDims(constant.dims)}`);
  }
  const axesInput = ctx.opset >= 18 ? ctx.optionalInput(3) : undefined;
  return {
    pads: readInts(ctx.input(1)),
    axes: axesInput ? readInts(axesInput) : undefined,
    fill: constant ?? zeroOf(data.type),
  };
}

function pad(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const rank = data.dims.length;
  const mode = ctx.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') {
    ctx.fail(`unknown pad mode '${mode}'`);
  }
  const { pads, axes, fill } = padSpec(ctx, data);
  const padded = (axes ?? [...data.dims.keys()]).map((a) => axisOf(ctx, a, rank));
  if (pads.length !== 2 * padded.length) {
    ctx.fail(`pads has ${pads.length} entries for ${padded.length} axes`);
  }
  const before = new Array<number>(rank).fill(0);
  const after = new Array<number>(rank).fill(0);
  padded.forEach((axis, i) => {
    before[axis] = pads[i]!;
    after[axis] = pads[i + padded.length]!;
  });
  const maps = data.dims.map((dim, a) => {
    const size = dim + before[a]! + after[a]!;
    if (size < 0) ctx.fail(`pads ${before[a]}, ${after[a]} crop more than the ${dim} elements of axis ${a}`);
    if (dim === 0 && size > 0 && mode !== 'constant') ctx.fail(`cannot ${mode}-pad the empty axis ${a}`);
    return Int32Array.from({ length: size }, (_, o) => paddedCoordinate(o, dim, before[a]!, mode));
  });
  return selectCoordinates(data, maps, fill);
}

function centerCropPad(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const rank = data.dims.length;
  const target = readInts(ctx.input(1));
  const axes = ctx.ints('axes', [...data.dims.keys()]).map((a) => axisOf(ctx, a, rank));
  if (target.length !== axes.length) ctx.fail(`shape has ${target.length} entries for ${axes.length} axes`);
  const maps = data.dims.map(identityMap);
  axes.forEach((axis, i) => {
    const dim = data.dims[axis]!;
    const size = target[i]!;
    if (size < 0) ctx.fail(`target size ${size} of axis ${axis} is negative`);
    // Cropping keeps the centered window, padding centers the data; odd differences favour the start.
    const shift = size < dim ? Math.floor((dim - size) / 2) : -Math.floor((size - dim) / 2);
    maps[axis] = Int32Array.from({ length: size }, (_, o) =>
      o + shift >= 0 && o + shift < dim ? o + shift : -1,
    );
  });
  return selectCoordinates(data, maps, zeroOf(data.type));
}

function imageDims(ctx: KernelContext, data: Tensor): [number, number, number, number] {
  if (data.dims.length !== 4) ctx.fail(`input must be 4-D (N, C, H, W), got ${describeDims(data.dims)}`);
  return data.dims as [number, number, number, number];
}

function blockSize(ctx: KernelContext): number {
  const size = ctx.int('blocksize');
  if (size <= 0) ctx.fail(`blocksize must be positive, got ${size}`);
  return size;
}

function depthToSpace(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const [n, c, h, w] = imageDims(ctx, data);
  const b = blockSize(ctx);
  if (c % (b * b) !== 0) ctx.fail(`channels ${c} are not divisible by blocksize² ${b * b}`);
  const depth = c / (b * b);
  // DCR reads the block offsets before the depth, CRD after it.
  const columnFirst = ctx.string('mode', 'DCR') === 'CRD';
  const split = columnFirst ? [n, depth, b, b, h, w] : [n, b, b, depth, h, w];
  const perm = columnFirst ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2];
  return transposeTensor(data.reshape(split), perm).reshape([n, depth, h * b, w * b]);
}

function spaceToDepth(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const [n, c, h, w] = imageDims(ctx, data);
  const b = blockSize(ctx);
  if (h % b !== 0 || w % b !== 0) ctx.fail(`height ${h} and width ${w} must be divisible by blocksize ${b}`);
  const blocks = data.reshape([n, c, h / b, b, w / b, b]);
  return transposeTensor(blocks, [0, 3, 5, 1, 2, 4]).reshape([n, c * b * b, h / b, w / b]);
}

export const kernels: KernelDef[] = [
  // Identity passes any value through, sequences and optionals included.
  { op: 'Identity', since: 1, run: (ctx) => [ctx.inputs[0]] },
  { op: 'Reshape', since: 1, run: (ctx) => [reshape(ctx)] },
  { op: 'Flatten', since: 1, run: (ctx) => [flatten(ctx)] },
  { op: 'Squeeze', since: 1, run: (ctx) => [squeeze(ctx)] },
  { op: 'Unsqueeze', since: 1, run: (ctx) => [unsqueeze(ctx)] },
  { op: 'Transpose', since: 1, run: (ctx) => [transpose(ctx)] },
  { op: 'Shape', since: 1, run: (ctx) => [shape(ctx)] },
  { op: 'Size', since: 1, run: (ctx) => [new Tensor('int64', [BigInt(ctx.input(0).size)], [])] },
  { op: 'Expand', since: 8, run: (ctx) => [expand(ctx)] },
  { op: 'Concat', since: 1, run: (ctx) => [concat(ctx)] },
  { op: 'Split', since: 1, run: split },
  { op: 'Slice', since: 1, run: (ctx) => [slice(ctx)] },
  { op: 'Tile', since: 1, run: (ctx) => [tile(ctx)] },
  { op: 'Pad', since: 1, run: (ctx) => [pad(ctx)] },
  { op: 'CenterCropPad', since: 18, run: (ctx) => [centerCropPad(ctx)] },
  { op: 'DepthToSpace', since: 1, run: (ctx) => [depthToSpace(ctx)] },
  { op: 'SpaceToDepth', since: 1, run: (ctx) => [spaceToDepth(ctx)] },
];
