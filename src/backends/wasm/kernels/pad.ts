/**
 * Pad on the wasm backend (constant, reflect, edge, wrap), as strided copies into the output: the
 * data goes to the output's interior first, then the padding is written one axis at a time from
 * the innermost out, each axis's padded slabs spanning the interior of the axes outside it and the
 * whole (already padded) extent of the axes inside it. A constant slab is a copy of one element
 * with every source stride 0; a reflected, edge or wrapped slab is a copy of the output slab it
 * mirrors. The pads, mode and constant value of every opset are read by the reference backend's
 * `padPlan`; negative pads crop (the reading modes leave a crop to the reference backend).
 */

import type { Tensor } from '../../../core/tensor.js';
import type { Node } from '../../../ir/graph.js';
import type { PreparedKernel } from '../../backend.js';
import { KernelContext } from '../../reference/kernel.js';
import { paddedCoordinate, padPlan } from '../../reference/kernels/shape.js';
import { stridesOf } from '../../reference/util.js';
import { HeapOperands } from '../codegen/elementwise.js';
import { tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import {
  claimsMovable,
  copyStrided,
  elementBytesOf,
  inOrder,
  type ElementBytes,
  type Pending,
  type StridedWalk,
} from './transpose.js';

/** What one pad run does, in output coordinates. */
interface PadLayout {
  outDims: number[];
  outStrides: number[];
  /** Per axis, the output range [low, high) the data lands in. */
  low: number[];
  high: number[];
}

/**
 * The output slab of `count` positions of axis `a` from `first`: the walk over the interior of the
 * axes outside a and the whole extent of those inside it, and the element offset where it starts.
 * With `a` the rank it is the interior itself.
 */
function slabWalk(
  layout: PadLayout,
  a: number,
  first: number,
  count: number,
): { dims: number[]; offset: number } {
  const dims = layout.outDims.map((d, b) => (b < a ? layout.high[b]! - layout.low[b]! : b === a ? count : d));
  const offset = layout.outStrides.reduce(
    (sum, stride, b) => sum + stride * (b < a ? layout.low[b]! : b === a ? first : 0),
    0,
  );
  return { dims, offset };
}

function padKernel(node: Node, env: WasmEnv): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const reference = env.reference(node);
  return {
    name: 'pad_simd128',
    run(args) {
      const data = tensorInput(args, 0, node);
      const elementBytes = elementBytesOf(data.type);
      if (elementBytes === undefined) return reference.run(args);
      const { mode, before, after, dims: outDims, fill } = padPlan(new KernelContext(node, args), data);
      const crops = before.some((p) => p < 0) || after.some((p) => p < 0);
      if (mode !== 'constant' && crops) return reference.run(args);
      const out = args.allocateOutput(0, data.type, outDims);
      if (out.size === 0) return [out];
      const target = operands.output(out, 1);
      const layout: PadLayout = { outDims, outStrides: stridesOf(outDims), low: [], high: [] };
      const dataStrides = stridesOf(data.dims);
      let sourceOffset = 0;
      data.dims.forEach((dim, a) => {
        const first = Math.max(0, -before[a]!);
        const count = Math.max(0, Math.min(dim, outDims[a]! - before[a]!) - first);
        sourceOffset += first * dataStrides[a]!;
        layout.low.push(Math.max(0, before[a]!));
        layout.high.push(Math.max(0, before[a]!) + count);
      });
      const copy = (walk: StridedWalk, from: number, to: number) => (): Pending =>
        copyStrided(env.runtime, elementBytes, walk, from, to);
      const interior = slabWalk(layout, data.dims.length, 0, 0);
      const steps = [
        copy(
          { dims: interior.dims, src: dataStrides, dst: layout.outStrides },
          operands.input(data, 0, 0) + sourceOffset * elementBytes,
          target + interior.offset * elementBytes,
        ),
      ];
      const fillAddress = mode === 'constant' ? constantElement(env, operands, fill, elementBytes) : 0;
      for (let a = data.dims.length - 1; a >= 0; a--) {
        const slabs: [first: number, count: number][] = [
          [0, layout.low[a]!],
          [layout.high[a]!, outDims[a]! - layout.high[a]!],
        ];
        for (const [first, count] of slabs) {
          if (count === 0) continue;
          if (mode === 'constant') {
            const slab = slabWalk(layout, a, first, count);
            const walk = { dims: slab.dims, src: slab.dims.map(() => 0), dst: layout.outStrides };
            steps.push(copy(walk, fillAddress, target + slab.offset * elementBytes));
            continue;
          }
          for (let o = first; o < first + count; o++) {
            const slab = slabWalk(layout, a, o, 1);
            const mirrored = paddedCoordinate(o, data.dims[a]!, before[a]!, mode) + before[a]!;
            const from = slab.offset + (mirrored - o) * layout.outStrides[a]!;
            const walk = { dims: slab.dims, src: layout.outStrides, dst: layout.outStrides };
            steps.push(copy(walk, target + from * elementBytes, target + slab.offset * elementBytes));
          }
        }
      }
      return operands.finish(inOrder(steps), [out]);
    },
  };
}

/** A heap copy of the padding element, for copies that read it with stride 0. */
function constantElement(
  env: WasmEnv,
  operands: HeapOperands,
  fill: Tensor,
  elementBytes: ElementBytes,
): number {
  const address = operands.scratch(2, elementBytes);
  const view = fill.data as Uint8Array;
  env.heap.bytes(address, elementBytes).set(new Uint8Array(view.buffer, view.byteOffset, elementBytes));
  return address;
}

export const kernels: WasmKernelDef[] = [
  {
    op: 'Pad',
    since: 1,
    claims: (node, types) => claimsMovable([node.inputs[0]!, node.outputs[0]!], types),
    prepare: padKernel,
  },
];
