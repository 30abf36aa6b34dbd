/**
 * Helpers shared by the reference kernels: element conversion between storage and JS numbers,
 * shapes and strides, broadcasting, axis normalization.
 */

import {
  allocateStorage,
  isBigIntType,
  slotsPerElement,
  type DataType,
  type TensorData,
} from '../../core/dtype.js';
import { NARROW_FLOAT_CODECS, type NarrowFloatCodec } from '../../core/float-formats.js';
import { HeddleError } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';

export function shapeSize(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Whether two shapes are the same dims, axis for axis. */
export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= dims[i]!;
  }
  return strides;
}

/**
 * Normalizes a possibly negative axis into [0, rank). With `inclusive` the axis names a position
 * to insert at, in [0, rank]: negative values count from rank + 1 (as Unsqueeze's do).
 */
export function normalizeAxis(
  axis: number,
  rank: number,
  fail: (reason: string) => never,
  inclusive = false,
): number {
  const limit = inclusive ? rank + 1 : rank;
  const a = axis < 0 ? axis + limit : axis;
  if (!Number.isInteger(a) || a < 0 || a >= limit) fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/**
 * Normalizes an axis that splits the dims into two groups (Flatten, and Softmax before opset 13
 * coercing to 2-D): it lies in [-rank, rank], and a negative one counts from `rank`.
 */
export function splitAxis(axis: number, rank: number, fail: (reason: string) => never): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a > rank) fail(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

/** The numpy-style broadcast of several shapes. */
export function broadcastShapes(
  shapes: readonly (readonly number[])[],
  fail: (reason: string) => never,
): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i++) {
      const o = rank - shape.length + i;
      const d = shape[i]!;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1 && d !== out[o]) {
        fail(`shapes ${shapes.map((s) => `[${s.join(', ')}]`).join(' and ')} cannot be broadcast together`);
      }
    }
  }
  return out;
}

/** For each flat index of `outDims`, the flat index of the element of `inDims` broadcast to it. */
export function broadcastIndex(inDims: readonly number[], outDims: readonly number[]): Int32Array {
  const size = shapeSize(outDims);
  const map = new Int32Array(size);
  if (sameDims(inDims, outDims)) {
    for (let i = 0; i < size; i++) map[i] = i;
    return map;
  }
  const rank = outDims.length;
  const offset = rank - inDims.length;
  const inStrides = stridesOf(inDims);
  const effective = outDims.map((_, i) =>
    i < offset || inDims[i - offset] === 1 ? 0 : inStrides[i - offset]!,
  );
  const counter = new Array<number>(rank).fill(0);
  let idx = 0;
  for (let i = 0; i < size; i++) {
    map[i] = idx;
    for (let a = rank - 1; a >= 0; a--) {
      counter[a]!++;
      idx += effective[a]!;
      if (counter[a]! < outDims[a]!) break;
      idx -= effective[a]! * outDims[a]!;
      counter[a] = 0;
    }
  }
  return map;
}

/** A tensor's elements as JS numbers (narrow floats decoded, 64-bit ints rounded to doubles). */
export function toNumbers(t: Tensor): Float64Array | Float32Array | Int32Array {
  const data = t.data;
  switch (t.type) {
    case 'float32':
    case 'float64':
    case 'int32':
      return data as Float32Array;
    case 'int8':
    case 'int16':
    case 'uint8':
    case 'uint16':
    case 'uint32':
    case 'bool':
    case 'int4':
    case 'uint4':
    case 'int2':
    case 'uint2':
      return Float64Array.from(data as Uint8Array);
    case 'int64':
    case 'uint64':
      return Float64Array.from(data as BigInt64Array, Number);
    case 'string':
      throw new HeddleError('string tensors have no numeric value');
    case 'complex64':
    case 'complex128':
      throw new HeddleError('complex tensors have no real value');
    default: {
      const decode = narrowDecoder(t.type);
      return Float64Array.from(data as Uint8Array, decode);
    }
  }
}

/** A tensor of `type` from JS numbers, rounding and saturating as a cast to `type` would. */
export function fromNumbers(type: DataType, values: ArrayLike<number>, dims: readonly number[]): Tensor {
  return new Tensor(type, numbersToStorage(type, values), dims);
}

/**
 * JS numbers converted to `type`'s storage (rounded and saturated as a cast would), written into
 * `out` when given (an output tensor's storage, say) or into new storage.
 */
