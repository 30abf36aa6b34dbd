/**
 * Shape manipulation: operators that move or relabel elements without computing new values
 * (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Shape, Size, Expand, Concat, Split, Slice, Tile,
 * Pad, CenterCropPad, DepthToSpace, SpaceToDepth, Identity). They copy storage slots, so they work for
 * every element type. Identity, Reshape, Flatten, Squeeze and Unsqueeze return their input relabelled
 * without a copy; the others write into the kernel's output memory, most of them as one strided copy
 * that moves whole runs of contiguous slots where the layouts allow. The element-copying helpers here
 * are shared with the constant, gather, scatter and indexing families.
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

/** Makes the tensor a helper writes its result into: a kernel output, or new memory. */
export type Allocate = (type: DataType, dims: readonly number[]) => Tensor;

const newTensor: Allocate = (type, dims) => new Tensor(type, allocateStorage(type, shapeSize(dims)), dims);

/** Allocates the kernel's output `index` (in the memory the plan set aside for it, when it did). */
export function outputAllocator(ctx: KernelContext, index = 0): Allocate {
  return (type, dims) => ctx.output(index, type, dims);
}

/**
 * Copies `count` slots, stepping `dstStep` through `dst` and `srcStep` through `src` (0 repeats one
 * slot). Contiguous runs of typed storage move as one block.
 */
function copyRun(
  dst: TensorData,
  dstAt: number,
  dstStep: number,
  src: TensorData,
  srcAt: number,
  srcStep: number,
  count: number,
): void {
  if (dstStep === 1 && srcStep === 1 && !Array.isArray(dst)) {
    (dst as Uint8Array).set((src as Uint8Array).subarray(srcAt, srcAt + count), dstAt);
    return;
  }
  const to = slotsOf(dst);
  const from = slotsOf(src);
  if (dstStep === 1 && srcStep === 0) {
    to.fill(from[srcAt], dstAt, dstAt + count);
    return;
  }
  for (let i = 0; i < count; i++) to[dstAt + i * dstStep] = from[srcAt + i * srcStep];
}

/** Copies `count` contiguous slots of `src` from `srcAt` to `dst` from `dstAt`. */
export function copySlots(
  dst: TensorData,
  dstAt: number,
  src: TensorData,
  srcAt: number,
  count: number,
): void {
  copyRun(dst, dstAt, 1, src, srcAt, 1, count);
}

/** Where the elements of a walk over some dims lie: position c is element `offset + Σ c[a]·strides[a]`. */
interface Layout {
  offset: number;
  strides: readonly number[];
}

/** One axis of a strided copy, in slots. */
interface CopyAxis {
  size: number;
  dstStride: number;
  srcStride: number;
}

/**
 * Copies every element of a walk over `dims` from where `from` places it in `src` to where `to`
 * places it in `dst`. Size-1 axes are dropped and neighbouring axes that are contiguous on both sides
 * merged first, so the innermost loop (one `copyRun`) is as long as the layouts allow.
 */
function copyStrided(
  dst: TensorData,
  to: Layout,
  src: TensorData,
  from: Layout,
  dims: readonly number[],
  slots: number,
): void {
  if (shapeSize(dims) === 0) return;
  const axes: CopyAxis[] = [];
  const push = (axis: CopyAxis): void => {
    const outer = axes[axes.length - 1];
    const merges =
      outer &&
      outer.dstStride === axis.dstStride * axis.size &&
      outer.srcStride === axis.srcStride * axis.size;
    if (merges) axes[axes.length - 1] = { ...axis, size: outer.size * axis.size };
    else axes.push(axis);
  };
  dims.forEach((size, a) => {
    if (size !== 1) push({ size, dstStride: to.strides[a]! * slots, srcStride: from.strides[a]! * slots });
  });
  if (slots > 1 || axes.length === 0) push({ size: slots, dstStride: 1, srcStride: 1 });
  const inner = axes.pop()!;
  const counter = new Array<number>(axes.length).fill(0);
  let dstAt = to.offset * slots;
  let srcAt = from.offset * slots;
  for (;;) {
    copyRun(dst, dstAt, inner.dstStride, src, srcAt, inner.srcStride, inner.size);
    let a = axes.length - 1;
    for (; a >= 0; a--) {
      const axis = axes[a]!;
      dstAt += axis.dstStride;
      srcAt += axis.srcStride;
      if (++counter[a]! < axis.size) break;
      counter[a] = 0;
      dstAt -= axis.dstStride * axis.size;
      srcAt -= axis.srcStride * axis.size;
    }
    if (a < 0) return;
  }
}

