/**
 * Heddle's fused transformer operators (domain com.heddle), which the fuse-transformer passes make
 * from the decomposed graphs exporters write: LayerNormalization, RMSNormalization, Gelu and
 * Attention. Each kernel computes what the subgraph it replaces computed, numpy broadcasting of
 * scale, bias and mask against the result included, so a fused graph returns the same shapes as
 * the unfused one; values are computed in float64 and rounded once to the input's type.
 */

import type { Tensor } from '../../../core/tensor.js';
import { HEDDLE_DOMAIN } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { broadcastIndex, broadcastShapes, floatSink, normalizeAxis, shapeSize, toNumbers } from '../util.js';
import { softmaxLane } from './softmax.js';
import { erf, mapUnary, requireFamily } from './unary.js';

/** √(2/π), the tanh approximation's scale. */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Fails unless `t` is a float tensor of the same type as the node's first input. */
function requireFloatLike(ctx: KernelContext, t: Tensor, first: Tensor, what: string): void {
  requireFamily(ctx, t, 'float', what);
  if (t.type !== first.type) ctx.fail(`${what} has type ${t.type}, expected ${first.type} as the input's`);
}

/**
 * Normalizes `x` over the axes from `axis` on: each row divided by sqrt(mean of squares + epsilon).
 * With `centre` (LayerNormalization) the row is first shifted to mean 0; RMSNormalization is not.
 */
function normalizeRows(ctx: KernelContext, x: Tensor, centre: boolean): Float64Array {
  const axis = normalizeAxis(ctx.int('axis', -1), x.dims.length, (reason) => ctx.fail(reason));
  const rowLength = shapeSize(x.dims.slice(axis));
  const rows = shapeSize(x.dims.slice(0, axis));
  const epsilon = ctx.float('epsilon', 1e-5);
  const xs = toNumbers(x);
  const out = new Float64Array(x.size);
  for (let r = 0; r < rows; r++) {
    const start = r * rowLength;
    let mean = 0;
    if (centre) {
      for (let i = start; i < start + rowLength; i++) mean += xs[i]!;
      mean /= rowLength;
    }
    let squares = 0;
    for (let i = start; i < start + rowLength; i++) squares += (xs[i]! - mean) ** 2;
    const inverseDeviation = 1 / Math.sqrt(squares / rowLength + epsilon);
    for (let i = start; i < start + rowLength; i++) out[i] = (xs[i]! - mean) * inverseDeviation;
  }
  return out;
}

/**
 * normalized * scale + bias, each broadcast numpy-style (both ways, as the Mul and Add the fusion
 * replaced did); an absent scale or bias is left out.
 */
function affine(
  ctx: KernelContext,
  x: Tensor,
  normalized: Float64Array,
  scale: Tensor | undefined,
  bias: Tensor | undefined,
): Tensor {
  const params = [scale, bias].filter((t): t is Tensor => t !== undefined);
  params.forEach((t) => requireFloatLike(ctx, t, x, t === scale ? 'scale' : 'bias'));
  const dims = broadcastShapes([x.dims, ...params.map((t) => t.dims)], (reason) => ctx.fail(reason));
  const xIndex = broadcastIndex(x.dims, dims);
  const term = (t: Tensor | undefined, absent: number): ((i: number) => number) => {
    if (!t) return () => absent;
    const values = toNumbers(t);
    const index = broadcastIndex(t.dims, dims);
    return (i) => values[index[i]!]!;
  };
  const scaleAt = term(scale, 1);
  const biasAt = term(bias, 0);
  const out = floatSink(ctx.output(0, x.type, dims));
  for (let i = 0; i < out.values.length; i++)
    out.values[i] = normalized[xIndex[i]!]! * scaleAt(i) + biasAt(i);
  return out.finish();
}

/** com.heddle::LayerNormalization(X, Scale?, B?), attributes axis and epsilon. */
function layerNormalization(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'float', 'X');
  return [affine(ctx, x, normalizeRows(ctx, x, true), ctx.optionalInput(1), ctx.optionalInput(2))];
}

