/**
 * The convolution family: Conv, ConvTranspose, ConvInteger, QLinearConv, DeformConv and Col2Im,
 * on any number of spatial axes.
 *
 * All but DeformConv run on one direct loop. For each kernel tap (one position inside the kernel)
 * the positions it touches form an N-D box, and a position p in that box reads or writes the
 * strided side at `p * stride + tap * dilation - padBegin`. Conv walks output positions and reads
 * the input at the strided address; ConvTranspose and Col2Im walk input positions and scatter into
 * the output at it. `planTaps` computes those boxes once per call and `accumulateBox` runs
 * `dst += weight * src` over one of them with a tight loop on the innermost axis; Conv runs it for
 * a block of output channels at once (`accumulateBlock`), reading each input element once for the
 * whole block. DeformConv samples its input at learned fractional offsets, so it gathers deformed
 * columns first and multiplies them by the weights. Every kernel sums one output plane (one batch
 * item and channel) at a time in float64 and stores it into the output as soon as it is complete.
 *
 * The window geometry (strides, dilations, pads, auto_pad, output size) lives here too and is shared
 * with the pooling kernels.
 */

import type { DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { floatSink, readInts, shapeSize, stridesOf, toNumbers } from '../util.js';

const FLOAT_TYPES: ReadonlySet<DataType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const QUANTIZED_TYPES: ReadonlySet<DataType> = new Set(['int8', 'uint8']);

/** Where a sliding window lands on every spatial axis, and how many places it lands. */
export interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  padsEnd: number[];
  outSpatial: number[];
}

/** Reads an int-list attribute of one entry per spatial axis (or two, for pads), or its default. */
export function spatialInts(ctx: KernelContext, name: string, count: number, fallback: number): number[] {
  const values = ctx.ints(name, new Array<number>(count).fill(fallback));
  if (values.length !== count) {
    ctx.fail(`attribute '${name}' must have ${count} values, got ${values.length}`);
  }
  return values;
}

/**
 * Resolves strides, dilations, pads and auto_pad into the window's geometry over `inSpatial`.
 * With `ceilMode` the output size rounds up, but a last window that would start inside the end
 * padding is dropped (it would see no input at all).
 */
export function windowGeometry(
  ctx: KernelContext,
  inSpatial: readonly number[],
  kernel: number[],
  ceilMode = false,
): WindowGeometry {
  const rank = inSpatial.length;
  const strides = spatialInts(ctx, 'strides', rank, 1);
  const dilations = spatialInts(ctx, 'dilations', rank, 1);
  if (strides.some((s) => s < 1) || dilations.some((d) => d < 1)) {
    ctx.fail('strides and dilations must be positive');
  }
  if (kernel.some((k) => k < 1)) ctx.fail(`kernel dims [${kernel.join(', ')}] must be positive`);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  const padsBegin = new Array<number>(rank).fill(0);
  const padsEnd = new Array<number>(rank).fill(0);
  const outSpatial = new Array<number>(rank);
  for (let d = 0; d < rank; d++) {
    const span = (kernel[d]! - 1) * dilations[d]! + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      outSpatial[d] = Math.ceil(inSpatial[d]! / strides[d]!);
      const total = Math.max(0, (outSpatial[d]! - 1) * strides[d]! + span - inSpatial[d]!);
      padsBegin[d] = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      padsEnd[d] = total - padsBegin[d]!;
      continue;
    }
    if (autoPad !== 'NOTSET' && autoPad !== 'VALID') ctx.fail(`unknown auto_pad '${autoPad}'`);
    if (autoPad === 'NOTSET') {
      const pads = spatialInts(ctx, 'pads', 2 * rank, 0);
      if (pads.some((p) => p < 0)) ctx.fail(`pads [${pads.join(', ')}] must not be negative`);
      padsBegin[d] = pads[d]!;
      padsEnd[d] = pads[d + rank]!;
    }
    const room = inSpatial[d]! + padsBegin[d]! + padsEnd[d]! - span;
    if (room < 0) {
      ctx.fail(`a window of ${span} does not fit in ${inSpatial[d]} plus padding on spatial axis ${d}`);
    }
    let count = (ceilMode ? Math.ceil(room / strides[d]!) : Math.floor(room / strides[d]!)) + 1;
    if (ceilMode && (count - 1) * strides[d]! >= inSpatial[d]! + padsBegin[d]!) count--;
    outSpatial[d] = count;
  }
  return { kernel, strides, dilations, padsBegin, padsEnd, outSpatial };
}

