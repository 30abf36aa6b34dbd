/**
 * Slice and Expand on the wasm backend, as strided copies: a slice reads its source from the first
 * selected element with each sliced axis's stride multiplied by its step (negative steps walk
 * backwards), an expansion reads broadcast axes with stride 0. Unit-step slices of the inner axis
 * are runs of v128 copies. Slice takes starts/ends/axes as attributes before opset 10 and as
 * inputs (with steps) from 10; ranges clamp as numpy's do.
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import type { Node } from '../../../ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../../backend.js';
import { readInts, stridesOf } from '../../reference/util.js';
import { tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { resolveAxis } from './concat.js';
import { claimsMovable, intsAttribute, stridedCopyKernel, type CopySource } from './transpose.js';

interface SliceSpec {
  starts: number[];
  ends: number[];
  axes: number[] | undefined;
  steps: number[] | undefined;
}

function sliceSpec(node: Node, args: KernelArgs): SliceSpec {
  if (node.opset < 10) {
    const starts = intsAttribute(node, 'starts');
    const ends = intsAttribute(node, 'ends');
    if (!starts || !ends) throw new HeddleError('attributes starts and ends are required');
    return { starts, ends, axes: intsAttribute(node, 'axes'), steps: undefined };
  }
  const optional = (i: number): number[] | undefined =>
    node.inputs[i] ? readInts(tensorInput(args, i, node)) : undefined;
  return {
    starts: readInts(tensorInput(args, 1, node)),
    ends: readInts(tensorInput(args, 2, node)),
    axes: optional(3),
    steps: optional(4),
  };
}

/** The first coordinate a slice of one axis reads and how many it reads, clamped as numpy does. */
function sliceRange(dim: number, start: number, end: number, step: number): { first: number; count: number } {
  const resolve = (i: number, low: number, high: number): number =>
    Math.min(Math.max(i < 0 ? i + dim : i, low), high);
  const first = step > 0 ? resolve(start, 0, dim) : resolve(start, 0, dim - 1);
  const stop = step > 0 ? resolve(end, 0, dim) : resolve(end, -1, dim - 1);
  return { first, count: Math.max(0, Math.ceil((stop - first) / step)) };
}

/** The output dims, the element offset of the first element read, and the source strides of the walk. */
function sliceWalk(data: Tensor, spec: SliceSpec): CopySource {
  const { starts, ends, axes, steps } = spec;
  const rank = data.dims.length;
  const sliced = axes ?? starts.map((_, i) => i);
  if (
    ends.length !== starts.length ||
    sliced.length !== starts.length ||
    (steps && steps.length !== starts.length)
  )
    throw new HeddleError('starts, ends, axes and steps must have the same length');
  const dims = [...data.dims];
  const dataStrides = stridesOf(data.dims);
  const strides = [...dataStrides];
  let offset = 0;
  const seen = new Set<number>();
  sliced.forEach((requested, i) => {
    const axis = resolveAxis(requested, rank);
    if (seen.has(axis)) throw new HeddleError(`axis ${axis} is sliced twice`);
    seen.add(axis);
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new HeddleError('slice steps cannot be 0');
    const { first, count } = sliceRange(data.dims[axis]!, starts[i]!, ends[i]!, step);
    dims[axis] = count;
    offset += first * dataStrides[axis]!;
    strides[axis] = step * dataStrides[axis]!;
  });
  return { dims, offset, strides };
}

function sliceKernel(node: Node, env: WasmEnv): PreparedKernel {
  return stridedCopyKernel(node, env, 'slice_simd128', (data, args) =>
    sliceWalk(data, sliceSpec(node, args)),
  );
}

/** The broadcast of `dims` and the requested shape (either may be 1 where the other is not). */
function expandedDims(dims: readonly number[], requested: readonly number[]): number[] {
  if (requested.some((d) => d < 0))
    throw new HeddleError(`shape [${requested.join(', ')}] has a negative dim`);
  const rank = Math.max(dims.length, requested.length);
  return Array.from({ length: rank }, (_, a) => {
    const x = dims[a - (rank - dims.length)] ?? 1;
    const y = requested[a - (rank - requested.length)] ?? 1;
    if (x !== y && x !== 1 && y !== 1)
      throw new HeddleError(`cannot broadcast [${dims.join(', ')}] to [${requested.join(', ')}]`);
    return x === 1 ? y : x;
  });
}

function expandKernel(node: Node, env: WasmEnv): PreparedKernel {
  return stridedCopyKernel(node, env, 'expand_simd128', (data, args) => {
    const dims = expandedDims(data.dims, readInts(tensorInput(args, 1, node)));
    const leading = dims.length - data.dims.length;
    const strides = stridesOf(data.dims);
    // A broadcast axis (length 1 in the data, or added in front of it) repeats its element.
    return {
      dims,
      strides: dims.map((_, a) => (a < leading || data.dims[a - leading] === 1 ? 0 : strides[a - leading]!)),
      offset: 0,
    };
  });
}

export const kernels: WasmKernelDef[] = [
  {
    op: 'Slice',
    since: 1,
    claims: (node, types) => claimsMovable([node.inputs[0]!, node.outputs[0]!], types),
    prepare: sliceKernel,
  },
  {
    op: 'Expand',
    since: 8,
    claims: (node, types) => claimsMovable([node.inputs[0]!, node.outputs[0]!], types),
    prepare: expandKernel,
  },
];
