/**
 * Spatial resampling: Resize and its predecessor Upsample, GridSample, AffineGrid and RoiAlign.
 *
 * Resize is separable: along each resized axis, every output position maps to an input coordinate
 * (the coordinate transformation mode) and reads a few input positions with weights (the
 * interpolation mode: nearest, linear or cubic, widened by antialiasing when downscaling). Linear
 * and cubic resampling then run one axis at a time in float64, the last axis straight into the
 * output; nearest resampling gathers elements, so it works for every element type.
 */

import { isFloatType, isIntegerType, slotsPerElement } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  normalizeAxis,
  numbersToStorage,
  readInts,
  shapeSize,
  stridesOf,
  toNumbers,
  floatSink,
} from '../util.js';

/** One input position read by an output position, and its weight. */
interface Tap {
  index: number;
  weight: number;
}

/** For each output position along an axis, its taps; undefined where it lies outside the input. */
type AxisSampling = (Tap[] | undefined)[];

function cubicKernel(a: number): (x: number) => number {
  return (x) => {
    const t = Math.abs(x);
    if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
  };
}

const linearKernel = (x: number): number => Math.max(0, 1 - Math.abs(x));

function checkNumeric(ctx: KernelContext, t: Tensor, what: string): void {
  if (!isFloatType(t.type) && !isIntegerType(t.type)) ctx.fail(`${what} must be numeric, got ${t.type}`);
}

// ---------------------------------------------------------------------------------------------
// Resize and Upsample

type InterpolationMode = 'nearest' | 'linear' | 'cubic';

/**
 * `simple` is the rounding of the opsets before nearest_mode existed (Resize 10, Upsample): as
 * onnxruntime does, truncate when upsampling and round up when downsampling.
 */
type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'simple';

export interface ResizeSettings {
  mode: InterpolationMode;
  coordinateMode: string;
  nearestMode: NearestMode;
  cubicA: number;
  excludeOutside: boolean;
  extrapolationValue: number;
  antialias: boolean;
}

/** What to do along one axis. */
export interface AxisResize {
  inLength: number;
  outLength: number;
  scale: number;
  roiStart: number;
  roiEnd: number;
}

const NEAREST_ROUNDING: Record<Exclude<NearestMode, 'simple'>, (x: number) => number> = {
  round_prefer_floor: (x) => Math.ceil(x - 0.5),
  round_prefer_ceil: (x) => Math.floor(x + 0.5),
  floor: Math.floor,
  ceil: Math.ceil,
};

/**
 * The input coordinate of output position `x`. The resized length is the real `scale * inLength`
 * (not the rounded output length), as in the ONNX reference implementation.
 */
export function originalCoordinate(ctx: KernelContext, mode: string, x: number, axis: AxisResize): number {
  const { inLength, outLength, scale, roiStart, roiEnd } = axis;
  const resizedLength = scale * inLength;
  switch (mode) {
    case 'half_pixel':
      return (x + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      // Centers the sampled region when the output length was rounded from the real one.
      const offset = (inLength / 2) * (1 - outLength / resizedLength);
      return offset + (x + 0.5) / scale - 0.5;
    }
    case 'pytorch_half_pixel':
      return outLength > 1 ? (x + 0.5) / scale - 0.5 : 0;
    case 'align_corners':
      return resizedLength === 1 ? 0 : (x * (inLength - 1)) / (resizedLength - 1);
    case 'asymmetric':
      return x / scale;
    case 'tf_half_pixel_for_nn':
      return (x + 0.5) / scale;
    case 'tf_crop_and_resize':
      return resizedLength > 1
        ? roiStart * (inLength - 1) + (x * (roiEnd - roiStart) * (inLength - 1)) / (resizedLength - 1)
        : ((roiStart + roiEnd) / 2) * (inLength - 1);
    default:
      ctx.fail(`unknown coordinate_transformation_mode '${mode}'`);
  }
}

/** True for the nearest_mode values of Resize 11 on. */
export function isNearestMode(mode: string): boolean {
  return mode in NEAREST_ROUNDING;
}

