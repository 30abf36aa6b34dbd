/**
 * A tensor on the host, shaped like onnxruntime-common's `Tensor` so that programs written for
 * onnxruntime run unchanged: `new Tensor(type, data, dims)` or `new Tensor(data, dims)`, with
 * `type`, `data`, `dims` and `size`.
 *
 * The 4-bit and 2-bit integer types are accepted packed (as onnxruntime takes them, two or four
 * elements a byte) or unpacked (one a byte) and are held unpacked.
 */

import {
  allocateStorage,
  bitsOf,
  isDataType,
  slotsPerElement,
  storageMatches,
  type DataType,
  type TensorData,
} from './dtype.js';
import { HeddleError } from './errors.js';

export type { DataType, TensorData } from './dtype.js';

type ArrayInput = TensorData | readonly number[] | readonly bigint[] | readonly boolean[] | readonly string[];

export class Tensor {
  readonly type: DataType;
  readonly dims: readonly number[];
  readonly size: number;
  readonly location = 'cpu' as const;
  #data: TensorData;

  constructor(type: DataType, data: ArrayInput, dims?: readonly number[]);
  constructor(data: TensorData | readonly boolean[] | readonly string[], dims?: readonly number[]);
  constructor(
    typeOrData: DataType | TensorData | readonly boolean[] | readonly string[],
    dataOrDims?: ArrayInput | readonly number[],
    maybeDims?: readonly number[],
  ) {
    let type: DataType;
    let input: ArrayInput;
    let dims: readonly number[] | undefined;
    if (typeof typeOrData === 'string') {
      if (!isDataType(typeOrData)) throw new HeddleError(`unknown tensor type '${typeOrData}'`);
      type = typeOrData;
      input = (dataOrDims ?? []) as ArrayInput;
      dims = maybeDims;
    } else {
      type = inferType(typeOrData);
      input = typeOrData;
      dims = dataOrDims as readonly number[] | undefined;
    }
    const slots = slotsPerElement(type);
    const shape = dims ? [...dims] : [input.length / slots];
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new HeddleError(`tensor dims must be non-negative integers, got [${shape.join(', ')}]`);
      }
    }
    const size = shape.reduce((a, b) => a * b, 1);
    this.type = type;
    this.dims = shape;
    this.size = size;
    this.#data = toStorage(type, input, size);
    if (this.#data.length !== size * slots) {
      throw new HeddleError(
        `tensor of type ${type} and dims [${shape.join(', ')}] needs ${size * slots} values, got ${this.#data.length}`,
      );
    }
  }

  get data(): TensorData {
    return this.#data;
  }

  /** Same as `data`, for onnxruntime-common compatibility. */
  async getData(): Promise<TensorData> {
    return this.#data;
  }

  /** A tensor with the same storage and new dims (no copy). */
  reshape(dims: readonly number[]): Tensor {
    return new Tensor(this.type, this.#data, dims);
  }

  dispose(): void {
    this.#data = allocateStorage(this.type, 0);
  }
}

function inferType(data: unknown): DataType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigUint64Array) return 'uint64';
  if (Array.isArray(data)) {
    if (data.every((v) => typeof v === 'string')) return 'string';
    if (data.every((v) => typeof v === 'boolean')) return 'bool';
  }
  throw new HeddleError('cannot infer a tensor type from this data: pass the type explicitly');
}

function toStorage(type: DataType, input: ArrayInput, size: number): TensorData {
  if (storageMatches(type, input)) {
    const bits = bitsOf(type);
    if (bits < 8 && type !== 'float4e2m1' && input.length !== size && size > 0) {
      return unpackSubByte(type, input as Uint8Array | Int8Array, size);
    }
    if (type === 'float4e2m1' && input.length !== size && size > 0) {
      return unpackSubByte(type, input as Uint8Array, size);
    }
    return input as TensorData;
  }
  if (type === 'string') {
    if (!Array.isArray(input) || !input.every((v) => typeof v === 'string')) {
      throw new HeddleError('a string tensor takes an array of strings');
    }
    return [...(input as string[])];
  }
  if (!Array.isArray(input)) {
    throw new HeddleError(`data of a ${type} tensor must be a ${describeStorage(type)} or a plain array`);
  }
  const out = allocateStorage(type, input.length / slotsPerElement(type));
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < input.length; i++) {
    const v = input[i] as unknown as number | bigint | boolean;
    if (big) (out as BigInt64Array)[i] = typeof v === 'bigint' ? v : BigInt(Number(v));
    else (out as Float64Array)[i] = typeof v === 'bigint' ? Number(v) : Number(v);
  }
  return out;
}

/** Unpacks 4-bit (two a byte, low nibble first) or 2-bit (four a byte) elements. */
export function unpackSubByte(type: DataType, packed: Uint8Array | Int8Array, size: number): TensorData {
  const bits = bitsOf(type);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  const signed = type === 'int4' || type === 'int2';
  const out = allocateStorage(type, size) as Uint8Array | Int8Array;
  const bytes = new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
  if (bytes.length < Math.ceil(size / perByte)) {
    throw new HeddleError(`packed ${type} data holds fewer than ${size} elements`);
  }
  for (let i = 0; i < size; i++) {
    let v = (bytes[Math.floor(i / perByte)]! >> ((i % perByte) * bits)) & mask;
    if (signed && v & (1 << (bits - 1))) v -= 1 << bits;
    out[i] = v;
  }
  return out;
}

/** Packs unpacked 4-bit or 2-bit elements, low bits first, as ONNX serializes them. */
export function packSubByte(type: DataType, values: Uint8Array | Int8Array): Uint8Array {
  const bits = bitsOf(type);
  const perByte = 8 / bits;
  const mask = (1 << bits) - 1;
  const out = new Uint8Array(Math.ceil(values.length / perByte));
  for (let i = 0; i < values.length; i++) {
    out[Math.floor(i / perByte)]! |= (values[i]! & mask) << ((i % perByte) * bits);
  }
  return out;
}

function describeStorage(type: DataType): string {
  return allocateStorage(type, 0).constructor.name;
}
