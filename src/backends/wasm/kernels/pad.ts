/**
 * Pad on the wasm backend (constant, reflect, edge, wrap), as strided copies into the output: the
 * data goes to the output's interior first, then the padding is written one axis at a time from
 * the innermost out, each axis's padded slabs spanning the interior of the axes outside it and the
 * whole (already padded) extent of the axes inside it. A constant slab is a copy of one element
 * with every source stride 0; a reflected, edge or wrapped slab is a copy of the output slab it
 * mirrors. Every opset: `paddings`/`pads` and `value` attributes before 11, inputs from 11, `axes`
 * from 18; negative pads crop (the reading modes leave a crop to the reference backend).
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor, TensorData } from '../../../core/tensor.js';
import type { Node } from '../../../ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../../backend.js';
import { numbersToStorage, readInts, stridesOf } from '../../reference/util.js';
import { tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { resolveAxis } from './concat.js';
import {
  claimsMovable,
  copyStrided,
  elementBytesOf,
  floatAttribute,
  HeapOperands,
  inOrder,
  intsAttribute,
  stringAttribute,
  type ElementBytes,
  type Pending,
  type StridedWalk,
} from './transpose.js';

type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

const PAD_MODES: readonly string[] = ['constant', 'reflect', 'edge', 'wrap'];

/** The data coordinate that output coordinate `o` reads along an axis padded with `before` elements. */
function paddedCoordinate(
  o: number,
  dim: number,
  before: number,
  mode: Exclude<PadMode, 'constant'>,
): number {
  const c = o - before;
  if (c >= 0 && c < dim) return c;
  switch (mode) {
    case 'edge':
      return c < 0 ? 0 : dim - 1;
    case 'wrap':
      return ((c % dim) + dim) % dim;
    case 'reflect': {
      if (dim === 1) return 0;
      const period = 2 * (dim - 1);
      const folded = ((c % period) + period) % period;
      return folded < dim ? folded : period - folded;
    }
  }
}

interface PadSpec {
  /** Elements added before and after each axis (negative: removed). */
  before: number[];
  after: number[];
  /** The padding element's bytes. */
  fill: Uint8Array;
}

function bytesOf(data: TensorData): Uint8Array {
  const view = data as Uint8Array;
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function padSpec(node: Node, args: KernelArgs, data: Tensor): PadSpec {
  const rank = data.dims.length;
  let pads: number[] | undefined;
  let axes: number[] | undefined;
  let fill: Uint8Array;
  if (node.opset < 11) {
    pads = intsAttribute(node, node.opset < 2 ? 'paddings' : 'pads');
    const value = floatAttribute(node, 'value', 0);
    fill = bytesOf(numbersToStorage(data.type, [value]));
  } else {
    pads = readInts(tensorInput(args, 1, node));
    const constant = node.inputs[2] ? tensorInput(args, 2, node) : undefined;
    if (constant && (constant.type !== data.type || constant.size !== 1))
      throw new HeddleError(
        `constant_value must be one ${data.type}, got ${constant.type}[${constant.dims.join(', ')}]`,
      );
    fill = constant ? bytesOf(constant.data) : new Uint8Array(8);
    if (node.opset >= 18 && node.inputs[3]) axes = readInts(tensorInput(args, 3, node));
  }
  if (!pads) throw new HeddleError('pads are required');
  const padded = (axes ?? [...data.dims.keys()]).map((a) => resolveAxis(a, rank));
  if (pads.length !== 2 * padded.length)
    throw new HeddleError(`pads has ${pads.length} entries for ${padded.length} axes`);
  const before = new Array<number>(rank).fill(0);
  const after = new Array<number>(rank).fill(0);
  padded.forEach((axis, i) => {
    before[axis] = pads[i]!;
    after[axis] = pads[i + padded.length]!;
  });
  return { before, after, fill };
}

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
  const requestedMode = stringAttribute(node, 'mode', 'constant');
  return {
    name: 'pad_simd128',
    run(args) {
      const data = tensorInput(args, 0, node);
      const elementBytes = elementBytesOf(data.type);
      if (elementBytes === undefined) return reference.run(args);
      if (!PAD_MODES.includes(requestedMode)) throw new HeddleError(`unknown pad mode '${requestedMode}'`);
      const mode = requestedMode as PadMode;
      const { before, after, fill } = padSpec(node, args, data);
      const crops = before.some((p) => p < 0) || after.some((p) => p < 0);
      if (mode !== 'constant' && crops) return reference.run(args);
      const outDims = data.dims.map((dim, a) => {
        const size = dim + before[a]! + after[a]!;
        if (size < 0)
          throw new HeddleError(
            `pads ${before[a]}, ${after[a]} crop more than the ${dim} elements of axis ${a}`,
          );
        if (dim === 0 && size > 0 && mode !== 'constant')
          throw new HeddleError(`cannot ${mode}-pad the empty axis ${a}`);
        return size;
      });
      const out = args.allocateOutput(0, data.type, outDims);
      if (out.size === 0) return [out];
      const target = operands.output(out, 0);
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
          operands.input(data, 0) + sourceOffset * elementBytes,
          target + interior.offset * elementBytes,
        ),
      ];
      const fillAddress = mode === 'constant' ? constantElement(operands, fill, elementBytes) : 0;
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
function constantElement(operands: HeapOperands, fill: Uint8Array, elementBytes: ElementBytes): number {
  const address = operands.scratch(0, elementBytes);
  operands.heapBytes(address, elementBytes).set(fill.subarray(0, elementBytes));
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