/** The input position nearest resampling reads at input coordinate `x`. */
export function nearestIndex(settings: ResizeSettings, x: number, axis: AxisResize): number {
  const rounded =
    settings.nearestMode === 'simple'
      ? axis.scale < 1
        ? Math.ceil(x)
        : Math.floor(x)
      : NEAREST_ROUNDING[settings.nearestMode](x);
  return Math.min(Math.max(rounded, 0), axis.inLength - 1);
}

/**
 * Linear or cubic taps around `x`. Antialiasing stretches the filter by 1/scale when
 * downscaling, so that every input position contributes; weights are normalized to sum to 1.
 */
function filterTaps(settings: ResizeSettings, x: number, axis: AxisResize): Tap[] {
  const support = settings.mode === 'linear' ? 1 : 2;
  const kernel = settings.mode === 'linear' ? linearKernel : cubicKernel(settings.cubicA);
  const stretch = settings.antialias ? Math.min(axis.scale, 1) : 1;
  const base = Math.floor(x);
  const ratio = x - base;
  const first = Math.floor(-support / stretch) + 1;
  let taps: Tap[] = [];
  for (let k = first; k <= 1 - first; k++)
    taps.push({ index: base + k, weight: kernel((k - ratio) * stretch) });
  if (settings.excludeOutside) taps = taps.filter((t) => t.index >= 0 && t.index < axis.inLength);
  const total = taps.reduce((sum, t) => sum + t.weight, 0);
  return taps.map((t) => ({
    index: Math.min(Math.max(t.index, 0), axis.inLength - 1),
    weight: t.weight / total,
  }));
}

function axisSampling(ctx: KernelContext, settings: ResizeSettings, axis: AxisResize): AxisSampling {
  const sampling: AxisSampling = [];
  for (let i = 0; i < axis.outLength; i++) {
    const x = originalCoordinate(ctx, settings.coordinateMode, i, axis);
    const outside = settings.coordinateMode === 'tf_crop_and_resize' && (x < 0 || x > axis.inLength - 1);
    if (outside) sampling.push(undefined);
    else
      sampling.push(
        settings.mode === 'nearest'
          ? [{ index: nearestIndex(settings, x, axis), weight: 1 }]
          : filterTaps(settings, x, axis),
      );
  }
  return sampling;
}

/**
 * Nearest resampling as one gather of storage slots, so every element type keeps its exact values;
 * positions outside the crop take the extrapolation value.
 */
function resizeNearest(
  ctx: KernelContext,
  x: Tensor,
  samplings: AxisSampling[],
  extrapolationValue: number,
): Tensor {
  const outDims = samplings.map((s) => s.length);
  const out = ctx.output(0, x.type, outDims);
  const inStrides = stridesOf(x.dims);
  const rank = outDims.length;
  const slots = slotsPerElement(x.type);
  const source = x.data as unknown as ArrayLike<unknown>;
  const target = out.data as unknown as unknown[];
  // Only a crop can reach outside the input; other resizes may have types numbers cannot encode.
  const crops = samplings.some((sampling) => sampling.includes(undefined));
  const outside = (crops ? numbersToStorage(x.type, [extrapolationValue]) : []) as ArrayLike<unknown>;
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.size; i++) {
    let from = 0;
    for (let a = 0; a < rank && from >= 0; a++) {
      const taps = samplings[a]![counter[a]!];
      from = taps ? from + taps[0]!.index * inStrides[a]! : -1;
    }
    for (let s = 0; s < slots; s++) target[i * slots + s] = from < 0 ? outside[s] : source[from * slots + s];
    for (let a = rank - 1; a >= 0 && ++counter[a]! === outDims[a]; a--) counter[a] = 0;
  }
  return out;
}

/** Resamples `values` (of `dims`) along one axis into `out`. */
function resampleAxis(
  values: ArrayLike<number>,
  dims: number[],
  axis: number,
  sampling: AxisSampling,
  extrapolationValue: number,
  out: Float32Array | Float64Array,
): void {
  const outer = shapeSize(dims.slice(0, axis));
  const inner = shapeSize(dims.slice(axis + 1));
  const inLength = dims[axis]!;
  const outLength = sampling.length;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < outLength; j++) {
      const taps = sampling[j];
      const target = (o * outLength + j) * inner;
      for (let i = 0; i < inner; i++) {
        if (!taps) {
          out[target + i] = extrapolationValue;
          continue;
        }
        let sum = 0;
        for (const tap of taps) sum += tap.weight * values[(o * inLength + tap.index) * inner + i]!;
        out[target + i] = sum;
      }
    }
  }
}

