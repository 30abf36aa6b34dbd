/**
 * Slice and Expand on the wasm backend, as strided copies: a slice reads its source from the first
 * selected element with each sliced axis's stride multiplied by its step (negative steps walk
 * backwards), an expansion reads broadcast axes with stride 0. Unit-step slices of the inner axis
 * are runs of v128 copies. Slice's starts, ends, axes and steps (of every opset) are read and
 * clamped by the reference backend's `sliceWindow`.
 */

import { HeddleError } from '../../../core/errors.js';
import type { Node } from '../../../ir/graph.js';
import type { PreparedKernel } from '../../backend.js';
import { KernelContext } from '../../reference/kernel.js';
import { sliceWindow } from '../../reference/kernels/shape.js';
import { readInts, stridesOf } from '../../reference/util.js';
import { tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { claimsMovable, stridedCopyKernel } from './transpose.js';

function sliceKernel(node: Node, env: WasmEnv): PreparedKernel {
  return stridedCopyKernel(node, env, 'slice_simd128', (data, args) =>
    sliceWindow(new KernelContext(node, args), data),
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
