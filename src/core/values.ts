/**
 * What flows along a graph's edges at run time: tensors, sequences of tensors, maps (from the
 * ai.onnx.ml operators) and the empty optional.
 */

import type { DataType } from './dtype.js';
import { Tensor } from './tensor.js';

export class TensorSequence {
  constructor(
    /** The element type, known even when the sequence is empty. */
    readonly elemType: DataType | undefined,
    readonly items: readonly Tensor[],
  ) {}
}

export class TensorMap {
  constructor(
    readonly keyType: DataType,
    readonly entries: ReadonlyMap<string | number | bigint, Tensor | number | string>,
  ) {}
}

/** An optional that holds nothing. A non-empty optional is simply the value it holds. */
export class EmptyOptional {
  constructor(readonly description = 'optional') {}
}

export type RuntimeValue = Tensor | TensorSequence | TensorMap | EmptyOptional;

export function describeValue(value: RuntimeValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value instanceof Tensor) return `tensor(${value.type})[${value.dims.join(', ')}]`;
  if (value instanceof TensorSequence) return `sequence of ${value.items.length} tensors`;
  if (value instanceof TensorMap) return `map of ${value.entries.size} entries`;
  return 'empty optional';
}
