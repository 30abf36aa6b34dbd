/**
 * Linear quantization: QuantizeLinear and DequantizeLinear (per tensor, per axis and blocked, to
 * and from the 16-, 8-, 4- and 2-bit integers and the float8/float4 formats), DynamicQuantizeLinear,
 * and the integer matrix products MatMulInteger and QLinearMatMul.
 *
 * Arithmetic follows ONNX's numpy reference: a quotient x / scale is rounded to the precision of
 * its operands before it is rounded half to even onto the integer grid, so that results match the
 * expected data bit for bit.
 */

import { dataTypeFromOnnx, integerRange, isIntegerType, type DataType } from '../../../core/dtype.js';
import { NON_SATURATING_ENCODERS } from '../../../core/float-formats.js';
import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import {
  broadcastIndex,
  broadcastShapes,
  commitNumbers,
  narrowDecoder,
  narrowEncoder,
  newTensor,
  normalizeAxis,
  numberSink,
  shapeSize,
  stridesOf,
  toNumbers,
} from '../util.js';

type Fail = (reason: string) => never;

const QUANTIZED_TYPES: ReadonlySet<DataType> = new Set<DataType>([
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int4',
  'uint4',
  'int2',
  'uint2',
  'float8e4m3fn',
  'float8e4m3fnuz',
  'float8e5m2',
  'float8e5m2fnuz',
  'float4e2m1',
]);

function roundHalfToEven(x: number): number {
  // Math.round sends halves up; a half must go to the even neighbour instead.
  if (Math.abs(x % 1) === 0.5) return 2 * Math.round(x / 2);
  return Math.round(x);
}

/** Rounds a double to the values of a float type, as numpy's arithmetic in that type would. */
function rounderFor(type: DataType): (x: number) => number {
  if (type === 'float64') return (x) => x;
  if (type === 'float32') return Math.fround;
  const decode = narrowDecoder(type);
  const encode = narrowEncoder(type);
  return (x) => decode(encode(x));
}

/** The type numpy computes `a op b` in for two float tensors: the wider one. */
function widerFloat(a: DataType, b: DataType): DataType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return a;
}

/** The storage of the quantized types: integers (4- and 2-bit unpacked) or float8/float4 bit patterns. */
type QuantizedStorage = Int8Array | Uint8Array | Int16Array | Uint16Array;

/**
 * How a real value is stored on the grid of a quantized type: integers are rounded half to even
 * and clamped to their range; float formats round to nearest even and saturate unless told not to.
 */
function gridEncoder(type: DataType, saturate: boolean): (value: number) => number {
  if (isIntegerType(type)) {
    const [min, max] = integerRange(type);
    return (v) => Math.min(max, Math.max(min, roundHalfToEven(v)));
  }
  return (!saturate && NON_SATURATING_ENCODERS[type]) || narrowEncoder(type);
}

/**
 * For each element of x, the index of its scale (and zero point): one for all (per tensor), one
 * per slice along `axis` (a 1-D parameter), or one per block of `blockSize` along `axis` (a
 * parameter of x's rank whose `axis` dimension counts the blocks).
 */
function parameterIndex(
  xDims: readonly number[],
  param: Tensor,
  axisAttribute: number,
  blockSize: number,
  fail: Fail,
): Int32Array {
  const size = shapeSize(xDims);
  if (param.size === 1 && param.dims.length <= 1) return new Int32Array(size);
  const axis = normalizeAxis(axisAttribute, xDims.length, fail);
  const axisSize = xDims[axis]!;
  const axisStride = stridesOf(xDims)[axis]!;
  const index = new Int32Array(size);
  if (blockSize <= 0) {
    if (param.dims.length !== 1 || param.size !== axisSize) {
      fail(
        `a per-axis scale must have ${axisSize} elements (axis ${axis}), got dims [${param.dims.join(', ')}]`,
      );
    }
    for (let i = 0; i < size; i++) index[i] = Math.floor(i / axisStride) % axisSize;
    return index;
  }
  const blocks = Math.ceil(axisSize / blockSize);
  const expected = xDims.map((d, i) => (i === axis ? blocks : d));
  if (param.dims.length !== expected.length || param.dims.some((d, i) => d !== expected[i])) {
    fail(`a blocked scale must have dims [${expected.join(', ')}], got [${param.dims.join(', ')}]`);
  }
  // Element i sits at (outer, a, inner) around the axis; its block is (outer, floor(a / blockSize), inner).
  for (let i = 0; i < size; i++) {
    const inner = i % axisStride;
    const a = Math.floor(i / axisStride) % axisSize;
    const outer = Math.floor(i / (axisStride * axisSize));
    index[i] = (outer * blocks + Math.floor(a / blockSize)) * axisStride + inner;
  }
  return index;
}