/** The positions one kernel tap touches: a box starting at `iterBase`/`targetBase`, `counts` long per axis. */
interface TapBox {
  counts: number[];
  iterBase: number;
  targetBase: number;
  empty: boolean;
}

/** Every kernel tap's box, plus the flat steps of one position along each axis on both sides. */
interface TapPlan {
  boxes: TapBox[];
  iterSteps: number[];
  targetSteps: number[];
  /** Scratch odometer for `accumulateBox`, allocated once per plan. */
  counter: Int32Array;
}

/**
 * Positions p of `iterDims` map to `p * stride + tap * dilation - padBegin` in `targetDims`; for each
 * kernel tap (row-major over the kernel), the box of positions whose target lies inside `targetDims`.
 */
function planTaps(
  iterDims: readonly number[],
  targetDims: readonly number[],
  geometry: Pick<WindowGeometry, 'kernel' | 'strides' | 'dilations' | 'padsBegin'>,
): TapPlan {
  const { kernel, strides, dilations, padsBegin } = geometry;
  const rank = kernel.length;
  const iterStrides = stridesOf(iterDims);
  const targetStrides = stridesOf(targetDims);
  const targetSteps = targetStrides.map((s, d) => s * strides[d]!);
  const boxes: TapBox[] = [];
  const tap = new Array<number>(rank).fill(0);
  for (let t = 0; t < shapeSize(kernel); t++) {
    const box: TapBox = { counts: new Array<number>(rank), iterBase: 0, targetBase: 0, empty: false };
    for (let d = 0; d < rank; d++) {
      const shift = tap[d]! * dilations[d]! - padsBegin[d]!;
      const first = Math.max(0, Math.ceil(-shift / strides[d]!));
      const end = Math.min(iterDims[d]!, Math.floor((targetDims[d]! - 1 - shift) / strides[d]!) + 1);
      box.counts[d] = Math.max(0, end - first);
      if (end <= first) box.empty = true;
      box.iterBase += first * iterStrides[d]!;
      box.targetBase += (first * strides[d]! + shift) * targetStrides[d]!;
    }
    boxes.push(box);
    for (let d = rank - 1; d >= 0 && ++tap[d]! === kernel[d]; d--) tap[d] = 0;
  }
  return { boxes, iterSteps: iterStrides, targetSteps, counter: new Int32Array(rank) };
}

/** dst[dstStart + p·dstSteps] += weight * src[srcStart + p·srcSteps] for every position p of the box. */
function accumulateBox(
  dst: Float64Array,
  dstStart: number,
  dstSteps: readonly number[],
  src: ArrayLike<number>,
  srcStart: number,
  srcSteps: readonly number[],
  counts: readonly number[],
  counter: Int32Array,
  weight: number,
): void {
  const inner = counts.length - 1;
  const innerCount = counts[inner]!;
  const dstInner = dstSteps[inner]!;
  const srcInner = srcSteps[inner]!;
  counter.fill(0);
  let dstRow = dstStart;
  let srcRow = srcStart;
  for (;;) {
    for (let j = 0, di = dstRow, si = srcRow; j < innerCount; j++, di += dstInner, si += srcInner) {
      dst[di]! += weight * src[si]!;
    }
    let axis = inner - 1;
    for (; axis >= 0; axis--) {
      dstRow += dstSteps[axis]!;
      srcRow += srcSteps[axis]!;
      if (++counter[axis]! < counts[axis]!) break;
      counter[axis] = 0;
      dstRow -= dstSteps[axis]! * counts[axis]!;
      srcRow -= srcSteps[axis]! * counts[axis]!;
    }
    if (axis < 0) return;
  }
}

/** How many output channels Conv sums together. */
const CHANNEL_BLOCK = 4;

/**
 * `accumulateBox` for CHANNEL_BLOCK destinations at once: sums[q][dst…] += weights[q] * src[src…]
 * for every block member q, each source element read once for all of them.
 */