/** com.heddle::RMSNormalization(X, Scale?), attributes axis and epsilon. */
function rmsNormalization(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'float', 'X');
  return [affine(ctx, x, normalizeRows(ctx, x, false), ctx.optionalInput(1), undefined)];
}

/** com.heddle::Gelu(X), attribute approximate: 'none' (the erf form) or 'tanh'. */
function gelu(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  requireFamily(ctx, x, 'float', 'X');
  const approximate = ctx.string('approximate', 'none');
  const out = ctx.output(0, x.type, x.dims);
  if (approximate === 'none')
    return [mapUnary(x, x.type, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)), undefined, out)];
  if (approximate === 'tanh') {
    const tanhForm = (v: number) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
    return [mapUnary(x, x.type, tanhForm, undefined, out)];
  }
  ctx.fail(`approximate must be 'none' or 'tanh', got '${approximate}'`);
}

/**
 * A stack of matrices in row-major storage; with `transposed` each stored [.., n, m] matrix is
 * read as its [.., m, n] transpose, so K need not be copied to be multiplied as Kᵀ.
 */
interface MatrixStack {
  values: ArrayLike<number>;
  dims: readonly number[];
  transposed: boolean;
}

function matrixShape(stack: MatrixStack): { rows: number; cols: number } {
  const [first, second] = stack.dims.slice(-2) as [number, number];
  return stack.transposed ? { rows: second, cols: first } : { rows: first, cols: second };
}

