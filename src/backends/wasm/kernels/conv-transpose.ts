/**
 * ConvTranspose on float32 NCHW data with one or two spatial axes, as a GEMM and a col2im: per
 * image and group, the columns Wᵀ·X ([Cout/group·kh·kw] × [H·W], the weights transposed once at
 * prepare) are computed by the GEMM, then each output row gathers the columns that land on it
 * (codegen/conv.ts's col2im, which also starts the row from the bias). Strides, dilations, pads,
 * output_padding, output_shape and auto_pad are resolved as the reference backend does.
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import { intAttribute, type Node, opLabel, stringAttribute, type ValueType } from '../../../ir/graph.js';
import type { PreparedKernel } from '../../backend.js';
import { generatedKernel } from '../codegen/compile.js';
import { finishStaged } from '../codegen/elementwise.js';
import { buildCol2imKernel, col2imKernelKey, col2imKernelName, type Col2imSpec } from '../codegen/conv.js';
import { Gemm, packedPanelFloats } from '../gemm.js';
import { claimsFloat32, shapeOf, tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { declaredKernelFits, planeTiles, windowInts } from './conv.js';
import { sameDims } from '../../reference/util.js';
import { inOrder, type Pending } from './transpose.js';

const F32 = 4;

interface TransposeShape {
  xDims: number[];
  wDims: number[];
  outDims: number[];
  batch: number;
  inChannels: number;
  outChannels: number;
  group: number;
  col2im: Col2imSpec;
}

/**
 * Output sizes and pads: an explicit output_shape (or SAME auto_pad, which asks for input·stride)
 * fixes the size and the pads follow, the odd unit going to the end for SAME_UPPER and to the
 * beginning otherwise; without one, the pads fix the size.
 */
function transposedSizes(
  node: Node,
  inSpatial: readonly number[],
  kernel: readonly number[],
): { out: number[]; begin: number[]; strides: number[]; dilations: number[] } | string {
  const rank = inSpatial.length;
  const strides = windowInts(node, 'strides', rank, 1);
  const dilations = windowInts(node, 'dilations', rank, 1);
  const outputPadding = windowInts(node, 'output_padding', rank, 0);
  if (typeof strides === 'string') return strides;
  if (typeof dilations === 'string') return dilations;
  if (typeof outputPadding === 'string') return outputPadding;
  if ([...strides, ...dilations, ...kernel].some((v) => v < 1))
    return 'strides, dilations and kernel must be positive';
  const autoPad = stringAttribute(node, 'auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad))
    return `unknown auto_pad '${autoPad}'`;
  const full = inSpatial.map(
    (n, d) => strides[d]! * (n - 1) + outputPadding[d]! + (kernel[d]! - 1) * dilations[d]! + 1,
  );
  const shape = node.attributes.get('output_shape');
  let out: number[] | undefined;
  if (shape) {
    if (shape.type !== 'ints') return 'output_shape must be ints';
    // Some exporters write the full output shape, batch and channels included.
    out = shape.value.length === rank + 2 ? shape.value.slice(2) : shape.value;
    if (out.length !== rank) return `output_shape must have ${rank} values`;
  } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    out = inSpatial.map((n, d) => n * strides[d]!);
  }
  let begin: number[];
  if (out) {
    begin = out.map((size, d) => {
      const total = full[d]! - size;
      return autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
    });
  } else {
    const pads =
      autoPad === 'VALID' ? new Array<number>(2 * rank).fill(0) : windowInts(node, 'pads', 2 * rank, 0);
    if (typeof pads === 'string') return pads;
    begin = pads.slice(0, rank);
    out = full.map((size, d) => size - pads[d]! - pads[d + rank]!);
  }
  if (out.some((size) => size < 1)) return 'the output would be empty';
  return { out, begin, strides, dilations };
}

function transposeShape(node: Node, types: ReadonlyMap<string, ValueType>): TransposeShape | string {
  const xDims = shapeOf(types, node.inputs[0]!);
  const wDims = shapeOf(types, node.inputs[1] ?? '');
  if (!xDims || !wDims) return 'the wasm ConvTranspose needs static input and weight shapes';
  if ((xDims.length !== 3 && xDims.length !== 4) || wDims.length !== xDims.length) {
    return 'the wasm ConvTranspose takes 1-D and 2-D convolutions';
  }
  const kernel = wDims.slice(2);
  if (!declaredKernelFits(node, kernel)) return 'kernel_shape does not match the weights';
  const group = intAttribute(node, 'group', 1);
  const [batch, inChannels] = xDims as [number, number];
  if (group < 1 || inChannels !== wDims[0] || inChannels % group !== 0)
    return 'channels, weights and group are inconsistent';
  const outChannels = wDims[1]! * group;
  if ([...xDims, ...wDims].some((d) => d < 1)) return 'empty tensors';
  const biasName = node.inputs[2] ?? '';
  if (biasName !== '' && shapeOf(types, biasName)?.join() !== `${outChannels}`) {
    return `the bias must be static of dims [${outChannels}]`;
  }
  const sizes = transposedSizes(node, xDims.slice(2), kernel);
  if (typeof sizes === 'string') return sizes;
  const two = (values: readonly number[], fill: number): [number, number] =>
    values.length === 2 ? [values[0]!, values[1]!] : [fill, values[0]!];
  const [inHeight, inWidth] = two(xDims.slice(2), 1);
  const [outHeight, outWidth] = two(sizes.out, 1);
  return {
    xDims,
    wDims,
    outDims: [batch, outChannels, ...sizes.out],
    batch,
    inChannels,
    outChannels,
    group,
    col2im: {
      inHeight,
      inWidth,
      outHeight,
      outWidth,
      kernel: two(kernel, 1),
      strides: two(sizes.strides, 1),
      dilations: two(sizes.dilations, 1),
      pads: two(sizes.begin, 0),
      bias: biasName !== '',
    },
  };
}