function accumulateBlock(
  sums: readonly Float64Array[],
  weights: Float64Array,
  dstStart: number,
  dstSteps: readonly number[],
  src: ArrayLike<number>,
  srcStart: number,
  srcSteps: readonly number[],
  counts: readonly number[],
  counter: Int32Array,
): void {
  const [sums0, sums1, sums2, sums3] = sums as [Float64Array, Float64Array, Float64Array, Float64Array];
  const [weight0, weight1, weight2, weight3] = weights as unknown as [number, number, number, number];
  const inner = counts.length - 1;
  const innerCount = counts[inner]!;
  const dstInner = dstSteps[inner]!;
  const srcInner = srcSteps[inner]!;
  counter.fill(0);
  let dstRow = dstStart;
  let srcRow = srcStart;
  for (;;) {
    for (let j = 0, di = dstRow, si = srcRow; j < innerCount; j++, di += dstInner, si += srcInner) {
      const value = src[si]!;
      sums0[di]! += weight0 * value;
      sums1[di]! += weight1 * value;
      sums2[di]! += weight2 * value;
      sums3[di]! += weight3 * value;
    }
    let axis = inner - 1;
    for (; axis >= 0; axis--) {
      dstRow += dstSteps[axis]!;
      srcRow += srcSteps[axis]!;
      if (++counter[axis]! < counts[axis]!) break;
      counter[axis] = 0;
      dstRow -= dstSteps[axis]! * counts[axis]!;
      srcRow -= srcSteps[axis]! * counts[axis]!;
    }
    if (axis < 0) return;
  }
}

/** A convolution's operands as numbers with their dims, ready for the direct loops. */
interface ConvOperands {
  x: ArrayLike<number>;
  xDims: readonly number[];
  w: ArrayLike<number>;
  wDims: readonly number[];
  bias?: ArrayLike<number>;
  group: number;
}

/** Receives output plane `plane` (flat index over batch and channel) once its sums are complete. */
type PlaneStore = (plane: number, sums: Float64Array) => void;

/** Reads kernel_shape (checked against the weights) and the group count shared by the Conv family. */
function kernelAndGroup(ctx: KernelContext, wDims: readonly number[]): { kernel: number[]; group: number } {
  const kernel = wDims.slice(2);
  if (ctx.has('kernel_shape')) {
    const declared = ctx.ints('kernel_shape');
    if (declared.length !== kernel.length || declared.some((k, d) => k !== kernel[d])) {
      ctx.fail(`kernel_shape [${declared.join(', ')}] does not match weights of dims [${wDims.join(', ')}]`);
    }
  }
  const group = ctx.int('group', 1);
  if (group < 1) ctx.fail(`group must be positive, got ${group}`);
  return { kernel, group };
}

/** Checks X [N, C, ...] against W [M, C/group, ...] and returns the output channel count M. */
function checkConvShapes(
  ctx: KernelContext,
  xDims: readonly number[],
  wDims: readonly number[],
  group: number,
): number {
  if (xDims.length < 3) ctx.fail(`input must be [N, C, spatial...], got dims [${xDims.join(', ')}]`);
  if (wDims.length !== xDims.length) {
    ctx.fail(`weights of dims [${wDims.join(', ')}] do not match input of dims [${xDims.join(', ')}]`);
  }
  const outChannels = wDims[0]!;
  if (xDims[1] !== wDims[1]! * group || outChannels % group !== 0) {
    ctx.fail(
      `input channels ${xDims[1]}, weight dims [${wDims.join(', ')}] and group ${group} are inconsistent`,
    );
  }
  return outChannels;
}

function checkBias(ctx: KernelContext, bias: Tensor | undefined, channels: number): void {
  if (bias && (bias.dims.length !== 1 || bias.dims[0] !== channels)) {
    ctx.fail(`bias must have dims [${channels}], got [${bias.dims.join(', ')}]`);
  }
}

/** The dims of a convolution's output: [N, M, spatial...]. */
function convOutputDims(xDims: readonly number[], outChannels: number, geometry: WindowGeometry): number[] {
  return [xDims[0]!, outChannels, ...geometry.outSpatial];
}

/**
 * Direct N-D convolution: out[n, m] = bias[m] + Σ_c Σ_taps w[m, c, tap] * x[n, c, shifted], summed
 * one output plane at a time (a block of CHANNEL_BLOCK planes of one group together) and handed to
 * `store`. A block that runs past its group's last channel fills up with zero weights; a lone
 * channel (depthwise convolutions) takes the single-plane loop instead.
 */
