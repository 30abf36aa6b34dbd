/**
 * Small tensors whose contents are known at load time (see `KnownValue`): reading them from
 * initializers and Constant attributes, reading their elements as shapes, axes or scalars, and
 * the element-wise arithmetic that shape computations use, with the rounding of the target type.
 */

import { integerRange, isIntegerType, type DataType } from '../../core/dtype.js';
import { NARROW_FLOAT_CODECS } from '../../core/float-formats.js';
import type { Tensor } from '../../core/tensor.js';
import type { Dim } from '../graph.js';
import { isStaticShape } from './dims.js';
import type { KnownValue } from './rule.js';

/**
 * Values bigger than this are not carried: shape computations use a handful of elements, and
 * copying large weights into number arrays would cost time for nothing.
 */
export const MAX_KNOWN_ELEMENTS = 4096;

export function knownFromTensor(tensor: Tensor): KnownValue | undefined {
  if (tensor.size > MAX_KNOWN_ELEMENTS) return undefined;
  const elements = tensorElements(tensor);
  return elements && { elemType: tensor.type, shape: [...tensor.dims], elements };
}

function tensorElements(tensor: Tensor): Dim[] | undefined {
  const { type, data } = tensor;
  const codec = NARROW_FLOAT_CODECS[type];
  if (codec) return Array.from(data as Uint16Array, (bits) => codec.decode(bits));
  if (type === 'float32' || type === 'float64' || type === 'bool' || isIntegerType(type)) {
    return Array.from(data as ArrayLike<number | bigint>, (x) => Number(x));
  }
  return undefined;
}

/** A known value of the given type and shape whose elements are all `fill`, when small enough. */
export function filledValue(
  elemType: DataType,
  shape: readonly Dim[] | undefined,
  fill: Dim,
): KnownValue | undefined {
  if (!isStaticShape(shape)) return undefined;
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_KNOWN_ELEMENTS) return undefined;
  return { elemType, shape: [...shape], elements: new Array<Dim>(size).fill(fill) };
}

/** The elements as numbers, when every one is a known number. */
export function knownNumbers(value: KnownValue | undefined): number[] | undefined {
  if (!value || !value.elements.every((e) => typeof e === 'number')) return undefined;
  return value.elements as number[];
}

/** The single element of a one-element value. */
export function knownScalar(value: KnownValue | undefined): Dim | undefined {
  return value && value.elements.length === 1 ? value.elements[0] : undefined;
}

export function knownScalarNumber(value: KnownValue | undefined): number | undefined {
  const scalar = knownScalar(value);
  return typeof scalar === 'number' ? scalar : undefined;
}

/** Elements read as dimension sizes: integers and symbolic names pass, anything else becomes null. */
export function elementsAsDims(value: KnownValue): Dim[] {
  return value.elements.map((e) =>
    typeof e === 'string' || (typeof e === 'number' && Number.isInteger(e)) ? e : null,
  );
}

/** Rounds a computed number the way storing it in `type` does; null when it does not fit. */
export function storeAs(type: DataType, x: number): Dim {
  if (type === 'bool') return x !== 0 ? 1 : 0;
  if (isIntegerType(type)) {
    if (!Number.isFinite(x)) return null;
    const truncated = Math.trunc(x);
    const [low, high] = integerRange(type);
    return truncated >= low && truncated <= high ? truncated : null;
  }
  if (type === 'float32') return Math.fround(x);
  if (type === 'float64') return x;
  const codec = NARROW_FLOAT_CODECS[type];
  return codec ? codec.decode(codec.encode(x)) : null;
}

export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i]!;
  }
  return strides;
}

/**
 * Element-wise `fn` over values broadcast together (numpy rules); the result has `elemType`.
 * Undefined when the result would be too large.
 */
export function mapBroadcast(
  values: KnownValue[],
  elemType: DataType,
  fn: (elements: Dim[]) => Dim,
): KnownValue | undefined {
  const rank = Math.max(...values.map((v) => v.shape.length));
  const shape: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    const dims = values.map((v) => v.shape[axis - (rank - v.shape.length)] ?? 1);
    const wide = dims.find((d) => d !== 1) ?? 1;
    if (dims.some((d) => d !== 1 && d !== wide)) return undefined;
    shape.push(wide);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_KNOWN_ELEMENTS) return undefined;
  const outStrides = stridesOf(shape);
  const inStrides = values.map((v) => {
    const own = stridesOf(v.shape);
    return shape.map((_, axis) => {
      const index = axis - (rank - v.shape.length);
      return index >= 0 && v.shape[index] !== 1 ? own[index]! : 0;
    });
  });
  const elements: Dim[] = [];
  for (let flat = 0; flat < size; flat++) {
    const args = values.map((v, k) => {
      let offset = 0;
      for (let axis = 0; axis < rank; axis++) {
        offset += (Math.floor(flat / outStrides[axis]!) % shape[axis]!) * inStrides[k]![axis]!;
      }
      return v.elements[offset]!;
    });
    elements.push(fn(args));
  }
  return { elemType, shape, elements };
}
