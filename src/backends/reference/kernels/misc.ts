/**
 * Operators that belong to no larger family: Dropout (identity at inference, random masking in
 * training mode), Det (determinants of square matrices) and NonMaxSuppression (greedy selection
 * of boxes by score and overlap).
 */

import { isFloatType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { seededRandom } from '../../../core/random.js';
import { readInts, scalarNumber, shapeSize, toNumbers } from '../util.js';

/**
 * Training mode comes from the `training_mode` input (opset 12+). Earlier opsets describe training
 * only through `is_test` (opsets 1-6, default 0 = training) or leave it to the runtime (7-11); as
 * the other runtimes do, those run as inference, since that is what a served model is doing.
 */
function dropoutTraining(ctx: KernelContext): boolean {
  if (ctx.opset < 12) return false;
  const trainingMode = ctx.optionalInput(2);
  return trainingMode !== undefined && scalarNumber(trainingMode) !== 0;
}

function dropoutRatio(ctx: KernelContext): number {
  const ratioInput = ctx.opset >= 12 ? ctx.optionalInput(1) : undefined;
  return ratioInput ? scalarNumber(ratioInput) : ctx.float('ratio', 0.5);
}

/** The mask output of kept elements (1) and dropped ones (0): bool from opset 10, the input's type before. */
function maskOutput(ctx: KernelContext, x: Tensor, kept: ArrayLike<number>): Tensor {
  return ctx.outputFromNumbers(1, ctx.opset >= 10 ? 'bool' : x.type, kept, x.dims);
}

/**
 * Outside training Dropout is the identity; the output is a copy of X (not X itself) because the
 * memory plan gives it a place of its own.
 */
function dropout(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  if (!isFloatType(x.type)) ctx.fail(`Dropout takes float tensors, got ${x.type}`);
  const ratio = dropoutRatio(ctx);
  if (!dropoutTraining(ctx) || ratio === 0) {
    const y = ctx.output(0, x.type, x.dims);
    (y.data as Float32Array).set(x.data as Float32Array);
    const outputs = [y];
    if (ctx.wantsOutput(1)) outputs.push(maskOutput(ctx, x, new Uint8Array(x.size).fill(1)));
    return outputs;
  }
  if (!(ratio >= 0 && ratio < 1)) ctx.fail(`ratio must be in [0, 1) in training mode, got ${ratio}`);
  const uniform = ctx.has('seed') ? seededRandom(ctx.int('seed')) : Math.random;
  const values = toNumbers(x);
  const kept = new Uint8Array(x.size);
  const out = new Float64Array(x.size);
  const scale = 1 / (1 - ratio);
  for (let i = 0; i < x.size; i++) {
    kept[i] = uniform() >= ratio ? 1 : 0;
    out[i] = kept[i] ? values[i]! * scale : 0;
  }
  const outputs = [ctx.outputFromNumbers(0, x.type, out, x.dims)];
  if (ctx.wantsOutput(1)) outputs.push(maskOutput(ctx, x, kept));
  return outputs;
}

/** Determinant of the n×n matrix at `offset`, by LU decomposition with partial pivoting. */
function determinant(values: ArrayLike<number>, offset: number, n: number): number {
  const a = Float64Array.from({ length: n * n }, (_, i) => values[offset + i]!);
  let det = 1;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++)
      if (Math.abs(a[r * n + col]!) > Math.abs(a[pivot * n + col]!)) pivot = r;
    if (a[pivot * n + col] === 0) return 0;
    if (pivot !== col) {
      for (let c = 0; c < n; c++) [a[col * n + c], a[pivot * n + c]] = [a[pivot * n + c]!, a[col * n + c]!];
      det = -det;
    }
    const p = a[col * n + col]!;
    det *= p;
    for (let r = col + 1; r < n; r++) {
      const factor = a[r * n + col]! / p;
      for (let c = col + 1; c < n; c++) a[r * n + c]! -= factor * a[col * n + c]!;
    }
  }
  return det;
}

function det(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  if (!isFloatType(x.type)) ctx.fail(`Det takes float tensors, got ${x.type}`);
  const rank = x.dims.length;
  const n = x.dims[rank - 1]!;
  if (rank < 2 || x.dims[rank - 2] !== n)
    ctx.fail(`Det needs square matrices [..., M, M], got [${x.dims.join(', ')}]`);
  const batchDims = x.dims.slice(0, -2);
  const values = toNumbers(x);
  const out = Float64Array.from({ length: shapeSize(batchDims) }, (_, b) =>
    determinant(values, b * n * n, n),
  );
  return [ctx.outputFromNumbers(0, x.type, out, batchDims)];
}

