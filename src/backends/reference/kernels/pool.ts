/**
 * Pooling: MaxPool (with its Indices output), AveragePool, LpPool, their Global forms, MaxUnpool
 * and MaxRoiPool, on any number of spatial axes.
 *
 * The windowed pools share `forEachWindow`: for every output position it lists the flat in-plane
 * offsets of the window taps that fall inside the input (padding is never read), together with how
 * many taps fall inside the padded input (AveragePool's divisor with count_include_pad). The tap
 * list depends only on the position, so it is built once and applied to every (batch, channel)
 * plane. A Global pool is the same walk with a single window covering the whole plane. Results are
 * written straight into the kernels' output memory.
 */

import type { DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { floatSink, readInts, shapeSize, stridesOf, toNumbers } from '../util.js';
import { spatialInts, windowGeometry, type WindowGeometry } from './conv.js';

const FLOAT_TYPES: ReadonlySet<DataType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const MAX_POOL_TYPES: ReadonlySet<DataType> = new Set([...FLOAT_TYPES, 'int8', 'uint8']);

type WindowVisitor = (outIndex: number, taps: Int32Array, tapCount: number, paddedCount: number) => void;

/** Reduces one window of the plane starting at `planeStart` (its first `tapCount` taps) to a value. */
type WindowReducer = (
  values: ArrayLike<number>,
  planeStart: number,
  taps: Int32Array,
  tapCount: number,
  paddedCount: number,
) => number;

/** Visits every output position of `geometry` over `inSpatial` with the window taps it covers. */
function forEachWindow(inSpatial: readonly number[], geometry: WindowGeometry, visit: WindowVisitor): void {
  const { kernel, strides, dilations, padsBegin, padsEnd, outSpatial } = geometry;
  const rank = inSpatial.length;
  const inStrides = stridesOf(inSpatial);
  const taps = new Int32Array(Math.max(1, shapeSize(kernel)));
  const position = new Array<number>(rank).fill(0);
  const outSize = shapeSize(outSpatial);
  for (let outIndex = 0; outIndex < outSize; outIndex++) {
    // Grow the tap list one axis at a time: every tap so far times every in-range coordinate on
    // this axis, written back to front so the list stays row-major without a second buffer.
    let tapCount = 1;
    let paddedCount = 1;
    taps[0] = 0;
    for (let d = 0; d < rank; d++) {
      const start = position[d]! * strides[d]! - padsBegin[d]!;
      let first = -1;
      let inside = 0;
      let insidePadded = 0;
      for (let k = 0; k < kernel[d]!; k++) {
        const at = start + k * dilations[d]!;
        if (at >= -padsBegin[d]! && at < inSpatial[d]! + padsEnd[d]!) insidePadded++;
        if (at >= 0 && at < inSpatial[d]!) {
          if (first < 0) first = k;
          inside++;
        }
      }
      for (let i = tapCount - 1; i >= 0; i--) {
        const base = taps[i]!;
        for (let j = inside - 1; j >= 0; j--) {
          taps[i * inside + j] = base + (start + (first + j) * dilations[d]!) * inStrides[d]!;
        }
      }
      tapCount *= inside;
      paddedCount *= insidePadded;
    }
    visit(outIndex, taps, tapCount, paddedCount);
    for (let d = rank - 1; d >= 0 && ++position[d]! === outSpatial[d]; d--) position[d] = 0;
  }
}

/** The pooled input's (batch × channel) plane count and spatial dims, checked to be [N, C, ...]. */
function planesOf(ctx: KernelContext, x: Tensor): { planes: number; inSpatial: number[] } {
  if (x.dims.length < 2) ctx.fail(`input must be [N, C, spatial...], got dims [${x.dims.join(', ')}]`);
  return { planes: x.dims[0]! * x.dims[1]!, inSpatial: x.dims.slice(2) };
}

/** The window geometry a pooling node's attributes describe over its input. */
function poolGeometry(ctx: KernelContext, inSpatial: readonly number[]): WindowGeometry {
  const kernel = ctx.ints('kernel_shape');
  if (kernel.length !== inSpatial.length) {
    ctx.fail(`kernel_shape has ${kernel.length} values for ${inSpatial.length} spatial axes`);
  }
  return windowGeometry(ctx, inSpatial, kernel, ctx.int('ceil_mode', 0) !== 0);
}

/** One window covering the whole plane, for the Global pools. */
function globalGeometry(inSpatial: readonly number[]): WindowGeometry {
  const ones = inSpatial.map(() => 1);
  const zeros = inSpatial.map(() => 0);
  return {
    kernel: [...inSpatial],
    strides: ones,
    dilations: ones,
    padsBegin: zeros,
    padsEnd: zeros,
    outSpatial: ones,
  };
}

/** Applies `reduce` to every window of every plane; the result has x's type and [N, C, out...] dims. */
function poolWith(ctx: KernelContext, x: Tensor, geometry: WindowGeometry, reduce: WindowReducer): Tensor {
  const inSpatial = x.dims.slice(2);
  const planes = x.dims[0]! * x.dims[1]!;
  const inPlane = shapeSize(inSpatial);
  const outPlane = shapeSize(geometry.outSpatial);
  const values = toNumbers(x);
  const outDims = [x.dims[0]!, x.dims[1]!, ...geometry.outSpatial];
  const { values: out, finish } = floatSink(ctx.output(0, x.type, outDims));
  forEachWindow(inSpatial, geometry, (o, taps, tapCount, paddedCount) => {
    for (let p = 0; p < planes; p++) {
      out[p * outPlane + o] = reduce(values, p * inPlane, taps, tapCount, paddedCount);
    }
  });
  return finish();
}

function requireType(ctx: KernelContext, x: Tensor, allowed: ReadonlySet<DataType>): void {
  if (!allowed.has(x.type)) ctx.fail(`${ctx.node.opType} does not support ${x.type}`);
}

function averageOf(countIncludePad: boolean): WindowReducer {
  return (values, start, taps, tapCount, paddedCount) => {
    let sum = 0;
    for (let i = 0; i < tapCount; i++) sum += values[start + taps[i]!]!;
    return sum / (countIncludePad ? paddedCount : tapCount);
  };
}

/** Lp norm of a window; padding contributes zeros, so only the taps inside count. */
function lpNormOf(p: number): WindowReducer {
  return (values, start, taps, tapCount) => {
    let sum = 0;
    for (let i = 0; i < tapCount; i++) sum += Math.abs(values[start + taps[i]!]!) ** p;
    return sum ** (1 / p);
  };
}

/** The tap holding a window's maximum (first one on ties, NaN ignored), or -1 when none is a number. */
function argMaxTap(values: ArrayLike<number>, start: number, taps: Int32Array, tapCount: number): number {
  let best = -1;
  for (let i = 0; i < tapCount; i++) {
    const v = values[start + taps[i]!]!;
    if (best < 0 ? !Number.isNaN(v) : v > values[start + taps[best]!]!) best = i;
  }
  return best;
}

function averagePool(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  requireType(ctx, x, FLOAT_TYPES);
  const geometry = poolGeometry(ctx, planesOf(ctx, x).inSpatial);
  return poolWith(ctx, x, geometry, averageOf(ctx.int('count_include_pad', 0) !== 0));
}

function lpPool(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  requireType(ctx, x, FLOAT_TYPES);
  const geometry = poolGeometry(ctx, planesOf(ctx, x).inSpatial);
  return poolWith(ctx, x, geometry, lpNormOf(ctx.float('p', 2)));
}

/**
 * MaxPool and its optional Indices: flat indices into X, with the spatial part in row-major order
 * (storage_order 0) or column-major order (storage_order 1).
 */
function maxPool(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireType(ctx, x, MAX_POOL_TYPES);
  const { planes, inSpatial } = planesOf(ctx, x);
  const geometry = poolGeometry(ctx, inSpatial);
  const inPlane = shapeSize(inSpatial);
  const outPlane = shapeSize(geometry.outSpatial);
  const values = toNumbers(x);
  const outDims = [x.dims[0]!, x.dims[1]!, ...geometry.outSpatial];
  const indices = ctx.wantsOutput(1) ? ctx.output(1, 'int64', outDims) : undefined;
  const indexData = indices?.data as BigInt64Array;
  const spatialIndexOf =
    ctx.int('storage_order', 0) === 0 ? (offset: number) => offset : columnMajor(inSpatial);
  const { values: out, finish } = floatSink(ctx.output(0, x.type, outDims));
  forEachWindow(inSpatial, geometry, (o, taps, tapCount) => {
    for (let p = 0; p < planes; p++) {
      const start = p * inPlane;
      const best = argMaxTap(values, start, taps, tapCount);
      out[p * outPlane + o] = best < 0 ? NaN : values[start + taps[best]!]!;
      if (indices) {
        indexData[p * outPlane + o] = BigInt(best < 0 ? -1 : start + spatialIndexOf(taps[best]!));
      }
    }
  });
  const pooled = finish();
  return indices ? [pooled, indices] : [pooled];
}

/** Maps a row-major in-plane offset to the column-major offset of the same element. */
function columnMajor(dims: readonly number[]): (offset: number) => number {
  const rowStrides = stridesOf(dims);
  return (offset) => {
    let result = 0;
    let columnStride = 1;
    for (let d = 0; d < dims.length; d++) {
      result += (Math.floor(offset / rowStrides[d]!) % dims[d]!) * columnStride;
      columnStride *= dims[d]!;
    }
    return result;
  };
}

function globalPool(ctx: KernelContext, reduce: WindowReducer): Tensor {
  const x = ctx.input(0);
  requireType(ctx, x, FLOAT_TYPES);
  return poolWith(ctx, x, globalGeometry(planesOf(ctx, x).inSpatial), reduce);
}

/** A window's maximum; NaN when it holds no number. */
const maxOfWindow: WindowReducer = (values, start, taps, tapCount) => {
  const best = argMaxTap(values, start, taps, tapCount);
  return best < 0 ? NaN : values[start + taps[best]!]!;
};

/**
 * MaxUnpool: scatters X back to the positions its MaxPool indices name, zeros elsewhere. Indices
 * address the unpooled shape [N, C, (in - 1) * stride + kernel - pads]; an explicit output_shape
 * input only enlarges the result, the unpooled block keeping its place at the origin (the operator
 * spec's own example).
 */
function maxUnpool(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const indices = ctx.input(1);
  const outputShape = ctx.optionalInput(2);
  requireType(ctx, x, FLOAT_TYPES);
  const { inSpatial } = planesOf(ctx, x);
  if (indices.dims.join() !== x.dims.join()) {
    ctx.fail(`indices of dims [${indices.dims.join(', ')}] must match X of dims [${x.dims.join(', ')}]`);
  }
  const rank = inSpatial.length;
  const kernel = ctx.ints('kernel_shape');
  if (kernel.length !== rank) ctx.fail(`kernel_shape has ${kernel.length} values for ${rank} spatial axes`);
  const strides = spatialInts(ctx, 'strides', rank, 1);
  const pads = spatialInts(ctx, 'pads', 2 * rank, 0);
  const unpooledDims = [
    x.dims[0]!,
    x.dims[1]!,
    ...inSpatial.map((n, d) => (n - 1) * strides[d]! + kernel[d]! - pads[d]! - pads[d + rank]!),
  ];
  const outDims = outputShape ? readInts(outputShape) : unpooledDims;
  if (outDims.length !== unpooledDims.length || outDims.some((d, i) => d < unpooledDims[i]!)) {
    ctx.fail(
      `output_shape [${outDims.join(', ')}] cannot hold the unpooled shape [${unpooledDims.join(', ')}]`,
    );
  }
  const unpooledSize = shapeSize(unpooledDims);
  const unpooledStrides = stridesOf(unpooledDims);
  const outStrides = stridesOf(outDims);
  const values = toNumbers(x);
  const targets = readInts(indices);
  for (const target of targets) {
    if (!Number.isInteger(target) || target < 0 || target >= unpooledSize) {
      ctx.fail(`index ${target} is out of range for the unpooled shape [${unpooledDims.join(', ')}]`);
    }
  }
  const { values: out, finish } = floatSink(ctx.output(0, x.type, outDims));
  out.fill(0);
  targets.forEach((target, i) => {
    let outIndex = 0;
    for (let d = 0; d < outDims.length; d++) {
      outIndex += (Math.floor(target / unpooledStrides[d]!) % unpooledDims[d]!) * outStrides[d]!;
    }
    out[outIndex] = values[i]!;
  });
  return finish();
}

/** Rounds half away from zero, as Caffe's ROI pooling (C `round`) does. */
function roundHalfAway(v: number): number {
  return Math.sign(v) * Math.round(Math.abs(v));
}

/**
 * MaxRoiPool: for each region [batch, x1, y1, x2, y2] (in input pixels times spatial_scale), divides
 * the region into pooled_shape bins and takes each bin's maximum (0 for an empty bin).
 */
function maxRoiPool(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const rois = ctx.input(1);
  requireType(ctx, x, FLOAT_TYPES);
  if (rois.type !== x.type) ctx.fail(`rois must have X's type ${x.type}, got ${rois.type}`);
  if (x.dims.length !== 4) ctx.fail(`X must be [N, C, H, W], got dims [${x.dims.join(', ')}]`);
  if (rois.dims.length !== 2 || rois.dims[1] !== 5) {
    ctx.fail(`rois must be [R, 5], got [${rois.dims.join(', ')}]`);
  }
  const [batch, channels, height, width] = x.dims as [number, number, number, number];
  const pooled = ctx.ints('pooled_shape');
  if (pooled.length !== 2 || pooled.some((p) => p < 1)) ctx.fail('pooled_shape must be two positive values');
  const [pooledHeight, pooledWidth] = pooled as [number, number];
  const scale = ctx.float('spatial_scale', 1);
  const values = toNumbers(x);
  const regions = toNumbers(rois);
  const regionCount = rois.dims[0]!;
  for (let r = 0; r < regionCount; r++) {
    const n = regions[r * 5]!;
    if (!Number.isInteger(n) || n < 0 || n >= batch) {
      ctx.fail(`roi ${r} names batch ${n}, out of range for ${batch}`);
    }
  }
  const clampH = (v: number) => Math.min(Math.max(v, 0), height);
  const clampW = (v: number) => Math.min(Math.max(v, 0), width);
  const outDims = [regionCount, channels, pooledHeight, pooledWidth];
  const { values: out, finish } = floatSink(ctx.output(0, x.type, outDims));
  for (let r = 0; r < regionCount; r++) {
    const n = regions[r * 5]!;
    const [startW, startH, endW, endH] = [1, 2, 3, 4].map((i) =>
      roundHalfAway(regions[r * 5 + i]! * scale),
    ) as [number, number, number, number];
    const binHeight = Math.max(endH - startH + 1, 1) / pooledHeight;
    const binWidth = Math.max(endW - startW + 1, 1) / pooledWidth;
    for (let c = 0; c < channels; c++) {
      const plane = (n * channels + c) * height * width;
      for (let ph = 0; ph < pooledHeight; ph++) {
        const h0 = clampH(Math.floor(ph * binHeight) + startH);
        const h1 = clampH(Math.ceil((ph + 1) * binHeight) + startH);
        for (let pw = 0; pw < pooledWidth; pw++) {
          const w0 = clampW(Math.floor(pw * binWidth) + startW);
          const w1 = clampW(Math.ceil((pw + 1) * binWidth) + startW);
          let max = h1 > h0 && w1 > w0 ? -Infinity : 0;
          for (let h = h0; h < h1; h++) {
            for (let w = w0; w < w1; w++) max = Math.max(max, values[plane + h * width + w]!);
          }
          out[((r * channels + c) * pooledHeight + ph) * pooledWidth + pw] = max;
        }
      }
    }
  }
  return finish();
}

export const kernels: KernelDef[] = [
  { op: 'MaxPool', since: 1, run: maxPool },
  { op: 'AveragePool', since: 1, run: (ctx) => [averagePool(ctx)] },
  { op: 'LpPool', since: 1, run: (ctx) => [lpPool(ctx)] },
  { op: 'GlobalMaxPool', since: 1, run: (ctx) => [globalPool(ctx, maxOfWindow)] },
  { op: 'GlobalAveragePool', since: 1, run: (ctx) => [globalPool(ctx, averageOf(false))] },
  {
    op: 'GlobalLpPool',
    since: 1,
    run: (ctx) => [globalPool(ctx, lpNormOf(ctx.float('p', 2)))],
  },
  { op: 'MaxUnpool', since: 9, run: (ctx) => [maxUnpool(ctx)] },
  { op: 'MaxRoiPool', since: 1, run: (ctx) => [maxRoiPool(ctx)] },
];