function optionalTypeAttribute(ctx: KernelContext, name: string): DataType | undefined {
  const code = ctx.int(name, 0);
  if (code === 0) return undefined;
  return dataTypeFromOnnx(code) ?? ctx.fail(`${name} is ${code}, which is not a known data type`);
}

function quantizeLinear(ctx: KernelContext): Tensor {
  const fail: Fail = (r) => ctx.fail(r);
  const x = ctx.input(0);
  const scale = ctx.input(1);
  const zeroPoint = ctx.optionalInput(2);
  const outputDtype = optionalTypeAttribute(ctx, 'output_dtype');
  if (zeroPoint && outputDtype && zeroPoint.type !== outputDtype) {
    fail(`output_dtype is ${outputDtype} but the zero point is ${zeroPoint.type}`);
  }
  const type = zeroPoint?.type ?? outputDtype ?? 'uint8';
  if (!QUANTIZED_TYPES.has(type)) fail(`QuantizeLinear cannot produce ${type}`);
  const axis = ctx.int('axis', 1);
  const blockSize = ctx.int('block_size', 0);
  const scaleIndex = parameterIndex(x.dims, scale, axis, blockSize, fail);
  const zeroIndex = zeroPoint && parameterIndex(x.dims, zeroPoint, axis, blockSize, fail);
  // x / scale is computed in `precision` when given, else in the wider of the two types.
  const precision = optionalTypeAttribute(ctx, 'precision') ?? widerFloat(x.type, scale.type);
  const inPrecision = rounderFor(precision);
  const xs = toNumbers(x);
  const scales = toNumbers(scale);
  const zeros = zeroPoint ? toNumbers(zeroPoint) : undefined;
  const roundFirst = isIntegerType(type);
  const toGrid = gridEncoder(type, ctx.int('saturate', 1) !== 0);
  const out = ctx.output(0, type, x.dims);
  const target = out.data as QuantizedStorage;
  for (let i = 0; i < x.size; i++) {
    const quotient = inPrecision(inPrecision(xs[i]!) / inPrecision(scales[scaleIndex[i]!]!));
    const zero = zeros ? zeros[zeroIndex![i]!]! : 0;
    // An integer zero point is added to the rounded quotient; a float one is added before encoding.
    target[i] = toGrid((roundFirst ? roundHalfToEven(quotient) : quotient) + zero);
  }
  return out;
}

function dequantizeLinear(ctx: KernelContext): Tensor {
  const fail: Fail = (r) => ctx.fail(r);
  const x = ctx.input(0);
  const scale = ctx.input(1);
  const zeroPoint = ctx.optionalInput(2);
  if (!QUANTIZED_TYPES.has(x.type) && x.type !== 'int32') fail(`DequantizeLinear cannot read ${x.type}`);
  if (zeroPoint && zeroPoint.type !== x.type) fail(`the zero point is ${zeroPoint.type} but x is ${x.type}`);
  const axis = ctx.int('axis', 1);
  const blockSize = ctx.int('block_size', 0);
  const scaleIndex = parameterIndex(x.dims, scale, axis, blockSize, fail);
  const zeroIndex = zeroPoint && parameterIndex(x.dims, zeroPoint, axis, blockSize, fail);
  const xs = toNumbers(x);
  const scales = toNumbers(scale);
  const zeros = zeroPoint ? toNumbers(zeroPoint) : undefined;
  const out = ctx.output(0, optionalTypeAttribute(ctx, 'output_dtype') ?? scale.type, x.dims);
  const sink = numberSink(out);
  for (let i = 0; i < x.size; i++) {
    const zero = zeros ? zeros[zeroIndex![i]!]! : 0;
    // (x - zero) and its product with a float32 scale are exact in doubles: one rounding, at the end.
    sink[i] = (xs[i]! - zero) * scales[scaleIndex[i]!]!;
  }
  return commitNumbers(out, sink);
}

