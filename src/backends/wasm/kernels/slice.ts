/**
 * Slice and Expand on the wasm backend, as strided copies: a slice reads its source from the first
 * selected element with each sliced axis's stride multiplied by its step (negative steps walk
 * backwards), an expansion reads broadcast axes with stride 0. Unit-step slices of the inner axis
 * are runs of v128 copies. Slice's starts, ends, axes and steps (of every opset) are read and
 * clamped by the reference backend's `sliceWindow`.
 */

import type { Node } from '../../../ir/graph.js';
import type { PreparedKernel } from '../../backend.js';
import { KernelContext } from '../../reference/kernel.js';
import { describeDims, sliceWindow } from '../../reference/kernels/shape.js';
import { broadcastShapes, readInts, stridesOf } from '../../reference/util.js';
import type { WasmEnv, WasmKernelDef } from '../kernel.js';
import { claimsMovable, stridedCopyKernel } from './transpose.js';

function sliceKernel(node: Node, env: WasmEnv): PreparedKernel {
  return stridedCopyKernel(node, env, 'slice_simd128', (data, args) =>
    sliceWindow(new KernelContext(node, args), data),
  );
}

function expandKernel(node: Node, env: WasmEnv): PreparedKernel {
  return stridedCopyKernel(node, env, 'expand_simd128', (data, args) => {
    const ctx = new KernelContext(node, args);
    const requested = readInts(ctx.input(1));
    if (requested.some((d) => d < 0)) ctx.fail(`shape ${describeDims(requested)} has a negative dim`);
    const dims = broadcastShapes([data.dims, requested], (reason) => ctx.fail(reason));
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
