/**
 * Deterministic random feeds shaped from a model's declared inputs, for `heddle run` (and later
 * `heddle bench`) when the user gives no input files.
 */

import { isFloatType } from '../core/dtype.js';
import { HeddleError } from '../core/errors.js';
import { Tensor } from '../core/tensor.js';
import type { ValueMetadata } from '../runtime/session.js';
import { numbersToStorage } from '../backends/reference/util.js';

/** Symbolic dimensions take `dims[name]`, or 1 when not given. */
export function randomFeed(meta: ValueMetadata, dims: Record<string, number>, random: () => number): Tensor {
  if (!meta.isTensor || !meta.type || !meta.shape) {
    throw new HeddleError(`input '${meta.name}' is not a tensor of known rank: give it with --input`);
  }
  const shape = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : (dims[String(d)] ?? 1)));
  const size = shape.reduce((a, b) => a * b, 1);
  const type = meta.type as Tensor['type'];
  if (type === 'string')
    return new Tensor(
      'string',
      Array.from({ length: size }, (_, i) => `s${i}`),
      shape,
    );
  const values = new Float64Array(size);
  // Integer inputs are usually indices (token ids, positions): small non-negative values are safe.
  for (let i = 0; i < size; i++) {
    values[i] = isFloatType(type)
      ? random() * 2 - 1
      : type === 'bool'
        ? Math.round(random())
        : Math.floor(random() * 10);
  }
  return new Tensor(type, numbersToStorage(type, values), shape);
}