/** Writes into `out`, in row-major order, the walk over `dims` that `from` lays out in `source`. */
function copyView(out: Tensor, source: Tensor, dims: readonly number[], from: Layout): Tensor {
  const to = { offset: 0, strides: stridesOf(dims) };
  copyStrided(out.data, to, source.data, from, dims, slotsPerElement(source.type));
  return out;
}

/** Sets every element of `out` to the only element of `value` (of the same type). */
export function fillWith(out: Tensor, value: Tensor): Tensor {
  return copyView(out, value, out.dims, { offset: 0, strides: out.dims.map(() => 0) });
}

/**
 * A tensor of `dims` whose element i is `source`'s element `indices[i]`, or `fill`'s only element
 * where the index is negative; `allocate` makes it (new memory by default).
 */
export function takeElements(
  source: Tensor,
  indices: ArrayLike<number>,
  dims: readonly number[],
  fill?: Tensor,
  allocate: Allocate = newTensor,
): Tensor {
  const slots = slotsPerElement(source.type);
  const out = allocate(source.type, dims);
  const src = slotsOf(source.data);
  const dst = slotsOf(out.data);
  const padding = fill ? slotsOf(fill.data) : [];
  for (let i = 0; i < indices.length; i++) {
    const from = indices[i]!;
    for (let s = 0; s < slots; s++) dst[i * slots + s] = from < 0 ? padding[s] : src[from * slots + s];
  }
  return out;
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
 * `coordinateMaps[a][o]`, or `fill` where that is -1; `allocate` makes the result.
 */
export function selectCoordinates(
  source: Tensor,
  coordinateMaps: readonly Int32Array[],
  fill?: Tensor,
  allocate: Allocate = newTensor,
): Tensor {
  const strides = stridesOf(source.dims);
  const offsets = coordinateMaps.map((map, a) => map.map((c) => (c < 0 ? -1 : c * strides[a]!)));
  return takeElements(
    source,
    flatIndices(offsets),
    coordinateMaps.map((map) => map.length),
    fill,
    allocate,
  );
}

/** A scalar holding the zero of `type` (false, '' and 0 alike). */
export function zeroOf(type: DataType): Tensor {
  return new Tensor(type, allocateStorage(type, 1), []);
}

export function identityMap(size: number): Int32Array {
  return Int32Array.from({ length: size }, (_, i) => i);
}

/** Source axes `perm` of `source`: the dims and layout of its transpose, walked in row-major order. */
function permutedView(source: Tensor, perm: readonly number[]): { dims: number[]; layout: Layout } {
  const strides = stridesOf(source.dims);
  return {
    dims: perm.map((p) => source.dims[p]!),
    layout: { offset: 0, strides: perm.map((p) => strides[p]!) },
  };
}

/** Output axis i is source axis perm[i]; `allocate` makes the result. */
export function transposeTensor(
  source: Tensor,
  perm: readonly number[],
  allocate: Allocate = newTensor,
): Tensor {
  const { dims, layout } = permutedView(source, perm);
  return copyView(allocate(source.type, dims), source, dims, layout);
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
  return transposeTensor(data, perm, outputAllocator(ctx));
}

/** An int64 vector output holding `values`. */
function int64Output(ctx: KernelContext, values: readonly number[], dims = [values.length]): Tensor {
  const out = ctx.output(0, 'int64', dims);
  const data = out.data as BigInt64Array;
  values.forEach((v, i) => (data[i] = BigInt(v)));
  return out;
}

function shape(ctx: KernelContext): Tensor {
  const dims = ctx.input(0).dims;
  const rank = dims.length;
  const clamp = (i: number): number => Math.min(Math.max(i < 0 ? i + rank : i, 0), rank);
  const start = clamp(ctx.int('start', 0));
  const end = clamp(ctx.int('end', rank));
  return int64Output(ctx, dims.slice(start, Math.max(start, end)));
}

function expand(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const requested = readInts(ctx.input(1));
  if (requested.some((d) => d < 0)) ctx.fail(`shape ${describeDims(requested)} has a negative dim`);
  const dims = broadcastShapes([data.dims, requested], (reason) => ctx.fail(reason));
  const leading = dims.length - data.dims.length;
  const strides = stridesOf(data.dims);
  // A broadcast axis (size 1 in the data, or added in front of it) repeats its element: stride 0.
  const layout = {
    offset: 0,
    strides: dims.map((_, a) => (a < leading || data.dims[a - leading] === 1 ? 0 : strides[a - leading]!)),
  };
  return copyView(ctx.output(0, data.type, dims), data, dims, layout);
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
  const out = ctx.output(0, first.type, dims);
  const rowSlots = shapeSize(dims.slice(axis)) * slots;
  let rowOffset = 0;
  for (const part of parts) {
    const chunk = shapeSize(part.dims.slice(axis)) * slots;
    for (let o = 0; o < outer; o++) {
      copySlots(out.data, o * rowSlots + rowOffset, part.data, o * chunk, chunk);
    }
    rowOffset += chunk;
  }
  return out;
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

/** Each part of the axis as its own output; parts the node does not name are skipped. */
function split(ctx: KernelContext): (Tensor | undefined)[] {
  const data = ctx.input(0);
  const axis = axisOf(ctx, ctx.int('axis', 0), data.dims.length);
  const strides = stridesOf(data.dims);
  let start = 0;
  return splitLengths(ctx, data.dims[axis]!).map((length, i) => {
    const dims = data.dims.map((d, a) => (a === axis ? length : d));
    const layout = { offset: start * strides[axis]!, strides };
    start += length;
    return ctx.wantsOutput(i) ? copyView(ctx.output(i, data.type, dims), data, dims, layout) : undefined;
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

/** The first source coordinate a slice of one axis reads and how many it reads, clamped as numpy does. */
function sliceRange(dim: number, start: number, end: number, step: number): { first: number; count: number } {
  const resolve = (i: number, low: number, high: number): number =>
    Math.min(Math.max(i < 0 ? i + dim : i, low), high);
  const first = step > 0 ? resolve(start, 0, dim) : resolve(start, 0, dim - 1);
  const stop = step > 0 ? resolve(end, 0, dim) : resolve(end, -1, dim - 1);
  return { first, count: Math.max(0, Math.ceil((stop - first) / step)) };
}

/** The part of a tensor that Slice reads: the output dims, and where and with what strides it lies. */
export interface SliceWindow {
  dims: number[];
  offset: number;
  strides: number[];
}

/**
 * The window Slice of any opset reads from `data` (starts, ends, axes and steps checked and clamped).
 * The wasm backend's Slice reads it here too, so both backends slice and fail alike.
 */
export function sliceWindow(ctx: KernelContext, data: Tensor): SliceWindow {
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
  const dims = [...data.dims];
  const dataStrides = stridesOf(data.dims);
  const strides = [...dataStrides];
  let offset = 0;
  const seen = new Set<number>();
  sliced.forEach((requested, i) => {
    const axis = axisOf(ctx, requested, rank);
    if (seen.has(axis)) ctx.fail(`axis ${axis} is sliced twice`);
    seen.add(axis);
    const step = steps?.[i] ?? 1;
    if (step === 0) ctx.fail('slice steps cannot be 0');
    const { first, count } = sliceRange(data.dims[axis]!, starts[i]!, ends[i]!, step);
    dims[axis] = count;
    offset += first * dataStrides[axis]!;
    strides[axis] = step * dataStrides[axis]!;
  });
  return { dims, offset, strides };
}

function slice(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const { dims, offset, strides } = sliceWindow(ctx, data);
  return copyView(ctx.output(0, data.type, dims), data, dims, { offset, strides });
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
  // Output axis a walks as two: repeats[a] copies (stride 0), each the data's axis a.
  const strides = stridesOf(data.dims);
  const walk = data.dims.flatMap((d, a) => [repeats[a]!, d]);
  const layout = { offset: 0, strides: strides.flatMap((stride) => [0, stride]) };
  const dims = data.dims.map((d, a) => d * repeats[a]!);
  return copyView(ctx.output(0, data.type, dims), data, walk, layout);
}

/** The pad modes that fill the padding from the data itself. */
export type ReadingPadMode = 'reflect' | 'edge' | 'wrap';

export type PadMode = 'constant' | ReadingPadMode;

/** Source coordinate of output coordinate `o` along an axis padded with `before` elements. */
export function paddedCoordinate(o: number, dim: number, before: number, mode: ReadingPadMode): number {
  const c = o - before;
  if (c >= 0 && c < dim) return c;
  switch (mode) {
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

function padMode(ctx: KernelContext): PadMode {
  const mode = ctx.string('mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge' && mode !== 'wrap') {
    ctx.fail(`unknown pad mode '${mode}'`);
  }
  return mode;
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

/** What Pad asks of its data, per axis. */
export interface PadPlan {
  mode: PadMode;
  /** Elements added before and after each axis (negative: removed). */
  before: number[];
  after: number[];
  /** The output's dims. */
  dims: number[];
  /** The single padding element, of the data's type. */
  fill: Tensor;
}

/**
 * How Pad of any opset pads `data`: the mode, pads, axes and constant value read and checked. The
 * wasm backend's Pad reads it here too, so both backends pad and fail alike.
 */
export function padPlan(ctx: KernelContext, data: Tensor): PadPlan {
  const rank = data.dims.length;
  const mode = padMode(ctx);
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
  const dims = data.dims.map((dim, a) => {
    const size = dim + before[a]! + after[a]!;
    if (size < 0) ctx.fail(`pads ${before[a]}, ${after[a]} crop more than the ${dim} elements of axis ${a}`);
    if (dim === 0 && size > 0 && mode !== 'constant') ctx.fail(`cannot ${mode}-pad the empty axis ${a}`);
    return size;
  });
  return { mode, before, after, dims, fill };
}

function pad(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const { mode, before, dims, fill } = padPlan(ctx, data);
  if (mode === 'constant') return placeShifted(ctx.output(0, data.type, dims), data, before, fill);
  const maps = dims.map((size, a) =>
    Int32Array.from({ length: size }, (_, o) => paddedCoordinate(o, data.dims[a]!, before[a]!, mode)),
  );
  return selectCoordinates(data, maps, undefined, outputAllocator(ctx));
}

/**
 * Fills `out` with `source` moved `before[a]` places along each axis a (a negative shift crops), and
 * with `fill` wherever no source element lands.
 */
function placeShifted(out: Tensor, source: Tensor, before: readonly number[], fill: Tensor): Tensor {
  fillWith(out, fill);
  const sourceStrides = stridesOf(source.dims);
  const outStrides = stridesOf(out.dims);
  const from = { offset: 0, strides: sourceStrides };
  const to = { offset: 0, strides: outStrides };
  const overlap = source.dims.map((dim, a) => {
    const first = Math.max(0, -before[a]!);
    const end = Math.min(dim, out.dims[a]! - before[a]!);
    from.offset += first * sourceStrides[a]!;
    to.offset += (first + before[a]!) * outStrides[a]!;
    return Math.max(0, end - first);
  });
  copyStrided(out.data, to, source.data, from, overlap, slotsPerElement(source.type));
  return out;
}

function centerCropPad(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const rank = data.dims.length;
  const target = readInts(ctx.input(1));
  const axes = ctx.ints('axes', [...data.dims.keys()]).map((a) => axisOf(ctx, a, rank));
  if (target.length !== axes.length) ctx.fail(`shape has ${target.length} entries for ${axes.length} axes`);
  const dims = [...data.dims];
  const before = data.dims.map(() => 0);
  axes.forEach((axis, i) => {
    const dim = data.dims[axis]!;
    const size = target[i]!;
    if (size < 0) ctx.fail(`target size ${size} of axis ${axis} is negative`);
    dims[axis] = size;
    // Cropping keeps the centered window, padding centers the data; odd differences favour the start.
    before[axis] = size < dim ? -Math.floor((dim - size) / 2) : Math.floor((size - dim) / 2);
  });
  return placeShifted(ctx.output(0, data.type, dims), data, before, zeroOf(data.type));
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
  return copyPermuted(ctx, data.reshape(split), perm, [n, depth, h * b, w * b]);
}

/** Output `dims`, holding the elements of `source` with its axes permuted by `perm`. */
function copyPermuted(ctx: KernelContext, source: Tensor, perm: number[], dims: number[]): Tensor {
  const { dims: walk, layout } = permutedView(source, perm);
  return copyView(ctx.output(0, source.type, dims), source, walk, layout);
}

function spaceToDepth(ctx: KernelContext): Tensor {
  const data = ctx.input(0);
  const [n, c, h, w] = imageDims(ctx, data);
  const b = blockSize(ctx);
  if (h % b !== 0 || w % b !== 0) ctx.fail(`height ${h} and width ${w} must be divisible by blocksize ${b}`);
  const blocks = data.reshape([n, c, h / b, b, w / b, b]);
  return copyPermuted(ctx, blocks, [0, 3, 5, 1, 2, 4], [n, c * b * b, h / b, w / b]);
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
  { op: 'Size', since: 1, run: (ctx) => [int64Output(ctx, [ctx.input(0).size], [])] },
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