/** True when resampling along the axis would copy it unchanged (the common case of unresized axes). */
function isIdentity(sampling: AxisSampling, inLength: number): boolean {
  return (
    sampling.length === inLength &&
    sampling.every(
      (taps, j) =>
        taps !== undefined && taps.every((t) => t.weight === 0 || (t.index === j && t.weight === 1)),
    )
  );
}

/**
 * Linear and cubic resampling pass over the resized axes one at a time, keeping float64 between
 * passes; the last pass writes the output.
 */
function resample(ctx: KernelContext, x: Tensor, settings: ResizeSettings, axes: AxisResize[]): Tensor {
  const samplings = axes.map((axis) => axisSampling(ctx, settings, axis));
  if (settings.mode === 'nearest') return resizeNearest(ctx, x, samplings, settings.extrapolationValue);
  checkNumeric(ctx, x, `${settings.mode} resizing input`);
  const out = floatSink(
    ctx.output(
      0,
      x.type,
      samplings.map((s) => s.length),
    ),
  );
  const resized = samplings.flatMap((sampling, a) => (isIdentity(sampling, x.dims[a]!) ? [] : [a]));
  let values: ArrayLike<number> = toNumbers(x);
  if (resized.length === 0) out.values.set(values);
  let dims = [...x.dims];
  resized.forEach((a, k) => {
    const sampling = samplings[a]!;
    const nextDims = dims.map((d, i) => (i === a ? sampling.length : d));
    const target = k === resized.length - 1 ? out.values : new Float64Array(shapeSize(nextDims));
    resampleAxis(values, dims, a, sampling, settings.extrapolationValue, target);
    values = target;
    dims = nextDims;
  });
  return out.finish();
}

function interpolationMode(ctx: KernelContext): InterpolationMode {
  const mode = ctx.string('mode', 'nearest');
  if (mode === 'nearest' || mode === 'linear' || mode === 'cubic') return mode;
  // Upsample-1 named linear interpolation 'bilinear'.
  if (mode === 'bilinear') return 'linear';
  ctx.fail(`unknown mode '${mode}'`);
}

/** The settings of Resize 10 and Upsample, which had only a mode. */
function legacySettings(ctx: KernelContext): ResizeSettings {
  const mode = interpolationMode(ctx);
  if (mode === 'cubic') ctx.fail(`mode 'cubic' needs Resize from opset 11`);
  return {
    mode,
    coordinateMode: 'asymmetric',
    nearestMode: 'simple',
    cubicA: -0.75,
    excludeOutside: false,
    extrapolationValue: 0,
    antialias: false,
  };
}

function resizeSettings(ctx: KernelContext): ResizeSettings {
  if (ctx.opset < 11) return legacySettings(ctx);
  const nearestMode = ctx.string('nearest_mode', 'round_prefer_floor');
  if (!isNearestMode(nearestMode)) ctx.fail(`unknown nearest_mode '${nearestMode}'`);
  return {
    mode: interpolationMode(ctx),
    coordinateMode: ctx.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: nearestMode as NearestMode,
    cubicA: ctx.float('cubic_coeff_a', -0.75),
    excludeOutside: ctx.int('exclude_outside', 0) !== 0,
    extrapolationValue: ctx.float('extrapolation_value', 0),
    antialias: ctx.int('antialias', 0) !== 0,
  };
}

/** A tensor input that the model may give as an empty tensor to mean "not given". */
function nonEmptyInput(ctx: KernelContext, index: number): Tensor | undefined {
  const t = ctx.optionalInput(index);
  return t && t.size > 0 ? t : undefined;
}

/** Output lengths from scales: floor(length * scale). */
function axesFromScales(
  ctx: KernelContext,
  dims: readonly number[],
  scales: ArrayLike<number>,
): AxisResize[] {
  if (scales.length !== dims.length) ctx.fail(`expected ${dims.length} scales, got ${scales.length}`);
  return dims.map((inLength, a) => {
    const scale = scales[a]!;
    if (!(scale > 0)) ctx.fail(`scales must be positive, got ${scale} for axis ${a}`);
    return { inLength, outLength: Math.floor(inLength * scale), scale, roiStart: 0, roiEnd: 1 };
  });
}

