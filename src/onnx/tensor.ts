/**
 * TensorProto → Tensor, for every ONNX data type, from raw_data (a view when the bytes are
 * aligned for the element type), from the typed fields, or from external data.
 */

import {
  allocateStorage,
  bitsOf,
  dataTypeFromOnnx,
  storageSlotBytes,
  storageView,
  type DataType,
  type TensorData,
} from '../core/dtype.js';
import { HeddleError } from '../core/errors.js';
import { Tensor, unpackSubByte } from '../core/tensor.js';
import { toBigInt, toNumber, type SparseTensorProto, type TensorProto } from './proto.js';

/** Reads `length` bytes (or to the end when undefined) at `offset` of a file named by a model's external data. */
export type ExternalDataReader = (location: string, offset: number, length: number | undefined) => Uint8Array;

const textDecoder = new TextDecoder();

export function decodeString(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

export function tensorDims(proto: TensorProto): number[] {
  return proto.dims.map((d) => {
    const n = toNumber(d);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new HeddleError(`tensor '${proto.name}' has an invalid dimension ${n}`);
    }
    return n;
  });
}

/**
 * How raw_data becomes tensor data. `copyRawData` copies even aligned bytes, which otherwise stay
 * views into the buffer the model was decoded from (and keep all of it alive).
 */
export interface RawDataOptions {
  copyRawData?: boolean;
}

export function tensorFromProto(
  proto: TensorProto,
  readExternal?: ExternalDataReader,
  options: RawDataOptions = {},
): Tensor {
  const type = dataTypeFromOnnx(proto.dataType);
  if (!type) throw new HeddleError(`tensor '${proto.name}' has unknown data type ${proto.dataType}`);
  const dims = tensorDims(proto);
  const size = dims.reduce((a, b) => a * b, 1);
  if (proto.segment)
    throw new HeddleError(`tensor '${proto.name}' is segmented, which ONNX models never use`);
  let data: TensorData;
  if (proto.dataLocation === 1) {
    // External data is read into bytes of its own: a view of them keeps nothing else alive.
    data = fromRaw(type, readExternalBytes(proto, readExternal), size, proto.name, false);
  } else if (proto.rawData && proto.rawData.length > 0) {
    data = fromRaw(type, proto.rawData, size, proto.name, options.copyRawData ?? false);
  } else {
    data = fromTypedFields(type, proto, size);
  }
  return new Tensor(type, data, dims);
}

function readExternalBytes(proto: TensorProto, readExternal?: ExternalDataReader): Uint8Array {
  const entries = new Map(proto.externalData.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) throw new HeddleError(`tensor '${proto.name}' is external but names no location`);
  if (!readExternal) {
    throw new HeddleError(
      `tensor '${proto.name}' keeps its data in external file '${location}', but the model was given as bytes: load it from its path`,
    );
  }
  const offset = parseExternalNumber(entries.get('offset'), 0, proto.name, 'offset');
  const lengthText = entries.get('length');
  const length =
    lengthText === undefined ? undefined : parseExternalNumber(lengthText, 0, proto.name, 'length');
  return readExternal(location, offset, length);
}

function parseExternalNumber(
  text: string | undefined,
  fallback: number,
  tensor: string,
  what: string,
): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new HeddleError(`tensor '${tensor}' has an invalid external data ${what} '${text}'`);
  }
  return n;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The bytes of the model's buffer that a tensor's data would view rather than copy (raw_data in
 * the model itself, aligned for a type of at least a byte); 0 where it would be copied.
 */
export function rawDataViewBytes(proto: TensorProto): number {
  const type = dataTypeFromOnnx(proto.dataType);
  const raw = proto.rawData;
  if (!type || type === 'string' || proto.dataLocation === 1 || !raw || raw.length === 0) return 0;
  return viewable(type, raw) ? raw.length : 0;
}

/** Whether tensor data of `type` can view `raw` in place: whole-byte elements, aligned for their storage. */
function viewable(type: DataType, raw: Uint8Array): boolean {
  return bitsOf(type) >= 8 && raw.byteOffset % storageSlotBytes(type) === 0;
}

