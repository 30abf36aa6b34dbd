/**
 * Normalization operators: BatchNormalization (inference, and training with its running
 * statistics), InstanceNormalization, LayerNormalization, GroupNormalization, RMSNormalization,
 * MeanVarianceNormalization, LpNormalization and LRN.
 *
 * Most of them normalize contiguous rows of the input (a LayerNormalization row is everything from
 * `axis` on; an InstanceNormalization row is one channel of one sample; a GroupNormalization row is
 * one group of channels of one sample), so they share `rowMoments`. Statistics are computed in
 * float64 whatever the stash type, and every output rounds once to its type.
 */

import { dataTypeFromOnnx, type DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  broadcastIndex,
  broadcastShapes,
  commitNumbers,
  normalizeAxis,
  numberSink,
  type NumberSink,
  shapeSize,
  stridesOf,
  toNumbers,
} from '../util.js';

const FLOAT_TYPES: ReadonlySet<DataType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);

function floatValues(ctx: KernelContext, t: Tensor): ArrayLike<number> {
  if (!FLOAT_TYPES.has(t.type)) ctx.fail(`${ctx.node.opType} does not support ${t.type}`);
  return toNumbers(t);
}

/** Mean and (population) variance of each of `rows` consecutive rows of `rowLength` values. */
function rowMoments(
  x: ArrayLike<number>,
  rows: number,
  rowLength: number,
): { mean: Float64Array; variance: Float64Array } {
  const mean = new Float64Array(rows);
  const variance = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * rowLength;
    let sum = 0;
    for (let i = 0; i < rowLength; i++) sum += x[start + i]!;
    const m = sum / rowLength;
    // Two passes: the sum of squared deviations stays accurate where E[x²] - E[x]² would cancel.
    let squares = 0;
    for (let i = 0; i < rowLength; i++) squares += (x[start + i]! - m) ** 2;
    mean[r] = m;
    variance[r] = squares / rowLength;
  }
  return { mean, variance };
}

/** Values of `t` for every element of `dims`, broadcasting `t` one way (numpy rules) onto `dims`. */
function broadcastValues(
  ctx: KernelContext,
  t: Tensor,
  dims: readonly number[],
  name: string,
): (i: number) => number {
  const target = broadcastShapes([t.dims, dims], (reason) => ctx.fail(reason));
  if (target.length !== dims.length || target.some((d, i) => d !== dims[i])) {
    ctx.fail(`${name} of dims [${t.dims.join(', ')}] does not broadcast to [${dims.join(', ')}]`);
  }
  const values = floatValues(ctx, t);
  const index = broadcastIndex(t.dims, dims);
  return (i) => values[index[i]!]!;
}

/** A per-channel parameter: exactly `count` values. */
function channelValues(ctx: KernelContext, t: Tensor, count: number, name: string): ArrayLike<number> {
  if (t.size !== count) ctx.fail(`${name} must have ${count} values, got dims [${t.dims.join(', ')}]`);
  return floatValues(ctx, t);
}

/** The float type a stash_type attribute names (statistics outputs take it). */
function stashType(ctx: KernelContext): DataType {
  const code = ctx.int('stash_type', 1);
  const type = dataTypeFromOnnx(code);
  if (!type || !FLOAT_TYPES.has(type)) ctx.fail(`stash_type ${code} is not a supported float type`);
  return type;
}

/**
 * BatchNormalization. Inference normalizes with the given mean and variance. Training mode
 * (training_mode=1 from opset 14; before it, asking for more than the Y output) normalizes with the
 * batch's own statistics and also returns the running statistics updated with `momentum`; opsets
 * before 14 add the batch mean and variance as saved_mean and saved_var. With the legacy
 * `spatial = 0` (opsets before 9) there is one statistic per element of a sample, not per channel.
 */