/**
 * Output lengths from sizes. keep_aspect_ratio_policy (opset 18) replaces the per-axis scales of
 * the resized axes by their smallest ('not_larger') or largest ('not_smaller').
 */
function axesFromSizes(
  ctx: KernelContext,
  dims: readonly number[],
  sizes: readonly number[],
  resized: readonly boolean[],
): AxisResize[] {
  if (sizes.length !== dims.length) ctx.fail(`expected ${dims.length} sizes, got ${sizes.length}`);
  sizes.forEach((s, a) => {
    if (!Number.isInteger(s) || s < 0)
      ctx.fail(`sizes must be non-negative integers, got ${s} for axis ${a}`);
    if (dims[a] === 0 && s > 0) ctx.fail(`axis ${a} is empty and cannot be resized to ${s}`);
  });
  const scales = sizes.map((s, a) => (s === dims[a] ? 1 : s / dims[a]!));
  const policy = ctx.opset >= 18 ? ctx.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
  if (policy === 'stretch') {
    return dims.map((inLength, a) => ({
      inLength,
      outLength: sizes[a]!,
      scale: scales[a]!,
      roiStart: 0,
      roiEnd: 1,
    }));
  }
  if (policy !== 'not_larger' && policy !== 'not_smaller')
    ctx.fail(`unknown keep_aspect_ratio_policy '${policy}'`);
  const resizedScales = scales.filter((_, a) => resized[a]);
  const scale = policy === 'not_larger' ? Math.min(...resizedScales) : Math.max(...resizedScales);
  return dims.map((inLength, a) =>
    resized[a]
      ? { inLength, outLength: Math.floor(scale * inLength + 0.5), scale, roiStart: 0, roiEnd: 1 }
      : { inLength, outLength: inLength, scale: 1, roiStart: 0, roiEnd: 1 },
  );
}

/** The axes that scales, sizes and roi refer to (opset 18 `axes`), in their order. */
function resizeAxes(ctx: KernelContext, rank: number): number[] {
  const all = Array.from({ length: rank }, (_, a) => a);
  if (ctx.opset < 18 || !ctx.has('axes')) return all;
  const axes = ctx.ints('axes').map((a) => normalizeAxis(a, rank, ctx.fail.bind(ctx)));
  if (new Set(axes).size !== axes.length) ctx.fail(`axes [${axes.join(', ')}] repeat an axis`);
  return axes;
}

/** Spreads per-listed-axis values over all axes, `fill` for the axes not listed. */
function spread(
  values: ArrayLike<number>,
  axes: readonly number[],
  rank: number,
  fill: (a: number) => number,
): number[] {
  const full = Array.from({ length: rank }, (_, a) => fill(a));
  axes.forEach((axis, i) => (full[axis] = values[i]!));
  return full;
}

/** The axes of Resize 11 on, from its scales or sizes (over all axes or its `axes`) and its roi. */
function axesFromInputs(ctx: KernelContext, x: Tensor, settings: ResizeSettings): AxisResize[] {
  const rank = x.dims.length;
  const listed = resizeAxes(ctx, rank);
  const scalesInput = nonEmptyInput(ctx, 2);
  const sizesInput = nonEmptyInput(ctx, 3);
  if (!!scalesInput === !!sizesInput) ctx.fail('exactly one of scales and sizes must be given');
  const count = (t: Tensor, what: string) => {
    if (t.size !== listed.length) ctx.fail(`${what} has ${t.size} values for ${listed.length} axes`);
  };
  let axes: AxisResize[];
  if (scalesInput) {
    count(scalesInput, 'scales');
    axes = axesFromScales(
      ctx,
      x.dims,
      spread(toNumbers(scalesInput), listed, rank, () => 1),
    );
  } else {
    count(sizesInput!, 'sizes');
    const resized = spread(new Array(listed.length).fill(1), listed, rank, () => 0).map(Boolean);
    axes = axesFromSizes(
      ctx,
      x.dims,
      spread(readInts(sizesInput!), listed, rank, (a) => x.dims[a]!),
      resized,
    );
  }
  const roiInput = nonEmptyInput(ctx, 1);
  if (settings.coordinateMode === 'tf_crop_and_resize') {
    if (!roiInput) ctx.fail(`coordinate_transformation_mode 'tf_crop_and_resize' needs a roi`);
    if (roiInput.size !== 2 * listed.length)
      ctx.fail(`roi has ${roiInput.size} values, expected ${2 * listed.length}`);
    const roi = toNumbers(roiInput);
    const starts = spread(Array.from(roi).slice(0, listed.length), listed, rank, () => 0);
    const ends = spread(Array.from(roi).slice(listed.length), listed, rank, () => 1);
    axes = axes.map((axis, a) => ({ ...axis, roiStart: starts[a]!, roiEnd: ends[a]! }));
  }
  return axes;
}