export function numbersToStorage(
  type: DataType,
  values: ArrayLike<number>,
  out: TensorData = allocateStorage(type, values.length),
): TensorData {
  const n = values.length;
  switch (type) {
    case 'float32':
    case 'float64':
      (out as Float64Array).set(values);
      return out;
    case 'int64':
    case 'uint64': {
      const big = out as BigInt64Array;
      for (let i = 0; i < n; i++) big[i] = bigIntOf(values[i]!);
      return out;
    }
    case 'bool': {
      const b = out as Uint8Array;
      for (let i = 0; i < n; i++) b[i] = values[i] ? 1 : 0;
      return out;
    }
    case 'string':
      for (let i = 0; i < n; i++) (out as string[])[i] = String(values[i]);
      return out;
    case 'int4':
    case 'uint4':
    case 'int2':
    case 'uint2': {
      const bits = type.endsWith('4') ? 4 : 2;
      const signed = type.startsWith('int');
      const modulus = 1 << bits;
      const ints = out as Int8Array;
      for (let i = 0; i < n; i++) {
        let v = Math.trunc(values[i]!) & (modulus - 1);
        if (signed && v >= modulus / 2) v -= modulus;
        ints[i] = v;
      }
      return out;
    }
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint8':
    case 'uint16':
    case 'uint32': {
      const ints = out as Int32Array;
      for (let i = 0; i < n; i++) {
        const v = values[i]!;
        ints[i] = Number.isFinite(v) ? Math.trunc(v) : 0;
      }
      return out;
    }
    default: {
      const encode = narrowEncoder(type);
      const bits = out as Uint16Array;
      for (let i = 0; i < n; i++) bits[i] = encode(values[i]!);
      return out;
    }
  }
}

function bigIntOf(v: number): bigint {
  if (!Number.isFinite(v)) return 0n;
  return BigInt(Math.trunc(v));
}

function narrowCodec(type: DataType): NarrowFloatCodec {
  const codec = NARROW_FLOAT_CODECS[type];
  if (!codec) throw new HeddleError(`Heddle cannot compute with ${type} values`);
  return codec;
}

export function narrowDecoder(type: DataType): (bits: number) => number {
  return narrowCodec(type).decode;
}

export function narrowEncoder(type: DataType): (value: number) => number {
  return narrowCodec(type).encode;
}

/** Integer values of a shape-like input (int32 or int64), as numbers. */
export function readInts(t: Tensor): number[] {
  if (isBigIntType(t.type)) return Array.from(t.data as BigInt64Array, Number);
  return Array.from(toNumbers(t));
}

/** The single value of a scalar (or one-element) tensor, as a number. */
export function scalarNumber(t: Tensor): number {
  if (t.size !== 1)
    throw new HeddleError(`expected a single value, got a tensor of dims [${t.dims.join(', ')}]`);
  return toNumbers(t)[0]!;
}

/** Copies the elements of `data` at `indices` into new storage of the same kind (complex: both slots). */
export function gatherStorage(type: DataType, data: TensorData, indices: ArrayLike<number>): TensorData {
  const out = allocateStorage(type, indices.length);
  const slots = slotsPerElement(type);
  const src = data as unknown as unknown[];
  const dst = out as unknown as unknown[];
  for (let i = 0; i < indices.length; i++) {
    for (let s = 0; s < slots; s++) dst[i * slots + s] = src[indices[i]! * slots + s];
  }
  return out;
}

/** Float storage to compute an output into, and the step that makes it the output's. */
export interface FloatSink {
  values: Float32Array | Float64Array;
  finish: () => Tensor;
}

/**
 * Where to compute the float results of `out`: its own storage when it holds float32 or float64
 * values, else float64 scratch that `finish` converts into it (rounding narrow floats, truncating
 * integers).
 */
export function floatSink(out: Tensor): FloatSink {
  if (out.data instanceof Float32Array || out.data instanceof Float64Array) {
    return { values: out.data, finish: () => out };
  }
  const scratch = new Float64Array(out.size);
  return {
    values: scratch,
    finish: () => {
      numbersToStorage(out.type, scratch, out.data);
      return out;
    },
  };
}

/**
 * Types whose typed-array stores convert a double exactly as a cast would: rounding to float32,
 * truncating and wrapping integers (NaN and infinities to 0).
 */
const STORES_AS_CAST: ReadonlySet<DataType> = new Set<DataType>([
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'uint8',
  'uint16',
  'uint32',
]);

/** Where element results go as numbers: an output's own storage, or scratch that `commitNumbers` converts. */
export type NumberSink =
  Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;

/**
 * Where to compute `out`'s elements as JS numbers: straight into its storage when a store there
 * converts as a cast does (the float32 path, among others), else into float64 scratch.
 */
export function numberSink(out: Tensor): NumberSink {
  return STORES_AS_CAST.has(out.type) ? (out.data as NumberSink) : new Float64Array(out.size);
}

/** Finishes what `numberSink` began: scratch numbers are converted into `out`'s storage. */
export function commitNumbers(out: Tensor, sink: NumberSink): Tensor {
  if (sink !== out.data) numbersToStorage(out.type, sink, out.data);
  return out;
}

/** A tensor in new memory, for helpers whose caller has no output place to give them. */
export function newTensor(type: DataType, dims: readonly number[]): Tensor {
  return new Tensor(type, allocateStorage(type, shapeSize(dims)), dims);
}
