/**
 * Matrix products: MatMul (numpy `matmul` semantics: 1-D operands are promoted to matrices and the
 * added axis removed again, leading batch axes broadcast) and Gemm (`alpha * A' * B' + beta * C` on
 * 2-D operands, with optional transposes and a C broadcast to the result). Floating-point products
 * accumulate in float64 and round once on output; integer products wrap as numpy's do.
 */

import { isBigIntType, type DataType } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { broadcastIndex, broadcastShapes, fromNumbers, shapeSize, toNumbers } from '../util.js';

const FLOAT_TYPES: ReadonlySet<DataType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const MATMUL_INT_TYPES: ReadonlySet<DataType> = new Set(['int32', 'uint32', 'int64', 'uint64']);

/** Where one matrix lies in flat storage: element (r, c) is at `offset + r * rowStride + c * colStride`. */
interface MatrixView {
  offset: number;
  rowStride: number;
  colStride: number;
}

/** out[outOffset + i * cols + j] += Σ_k a(i, k) * b(k, j), for an `rows` x `depth` by `depth` x `cols` product. */
function accumulateProduct(
  out: Float64Array,
  outOffset: number,
  a: ArrayLike<number>,
  aView: MatrixView,
  b: ArrayLike<number>,
  bView: MatrixView,
  rows: number,
  depth: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++) {
    const outRow = outOffset + i * cols;
    for (let k = 0; k < depth; k++) {
      const aik = a[aView.offset + i * aView.rowStride + k * aView.colStride]!;
      let bIndex = bView.offset + k * bView.rowStride;
      for (let j = 0; j < cols; j++, bIndex += bView.colStride) out[outRow + j]! += aik * b[bIndex]!;
    }
  }
}

/** The same product on 32-bit integers, wrapping modulo 2^32 at every step as int32 arithmetic does. */
function accumulateProductInt32(
  out: Int32Array,
  outOffset: number,
  a: Int32Array,
  aView: MatrixView,
  b: Int32Array,
  bView: MatrixView,
  rows: number,
  depth: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++) {
    const outRow = outOffset + i * cols;
    for (let k = 0; k < depth; k++) {
      const aik = a[aView.offset + i * aView.rowStride + k * aView.colStride]!;
      let bIndex = bView.offset + k * bView.rowStride;
      for (let j = 0; j < cols; j++, bIndex += bView.colStride) {
        out[outRow + j] = (out[outRow + j]! + Math.imul(aik, b[bIndex]!)) | 0;
      }
    }
  }
}

/** The same product on 64-bit integers, exact in BigInt and wrapped to 64 bits by the caller. */
function accumulateProductBigInt(
  out: bigint[],
  outOffset: number,
  a: ArrayLike<bigint>,
  aView: MatrixView,
  b: ArrayLike<bigint>,
  bView: MatrixView,
  rows: number,
  depth: number,
  cols: number,
): void {
  for (let i = 0; i < rows; i++) {
    const outRow = outOffset + i * cols;
    for (let k = 0; k < depth; k++) {
      const aik = a[aView.offset + i * aView.rowStride + k * aView.colStride]!;
      let bIndex = bView.offset + k * bView.rowStride;
      for (let j = 0; j < cols; j++, bIndex += bView.colStride) out[outRow + j]! += aik * b[bIndex]!;
    }
  }
}

/** The operands' shapes after numpy's 1-D promotion, and the shape of the result. */
interface MatMulShapes {
  aDims: number[];
  bDims: number[];
  batchDims: number[];
  rows: number;
  depth: number;
  cols: number;
  outDims: number[];
}