/** Upsample's scales: height_scale/width_scale (opset 1), a `scales` attribute (7), an input (9). */
function upsampleScales(ctx: KernelContext, x: Tensor): ArrayLike<number> {
  if (ctx.opset >= 9) return toNumbers(ctx.input(1));
  if (ctx.opset >= 7) return ctx.floats('scales');
  if (x.dims.length !== 4) ctx.fail(`Upsample-1 takes a 4-D NCHW input, got [${x.dims.join(', ')}]`);
  return [1, 1, ctx.float('height_scale'), ctx.float('width_scale')];
}

/** How Resize or Upsample resamples its input: the settings, and what happens along each axis. */
export interface ResizePlan {
  settings: ResizeSettings;
  axes: AxisResize[];
}

/**
 * How Resize or Upsample of any opset resizes `x`: attributes, scales or sizes and roi read and
 * checked. The wasm backend's Resize reads it here too, so both backends resize and fail alike.
 */
export function resizePlan(ctx: KernelContext, x: Tensor): ResizePlan {
  if (ctx.node.opType === 'Upsample') {
    const scales = upsampleScales(ctx, x);
    return { settings: legacySettings(ctx), axes: axesFromScales(ctx, x.dims, scales) };
  }
  const settings = resizeSettings(ctx);
  if (ctx.opset < 11) return { settings, axes: axesFromScales(ctx, x.dims, toNumbers(ctx.input(1))) };
  return { settings, axes: axesFromInputs(ctx, x, settings) };
}

function resize(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const { settings, axes } = resizePlan(ctx, x);
  return [resample(ctx, x, settings, axes)];
}

// ---------------------------------------------------------------------------------------------
// GridSample

type PaddingMode = 'zeros' | 'border' | 'reflection';

/** Folds `x` back into [low, high] by reflecting at the borders as often as needed. */
function reflect(x: number, low: number, high: number): number {
  const range = high - low;
  if (range <= 0) return low;
  if (x < low) {
    const distance = low - x;
    const folds = Math.floor(distance / range);
    const rest = distance - folds * range;
    return folds % 2 === 0 ? low + rest : high - rest;
  }
  if (x > high) {
    const distance = x - high;
    const folds = Math.floor(distance / range);
    const rest = distance - folds * range;
    return folds % 2 === 0 ? high - rest : low + rest;
  }
  return x;
}

/** Round half to even, as C's nearbyint (numpy's rint). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

interface GridSampleSettings {
  mode: InterpolationMode;
  padding: PaddingMode;
  alignCorners: boolean;
}

/** The taps of one spatial axis at normalized coordinate `g` in [-1, 1]; index -1 reads a zero. */
function gridAxisTaps(g: number, length: number, settings: GridSampleSettings): Tap[] {
  const { mode, padding, alignCorners } = settings;
  // The extent of the input: pixel centers with align_corners, pixel edges without.
  const low = alignCorners ? 0 : -0.5;
  const high = alignCorners ? length - 1 : length - 0.5;
  let x = alignCorners ? ((g + 1) / 2) * (length - 1) : ((g + 1) * length - 1) / 2;
  if (mode === 'nearest') x = roundHalfEven(x);
  if (x < low || x > high) {
    if (padding === 'border') x = Math.min(Math.max(x, 0), length - 1);
    else if (padding === 'reflection') x = reflect(x, low, high);
  }
  const fetch = (i: number): number => {
    if (padding === 'zeros') return i >= 0 && i < length ? i : -1;
    if (padding === 'border') return Math.min(Math.max(i, 0), length - 1);
    return Math.min(Math.max(Math.trunc(reflect(i, low, high)), 0), length - 1);
  };
  if (mode === 'nearest') return [{ index: fetch(Math.trunc(x)), weight: 1 }];
  const base = Math.floor(x);
  const ratio = x - base;
  if (mode === 'linear') {
    return [
      { index: fetch(base), weight: 1 - ratio },
      { index: fetch(base + 1), weight: ratio },
    ];
  }
  const kernel = cubicKernel(-0.75);
  return [-1, 0, 1, 2].map((k) => ({ index: fetch(base + k), weight: kernel(k - ratio) }));
}