function claimsConvTranspose(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const float = claimsFloat32(node, types);
  if (float !== true) return float;
  const shape = transposeShape(node, types);
  return typeof shape === 'string' ? shape : true;
}

/** Per group, Wᵀ: W [Cin, Cout/group·kh·kw] row-major, group g's Cin/group rows turned into columns. */
function transposeWeights(
  w: Float32Array,
  group: number,
  rows: number,
  columns: number,
  target: Float32Array,
): void {
  for (let g = 0; g < group; g++) {
    const base = g * rows * columns;
    for (let p = 0; p < rows; p++) {
      for (let i = 0; i < columns; i++) target[base + i * rows + p] = w[base + p * columns + i]!;
    }
  }
}

function prepareConvTranspose(node: Node, env: WasmEnv): PreparedKernel {
  const shape = transposeShape(node, env.types);
  if (typeof shape === 'string') throw new HeddleError(shape, { node: node.name, opType: opLabel(node) });
  const { xDims, wDims, outDims, batch, inChannels, outChannels, group, col2im } = shape;
  const { inHeight, inWidth, outHeight, outWidth, kernel } = col2im;
  const groupChannels = inChannels / group;
  const columns = wDims[1]! * kernel[0] * kernel[1];
  const pixels = inHeight * inWidth;
  const outPlane = outHeight * outWidth;
  const gemm = new Gemm(env, { bias: 'none' });
  const name = col2imKernelName(col2im);
  const col2imKernel = generatedKernel(env.runtime, col2imKernelKey(col2im), name, (module) =>
    buildCol2imKernel(module, name, col2im),
  );
  const staging = env.staging();
  const reference = env.reference(node);
  const wFloats = wDims.reduce((n, d) => n * d, 1);
  const range = planeTiles(outChannels, outHeight, env.threads);

  /** Wᵀ in the heap: made once for constant weights, on every run for fed ones. */
  const transposed = (w: Tensor): number => {
    const make = (address: number) => {
      const target = env.heap.view('float32', address, wFloats) as Float32Array;
      transposeWeights(w.data as Float32Array, group, groupChannels, columns, target);
      return address;
    };
    if (env.constant(node.inputs[1]!) === w)
      return env.memo(w, 'conv-transpose Wᵀ', () => make(env.keep(wFloats * F32)));
    return make(staging.block(4, wFloats * F32));
  };

  function* steps(x: number, a: number, bias: number, y: number): Generator<Pending> {
    const packed = staging.block(5, packedPanelFloats(groupChannels, pixels) * F32);
    const cols = staging.block(6, group * columns * pixels * F32);
    for (let n = 0; n < batch; n++) {
      for (let g = 0; g < group; g++) {
        yield gemm.packB(
          x + (n * inChannels + g * groupChannels) * pixels * F32,
          groupChannels,
          pixels,
          pixels,
          false,
          packed,
        );
        yield gemm.run(
          { m: columns, n: pixels, k: groupChannels },
          {
            a: a + g * columns * groupChannels * F32,
            lda: groupChannels,
            b: packed,
            c: cols + g * columns * pixels * F32,
            ldc: pixels,
          },
        );
      }
      const image = y + n * outChannels * outPlane * F32;
      const work = outChannels * outPlane * kernel[0] * kernel[1];
      yield env.runtime.parallel(col2imKernel, range, [cols, image, bias], work);
    }
  }

  return {
    name: `convtranspose_${gemm.name}_${name}`,
    run: (args) => {
      const x = tensorInput(args, 0, node);
      const w = tensorInput(args, 1, node);
      const bias = col2im.bias ? tensorInput(args, 2, node) : undefined;
      const planned = (t: Tensor, dims: readonly number[]) => t.type === 'float32' && sameDims(t.dims, dims);
      if (!planned(x, xDims) || !planned(w, wDims) || (bias && !planned(bias, [outChannels]))) {
        return reference.run(args);
      }
      const output = args.allocateOutput(0, 'float32', outDims);
      const pending = inOrder(
        steps(
          staging.input(x, 0),
          transposed(w),
          bias ? staging.input(bias, 2) : 0,
          staging.output(output, 3),
        ),
      );
      return finishStaged(staging, pending, [output]);
    },
  };
}

export const kernels: WasmKernelDef[] = [
  { op: 'ConvTranspose', since: 1, claims: claimsConvTranspose, prepare: prepareConvTranspose },
];