/** Quantizes x to uint8 over its own range, widened to hold 0, as ONNX's reference does in float32. */
function dynamicQuantizeLinear(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const xs = toNumbers(x);
  let min = 0;
  let max = 0;
  for (let i = 0; i < xs.length; i++) {
    min = Math.min(min, xs[i]!);
    max = Math.max(max, xs[i]!);
  }
  // An all-zero x has an empty range; scale 1 keeps every output 0.
  const scale = max === min ? 1 : Math.fround(Math.fround(max - min) / 255);
  const zeroPoint = roundHalfToEven(Math.min(255, Math.max(0, Math.fround(-Math.fround(min / scale)))));
  const y = ctx.output(0, 'uint8', x.dims);
  const quantized = y.data as Uint8Array;
  for (let i = 0; i < xs.length; i++) {
    quantized[i] = Math.min(255, Math.max(0, roundHalfToEven(Math.fround(xs[i]! / scale)) + zeroPoint));
  }
  return [
    y,
    ctx.outputFromNumbers(1, x.type, [scale], []),
    ctx.outputFromNumbers(2, 'uint8', [zeroPoint], []),
  ];
}

// Integer matrix products.

interface Matrix {
  values: Float64Array;
  dims: number[];
}

/**
 * numpy.matmul of two real tensors given as doubles (1-D operands promoted, batch dims broadcast),
 * written into the tensor `allocate` gives for the product's dims (its stores round or wrap the sums).
 */
function matmul(a: Matrix, b: Matrix, fail: Fail, allocate: (dims: number[]) => Tensor): Tensor {
  if (a.dims.length === 0 || b.dims.length === 0) fail('MatMul operands must have at least one dimension');
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : b.dims;
  const [m, k] = aDims.slice(-2) as [number, number];
  const [kb, n] = bDims.slice(-2) as [number, number];
  if (k !== kb) {
    fail(`cannot multiply [${a.dims.join(', ')}] by [${b.dims.join(', ')}]: inner dimensions differ`);
  }
  const aBatch = aDims.slice(0, -2);
  const bBatch = bDims.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch], fail);
  const aOf = broadcastIndex(aBatch, batch);
  const bOf = broadcastIndex(bBatch, batch);
  const product = allocate([
    ...batch,
    ...(a.dims.length === 1 ? [] : [m]),
    ...(b.dims.length === 1 ? [] : [n]),
  ]);
  const out = product.data as Float64Array | Int32Array;
  for (let p = 0; p < aOf.length; p++) {
    const aBase = aOf[p]! * m * k;
    const bBase = bOf[p]! * k * n;
    const outBase = p * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let t = 0; t < k; t++) sum += a.values[aBase + i * k + t]! * b.values[bBase + t * n + j]!;
        out[outBase + i * n + j] = sum;
      }
    }
  }
  return product;
}

/**
 * Index map from each element of a tensor of `dims` to its quantization parameter. A 1-D
 * parameter of A (or of the output's rows) runs along rows, so it is read as a column [M, 1];
 * other parameters broadcast as numpy does ([N] runs along columns, [..., M, 1] along rows).
 */
function matrixParameterIndex(
  param: Tensor,
  dims: readonly number[],
  perRow: boolean,
  fail: Fail,
): Int32Array {
  if (param.size === 1) return new Int32Array(shapeSize(dims));
  const paramDims = perRow && param.dims.length === 1 ? [param.dims[0]!, 1] : param.dims;
  const joint = broadcastShapes([paramDims, dims], fail);
  if (joint.length !== dims.length || joint.some((d, i) => d !== dims[i])) {
    fail(
      `a quantization parameter of dims [${param.dims.join(', ')}] does not fit an operand of dims [${dims.join(', ')}]`,
    );
  }
  return broadcastIndex(paramDims, dims);
}