/** All combinations of per-axis taps, as flat offsets into one channel and product weights. */
function combineTaps(perAxis: Tap[][], strides: readonly number[]): Tap[] {
  let combined: Tap[] = [{ index: 0, weight: 1 }];
  perAxis.forEach((taps, a) => {
    const next: Tap[] = [];
    for (const c of combined) {
      for (const t of taps) {
        next.push({
          index: c.index < 0 || t.index < 0 ? -1 : c.index + t.index * strides[a]!,
          weight: c.weight * t.weight,
        });
      }
    }
    combined = next;
  });
  return combined;
}

function gridSampleSettings(ctx: KernelContext): GridSampleSettings {
  const modeName = ctx.string('mode', ctx.opset >= 20 ? 'linear' : 'bilinear');
  const modes: Record<string, InterpolationMode> = {
    linear: 'linear',
    bilinear: 'linear',
    nearest: 'nearest',
    cubic: 'cubic',
    bicubic: 'cubic',
  };
  const mode = modes[modeName];
  if (!mode) ctx.fail(`unknown mode '${modeName}'`);
  const padding = ctx.string('padding_mode', 'zeros');
  if (padding !== 'zeros' && padding !== 'border' && padding !== 'reflection') {
    ctx.fail(`unknown padding_mode '${padding}'`);
  }
  return { mode, padding, alignCorners: ctx.int('align_corners', 0) !== 0 };
}

function gridSample(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const grid = ctx.input(1);
  checkNumeric(ctx, x, 'X');
  if (!isFloatType(grid.type)) ctx.fail(`the grid must be a float tensor, got ${grid.type}`);
  const settings = gridSampleSettings(ctx);
  const spatialRank = x.dims.length - 2;
  if (spatialRank < 1 || (ctx.opset < 20 && spatialRank !== 2)) {
    ctx.fail(
      `X must be [N, C, H, W]${ctx.opset >= 20 ? ' or have more spatial dims' : ''}, got [${x.dims.join(', ')}]`,
    );
  }
  const [batch, channels] = x.dims as [number, number];
  const spatial = x.dims.slice(2);
  const outSpatial = grid.dims.slice(1, -1);
  if (
    grid.dims.length !== spatialRank + 2 ||
    grid.dims[0] !== batch ||
    grid.dims[spatialRank + 1] !== spatialRank
  ) {
    ctx.fail(
      `the grid must be [${batch}, ..., ${spatialRank}] with ${spatialRank} spatial dims, got [${grid.dims.join(', ')}]`,
    );
  }
  const values = toNumbers(x);
  const coords = toNumbers(grid);
  const channelSize = shapeSize(spatial);
  const points = shapeSize(outSpatial);
  const strides = stridesOf(spatial);
  const out = floatSink(ctx.output(0, x.type, [batch, channels, ...outSpatial]));
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < points; p++) {
      const at = (n * points + p) * spatialRank;
      // The grid lists coordinates innermost axis first: (x, y) for (W, H).
      const perAxis = spatial.map((length, a) =>
        gridAxisTaps(coords[at + spatialRank - 1 - a]!, length, settings),
      );
      const taps = combineTaps(perAxis, strides).filter((t) => t.index >= 0);
      for (let c = 0; c < channels; c++) {
        const base = (n * channels + c) * channelSize;
        let sum = 0;
        for (const t of taps) sum += t.weight * values[base + t.index]!;
        out.values[(n * channels + c) * points + p] = sum;
      }
    }
  }
  return [out.finish()];
}

