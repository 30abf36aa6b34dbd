/**
 * Tensor → TensorProto, the inverse of `tensor.ts`: raw little-endian bytes for numbers (narrow
 * floats as their bits, 4- and 2-bit types packed), string_data for strings.
 */

import { bitsOf, onnxCodeOf } from '../core/dtype.js';
import { packSubByte, type Tensor } from '../core/tensor.js';
import type { TensorProto } from './proto.js';

const textEncoder = new TextEncoder();

export function tensorToProto(name: string, tensor: Tensor): Partial<TensorProto> {
  const base = { name, dataType: onnxCodeOf(tensor.type), dims: [...tensor.dims] };
  if (tensor.type === 'string')
    return { ...base, stringData: (tensor.data as string[]).map((s) => textEncoder.encode(s)) };
  if (bitsOf(tensor.type) < 8)
    return { ...base, rawData: packSubByte(tensor.type, tensor.data as Uint8Array) };
  const data = tensor.data as Uint8Array;
  return { ...base, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