function convolve(ops: ConvOperands, geometry: WindowGeometry, store: PlaneStore): void {
  const { x, xDims, w, wDims, bias, group } = ops;
  const [batch, channels] = xDims as [number, number];
  const outChannels = wDims[0]!;
  const inSpatial = xDims.slice(2);
  const plan = planTaps(geometry.outSpatial, inSpatial, geometry);
  const inPlane = shapeSize(inSpatial);
  const taps = plan.boxes.length;
  const groupChannels = channels / group;
  const groupOutChannels = outChannels / group;
  const outPlane = shapeSize(geometry.outSpatial);
  const sums = Array.from({ length: CHANNEL_BLOCK }, () => new Float64Array(outPlane));
  const weights = new Float64Array(CHANNEL_BLOCK);
  for (let n = 0; n < batch; n++) {
    for (let g = 0; g < group; g++) {
      const groupEnd = (g + 1) * groupOutChannels;
      for (let first = g * groupOutChannels; first < groupEnd; first += CHANNEL_BLOCK) {
        const count = Math.min(CHANNEL_BLOCK, groupEnd - first);
        sums.forEach((plane, q) => plane.fill(bias && q < count ? bias[first + q]! : 0));
        for (let c = 0; c < groupChannels; c++) {
          const inStart = (n * channels + g * groupChannels + c) * inPlane;
          for (let t = 0; t < taps; t++) {
            const box = plan.boxes[t]!;
            if (box.empty) continue;
            for (let q = 0; q < CHANNEL_BLOCK; q++) {
              weights[q] = q < count ? w[((first + q) * groupChannels + c) * taps + t]! : 0;
            }
            const srcStart = inStart + box.targetBase;
            if (count === 1) {
              accumulateBox(
                sums[0]!,
                box.iterBase,
                plan.iterSteps,
                x,
                srcStart,
                plan.targetSteps,
                box.counts,
                plan.counter,
                weights[0]!,
              );
            } else {
              accumulateBlock(
                sums,
                weights,
                box.iterBase,
                plan.iterSteps,
                x,
                srcStart,
                plan.targetSteps,
                box.counts,
                plan.counter,
              );
            }
          }
        }
        for (let q = 0; q < count; q++) store(n * outChannels + first + q, sums[q]!);
      }
    }
  }
}

/** A float operand's elements as numbers (float32 and float64 storage is used as it is). */
function floatValues(ctx: KernelContext, t: Tensor): ArrayLike<number> {
  if (!FLOAT_TYPES.has(t.type)) ctx.fail(`${ctx.node.opType} does not support ${t.type}`);
  return toNumbers(t);
}

/** An output of `type` and `dims` whose planes (of the dims after the first two) `fill` stores. */
function planarOutput(
  ctx: KernelContext,
  type: DataType,
  dims: readonly number[],
  fill: (store: PlaneStore) => void,
): Tensor {
  const planeSize = shapeSize(dims.slice(2));
  const { values, finish } = floatSink(ctx.output(0, type, dims));
  fill((plane, sums) => values.set(sums, plane * planeSize));
  return finish();
}

function conv(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const bias = ctx.optionalInput(2);
  if (w.type !== x.type || (bias && bias.type !== x.type)) ctx.fail('X, W and B must have the same type');
  const { kernel, group } = kernelAndGroup(ctx, w.dims);
  const outChannels = checkConvShapes(ctx, x.dims, w.dims, group);
  checkBias(ctx, bias, outChannels);
  const geometry = windowGeometry(ctx, x.dims.slice(2), kernel);
  const operands: ConvOperands = {
    x: floatValues(ctx, x),
    xDims: x.dims,
    w: floatValues(ctx, w),
    wDims: w.dims,
    bias: bias && toNumbers(bias),
    group,
  };
  return planarOutput(ctx, x.type, convOutputDims(x.dims, outChannels, geometry), (store) =>
    convolve(operands, geometry, store),
  );
}

/** A quantized operand minus its zero point: a scalar, or one per output channel for the weights. */
function subtractZeroPoint(
  ctx: KernelContext,
  t: Tensor,
  zeroPoint: Tensor | undefined,
  perChannel = 1,
): Float64Array {
  if (!QUANTIZED_TYPES.has(t.type)) ctx.fail(`${ctx.node.opType} does not support ${t.type}`);
  const values = Float64Array.from(t.data as Uint8Array);
  if (!zeroPoint) return values;
  if (zeroPoint.type !== t.type) {
    ctx.fail(`zero point of type ${zeroPoint.type} does not match ${t.type} data`);
  }
  const points = toNumbers(zeroPoint);
  if (points.length !== 1 && points.length !== perChannel) {
    ctx.fail(
      `zero point must have 1${perChannel > 1 ? ` or ${perChannel}` : ''} values, got ${points.length}`,
    );
  }
  const channelSize = values.length / perChannel;
  for (let i = 0; i < values.length; i++) {
    values[i]! -= points.length === 1 ? points[0]! : points[Math.floor(i / channelSize)]!;
  }
  return values;
}