// ---------------------------------------------------------------------------------------------
// AffineGrid

/** Normalized coordinates of the pixels along an axis of `length`, in [-1, 1]. */
function normalizedPositions(length: number, alignCorners: boolean): number[] {
  return Array.from({ length }, (_, i) =>
    alignCorners ? (length > 1 ? -1 + (2 * i) / (length - 1) : -1) : (2 * i + 1) / length - 1,
  );
}

function affineGrid(ctx: KernelContext): Tensor[] {
  const theta = ctx.input(0);
  if (!isFloatType(theta.type)) ctx.fail(`theta must be a float tensor, got ${theta.type}`);
  const size = readInts(ctx.input(1));
  const spatialRank = size.length - 2;
  if (spatialRank !== 2 && spatialRank !== 3)
    ctx.fail(`size must be [N, C, H, W] or [N, C, D, H, W], got [${size.join(', ')}]`);
  const batch = size[0]!;
  const [rows, cols] = [spatialRank, spatialRank + 1];
  if (
    theta.dims.length !== 3 ||
    theta.dims[0] !== batch ||
    theta.dims[1] !== rows ||
    theta.dims[2] !== cols
  ) {
    ctx.fail(`theta must be [${batch}, ${rows}, ${cols}], got [${theta.dims.join(', ')}]`);
  }
  const alignCorners = ctx.int('align_corners', 0) !== 0;
  const spatial = size.slice(2);
  // Axis positions, innermost (x, along W) first, as the grid lists its coordinates.
  const positions = [...spatial].reverse().map((length) => normalizedPositions(length, alignCorners));
  const matrices = toNumbers(theta);
  const points = shapeSize(spatial);
  const out = floatSink(ctx.output(0, theta.type, [batch, ...spatial, spatialRank]));
  const spatialStrides = stridesOf(spatial);
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < points; p++) {
      const point = positions.map((axis, k) => {
        const dim = spatialRank - 1 - k;
        return axis[Math.floor(p / spatialStrides[dim]!) % spatial[dim]!]!;
      });
      for (let r = 0; r < rows; r++) {
        const row = (n * rows + r) * cols;
        let v = matrices[row + spatialRank]!;
        for (let k = 0; k < spatialRank; k++) v += matrices[row + k]! * point[k]!;
        out.values[(n * points + p) * spatialRank + r] = v;
      }
    }
  }
  return [out.finish()];
}

// ---------------------------------------------------------------------------------------------
// RoiAlign

/** The four bilinear taps of a sample point, as flat offsets into an H×W plane. */
function bilinearSampleTaps(y: number, x: number, height: number, width: number): Tap[] {
  // Points more than a pixel outside the map read nothing.
  if (y < -1 || y > height || x < -1 || x > width) return [];
  y = Math.max(y, 0);
  x = Math.max(x, 0);
  let yLow = Math.floor(y);
  let xLow = Math.floor(x);
  let yHigh = yLow + 1;
  let xHigh = xLow + 1;
  if (yLow >= height - 1) y = yHigh = yLow = height - 1;
  if (xLow >= width - 1) x = xHigh = xLow = width - 1;
  const ly = y - yLow;
  const lx = x - xLow;
  return [
    { index: yLow * width + xLow, weight: (1 - ly) * (1 - lx) },
    { index: yLow * width + xHigh, weight: (1 - ly) * lx },
    { index: yHigh * width + xLow, weight: ly * (1 - lx) },
    { index: yHigh * width + xHigh, weight: ly * lx },
  ];
}