function batchNormalization(ctx: KernelContext): (Tensor | undefined)[] {
  const x = ctx.input(0);
  const scale = ctx.input(1);
  const bias = ctx.input(2);
  const inputMean = ctx.input(3);
  const inputVar = ctx.input(4);
  if (x.dims.length < 2) ctx.fail(`X must be [N, C, ...], got dims [${x.dims.join(', ')}]`);
  const batch = x.dims[0]!;
  const perSample = shapeSize(x.dims.slice(1));
  const perElement = ctx.opset < 9 && ctx.int('spatial', 1) === 0;
  const features = perElement ? perSample : x.dims[1]!;
  const featureSize = perSample / features;
  const training =
    ctx.opset >= 14
      ? ctx.int('training_mode', 0) !== 0
      : ctx.outputCount > 1 && !(ctx.opset < 7 && ctx.int('is_test', 0) !== 0);
  const epsilon = ctx.float('epsilon', 1e-5);
  const momentum = ctx.float('momentum', 0.9);
  const xs = floatValues(ctx, x);
  const gamma = channelValues(ctx, scale, features, 'scale');
  const beta = channelValues(ctx, bias, features, 'B');
  const given = {
    mean: channelValues(ctx, inputMean, features, 'mean'),
    variance: channelValues(ctx, inputVar, features, 'var'),
  };
  const stats = training ? batchStatistics(xs, batch, features, featureSize) : given;
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  forEachFeature(batch, features, featureSize, (f, start) => {
    const factor = gamma[f]! / Math.sqrt(stats.variance[f]! + epsilon);
    for (let i = start; i < start + featureSize; i++) y[i] = (xs[i]! - stats.mean[f]!) * factor + beta[f]!;
  });
  const outputs: (Tensor | undefined)[] = [commitNumbers(out, y)];
  if (!training) return outputs;
  const running = (previous: ArrayLike<number>, current: ArrayLike<number>) =>
    Float64Array.from(current, (v, f) => previous[f]! * momentum + v * (1 - momentum));
  outputs.push(
    statisticOutput(ctx, 1, inputMean, running(given.mean, stats.mean)),
    statisticOutput(ctx, 2, inputVar, running(given.variance, stats.variance)),
  );
  if (ctx.opset < 14) {
    outputs.push(
      statisticOutput(ctx, 3, inputMean, stats.mean),
      statisticOutput(ctx, 4, inputVar, stats.variance),
    );
  }
  return outputs;
}

/**
 * Output `index`, per-feature statistics of the type and dims of the input `like`, when the node
 * asks for it: one it does not ask for is not computed into memory at all.
 */
function statisticOutput(
  ctx: KernelContext,
  index: number,
  like: Tensor,
  values: ArrayLike<number>,
): Tensor | undefined {
  return ctx.wantsOutput(index) ? ctx.outputFromNumbers(index, like.type, values, like.dims) : undefined;
}

/** Per-feature mean and population variance over the batch and each feature's own elements. */
function batchStatistics(
  xs: ArrayLike<number>,
  batch: number,
  features: number,
  featureSize: number,
): { mean: Float64Array; variance: Float64Array } {
  const count = batch * featureSize;
  const mean = new Float64Array(features);
  const variance = new Float64Array(features);
  forEachFeature(batch, features, featureSize, (f, start) => {
    for (let i = start; i < start + featureSize; i++) mean[f]! += xs[i]! / count;
  });
  forEachFeature(batch, features, featureSize, (f, start) => {
    for (let i = start; i < start + featureSize; i++) variance[f]! += (xs[i]! - mean[f]!) ** 2 / count;
  });
  return { mean, variance };
}

/** Calls `visit(feature, start)` for each sample's run of `featureSize` values of each feature. */
function forEachFeature(
  batch: number,
  features: number,
  featureSize: number,
  visit: (f: number, start: number) => void,
): void {
  for (let n = 0; n < batch; n++) {
    for (let f = 0; f < features; f++) visit(f, (n * features + f) * featureSize);
  }
}

/**
 * Normalizes each row with its own moments, then applies `affine(value, elementIndex, row)`,
 * writing the results into `y`; returns the moments.
 */
function normalizeRows(
  x: ArrayLike<number>,
  rows: number,
  rowLength: number,
  epsilon: number,
  affine: (normalized: number, i: number, row: number) => number,
  y: NumberSink,
): { mean: Float64Array; invStdDev: Float64Array } {
  const { mean, variance } = rowMoments(x, rows, rowLength);
  const invStdDev = variance.map((v) => 1 / Math.sqrt(v + epsilon));
  for (let r = 0; r < rows; r++) {
    for (let i = r * rowLength; i < (r + 1) * rowLength; i++) {
      y[i] = affine((x[i]! - mean[r]!) * invStdDev[r]!, i, r);
    }
  }
  return { mean, invStdDev };
}

function instanceNormalization(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  if (x.dims.length < 2) ctx.fail(`input must be [N, C, ...], got dims [${x.dims.join(', ')}]`);
  const channels = x.dims[1]!;
  const scale = channelValues(ctx, ctx.input(1), channels, 'scale');
  const bias = channelValues(ctx, ctx.input(2), channels, 'B');
  const rows = x.dims[0]! * channels;
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  normalizeRows(
    floatValues(ctx, x),
    rows,
    x.size / Math.max(rows, 1),
    ctx.float('epsilon', 1e-5),
    (v, _, r) => {
      const c = r % channels;
      return v * scale[c]! + bias[c]!;
    },
    y,
  );
  return commitNumbers(out, y);
}

