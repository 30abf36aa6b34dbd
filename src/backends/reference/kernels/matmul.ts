/**
 * Matrix products: MatMul (numpy `matmul` semantics: 1-D operands are promoted to matrices and the
 * added axis removed again, leading batch axes broadcast) and Gemm (`alpha * A' * B' + beta * C` on
 * 2-D operands, with optional transposes and a C broadcast to the result). Floating-point products
 * accumulate each output row in float64 and round once as it is stored; integer products wrap as
 * numpy's do. Results are written straight into the kernel's output memory.
 */

import { isBigIntType, type DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { broadcastIndex, broadcastShapes, floatSink, toNumbers } from '../util.js';

const FLOAT_TYPES: ReadonlySet<DataType> = new Set(['float32', 'float64', 'float16', 'bfloat16']);
const MATMUL_INT_TYPES: ReadonlySet<DataType> = new Set(['int32', 'uint32', 'int64', 'uint64']);

/** Where one matrix lies in flat storage: element (r, c) is at `offset + r * rowStride + c * colStride`. */
interface MatrixView {
  offset: number;
  rowStride: number;
  colStride: number;
}

/** How many rows of a float product are summed together. */
const ROW_BLOCK = 4;

/** Sums of a float product's rows, one float64 array (`cols` long) per row of a block. */
type RowSums = readonly Float64Array[];

function rowSums(cols: number): RowSums {
  return Array.from({ length: ROW_BLOCK }, () => new Float64Array(cols));
}

/**
 * Computes every row i of an `rows` x `depth` by `depth` x `cols` product, Σ_k a(i, k) * b(k, j),
 * in float64 (in `sums`) and hands it to `store` before the array holding it is reused. Rows are
 * summed ROW_BLOCK at a time, so each element of b read serves the whole block; a block that runs
 * past the last row fills up with zero rows, and a lone row takes a single-row loop.
 */
function multiplyRows(
  a: ArrayLike<number>,
  aView: MatrixView,
  b: ArrayLike<number>,
  bView: MatrixView,
  rows: number,
  depth: number,
  cols: number,
  sums: RowSums,
  store: (i: number, sums: Float64Array) => void,
): void {
  const factors = new Float64Array(ROW_BLOCK);
  for (let first = 0; first < rows; first += ROW_BLOCK) {
    const count = Math.min(ROW_BLOCK, rows - first);
    for (const row of sums) row.fill(0);
    for (let k = 0; k < depth; k++) {
      for (let q = 0; q < ROW_BLOCK; q++) {
        factors[q] = q < count ? a[aView.offset + (first + q) * aView.rowStride + k * aView.colStride]! : 0;
      }
      const bStart = bView.offset + k * bView.rowStride;
      if (count === 1) accumulateRow(sums[0]!, factors[0]!, b, bStart, bView.colStride, cols);
      else accumulateRowBlock(sums, factors, b, bStart, bView.colStride, cols);
    }
    for (let q = 0; q < count; q++) store(first + q, sums[q]!);
  }
}

/** sums[j] += factor * b[bStart + j * bStep] for every column j. */
function accumulateRow(
  sums: Float64Array,
  factor: number,
  b: ArrayLike<number>,
  bStart: number,
  bStep: number,
  cols: number,
): void {
  for (let j = 0, bIndex = bStart; j < cols; j++, bIndex += bStep) sums[j]! += factor * b[bIndex]!;
}

/** `accumulateRow` for a block of ROW_BLOCK rows, each element of b read once for all of them. */
function accumulateRowBlock(
  sums: RowSums,
  factors: Float64Array,
  b: ArrayLike<number>,
  bStart: number,
  bStep: number,
  cols: number,
): void {
  const [sums0, sums1, sums2, sums3] = sums as [Float64Array, Float64Array, Float64Array, Float64Array];
  const [factor0, factor1, factor2, factor3] = factors as unknown as [number, number, number, number];
  for (let j = 0, bIndex = bStart; j < cols; j++, bIndex += bStep) {
    const value = b[bIndex]!;
    sums0[j]! += factor0 * value;
    sums1[j]! += factor1 * value;
    sums2[j]! += factor2 * value;
    sums3[j]! += factor3 * value;
  }
}

/**
 * out[outOffset + i * cols + j] = Σ_k a(i, k) * b(k, j) on 32-bit integers, wrapping as int32
 * arithmetic does.
 */
function multiplyInt32(
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
  out.fill(0, outOffset, outOffset + rows * cols);
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

/**
 * The same product on 64-bit integers, summed exactly in BigInt; storing into the 64-bit output
 * wraps the sum as int64 (or uint64) arithmetic would.
 */
function multiplyBigInt(
  out: BigInt64Array | BigUint64Array,
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
    for (let j = 0; j < cols; j++) {
      let sum = 0n;
      for (let k = 0; k < depth; k++) {
        const aik = a[aView.offset + i * aView.rowStride + k * aView.colStride]!;
        sum += aik * b[bView.offset + k * bView.rowStride + j * bView.colStride]!;
      }
      out[outOffset + i * cols + j] = sum;
    }
  }
}

/** The operands' shapes after numpy's 1-D promotion, and the shape of the result. */
export interface MatMulShapes {
  aDims: number[];
  bDims: number[];
  batchDims: number[];
  rows: number;
  depth: number;
  cols: number;
  outDims: number[];
}

/**
 * numpy's matmul shapes (the Gradient rule of MatMul takes them too): a 1-D A is a row, a 1-D B a
 * column, and the batch dims broadcast.
 */
export function matmulShapes(
  a: { dims: readonly number[] },
  b: { dims: readonly number[] },
  fail: (reason: string) => never,
): MatMulShapes {
  if (a.dims.length === 0 || b.dims.length === 0) fail('MatMul operands must have at least one dimension');
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : [...a.dims];
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : [...b.dims];
  const rows = aDims[aDims.length - 2]!;
  const depth = aDims[aDims.length - 1]!;
  const cols = bDims[bDims.length - 1]!;
  if (bDims[bDims.length - 2] !== depth) {
    fail(`cannot multiply matrices of dims [${a.dims.join(', ')}] and [${b.dims.join(', ')}]`);
  }
  const batchDims = broadcastShapes([aDims.slice(0, -2), bDims.slice(0, -2)], fail);
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
  const shapes = matmulShapes(a, b, ctx.fail.bind(ctx));
  const { aDims, bDims, batchDims, rows, depth, cols, outDims } = shapes;
  const aBatch = broadcastIndex(aDims.slice(0, -2), batchDims);
  const bBatch = broadcastIndex(bDims.slice(0, -2), batchDims);
  const matrixSize = rows * cols;
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
    const asInt32 = (data: Int32Array | Uint32Array) =>
      new Int32Array(data.buffer, data.byteOffset, data.length);
    const out = ctx.output(0, a.type, outDims);
    const outData = asInt32(out.data as Int32Array);
    const aData = asInt32(a.data as Int32Array);
    const bData = asInt32(b.data as Int32Array);
    forEachBatch((aView, bView, o) =>
      multiplyInt32(outData, o, aData, aView, bData, bView, rows, depth, cols),
    );
    return out;
  }
  if (isBigIntType(a.type)) {
    const out = ctx.output(0, a.type, outDims);
    const outData = out.data as BigInt64Array;
    const aData = a.data as BigInt64Array;
    const bData = b.data as BigInt64Array;
    forEachBatch((aView, bView, o) =>
      multiplyBigInt(outData, o, aData, aView, bData, bView, rows, depth, cols),
    );
    return out;
  }
  const aData = toNumbers(a);
  const bData = toNumbers(b);
  const sums = rowSums(cols);
  const { values, finish } = floatSink(ctx.output(0, a.type, outDims));
  forEachBatch((aView, bView, o) =>
    multiplyRows(aData, aView, bData, bView, rows, depth, cols, sums, (i, row) =>
      values.set(row, o + i * cols),
    ),
  );
  return finish();
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
  const bias = c && beta !== 0 ? scaledBias(ctx, c, beta, [rows, cols]) : undefined;
  const aData = toNumbers(a);
  const bData = toNumbers(b);
  const { values, finish } = floatSink(ctx.output(0, a.type, [rows, cols]));
  multiplyRows(aData, aView, bData, bView, rows, depth, cols, rowSums(cols), (i, row) => {
    const rowStart = i * cols;
    for (let j = 0; j < cols; j++) values[rowStart + j] = alpha * row[j]! + (bias ? bias(i, j) : 0);
  });
  return finish();
}

