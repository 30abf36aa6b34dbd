/**
 * NumPy `.npy` files (format versions 1 to 3), read into and written from Tensors.
 */

import { allocateStorage, type DataType } from '../core/dtype.js';
import { HeddleError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';

const DESCR_TO_TYPE: Record<string, DataType> = {
  f4: 'float32',
  f8: 'float64',
  f2: 'float16',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  b1: 'bool',
};

const TYPE_TO_DESCR = Object.fromEntries(Object.entries(DESCR_TO_TYPE).map(([d, t]) => [t, d])) as Record<
  string,
  string
>;

export function readNpy(bytes: Uint8Array, source = '<npy>'): Tensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) {
    throw new HeddleError(`${source} is not a NumPy .npy file`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new HeddleError(`${source} has an unreadable .npy header`);
  if (fortran) throw new HeddleError(`${source} is in Fortran order, which Heddle does not read`);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (descr.startsWith('>')) throw new HeddleError(`${source} is big-endian, which Heddle does not read`);
  const kind = descr.replace(/^[<|=]/, '');
  const type = DESCR_TO_TYPE[kind];
  if (!type) throw new HeddleError(`${source} has dtype '${descr}', which Heddle does not read`);
  const size = dims.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLength;
  const storage = allocateStorage(type, size) as Uint8Array;
  const needed = storage.byteLength;
  if (bytes.length - dataStart < needed) throw new HeddleError(`${source} is truncated`);
  new Uint8Array(storage.buffer).set(bytes.subarray(dataStart, dataStart + needed));
  return new Tensor(type, storage, dims);
}

export function writeNpy(tensor: Tensor): Uint8Array {
  const kind = TYPE_TO_DESCR[tensor.type];
  if (!kind) throw new HeddleError(`tensors of type ${tensor.type} cannot be written as .npy`);
  const descr = `${kind.endsWith('1') ? '|' : '<'}${kind}`;
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const headerBytes = new TextEncoder().encode(header);
  const data = tensor.data as Uint8Array;
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(10 + headerBytes.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, headerBytes.length, true);
  out.set(headerBytes, 10);
  out.set(body, 10 + headerBytes.length);
  return out;
}
