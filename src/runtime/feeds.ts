/**
 * The values a session takes and gives, as onnxruntime-common types them, and the checks and
 * conversions between them and Heddle's runtime values: feeds are checked against the model's
 * declared inputs (type, rank, fixed and symbolic dimensions) with errors that name the input.
 */

import { HeddleError, type ErrorSite } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import { EmptyOptional, TensorSequence, describeValue, type RuntimeValue } from '../core/values.js';
import type { ValueInfo, ValueType } from '../ir/graph.js';

export type OnnxValue = Tensor | Tensor[] | null;
export type FeedsType = Record<string, OnnxValue>;
export type ReturnType = Record<string, OnnxValue>;
export type FetchesType = readonly string[] | Record<string, OnnxValue>;

export interface ValueMetadata {
  name: string;
  isTensor: boolean;
  /** Element type of a tensor value. */
  type?: string;
  /** Dimensions: a number when fixed, the symbolic name when named, -1 when unknown. */
  shape?: (number | string)[];
}

/** Fetches are a list of names or an object keyed by output names; anything else is run options. */
export function isFetches(
  value: FetchesType | object | undefined,
  outputs: readonly string[],
): value is FetchesType {
  if (value === undefined) return false;
  return Array.isArray(value) || Object.keys(value).some((k) => outputs.includes(k));
}

export function metadataOf(info: ValueInfo): ValueMetadata {
  const type = info.type;
  if (type?.kind !== 'tensor') return { name: info.name, isTensor: false };
  return {
    name: info.name,
    isTensor: true,
    type: type.elemType,
    shape: type.shape?.map((d) => (d === null ? -1 : d)),
  };
}

export function fromOnnxValue(value: OnnxValue, declared: ValueType | undefined): RuntimeValue {
  if (value === null) return new EmptyOptional();
  if (Array.isArray(value)) {
    const elem =
      declared?.kind === 'sequence' && declared.elem?.kind === 'tensor'
        ? declared.elem.elemType
        : value[0]?.type;
    return new TensorSequence(elem, value);
  }
  return value;
}

export function toOnnxValue(value: RuntimeValue): OnnxValue {
  if (value instanceof Tensor) return value;
  if (value instanceof TensorSequence) return [...value.items];
  if (value instanceof EmptyOptional) return null;
  throw new HeddleError(`outputs of kind ${describeValue(value)} cannot be returned yet`);
}

export function checkFeed(
  value: RuntimeValue,
  info: ValueInfo,
  symbols: Map<string, { size: number; input: string }>,
  site: ErrorSite,
): void {
  let declared = info.type;
  if (declared?.kind === 'optional') {
    if (value instanceof EmptyOptional) return;
    declared = declared.elem;
  }
  if (!declared) return;
  if (declared.kind === 'sequence') {
    if (!(value instanceof TensorSequence))
      throw new HeddleError(`expected a sequence (an array of tensors), got ${describeValue(value)}`, site);
    return;
  }
  if (declared.kind !== 'tensor') return;
  if (!(value instanceof Tensor))
    throw new HeddleError(`expected a tensor, got ${describeValue(value)}`, site);
  if (value.type !== declared.elemType) {
    throw new HeddleError(`expected a tensor of type ${declared.elemType}, got ${value.type}`, site);
  }
  const shape = declared.shape;
  if (!shape) return;
  if (value.dims.length !== shape.length) {
    throw new HeddleError(
      `expected rank ${shape.length} (dims [${shape.map((d) => d ?? '?').join(', ')}]), got dims [${value.dims.join(', ')}]`,
      site,
    );
  }
  shape.forEach((dim, axis) => {
    const actual = value.dims[axis]!;
    if (typeof dim === 'number' && dim !== actual) {
      throw new HeddleError(
        `dimension ${axis} must be ${dim}, got ${actual} (dims [${value.dims.join(', ')}])`,
        site,
      );
    }
    if (typeof dim === 'string') {
      const bound = symbols.get(dim);
      if (bound && bound.size !== actual) {
        throw new HeddleError(
          `dimension ${axis} ('${dim}') is ${actual}, but input '${bound.input}' set '${dim}' to ${bound.size}`,
          site,
        );
      }
      symbols.set(dim, { size: actual, input: info.name });
    }
  });
}