/**
 * beta * C at row i, column j of the result, C broadcast to it (opsets before 7 broadcast only
 * when asked).
 */
function scaledBias(
  ctx: KernelContext,
  c: Tensor,
  beta: number,
  outDims: [number, number],
): (i: number, j: number) => number {
  const sameShape = c.dims.length === 2 && c.dims[0] === outDims[0] && c.dims[1] === outDims[1];
  if (ctx.opset < 7 && ctx.int('broadcast', 0) === 0 && !sameShape) {
    ctx.fail(`C of dims [${c.dims.join(', ')}] must be [${outDims.join(', ')}] unless broadcast is set`);
  }
  const target = broadcastShapes([c.dims, outDims], (reason) => ctx.fail(reason));
  if (target.length !== 2 || target[0] !== outDims[0] || target[1] !== outDims[1]) {
    ctx.fail(`C of dims [${c.dims.join(', ')}] does not broadcast to [${outDims.join(', ')}]`);
  }
  const [cRows, cCols] = [1, 1, ...c.dims].slice(-2) as [number, number];
  const rowStride = cRows === 1 ? 0 : cCols;
  const colStride = cCols === 1 ? 0 : 1;
  const cValues = toNumbers(c);
  return (i, j) => beta * cValues[i * rowStride + j * colStride]!;
}

export const kernels: KernelDef[] = [
  { op: 'MatMul', since: 1, run: (ctx) => [matmul(ctx)] },
  { op: 'Gemm', since: 1, run: (ctx) => [gemm(ctx)] },
];