/** The integer convolution shared by ConvInteger and QLinearConv (exact in float64). */
interface IntegerConv {
  operands: ConvOperands;
  geometry: WindowGeometry;
  outChannels: number;
  dims: number[];
}

function integerConv(
  ctx: KernelContext,
  x: Tensor,
  xZero: Tensor | undefined,
  w: Tensor,
  wZero: Tensor | undefined,
): IntegerConv {
  const { kernel, group } = kernelAndGroup(ctx, w.dims);
  const outChannels = checkConvShapes(ctx, x.dims, w.dims, group);
  const geometry = windowGeometry(ctx, x.dims.slice(2), kernel);
  const operands: ConvOperands = {
    x: subtractZeroPoint(ctx, x, xZero),
    xDims: x.dims,
    w: subtractZeroPoint(ctx, w, wZero, outChannels),
    wDims: w.dims,
    group,
  };
  return { operands, geometry, outChannels, dims: convOutputDims(x.dims, outChannels, geometry) };
}

function convInteger(ctx: KernelContext): Tensor {
  const { operands, geometry, dims } = integerConv(
    ctx,
    ctx.input(0),
    ctx.optionalInput(2),
    ctx.input(1),
    ctx.optionalInput(3),
  );
  return planarOutput(ctx, 'int32', dims, (store) => convolve(operands, geometry, store));
}

/** Rounds half to even, as the quantizing ops do. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function qlinearConv(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const w = ctx.input(3);
  const yZero = ctx.optionalInput(7);
  const bias = ctx.optionalInput(8);
  const { operands, geometry, outChannels, dims } = integerConv(
    ctx,
    x,
    ctx.optionalInput(2),
    w,
    ctx.optionalInput(5),
  );
  const xScale = scalarScale(ctx, ctx.input(1), 'x_scale');
  const yScale = scalarScale(ctx, ctx.input(6), 'y_scale');
  const wScales = toNumbers(ctx.input(4));
  if (wScales.length !== 1 && wScales.length !== outChannels) {
    ctx.fail(`w_scale must have 1 or ${outChannels} values, got ${wScales.length}`);
  }
  if (bias && bias.type !== 'int32') ctx.fail(`bias must be int32, got ${bias.type}`);
  checkBias(ctx, bias, outChannels);
  const biasValues = bias && toNumbers(bias);
  const outType = yZero?.type ?? x.type;
  if (!QUANTIZED_TYPES.has(outType)) ctx.fail(`y_zero_point must be int8 or uint8, got ${outType}`);
  const yZeroValue = yZero ? toNumbers(yZero)[0]! : 0;
  const [low, high] = outType === 'int8' ? [-128, 127] : [0, 255];
  // The scales are float32 values, so their combined multiplier is computed in float32 too.
  const multipliers = Array.from({ length: outChannels }, (_, m) =>
    Math.fround(Math.fround(xScale * wScales[wScales.length === 1 ? 0 : m]!) / yScale),
  );
  const out = ctx.output(0, outType, dims);
  const quantized = out.data as Int8Array | Uint8Array;
  convolve(operands, geometry, (plane, sums) => {
    const m = plane % outChannels;
    const planeStart = plane * sums.length;
    for (let i = 0; i < sums.length; i++) {
      const y = roundHalfEven((sums[i]! + (biasValues ? biasValues[m]! : 0)) * multipliers[m]!) + yZeroValue;
      quantized[planeStart + i] = Math.min(high, Math.max(low, y));
    }
  });
  return out;
}

function scalarScale(ctx: KernelContext, t: Tensor, name: string): number {
  if (t.size !== 1) ctx.fail(`${name} must be a single value, got dims [${t.dims.join(', ')}]`);
  return toNumbers(t)[0]!;
}

/**
 * ConvTranspose, the gradient of Conv: each input position scatters `x * w[tap]` to
 * `p * stride + tap * dilation - padBegin` of the output. W is [C, M/group, kernel...].
 */