/** A box as its corners, whichever order the model gave them in. */
interface Corners {
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

function boxCorners(boxes: ArrayLike<number>, at: number, centerPointBox: boolean): Corners {
  const [a, b, c, d] = [boxes[at]!, boxes[at + 1]!, boxes[at + 2]!, boxes[at + 3]!];
  if (centerPointBox) return { xMin: a - c / 2, xMax: a + c / 2, yMin: b - d / 2, yMax: b + d / 2 };
  return { xMin: Math.min(b, d), xMax: Math.max(b, d), yMin: Math.min(a, c), yMax: Math.max(a, c) };
}

/** Intersection over union; 0 for boxes that do not overlap or have no area. */
function intersectionOverUnion(p: Corners, q: Corners): number {
  const width = Math.min(p.xMax, q.xMax) - Math.max(p.xMin, q.xMin);
  const height = Math.min(p.yMax, q.yMax) - Math.max(p.yMin, q.yMin);
  if (width <= 0 || height <= 0) return 0;
  const intersection = width * height;
  const areaP = (p.xMax - p.xMin) * (p.yMax - p.yMin);
  const areaQ = (q.xMax - q.xMin) * (q.yMax - q.yMin);
  const union = areaP + areaQ - intersection;
  if (areaP <= 0 || areaQ <= 0 || union <= 0) return 0;
  return intersection / union;
}

function optionalScalar(ctx: KernelContext, index: number): number | undefined {
  const t = ctx.optionalInput(index);
  return t && t.size > 0 ? scalarNumber(t) : undefined;
}

function nonMaxSuppression(ctx: KernelContext): Tensor[] {
  const boxes = ctx.input(0);
  const scores = ctx.input(1);
  if (boxes.dims.length !== 3 || boxes.dims[2] !== 4) {
    ctx.fail(`boxes must be [batches, boxes, 4], got [${boxes.dims.join(', ')}]`);
  }
  const [batches, boxCount] = boxes.dims as [number, number];
  if (scores.dims.length !== 3 || scores.dims[0] !== batches || scores.dims[2] !== boxCount) {
    ctx.fail(`scores must be [${batches}, classes, ${boxCount}], got [${scores.dims.join(', ')}]`);
  }
  const classes = scores.dims[1]!;
  const maxInput = ctx.optionalInput(2);
  const maxPerClass = maxInput && maxInput.size > 0 ? Math.max(readInts(maxInput)[0]!, 0) : 0;
  const iouThreshold = optionalScalar(ctx, 3) ?? 0;
  const scoreThreshold = optionalScalar(ctx, 4);
  const centerPointBox = ctx.int('center_point_box', 0) !== 0;
  const boxValues = toNumbers(boxes);
  const scoreValues = toNumbers(scores);
  const selected: number[] = [];
  for (let b = 0; b < batches; b++) {
    const corners = Array.from({ length: boxCount }, (_, i) =>
      boxCorners(boxValues, (b * boxCount + i) * 4, centerPointBox),
    );
    for (let c = 0; c < classes; c++) {
      const scoreAt = (b * classes + c) * boxCount;
      const candidates = Array.from({ length: boxCount }, (_, i) => i)
        .filter((i) => scoreThreshold === undefined || scoreValues[scoreAt + i]! > scoreThreshold)
        .sort((i, j) => scoreValues[scoreAt + j]! - scoreValues[scoreAt + i]! || i - j);
      const kept: number[] = [];
      for (const i of candidates) {
        if (kept.length >= maxPerClass) break;
        if (kept.every((k) => intersectionOverUnion(corners[i]!, corners[k]!) <= iouThreshold)) {
          kept.push(i);
          selected.push(b, c, i);
        }
      }
    }
  }
  return [ctx.outputFromNumbers(0, 'int64', selected, [selected.length / 3, 3])];
}

export const kernels: KernelDef[] = [
  { op: 'Dropout', since: 1, run: dropout },
  { op: 'Det', since: 11, run: det },
  { op: 'NonMaxSuppression', since: 10, run: nonMaxSuppression },
];