/** a · b over broadcast batch dims, as MatMul does for operands of rank 2 or more. */
function batchedProduct(
  ctx: KernelContext,
  a: MatrixStack,
  b: MatrixStack,
): { values: Float64Array; dims: number[] } {
  const { rows, cols: depth } = matrixShape(a);
  const { rows: bDepth, cols } = matrixShape(b);
  if (bDepth !== depth) {
    ctx.fail(`cannot multiply matrices of dims [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
  }
  const aBatchDims = a.dims.slice(0, -2);
  const bBatchDims = b.dims.slice(0, -2);
  const batchDims = broadcastShapes([aBatchDims, bBatchDims], (reason) => ctx.fail(reason));
  const aBatch = broadcastIndex(aBatchDims, batchDims);
  const bBatch = broadcastIndex(bBatchDims, batchDims);
  const strides = (stack: MatrixStack, width: number) =>
    stack.transposed ? { row: 1, col: width } : { row: width, col: 1 };
  const aStride = strides(a, a.transposed ? rows : depth);
  const bStride = strides(b, b.transposed ? depth : cols);
  const out = new Float64Array(aBatch.length * rows * cols);
  for (let batch = 0; batch < aBatch.length; batch++) {
    const aOffset = aBatch[batch]! * rows * depth;
    const bOffset = bBatch[batch]! * depth * cols;
    const outOffset = batch * rows * cols;
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < depth; k++) {
        const aik = a.values[aOffset + i * aStride.row + k * aStride.col]!;
        const bRow = bOffset + k * bStride.row;
        for (let j = 0; j < cols; j++)
          out[outOffset + i * cols + j]! += aik * b.values[bRow + j * bStride.col]!;
      }
    }
  }
  return { values: out, dims: [...batchDims, rows, cols] };
}

/**
 * Combines the scores with the mask, broadcast both ways with them as Add and Where do (the
 * result may be larger than either): `combine` gets a score and the mask's value there.
 */
function applyMask(
  scores: { values: Float64Array; dims: number[] },
  mask: Tensor,
  combine: (score: number, mask: number) => number,
  fail: (reason: string) => never,
): { values: Float64Array; dims: number[] } {
  const dims = broadcastShapes([scores.dims, mask.dims], fail);
  const scoreIndex = broadcastIndex(scores.dims, dims);
  const maskIndex = broadcastIndex(mask.dims, dims);
  const maskValues = toNumbers(mask);
  const values = new Float64Array(shapeSize(dims));
  for (let i = 0; i < values.length; i++)
    values[i] = combine(scores.values[scoreIndex[i]!]!, maskValues[maskIndex[i]!]!);
  return { values, dims };
}

/**
 * How the mask meets the scores: 'add' adds it (a float mask of the scores' type); 'select' keeps
 * the score where the bool mask is true and puts `mask_fill` elsewhere, as the Where it replaces
 * did: unlike adding -Infinity, a masked +Infinity or NaN score becomes the fill value.
 */
function maskCombiner(ctx: KernelContext, mask: Tensor, q: Tensor): (score: number, mask: number) => number {
  const mode = ctx.string('mask_mode', 'add');
  if (mode === 'add') {
    requireFloatLike(ctx, mask, q, 'mask');
    return (score, m) => score + m;
  }
  if (mode !== 'select') ctx.fail(`mask_mode must be 'add' or 'select', got '${mode}'`);
  if (mask.type !== 'bool') ctx.fail(`a 'select' mask must be bool, got ${mask.type}`);
  const fill = ctx.float('mask_fill', -Infinity);
  return (score, keep) => (keep !== 0 ? score : fill);
}

/** Softmax of each row (the last axis) in place, shifted by the row's maximum; a NaN spreads over its row. */
function softmaxRows(values: Float64Array, rowLength: number): void {
  for (let start = 0; start < values.length; start += rowLength) {
    softmaxLane(values.subarray(start, start + rowLength));
  }
}

/**
 * com.heddle::Attention(Q, K, V, mask?): softmax(Q · K' · scale + mask) · V over the last axis,
 * where K' is K with its last two axes swapped when transpose_k is 1 and K itself when 0. With
 * mask_mode 'select' the mask is a bool "keep" mask instead: softmax(where(mask, Q · K' · scale,
 * mask_fill)) · V. Batch and head axes broadcast as MatMul's and Add's do; Q, K and V have rank 2
 * or more.
 */
function attention(ctx: KernelContext): Tensor[] {
  const q = ctx.input(0);
  const k = ctx.input(1);
  const v = ctx.input(2);
  const mask = ctx.optionalInput(3);
  requireFamily(ctx, q, 'float', 'Q');
  requireFloatLike(ctx, k, q, 'K');
  requireFloatLike(ctx, v, q, 'V');
  const masking = mask && { mask, combine: maskCombiner(ctx, mask, q) };
  for (const [t, name] of [
    [q, 'Q'],
    [k, 'K'],
    [v, 'V'],
  ] as const) {
    if (t.dims.length < 2) ctx.fail(`${name} must have rank 2 or more, got dims [${t.dims.join(', ')}]`);
  }
  const scale = ctx.float('scale');
  const fail = (reason: string) => ctx.fail(reason);
  const product = batchedProduct(
    ctx,
    { values: toNumbers(q), dims: q.dims, transposed: false },
    { values: toNumbers(k), dims: k.dims, transposed: ctx.int('transpose_k', 0) !== 0 },
  );
  for (let i = 0; i < product.values.length; i++) product.values[i]! *= scale;
  const scores = masking ? applyMask(product, masking.mask, masking.combine, fail) : product;
  softmaxRows(scores.values, scores.dims[scores.dims.length - 1]!);
  const out = batchedProduct(
    ctx,
    { values: scores.values, dims: scores.dims, transposed: false },
    { values: toNumbers(v), dims: v.dims, transposed: false },
  );
  return [ctx.outputFromNumbers(0, q.type, out.values, out.dims)];
}

export const kernels: KernelDef[] = [
  { domain: HEDDLE_DOMAIN, op: 'LayerNormalization', since: 1, run: layerNormalization },
  { domain: HEDDLE_DOMAIN, op: 'RMSNormalization', since: 1, run: rmsNormalization },
  { domain: HEDDLE_DOMAIN, op: 'Gelu', since: 1, run: gelu },
  { domain: HEDDLE_DOMAIN, op: 'Attention', since: 1, run: attention },
];