function convTranspose(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const bias = ctx.optionalInput(2);
  if (w.type !== x.type || (bias && bias.type !== x.type)) ctx.fail('X, W and B must have the same type');
  const { kernel, group } = kernelAndGroup(ctx, w.dims);
  if (
    x.dims.length < 3 ||
    w.dims.length !== x.dims.length ||
    x.dims[1] !== w.dims[0] ||
    w.dims[0]! % group !== 0
  ) {
    ctx.fail(
      `input of dims [${x.dims.join(', ')}], weights [${w.dims.join(', ')}] and group ${group} are inconsistent`,
    );
  }
  const [batch, channels] = x.dims as [number, number];
  const groupOutChannels = w.dims[1]!;
  const outChannels = groupOutChannels * group;
  checkBias(ctx, bias, outChannels);
  const inSpatial = x.dims.slice(2);
  const geometry = transposedGeometry(ctx, inSpatial, kernel);
  const plan = planTaps(inSpatial, geometry.outSpatial, geometry);
  const xValues = floatValues(ctx, x);
  const wValues = floatValues(ctx, w);
  const biasValues = bias && toNumbers(bias);
  const inPlane = shapeSize(inSpatial);
  const taps = plan.boxes.length;
  const groupChannels = channels / group;
  const sums = new Float64Array(shapeSize(geometry.outSpatial));
  return planarOutput(ctx, x.type, [batch, outChannels, ...geometry.outSpatial], (store) => {
    for (let n = 0; n < batch; n++) {
      for (let m = 0; m < outChannels; m++) {
        sums.fill(biasValues ? biasValues[m]! : 0);
        const g = Math.floor(m / groupOutChannels);
        for (let c = g * groupChannels; c < (g + 1) * groupChannels; c++) {
          const inStart = (n * channels + c) * inPlane;
          const weightStart = (c * groupOutChannels + (m % groupOutChannels)) * taps;
          for (let t = 0; t < taps; t++) {
            const box = plan.boxes[t]!;
            if (box.empty) continue;
            accumulateBox(
              sums,
              box.targetBase,
              plan.targetSteps,
              xValues,
              inStart + box.iterBase,
              plan.iterSteps,
              box.counts,
              plan.counter,
              wValues[weightStart + t]!,
            );
          }
        }
        store(n * outChannels + m, sums);
      }
    }
  });
}

/**
 * ConvTranspose's output size and pads. An explicit output_shape (or SAME auto_pad, which asks for
 * `input * stride`) fixes the size and the pads follow from it; the odd unit of padding goes to the
 * end for SAME_UPPER and to the beginning otherwise.
 */
function transposedGeometry(
  ctx: KernelContext,
  inSpatial: readonly number[],
  kernel: number[],
): WindowGeometry {
  const rank = inSpatial.length;
  const strides = spatialInts(ctx, 'strides', rank, 1);
  const dilations = spatialInts(ctx, 'dilations', rank, 1);
  const outputPadding = spatialInts(ctx, 'output_padding', rank, 0);
  const autoPad = ctx.string('auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) {
    ctx.fail(`unknown auto_pad '${autoPad}'`);
  }
  const fullSize = inSpatial.map(
    (n, d) => strides[d]! * (n - 1) + outputPadding[d]! + (kernel[d]! - 1) * dilations[d]! + 1,
  );
  let outSpatial: number[] | undefined;
  if (ctx.has('output_shape')) {
    const shape = ctx.ints('output_shape');
    // Some exporters write the full output shape, batch and channels included.
    outSpatial = shape.length === rank + 2 ? shape.slice(2) : shape;
    if (outSpatial.length !== rank) ctx.fail(`output_shape must have ${rank} values, got ${shape.length}`);
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    outSpatial = inSpatial.map((n, d) => n * strides[d]!);
  }
  let padsBegin: number[];
  let padsEnd: number[];
  if (outSpatial) {
    const totals = outSpatial.map((size, d) => fullSize[d]! - size);
    padsBegin = totals.map((total) =>
      autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2),
    );
    padsEnd = totals.map((total, d) => total - padsBegin[d]!);
  } else {
    const pads =
      autoPad === 'VALID' ? new Array<number>(2 * rank).fill(0) : spatialInts(ctx, 'pads', 2 * rank, 0);
    padsBegin = pads.slice(0, rank);
    padsEnd = pads.slice(rank);
    outSpatial = fullSize.map((size, d) => size - padsBegin[d]! - padsEnd[d]!);
  }
  if (outSpatial.some((size) => size < 1)) {
    ctx.fail(`output spatial dims [${outSpatial.join(', ')}] must be positive`);
  }
  return { kernel, strides, dilations, padsBegin, padsEnd, outSpatial };
}