/** The operand minus its zero point, as doubles (exact for every integer type). */
function centered(x: Tensor, zeroPoint: Tensor | undefined, perRow: boolean, fail: Fail): Matrix {
  const values = Float64Array.from(toNumbers(x));
  if (zeroPoint) {
    if (zeroPoint.type !== x.type) fail(`the zero point is ${zeroPoint.type} but its operand is ${x.type}`);
    const zeros = toNumbers(zeroPoint);
    const index = matrixParameterIndex(zeroPoint, x.dims, perRow, fail);
    for (let i = 0; i < values.length; i++) values[i]! -= zeros[index[i]!]!;
  }
  return { values, dims: [...x.dims] };
}

function matMulInteger(ctx: KernelContext): Tensor {
  const fail: Fail = (r) => ctx.fail(r);
  const a = centered(ctx.input(0), ctx.optionalInput(2), true, fail);
  const b = centered(ctx.input(1), ctx.optionalInput(3), false, fail);
  // Int32Array stores wrap modulo 2^32, the overflow ONNX allows in 32-bit accumulation.
  return matmul(a, b, fail, (dims) => ctx.output(0, 'int32', dims));
}

function qLinearMatMul(ctx: KernelContext): Tensor {
  const fail: Fail = (r) => ctx.fail(r);
  const aScale = ctx.input(1);
  const bScale = ctx.input(4);
  const yScale = ctx.input(6);
  const yZeroPoint = ctx.optionalInput(7);
  const product = matmul(
    centered(ctx.input(0), ctx.optionalInput(2), true, fail),
    centered(ctx.input(3), ctx.optionalInput(5), false, fail),
    fail,
    (dims) => newTensor('float64', dims),
  );
  const type = yZeroPoint?.type ?? ctx.input(0).type;
  if (!QUANTIZED_TYPES.has(type)) fail(`QLinearMatMul cannot produce ${type}`);
  // numpy forms a_scale * b_scale / y_scale in the scales' own type, then scales the exact product.
  const inScaleType = rounderFor(widerFloat(widerFloat(aScale.type, bScale.type), yScale.type));
  const aScales = toNumbers(aScale);
  const bScales = toNumbers(bScale);
  const yScales = toNumbers(yScale);
  const zeros = yZeroPoint ? toNumbers(yZeroPoint) : [0];
  const aIndex = matrixParameterIndex(aScale, product.dims, true, fail);
  const bIndex = matrixParameterIndex(bScale, product.dims, false, fail);
  const yIndex = matrixParameterIndex(yScale, product.dims, false, fail);
  const zeroIndex = yZeroPoint
    ? matrixParameterIndex(yZeroPoint, product.dims, false, fail)
    : new Int32Array(product.size);
  const values = product.data as Float64Array;
  const toGrid = gridEncoder(type, true);
  const out = ctx.output(0, type, product.dims);
  const target = out.data as QuantizedStorage;
  for (let i = 0; i < values.length; i++) {
    const multiplier = inScaleType(
      inScaleType(aScales[aIndex[i]!]! * bScales[bIndex[i]!]!) / yScales[yIndex[i]!]!,
    );
    target[i] = toGrid(values[i]! * multiplier + zeros[zeroIndex[i]!]!);
  }
  return out;
}

export const kernels: KernelDef[] = [
  { op: 'QuantizeLinear', since: 10, run: (ctx) => [quantizeLinear(ctx)] },
  { op: 'DequantizeLinear', since: 10, run: (ctx) => [dequantizeLinear(ctx)] },
  { op: 'DynamicQuantizeLinear', since: 11, run: dynamicQuantizeLinear },
  { op: 'MatMulInteger', since: 10, run: (ctx) => [matMulInteger(ctx)] },
  { op: 'QLinearMatMul', since: 10, run: (ctx) => [qLinearMatMul(ctx)] },
];