function fromRaw(
  type: DataType,
  raw: Uint8Array,
  size: number,
  name: string,
  copyAligned: boolean,
): TensorData {
  if (type === 'string') throw new HeddleError(`string tensor '${name}' cannot use raw_data`);
  const bits = bitsOf(type);
  const expected = Math.ceil((size * bits) / 8);
  if (raw.length !== expected) {
    throw new HeddleError(
      `tensor '${name}' of type ${type} and ${size} elements needs ${expected} bytes of data, has ${raw.length}`,
    );
  }
  if (bits < 8) return unpackSubByte(type, raw, size);
  if (!LITTLE_ENDIAN) throw new HeddleError('Heddle reads raw tensor data on little-endian hosts only');
  if (!copyAligned && viewable(type, raw)) return storageView(type, raw.buffer, raw.byteOffset, size);
  // A copy made with the Uint8Array constructor: Buffer.prototype.slice would return a view.
  const copy = new Uint8Array(raw);
  return storageView(type, copy.buffer, 0, size);
}

function fromTypedFields(type: DataType, proto: TensorProto, size: number): TensorData {
  const slotsNeeded = type === 'complex64' || type === 'complex128' ? size * 2 : size;
  const check = (have: number, field: string, unitsPerValue = 1) => {
    if (Math.ceil(slotsNeeded / unitsPerValue) !== have) {
      throw new HeddleError(
        `tensor '${proto.name}' of type ${type} needs ${slotsNeeded} values, its ${field} holds ${have * unitsPerValue}`,
      );
    }
  };
  switch (type) {
    case 'float32':
    case 'complex64':
      check(proto.floatData.length, 'float_data');
      return Float32Array.from(proto.floatData);
    case 'float64':
    case 'complex128':
      check(proto.doubleData.length, 'double_data');
      return Float64Array.from(proto.doubleData);
    case 'int64': {
      check(proto.int64Data.length, 'int64_data');
      return BigInt64Array.from(proto.int64Data, (v) => toBigInt(v));
    }
    case 'uint64':
      check(proto.uint64Data.length, 'uint64_data');
      return BigUint64Array.from(proto.uint64Data, (v) => toBigInt(v, true));
    case 'uint32':
      check(proto.uint64Data.length, 'uint64_data');
      return Uint32Array.from(proto.uint64Data, (v) => toNumber(v));
    case 'string':
      check(proto.stringData.length, 'string_data');
      return proto.stringData.map(decodeString);
    case 'int4':
    case 'uint4':
    case 'float4e2m1':
    case 'int2':
    case 'uint2': {
      const perByte = 8 / bitsOf(type);
      check(proto.int32Data.length, 'int32_data', perByte);
      return unpackSubByte(type, Uint8Array.from(proto.int32Data), size);
    }
    default: {
      check(proto.int32Data.length, 'int32_data');
      const out = allocateStorage(type, size) as Int32Array;
      for (let i = 0; i < size; i++) out[i] = proto.int32Data[i]!;
      return out;
    }
  }
}

/** A sparse tensor made dense: values scattered at their (flat or coordinate) indices. */
export function denseFromSparse(proto: SparseTensorProto, readExternal?: ExternalDataReader): Tensor {
  if (!proto.values || !proto.indices) throw new HeddleError('sparse tensor lacks values or indices');
  const values = tensorFromProto(proto.values, readExternal);
  const indices = tensorFromProto(proto.indices, readExternal);
  const dims = proto.dims.map((d) => toNumber(d));
  const size = dims.reduce((a, b) => a * b, 1);
  const out = allocateStorage(values.type, size);
  const nnz = values.size;
  const idx = indices.data as BigInt64Array;
  const coordinate = indices.dims.length === 2;
  for (let k = 0; k < nnz; k++) {
    let flat = 0;
    if (coordinate) {
      for (let a = 0; a < dims.length; a++) flat = flat * dims[a]! + Number(idx[k * dims.length + a]);
    } else {
      flat = Number(idx[k]);
    }
    if (flat < 0 || flat >= size) {
      throw new HeddleError(`sparse tensor '${proto.values.name}' has an index outside its dims`);
    }
    (out as unknown[])[flat] = (values.data as unknown[])[k];
  }
  return new Tensor(values.type, out, dims);
}