/**
 * Col2Im: the inverse of im2col. Input [N, C * prod(block), L] holds, for each of the L block
 * positions, a block of values; each is added back where it came from in an image of `image_shape`.
 */
function col2im(ctx: KernelContext): Tensor {
  const input = ctx.input(0);
  const imageShape = readInts(ctx.input(1));
  const blockShape = readInts(ctx.input(2));
  if (imageShape.length !== blockShape.length || imageShape.length === 0) {
    ctx.fail('image_shape and block_shape must have the same, non-zero length');
  }
  if (input.dims.length !== 3) {
    ctx.fail(`input must be [N, C * block size, L], got [${input.dims.join(', ')}]`);
  }
  const [batch, rows, blocks] = input.dims as [number, number, number];
  const blockSize = shapeSize(blockShape);
  if (rows % blockSize !== 0) {
    ctx.fail(`input dim 1 (${rows}) is not a multiple of the block size ${blockSize}`);
  }
  const channels = rows / blockSize;
  const geometry = windowGeometry(ctx, imageShape, blockShape);
  if (shapeSize(geometry.outSpatial) !== blocks) {
    ctx.fail(`input has ${blocks} blocks but the image holds [${geometry.outSpatial.join(', ')}] of them`);
  }
  const plan = planTaps(geometry.outSpatial, imageShape, geometry);
  const values = floatValues(ctx, input);
  const sums = new Float64Array(shapeSize(imageShape));
  return planarOutput(ctx, input.type, [batch, channels, ...imageShape], (store) => {
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < channels; c++) {
        sums.fill(0);
        plan.boxes.forEach((box, t) => {
          if (box.empty) return;
          const rowStart = (n * rows + c * blockSize + t) * blocks;
          accumulateBox(
            sums,
            box.targetBase,
            plan.targetSteps,
            values,
            rowStart + box.iterBase,
            plan.iterSteps,
            box.counts,
            plan.counter,
            1,
          );
        });
        store(n * channels + c, sums);
      }
    }
  });
}

/**
 * DeformConv: a convolution whose every tap, at every output position, samples the input at its
 * regular place plus a learned fractional offset (multilinear interpolation, zero outside the
 * input), optionally scaled by a mask. The sampled values form deformed columns
 * [C, taps, outputs] that the weights then multiply group by group.
 */