/** Rows of a normalization over the axes from `axis` on, and the shape of its per-row statistics. */
function rowsFromAxis(
  ctx: KernelContext,
  x: Tensor,
): { rows: number; rowLength: number; statDims: number[] } {
  const axis = normalizeAxis(ctx.int('axis', -1), x.dims.length, (reason) => ctx.fail(reason));
  const rows = shapeSize(x.dims.slice(0, axis));
  const statDims = x.dims.map((d, i) => (i < axis ? d : 1));
  return { rows, rowLength: shapeSize(x.dims.slice(axis)), statDims };
}

function layerNormalization(ctx: KernelContext): (Tensor | undefined)[] {
  const x = ctx.input(0);
  const scale = broadcastValues(ctx, ctx.input(1), x.dims, 'Scale');
  const b = ctx.optionalInput(2);
  const bias = b ? broadcastValues(ctx, b, x.dims, 'B') : () => 0;
  const { rows, rowLength, statDims } = rowsFromAxis(ctx, x);
  const statType = stashType(ctx);
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  const { mean, invStdDev } = normalizeRows(
    floatValues(ctx, x),
    rows,
    rowLength,
    ctx.float('epsilon', 1e-5),
    (v, i) => v * scale(i) + bias(i),
    y,
  );
  // The statistics outputs are optional; one the node does not ask for gets no memory.
  const statistic = (index: number, values: Float64Array) =>
    ctx.wantsOutput(index) ? ctx.outputFromNumbers(index, statType, values, statDims) : undefined;
  return [commitNumbers(out, y), statistic(1, mean), statistic(2, invStdDev)];
}

/**
 * GroupNormalization: each sample's channels split into num_groups groups, normalized group by
 * group. Opset 18 takes one scale and bias per group; opset 21 corrected that to one per channel.
 */
function groupNormalization(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  if (x.dims.length < 2) ctx.fail(`X must be [N, C, ...], got dims [${x.dims.join(', ')}]`);
  const groups = ctx.int('num_groups');
  const channels = x.dims[1]!;
  if (groups < 1 || channels % groups !== 0) {
    ctx.fail(`num_groups ${groups} does not divide ${channels} channels`);
  }
  const perChannel = ctx.opset >= 21;
  const paramCount = perChannel ? channels : groups;
  const scale = channelValues(ctx, ctx.input(1), paramCount, 'scale');
  const bias = channelValues(ctx, ctx.input(2), paramCount, 'bias');
  const rows = x.dims[0]! * groups;
  const rowLength = x.size / Math.max(rows, 1);
  const channelSize = rowLength / (channels / groups);
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  const affine = (v: number, i: number, r: number) => {
    const p = perChannel ? Math.floor(i / channelSize) % channels : r % groups;
    return v * scale[p]! + bias[p]!;
  };
  normalizeRows(floatValues(ctx, x), rows, rowLength, ctx.float('epsilon', 1e-5), affine, y);
  return commitNumbers(out, y);
}

/** RMSNormalization: x / sqrt(mean(x²) + epsilon) * scale, over the axes from `axis` on. */
function rmsNormalization(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const scale = broadcastValues(ctx, ctx.input(1), x.dims, 'scale');
  const { rows, rowLength } = rowsFromAxis(ctx, x);
  const epsilon = ctx.float('epsilon', 1e-5);
  const xs = floatValues(ctx, x);
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  for (let r = 0; r < rows; r++) {
    const start = r * rowLength;
    let squares = 0;
    for (let i = start; i < start + rowLength; i++) squares += xs[i]! ** 2;
    const inverseRms = 1 / Math.sqrt(squares / rowLength + epsilon);
    for (let i = start; i < start + rowLength; i++) y[i] = xs[i]! * inverseRms * scale(i);
  }
  return commitNumbers(out, y);
}

/**
 * MeanVarianceNormalization: (x - mean) / (std + 1e-9) with the statistics taken over `axes`
 * (default [0, 2, 3]), exactly as the operator's function body defines it.
 */