function roiAlign(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const rois = ctx.input(1);
  const batchIndices = readInts(ctx.input(2));
  if (!isFloatType(x.type)) ctx.fail(`X must be a float tensor, got ${x.type}`);
  if (x.dims.length !== 4) ctx.fail(`X must be [N, C, H, W], got [${x.dims.join(', ')}]`);
  const [batch, channels, height, width] = x.dims as [number, number, number, number];
  const roiCount = batchIndices.length;
  if (rois.dims.length !== 2 || rois.dims[0] !== roiCount || rois.dims[1] !== 4) {
    ctx.fail(`rois must be [${roiCount}, 4], got [${rois.dims.join(', ')}]`);
  }
  const mode = ctx.string('mode', 'avg');
  if (mode !== 'avg' && mode !== 'max') ctx.fail(`unknown mode '${mode}'`);
  // Opset 16 added half_pixel and made it the default; before, coordinates were output_half_pixel.
  const transform =
    ctx.opset >= 16 ? ctx.string('coordinate_transformation_mode', 'half_pixel') : 'output_half_pixel';
  if (transform !== 'half_pixel' && transform !== 'output_half_pixel') {
    ctx.fail(`unknown coordinate_transformation_mode '${transform}'`);
  }
  const halfPixel = transform === 'half_pixel';
  const outHeight = ctx.int('output_height', 1);
  const outWidth = ctx.int('output_width', 1);
  const samplingRatio = ctx.int('sampling_ratio', 0);
  const spatialScale = ctx.float('spatial_scale', 1);
  const values = toNumbers(x);
  const boxes = toNumbers(rois);
  const out = floatSink(ctx.output(0, x.type, [roiCount, channels, outHeight, outWidth]));
  const offset = halfPixel ? 0.5 : 0;
  for (let r = 0; r < roiCount; r++) {
    const b = batchIndices[r]!;
    if (b < 0 || b >= batch) ctx.fail(`batch index ${b} of roi ${r} is out of range for batch size ${batch}`);
    const [startW, startH, endW, endH] = [0, 1, 2, 3].map(
      (k) => boxes[r * 4 + k]! * spatialScale - offset,
    ) as [number, number, number, number];
    // Without half-pixel coordinates, malformed (inverted or tiny) rois are forced to 1×1.
    const roiHeight = halfPixel ? endH - startH : Math.max(endH - startH, 1);
    const roiWidth = halfPixel ? endW - startW : Math.max(endW - startW, 1);
    const binHeight = roiHeight / outHeight;
    const binWidth = roiWidth / outWidth;
    const gridH = samplingRatio > 0 ? samplingRatio : Math.ceil(roiHeight / outHeight);
    const gridW = samplingRatio > 0 ? samplingRatio : Math.ceil(roiWidth / outWidth);
    const count = Math.max(gridH * gridW, 1);
    for (let ph = 0; ph < outHeight; ph++) {
      for (let pw = 0; pw < outWidth; pw++) {
        const samples: Tap[][] = [];
        for (let iy = 0; iy < gridH; iy++) {
          const y = startH + ph * binHeight + ((iy + 0.5) * binHeight) / gridH;
          for (let ix = 0; ix < gridW; ix++) {
            const xx = startW + pw * binWidth + ((ix + 0.5) * binWidth) / gridW;
            samples.push(bilinearSampleTaps(y, xx, height, width));
          }
        }
        for (let c = 0; c < channels; c++) {
          const plane = (b * channels + c) * height * width;
          const target = ((r * channels + c) * outHeight + ph) * outWidth + pw;
          out.values[target] =
            mode === 'avg' ? averagePool(values, plane, samples, count) : maxPool(values, plane, samples);
        }
      }
    }
  }
  return [out.finish()];
}

function averagePool(values: ArrayLike<number>, plane: number, samples: Tap[][], count: number): number {
  let sum = 0;
  for (const taps of samples) for (const t of taps) sum += t.weight * values[plane + t.index]!;
  return sum / count;
}

/**
 * The max of the samples, each sample being the largest of its weighted taps: this is how the
 * ONNX reference and onnxruntime define max mode (not the max of interpolated values).
 */
function maxPool(values: ArrayLike<number>, plane: number, samples: Tap[][]): number {
  let best = -Infinity;
  for (const taps of samples) {
    const sample = taps.length === 0 ? 0 : Math.max(...taps.map((t) => t.weight * values[plane + t.index]!));
    best = Math.max(best, sample);
  }
  return samples.length === 0 ? 0 : best;
}

export const kernels: KernelDef[] = [
  { op: 'Resize', since: 10, run: resize },
  { op: 'Upsample', since: 1, run: resize },
  { op: 'GridSample', since: 16, run: gridSample },
  { op: 'AffineGrid', since: 20, run: affineGrid },
  { op: 'RoiAlign', since: 10, run: roiAlign },
];
