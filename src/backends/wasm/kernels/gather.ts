/**
 * Gather on the wasm backend. Each index selects one contiguous slab of the data per outer
 * position (a whole row for GPT's and BERT's token embeddings, gathered along axis 0), so the
 * kernel is one native block copy per slab straight from the data's typed array into the output:
 * no generated code, no staging of the (often large, constant) table into the heap, and only the
 * few selected rows touched. Slabs of a single element copy in a plain loop. Indices are int32 or
 * int64, may be negative (counted from the end) and are all checked before anything is written.
 */

import { slotsPerElement } from '../../../core/dtype.js';
import { HeddleError } from '../../../core/errors.js';
import type { Tensor, TensorData } from '../../../core/tensor.js';
import { intAttribute, type Node } from '../../../ir/graph.js';
import type { PreparedKernel } from '../../backend.js';
import { tensorInput, typeOf, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { resolveAxis } from './concat.js';
import { claimsMovable, elementBytesOf } from './transpose.js';

/** The indices resolved into [0, size), failing on the first outside [-size, size). */
function resolvedIndices(indices: Tensor, size: number, axis: number): Int32Array {
  const resolved = new Int32Array(indices.size);
  const values = indices.data;
  if (values instanceof BigInt64Array) {
    for (let i = 0; i < resolved.length; i++) resolved[i] = resolveIndex(values[i]!, size, axis);
  } else if (values instanceof Int32Array) {
    for (let i = 0; i < resolved.length; i++) resolved[i] = resolveIndex(values[i]!, size, axis);
  } else {
    throw new HeddleError(`indices must be int32 or int64, got ${indices.type}`);
  }
  return resolved;
}

function resolveIndex(value: number | bigint, size: number, axis: number): number {
  const index = Number(value);
  const resolved = index < 0 ? index + size : index;
  if (!(resolved >= 0 && resolved < size))
    throw new HeddleError(`index ${value} is out of range for axis ${axis} of size ${size}`);
  return resolved;
}

/** Copies, for each outer position and each index, the selected slab of `slab` slots. */
function gatherSlabs(
  out: TensorData,
  data: TensorData,
  indices: Int32Array,
  outer: number,
  axisLength: number,
  slab: number,
): void {
  const to = out as Float32Array;
  const from = data as Float32Array;
  let position = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * axisLength;
    if (slab === 1) {
      for (let i = 0; i < indices.length; i++) to[position++] = from[base + indices[i]!]!;
      continue;
    }
    for (let i = 0; i < indices.length; i++) {
      const start = (base + indices[i]!) * slab;
      to.set(from.subarray(start, start + slab), position);
      position += slab;
    }
  }
}

function gatherKernel(node: Node, env: WasmEnv): PreparedKernel {
  const reference = env.reference(node);
  const requestedAxis = intAttribute(node, 'axis', 0);
  return {
    name: 'gather_rows',
    run(args) {
      const data = tensorInput(args, 0, node);
      const indices = tensorInput(args, 1, node);
      const elementBytes = elementBytesOf(data.type);
      if (elementBytes === undefined) return reference.run(args);
      const rank = data.dims.length;
      const axis = resolveAxis(requestedAxis, rank);
      const axisLength = data.dims[axis]!;
      const resolved = resolvedIndices(indices, axisLength, axis);
      const dims = [...data.dims.slice(0, axis), ...indices.dims, ...data.dims.slice(axis + 1)];
      const out = args.allocateOutput(0, data.type, dims);
      const outer = data.dims.slice(0, axis).reduce((n, d) => n * d, 1);
      const slab = data.dims.slice(axis + 1).reduce((n, d) => n * d, slotsPerElement(data.type));
      gatherSlabs(out.data, data.data, resolved, outer, axisLength, slab);
      return [out];
    },
  };
}

export const kernels: WasmKernelDef[] = [
  {
    op: 'Gather',
    since: 1,
    claims: (node, types) => {
      const indexType = typeOf(types, node.inputs[1]!);
      if (indexType !== undefined && indexType !== 'int32' && indexType !== 'int64')
        return `indices must be int32 or int64, got ${indexType}`;
      return claimsMovable([node.inputs[0]!, node.outputs[0]!], types);
    },
    prepare: gatherKernel,
  },
];
