/**
 * Heddle's fused transformer operators (domain com.heddle), which the fuse-transformer passes make
 * from the decomposed graphs exporters write: LayerNormalization (alone or after a residual Add),
 * RMSNormalization, Gelu and Attention. Each kernel computes what the subgraph it replaces
 * computed, numpy broadcasting of scale, bias and mask against the result included, so a fused
 * graph returns the same shapes as the unfused one; values are computed in float64 and rounded
 * once to the input's type.
 */

import type { TensorData } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import { HEDDLE_DOMAIN } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  broadcastIndex,
  broadcastShapes,
  floatSink,
  fromNumbers,
  newTensor,
  normalizeAxis,
  numbersToStorage,
  sameDims,
  shapeSize,
  toNumbers,
} from '../util.js';
import { outputAllocator, transposeTensor, type Allocate } from './shape.js';
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

/**
 * com.heddle::AddLayerNormalization(A, B, Scale?, Bias?) → (Y, Sum?): LayerNormalization of the
 * residual sum A + B (same dims, added in their type as Add does), the sum itself as output 1 for
 * the readers the Add had besides the LayerNormalization; attributes axis and epsilon.
 */
function addLayerNormalization(ctx: KernelContext): Tensor[] {
  const a = ctx.input(0);
  const b = ctx.input(1);
  requireFamily(ctx, a, 'float', 'A');
  requireFloatLike(ctx, b, a, 'B');
  if (!sameDims(a.dims, b.dims)) {
    ctx.fail(`A and B must have the same dims, got [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
  }
  const bs = toNumbers(b);
  const sums = Float64Array.from(toNumbers(a), (v, i) => v + bs[i]!);
  const sum = ctx.wantsOutput(1)
    ? ctx.outputFromNumbers(1, a.type, sums, a.dims)
    : fromNumbers(a.type, sums, a.dims);
  const y = affine(ctx, sum, normalizeRows(ctx, sum, true), ctx.optionalInput(2), ctx.optionalInput(3));
  return ctx.wantsOutput(1) ? [y, sum] : [y];
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
 *
 * qkv_layout 'BSNH' (the default is 'BNSH', heads first) takes Q, K and V as [batch, sequence,
 * heads, depth], the layout a projection's output has before the heads are split off, K as key
 * rows (transpose_k 1), and gives the output as [batch, queries, heads, Dv]; the mask still
 * broadcasts against the scores [batch, heads, queries, keys]. With packed_heads H as well, input 0
 * alone is [batch, sequence, 3·H·D]: Q, K and V side by side along its last axis (a fused QKV
 * projection), inputs 1 and 2 empty.
 */
function attention(ctx: KernelContext): Tensor[] {
  const layout = ctx.string('qkv_layout', 'BNSH');
  if (layout !== 'BNSH' && layout !== 'BSNH')
    ctx.fail(`qkv_layout must be 'BNSH' or 'BSNH', got '${layout}'`);
  if (layout === 'BNSH') return [attentionHeadsFirst(ctx, ctx.input(0), ctx.input(1), ctx.input(2))];
  if (ctx.int('transpose_k', 0) === 0)
    ctx.fail(`qkv_layout 'BSNH' takes K as key rows: transpose_k must be 1`);
  const [q, k, v] = headsFirstOperands(ctx);
  const out = attentionHeadsFirst(ctx, q!, k!, v!, newTensor);
  return [transposeTensor(out, HEADS_SWAP, outputAllocator(ctx))];
}

/** [batch, sequence, heads, depth] ↔ [batch, heads, sequence, depth]. */
const HEADS_SWAP = [0, 2, 1, 3];

/** Q, K and V of a 'BSNH' node, made heads first: its three inputs, or the thirds of its packed input. */
function headsFirstOperands(ctx: KernelContext): Tensor[] {
  const heads = ctx.int('packed_heads', 0);
  if (heads === 0) {
    const operands = [ctx.input(0), ctx.input(1), ctx.input(2)];
    operands.forEach((t, i) => {
      if (t.dims.length !== 4)
        ctx.fail(`'BSNH' operand ${i} must have rank 4, got dims [${t.dims.join(', ')}]`);
    });
    return operands.map((t) => transposeTensor(t, HEADS_SWAP));
  }
  const packed = ctx.input(0);
  const [batch, sequence, width] = packed.dims as [number, number, number];
  if (packed.dims.length !== 3 || heads < 0 || width % (3 * heads) !== 0) {
    ctx.fail(`a packed QKV input of dims [${packed.dims.join(', ')}] does not split into 3 × ${heads} heads`);
  }
  const depth = width / (3 * heads);
  // [B, S, 3·H·D] read as [B, S, 3, H, D] and moved to [3, B, H, S, D]: Q, K and V, heads first,
  // are consecutive blocks of one copy.
  const thirds = transposeTensor(
    new Tensor(packed.type, packed.data, [batch, sequence, 3, heads, depth]),
    [2, 0, 3, 1, 4],
  );
  const size = batch * heads * sequence * depth;
  const data = thirds.data as Exclude<TensorData, string[]>;
  return [0, 1, 2].map(
    (i) => new Tensor(packed.type, data.subarray(i * size, (i + 1) * size), [batch, heads, sequence, depth]),
  );
}

/** Attention over heads-first operands (see `attention`); the result made by `allocate`. */
function attentionHeadsFirst(
  ctx: KernelContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  allocate: Allocate = outputAllocator(ctx),
): Tensor {
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
  const result = allocate(q.type, out.dims);
  numbersToStorage(q.type, out.values, result.data);
  return result;
}

export const kernels: KernelDef[] = [
  { domain: HEDDLE_DOMAIN, op: 'LayerNormalization', since: 1, run: layerNormalization },
  { domain: HEDDLE_DOMAIN, op: 'AddLayerNormalization', since: 1, run: addLayerNormalization },
  { domain: HEDDLE_DOMAIN, op: 'RMSNormalization', since: 1, run: rmsNormalization },
  { domain: HEDDLE_DOMAIN, op: 'Gelu', since: 1, run: gelu },
  { domain: HEDDLE_DOMAIN, op: 'Attention', since: 1, run: attention },
];