function deformConv(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const offset = ctx.input(2);
  const bias = ctx.optionalInput(3);
  const mask = ctx.optionalInput(4);
  const { kernel, group } = kernelAndGroup(ctx, w.dims);
  const outChannels = checkConvShapes(ctx, x.dims, w.dims, group);
  checkBias(ctx, bias, outChannels);
  const offsetGroups = ctx.int('offset_group', 1);
  const [batch, channels] = x.dims as [number, number];
  if (offsetGroups < 1 || channels % offsetGroups !== 0) {
    ctx.fail(`offset_group ${offsetGroups} does not divide the ${channels} input channels`);
  }
  const inSpatial = x.dims.slice(2);
  const rank = inSpatial.length;
  const geometry = windowGeometry(ctx, inSpatial, kernel);
  const taps = shapeSize(kernel);
  const outPlane = shapeSize(geometry.outSpatial);
  const expectOffset = [batch, offsetGroups * taps * rank, ...geometry.outSpatial];
  if (offset.dims.join() !== expectOffset.join()) {
    ctx.fail(`offset must have dims [${expectOffset.join(', ')}], got [${offset.dims.join(', ')}]`);
  }
  const expectMask = [batch, offsetGroups * taps, ...geometry.outSpatial];
  if (mask && mask.dims.join() !== expectMask.join()) {
    ctx.fail(`mask must have dims [${expectMask.join(', ')}], got [${mask.dims.join(', ')}]`);
  }
  const xValues = floatValues(ctx, x);
  const wValues = floatValues(ctx, w);
  const offsets = toNumbers(offset);
  const masks = mask && toNumbers(mask);
  const biasValues = bias && toNumbers(bias);

  // Regular (undeformed) sampling origins: per output position, and per tap within the kernel.
  const origins = new Float64Array(outPlane * rank);
  forEachIndex(geometry.outSpatial, (p, coords) => {
    for (let d = 0; d < rank; d++) {
      origins[p * rank + d] = coords[d]! * geometry.strides[d]! - geometry.padsBegin[d]!;
    }
  });
  const tapShifts = new Float64Array(taps * rank);
  forEachIndex(kernel, (t, coords) => {
    for (let d = 0; d < rank; d++) tapShifts[t * rank + d] = coords[d]! * geometry.dilations[d]!;
  });

  const inPlane = shapeSize(inSpatial);
  const inStrides = stridesOf(inSpatial);
  const channelsPerOffsetGroup = channels / offsetGroups;
  const groupChannels = channels / group;
  const groupOutChannels = outChannels / group;
  const point = new Float64Array(rank);
  const columns = new Float64Array(channels * taps * outPlane);
  const sums = new Float64Array(outPlane);
  return planarOutput(ctx, x.type, [batch, outChannels, ...geometry.outSpatial], (store) => {
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < channels; c++) {
        const og = Math.floor(c / channelsPerOffsetGroup);
        for (let t = 0; t < taps; t++) {
          const offsetBase = ((n * offsetGroups + og) * taps + t) * rank * outPlane;
          const maskBase = ((n * offsetGroups + og) * taps + t) * outPlane;
          const columnBase = (c * taps + t) * outPlane;
          for (let p = 0; p < outPlane; p++) {
            for (let d = 0; d < rank; d++) {
              point[d] =
                origins[p * rank + d]! + tapShifts[t * rank + d]! + offsets[offsetBase + d * outPlane + p]!;
            }
            const sample = sampleMultilinear(
              xValues,
              (n * channels + c) * inPlane,
              inSpatial,
              inStrides,
              point,
            );
            columns[columnBase + p] = masks ? sample * masks[maskBase + p]! : sample;
          }
        }
      }
      for (let m = 0; m < outChannels; m++) {
        sums.fill(biasValues ? biasValues[m]! : 0);
        const firstChannel = Math.floor(m / groupOutChannels) * groupChannels;
        for (let row = 0; row < groupChannels * taps; row++) {
          const weight = wValues[m * groupChannels * taps + row]!;
          const columnStart = (firstChannel * taps + row) * outPlane;
          for (let p = 0; p < outPlane; p++) sums[p]! += weight * columns[columnStart + p]!;
        }
        store(n * outChannels + m, sums);
      }
    }
  });
}

/** Calls `visit(flatIndex, coords)` for every index of `dims` in row-major order (coords is reused). */
function forEachIndex(
  dims: readonly number[],
  visit: (flat: number, coords: readonly number[]) => void,
): void {
  const coords = new Array<number>(dims.length).fill(0);
  const size = shapeSize(dims);
  for (let flat = 0; flat < size; flat++) {
    visit(flat, coords);
    for (let d = dims.length - 1; d >= 0 && ++coords[d]! === dims[d]; d--) coords[d] = 0;
  }
}

/** Multilinear interpolation of a plane at a fractional point; corners outside the plane count as 0. */
function sampleMultilinear(
  values: ArrayLike<number>,
  planeStart: number,
  dims: readonly number[],
  strides: readonly number[],
  point: Float64Array,
): number {
  const rank = dims.length;
  let sum = 0;
  for (let corner = 0; corner < 1 << rank; corner++) {
    let weight = 1;
    let index = planeStart;
    for (let d = 0; d < rank && weight !== 0; d++) {
      const low = Math.floor(point[d]!);
      const fraction = point[d]! - low;
      const upper = (corner >> d) & 1;
      const at = low + upper;
      if (at < 0 || at >= dims[d]!) weight = 0;
      weight *= upper ? fraction : 1 - fraction;
      index += at * strides[d]!;
    }
    if (weight !== 0) sum += weight * values[index]!;
  }
  return sum;
}

export const kernels: KernelDef[] = [
  { op: 'Conv', since: 1, run: (ctx) => [conv(ctx)] },
  { op: 'ConvTranspose', since: 1, run: (ctx) => [convTranspose(ctx)] },
  { op: 'ConvInteger', since: 10, run: (ctx) => [convInteger(ctx)] },
  { op: 'QLinearConv', since: 10, run: (ctx) => [qlinearConv(ctx)] },
  { op: 'DeformConv', since: 19, run: (ctx) => [deformConv(ctx)] },
  { op: 'Col2Im', since: 18, run: (ctx) => [col2im(ctx)] },
];