function meanVarianceNormalization(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const rank = x.dims.length;
  const axes = ctx.ints('axes', [0, 2, 3]).map((a) => normalizeAxis(a, rank, (reason) => ctx.fail(reason)));
  const reduced = x.dims.map((_, d) => axes.includes(d));
  // Each element's statistics slot: its flat index over the axes that are kept.
  const keptDims = x.dims.map((d, i) => (reduced[i] ? 1 : d));
  const keptStrides = stridesOf(keptDims).map((s, i) => (reduced[i] ? 0 : s));
  const slots = new Int32Array(x.size);
  const coords = new Array<number>(rank).fill(0);
  for (let i = 0, slot = 0; i < x.size; i++) {
    slots[i] = slot;
    for (let d = rank - 1; d >= 0; d--) {
      slot += keptStrides[d]!;
      if (++coords[d]! < x.dims[d]!) break;
      slot -= keptStrides[d]! * x.dims[d]!;
      coords[d] = 0;
    }
  }
  const xs = floatValues(ctx, x);
  const slotCount = shapeSize(keptDims);
  const count = x.size / Math.max(slotCount, 1);
  const mean = new Float64Array(slotCount);
  const variance = new Float64Array(slotCount);
  for (let i = 0; i < x.size; i++) mean[slots[i]!]! += xs[i]! / count;
  for (let i = 0; i < x.size; i++) variance[slots[i]!]! += (xs[i]! - mean[slots[i]!]!) ** 2 / count;
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  for (let i = 0; i < x.size; i++) {
    const slot = slots[i]!;
    y[i] = (xs[i]! - mean[slot]!) / (Math.sqrt(variance[slot]!) + 1e-9);
  }
  return commitNumbers(out, y);
}

/** LpNormalization: every lane along `axis` divided by its L1 or L2 norm (a zero lane stays zero). */
function lpNormalization(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  const axis = normalizeAxis(ctx.int('axis', -1), x.dims.length, (reason) => ctx.fail(reason));
  const p = ctx.int('p', 2);
  if (p !== 1 && p !== 2) ctx.fail(`p must be 1 or 2, got ${p}`);
  const xs = floatValues(ctx, x);
  const length = x.dims[axis]!;
  const inner = shapeSize(x.dims.slice(axis + 1));
  const outer = shapeSize(x.dims.slice(0, axis));
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const start = o * length * inner + j;
      let norm = 0;
      for (let k = 0; k < length; k++) {
        norm += p === 1 ? Math.abs(xs[start + k * inner]!) : xs[start + k * inner]! ** 2;
      }
      if (p === 2) norm = Math.sqrt(norm);
      for (let k = 0; k < length; k++) y[start + k * inner] = norm === 0 ? 0 : xs[start + k * inner]! / norm;
    }
  }
  return commitNumbers(out, y);
}

/** LRN: x / (bias + alpha / size * Σ x²)^beta, the sum over `size` neighbouring channels. */
function localResponseNormalization(ctx: KernelContext): Tensor {
  const x = ctx.input(0);
  if (x.dims.length < 2) ctx.fail(`X must be [N, C, ...], got dims [${x.dims.join(', ')}]`);
  const size = ctx.int('size');
  if (size < 1) ctx.fail(`size must be positive, got ${size}`);
  const alpha = ctx.float('alpha', 1e-4);
  const beta = ctx.float('beta', 0.75);
  const bias = ctx.float('bias', 1);
  const xs = floatValues(ctx, x);
  const channels = x.dims[1]!;
  const plane = shapeSize(x.dims.slice(2));
  const before = Math.floor((size - 1) / 2);
  const after = Math.ceil((size - 1) / 2);
  const out = ctx.output(0, x.type, x.dims);
  const y = numberSink(out);
  for (let n = 0; n < x.dims[0]!; n++) {
    for (let c = 0; c < channels; c++) {
      const first = Math.max(0, c - before);
      const last = Math.min(channels - 1, c + after);
      for (let s = 0; s < plane; s++) {
        let squares = 0;
        for (let k = first; k <= last; k++) squares += xs[(n * channels + k) * plane + s]! ** 2;
        const i = (n * channels + c) * plane + s;
        y[i] = xs[i]! / (bias + (alpha / size) * squares) ** beta;
      }
    }
  }
  return commitNumbers(out, y);
}

export const kernels: KernelDef[] = [
  { op: 'BatchNormalization', since: 1, run: batchNormalization },
  { op: 'InstanceNormalization', since: 1, run: (ctx) => [instanceNormalization(ctx)] },
  { op: 'LayerNormalization', since: 17, run: layerNormalization },
  { op: 'GroupNormalization', since: 18, run: (ctx) => [groupNormalization(ctx)] },
  { op: 'RMSNormalization', since: 23, run: (ctx) => [rmsNormalization(ctx)] },
  { op: 'MeanVarianceNormalization', since: 9, run: (ctx) => [meanVarianceNormalization(ctx)] },
  { op: 'LpNormalization', since: 1, run: (ctx) => [lpNormalization(ctx)] },
  { op: 'LRN', since: 1, run: (ctx) => [localResponseNormalization(ctx)] },
];