function matmulShapes(ctx: KernelContext, a: Tensor, b: Tensor): MatMulShapes {
  if (a.dims.length === 0 || b.dims.length === 0) {
    ctx.fail('MatMul operands must have at least one dimension');
  }
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : [...b.dims];
  const rows = aDims[aDims.length - 2]!;
  const depth = aDims[aDims.length - 1]!;
  const cols = bDims[bDims.length - 1]!;
  if (bDims[bDims.length - 2] !== depth) {
    ctx.fail(`cannot multiply matrices of dims [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
  }
  const batchDims = broadcastShapes([aDims.slice(0, -2), bDims.slice(0, -2)], (reason) => ctx.fail(reason));
  const outDims = [...batchDims];
  if (a.dims.length > 1) outDims.push(rows);
  if (b.dims.length > 1) outDims.push(cols);
  return { aDims, bDims, batchDims, rows, depth, cols, outDims };
}

function matmul(ctx: KernelContext): Tensor {
  const a = ctx.input(0);
  const b = ctx.input(1);
  if (a.type !== b.type) ctx.fail(`MatMul operands must have the same type, got ${a.type} and ${b.type}`);
  if (!FLOAT_TYPES.has(a.type) && !MATMUL_INT_TYPES.has(a.type)) {
    ctx.fail(`MatMul does not support ${a.type}`);
  }
  const shapes = matmulShapes(ctx, a, b);
  const { aDims, bDims, batchDims, rows, depth, cols, outDims } = shapes;
  const aBatch = broadcastIndex(aDims.slice(0, -2), batchDims);
  const bBatch = broadcastIndex(bDims.slice(0, -2), batchDims);
  const matrixSize = rows * cols;
  const total = aBatch.length * matrixSize;
  const forEachBatch = (
    multiply: (aView: MatrixView, bView: MatrixView, outOffset: number) => void,
  ): void => {
    for (let batch = 0; batch < aBatch.length; batch++) {
      const aView = { offset: aBatch[batch]! * rows * depth, rowStride: depth, colStride: 1 };
      const bView = { offset: bBatch[batch]! * depth * cols, rowStride: cols, colStride: 1 };
      multiply(aView, bView, batch * matrixSize);
    }
  };

  if (a.type === 'int32' || a.type === 'uint32') {
    // Reinterpreting uint32 bits as int32 leaves the low 32 bits of every product and sum unchanged.
    const asInt32 = (t: Tensor) => {
      const data = t.data as Int32Array | Uint32Array;
      return new Int32Array(data.buffer, data.byteOffset, t.size);
    };
    const out = new Int32Array(total);
    const aData = asInt32(a);
    const bData = asInt32(b);
    forEachBatch((aView, bView, o) =>
      accumulateProductInt32(out, o, aData, aView, bData, bView, rows, depth, cols),
    );
    const data = a.type === 'uint32' ? new Uint32Array(out.buffer) : out;
    return new Tensor(a.type, data, outDims);
  }
  if (isBigIntType(a.type)) {
    const out = new Array<bigint>(total).fill(0n);
    const aData = a.data as BigInt64Array;
    const bData = b.data as BigInt64Array;
    forEachBatch((aView, bView, o) =>
      accumulateProductBigInt(out, o, aData, aView, bData, bView, rows, depth, cols),
    );
    const data =
      a.type === 'int64'
        ? BigInt64Array.from(out, (v) => BigInt.asIntN(64, v))
        : BigUint64Array.from(out, (v) => BigInt.asUintN(64, v));
    return new Tensor(a.type, data, outDims);
  }
  const out = new Float64Array(total);
  const aData = toNumbers(a);
  const bData = toNumbers(b);
  forEachBatch((aView, bView, o) => accumulateProduct(out, o, aData, aView, bData, bView, rows, depth, cols));
  return fromNumbers(a.type, out, outDims);
}

const GEMM_TYPES: ReadonlySet<DataType> = new Set([...FLOAT_TYPES, ...MATMUL_INT_TYPES]);

/**
 * Integer Gemm computes in doubles (exact while the values stay below 2^53) because alpha and beta
 * are floats and the result is truncated back to the integer type anyway.
 */
function gemm(ctx: KernelContext): Tensor {
  const a = ctx.input(0);
  const b = ctx.input(1);
  // C became optional in opset 11; before it, a missing C is a malformed model.
  const c = ctx.opset >= 11 ? ctx.optionalInput(2) : ctx.input(2);
  if (a.dims.length !== 2 || b.dims.length !== 2) {
    ctx.fail(`Gemm needs 2-D A and B, got dims [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
  }
  if (a.type !== b.type || (c && c.type !== a.type)) ctx.fail('Gemm operands must all have the same type');
  if (!GEMM_TYPES.has(a.type)) ctx.fail(`Gemm does not support ${a.type}`);
  const transA = ctx.int('transA', 0) !== 0;
  const transB = ctx.int('transB', 0) !== 0;
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  const [rows, depth] = transA ? [a.dims[1]!, a.dims[0]!] : [a.dims[0]!, a.dims[1]!];
  const [bDepth, cols] = transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
  if (bDepth !== depth) {
    ctx.fail(`A' of dims [${rows}, ${depth}] cannot multiply B' of dims [${bDepth}, ${cols}]`);
  }
  const aView = transA
    ? { offset: 0, rowStride: 1, colStride: rows }
    : { offset: 0, rowStride: depth, colStride: 1 };
  const bView = transB
    ? { offset: 0, rowStride: 1, colStride: depth }
    : { offset: 0, rowStride: cols, colStride: 1 };
  const out = new Float64Array(rows * cols);
  accumulateProduct(out, 0, toNumbers(a), aView, toNumbers(b), bView, rows, depth, cols);
  for (let i = 0; i < out.length; i++) out[i]! *= alpha;
  if (c && beta !== 0) addScaledBias(ctx, out, c, beta, [rows, cols]);
  return fromNumbers(a.type, out, [rows, cols]);
}

/** out += beta * C, with C broadcast to the result (opsets before 7 broadcast only when asked). */
function addScaledBias(
  ctx: KernelContext,
  out: Float64Array,
  c: Tensor,
  beta: number,
  outDims: number[],
): void {
  const sameShape = c.dims.length === 2 && c.dims[0] === outDims[0] && c.dims[1] === outDims[1];
  if (ctx.opset < 7 && ctx.int('broadcast', 0) === 0 && !sameShape) {
    ctx.fail(`C of dims [${c.dims.join(', ')}] must be [${outDims.join(', ')}] unless broadcast is set`);
  }
  const target = broadcastShapes([c.dims, outDims], (reason) => ctx.fail(reason));
  if (target.length !== 2 || shapeSize(target) !== out.length) {
    ctx.fail(`C of dims [${c.dims.join(', ')}] does not broadcast to [${outDims.join(', ')}]`);
  }
  const cValues = toNumbers(c);
  const cIndex = broadcastIndex(c.dims, outDims);
  for (let i = 0; i < out.length; i++) out[i]! += beta * cValues[cIndex[i]!]!;
}

export const kernels: KernelDef[] = [
  { op: 'MatMul', since: 1, run: (ctx) => [matmul(ctx)] },
  { op: 'Gemm', since: 1, run: (ctx) => [gemm(ctx)] },
];
