/**
 * Conv and com.heddle::FusedConv (Conv + bias + activation, BatchNorm already folded into the
 * weights) on float32 NCHW data with one or two spatial axes (1-D runs as 2-D of height 1).
 *
 * Two ways to compute, chosen by the shape:
 * - One input channel per group (depthwise convolutions, with any channel multiplier): a direct
 *   sliding-window kernel per output plane (codegen/conv.ts), generated for the exact kernel size,
 *   strides, dilations and activation, four outputs of a row per vector.
 * - Everything else: im2col straight into the GEMM's packed-panel layout, then the GEMM's driver
 *   with the weights as A (Cout×K row-major, exactly as stored), the bias per row and the
 *   activation in its epilogue, both in one parallel loop: a tile is (image·group, a block of
 *   pixel panels, a block of output channels), and a thread packs a block of panels into its own
 *   scratch (sized to stay in its L2) once for the consecutive tiles that share it. Padded inputs
 *   are first copied into zero-bordered planes, so im2col never checks bounds; a 1×1 stride-1
 *   convolution without padding packs the planes as they are.
 *
 * The window geometry (strides, dilations, pads, auto_pad, ceil_mode) is read here for the pooling
 * kernels too.
 */

import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import {
  HEDDLE_DOMAIN,
  intAttribute,
  type Node,
  opLabel,
  stringAttribute,
  type ValueType,
} from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { generatedKernel } from '../codegen/compile.js';
import { activationOf, type Activation } from '../codegen/activation.js';
import {
  buildFusedConvKernel,
  buildIm2colKernel,
  buildPadKernel,
  buildWindowKernel,
  im2colKernelKey,
  im2colKernelName,
  fusedScratchBytes,
  type FusedConvSpec,
  padKernelKey,
  windowKernelKey,
  windowKernelName,
  type Im2colSpec,
  type PadSpec,
  type PlaneWindow,
  type WindowKernelSpec,
} from '../codegen/conv.js';
import { HeapOperands } from '../codegen/elementwise.js';
import { depthBlock, L2_BYTES, PANEL_WIDTH } from '../gemm.js';
import { emitGemm, gemmKernelName, gemmModuleKey, type GemmKernelSpec } from '../codegen/gemm.js';
import { claimsFloat32, shapeOf, tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import { sameDims } from '../../reference/util.js';
import { inOrder, type Pending } from './transpose.js';

const F32 = 4;
/** Tiles per thread a parallel loop aims at, so stealing evens out the threads. */
const TILES_PER_THREAD = 4;

// Attributes and geometry

/** An int-list attribute of `count` values, its default, or the reason it is unusable. */
export function windowInts(node: Node, name: string, count: number, fallback: number): number[] | string {
  const a = node.attributes.get(name);
  if (a === undefined) return new Array<number>(count).fill(fallback);
  if (a.type !== 'ints' || a.value.length !== count) return `attribute '${name}' must have ${count} ints`;
  return a.value;
}

/**
 * Where a window (a convolution's kernel, a pool's) lands on inputs of `inSpatial` (one or two
 * axes): strides, dilations, and pads or auto_pad resolved as ONNX defines them. With `ceilMode`
 * the output size rounds up, dropping a last window that would start in the end padding. A 1-D
 * window is a 2-D one of height 1. Returns the reason when the attributes do not describe one.
 */
export function planeWindow(
  node: Node,
  inSpatial: readonly number[],
  kernel: readonly number[],
  ceilMode = false,
): PlaneWindow | string {
  const rank = inSpatial.length;
  if (rank !== 1 && rank !== 2) return `the wasm kernels take 1-D and 2-D windows, not ${rank}-D`;
  if (kernel.length !== rank) return `kernel of ${kernel.length} axes for ${rank} spatial axes`;
  const strides = windowInts(node, 'strides', rank, 1);
  const dilations = windowInts(node, 'dilations', rank, 1);
  const pads = windowInts(node, 'pads', 2 * rank, 0);
  if (typeof strides === 'string') return strides;
  if (typeof dilations === 'string') return dilations;
  if (typeof pads === 'string') return pads;
  if ([...strides, ...dilations, ...kernel].some((v) => v < 1) || pads.some((p) => p < 0)) {
    return 'strides, dilations and kernel must be positive and pads not negative';
  }
  const autoPad = stringAttribute(node, 'auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad))
    return `unknown auto_pad '${autoPad}'`;
  const begin: number[] = [];
  const end: number[] = [];
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    const size = inSpatial[d]!;
    const span = (kernel[d]! - 1) * dilations[d]! + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out[d] = Math.ceil(size / strides[d]!);
      const total = Math.max(0, (out[d]! - 1) * strides[d]! + span - size);
      begin[d] = autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2);
      end[d] = total - begin[d]!;
      continue;
    }
    begin[d] = autoPad === 'VALID' ? 0 : pads[d]!;
    end[d] = autoPad === 'VALID' ? 0 : pads[d + rank]!;
    const room = size + begin[d]! + end[d]! - span;
    if (room < 0) return `a window of ${span} does not fit in ${size} plus padding`;
    let count = (ceilMode ? Math.ceil(room / strides[d]!) : Math.floor(room / strides[d]!)) + 1;
    if (ceilMode && (count - 1) * strides[d]! >= size + begin[d]!) count--;
    out[d] = count;
  }
  if (out.some((size) => size < 1) || inSpatial.some((size) => size < 1)) return 'empty planes';
  const two = (values: number[], fill: number): [number, number] =>
    rank === 2 ? [values[0]!, values[1]!] : [fill, values[0]!];
  const [inHeight, inWidth] = two([...inSpatial], 1);
  const [outHeight, outWidth] = two(out, 1);
  const [top, left] = two(begin, 0);
  const [bottom, right] = two(end, 0);
  return {
    inHeight,
    inWidth,
    outHeight,
    outWidth,
    kernel: two([...kernel], 1),
    strides: two(strides, 1),
    dilations: two(dilations, 1),
    pads: [top, left, bottom, right],
  };
}

/** Tiles over [planes, output rows]: whole planes when there are enough of them. */
export function planeTiles(
  planes: number,
  rows: number,
  threads: number,
): { dims: number[]; tile: number[] } {
  const wanted = threads > 1 ? TILES_PER_THREAD * threads : 1;
  if (planes >= wanted) return { dims: [planes, rows], tile: [Math.floor(planes / wanted), rows] };
  return { dims: [planes, rows], tile: [1, Math.ceil(rows / Math.ceil(wanted / planes))] };
}

/** A heap block of `floats` floats, all `value`, made once per backend. */
export function constantRow(env: WasmEnv, value: number, floats: number): number {
  return env.memo(CONSTANT_ROWS, `${value}:${floats}`, () => {
    const address = env.keep(floats * F32);
    (env.heap.view('float32', address, floats) as Float32Array).fill(value);
    return address;
  });
}
const CONSTANT_ROWS = {};

// The convolution's shape

interface ConvShape extends OperandDims {
  batch: number;
  inChannels: number;
  group: number;
  window: PlaneWindow;
}

/** Whether the kernel_shape attribute, where given, is the weights' spatial dims `kernel`. */
export function declaredKernelFits(node: Node, kernel: readonly number[]): boolean {
  const declared = node.attributes.get('kernel_shape');
  return !declared || (declared.type === 'ints' && sameDims(declared.value, kernel));
}

/** The static shape of the convolution, or why the wasm kernels do not take it. */
function convShape(node: Node, types: ReadonlyMap<string, ValueType>): ConvShape | string {
  const xDims = shapeOf(types, node.inputs[0]!);
  const wDims = shapeOf(types, node.inputs[1] ?? '');
  if (!xDims || !wDims) return 'the wasm convolutions need static input and weight shapes';
  if (xDims.length < 3 || wDims.length !== xDims.length)
    return 'input and weights must be [N, C, spatial...]';
  const kernel = wDims.slice(2);
  if (!declaredKernelFits(node, kernel)) return 'kernel_shape does not match the weights';
  const group = intAttribute(node, 'group', 1);
  const [batch, inChannels] = xDims as [number, number];
  const outChannels = wDims[0]!;
  if (group < 1 || inChannels !== wDims[1]! * group || outChannels % group !== 0) {
    return 'channels, weights and group are inconsistent';
  }
  if (batch < 1 || outChannels < 1 || wDims[1]! < 1) return 'empty tensors';
  const biasName = node.inputs[2] ?? '';
  const biasDims = biasName === '' ? undefined : shapeOf(types, biasName);
  if (biasName !== '' && (!biasDims || biasDims.join() !== `${outChannels}`)) {
    return `the bias must be static of dims [${outChannels}]`;
  }
  const window = planeWindow(node, xDims.slice(2), kernel);
  if (typeof window === 'string') return window;
  const outSpatial = xDims.length === 4 ? [window.outHeight, window.outWidth] : [window.outWidth];
  return {
    xDims,
    wDims,
    outDims: [batch, outChannels, ...outSpatial],
    batch,
    inChannels,
    outChannels,
    group,
    window,
    hasBias: biasName !== '',
  };
}

function claimsConv(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const float = claimsFloat32(node, types);
  if (float !== true) return float;
  const activation = fusedActivation(node);
  if (typeof activation === 'string') return activation;
  const shape = convShape(node, types);
  return typeof shape === 'string' ? shape : true;
}

function fusedActivation(node: Node): Activation | undefined | string {
  return node.domain === HEDDLE_DOMAIN ? activationOf(node) : undefined;
}

function prepareConv(node: Node, env: WasmEnv): PreparedKernel {
  const shape = convShape(node, env.types);
  const activation = fusedActivation(node);
  if (typeof shape === 'string') throw new HeddleError(shape, { node: node.name, opType: opLabel(node) });
  if (typeof activation === 'string') {
    throw new HeddleError(activation, { node: node.name, opType: opLabel(node) });
  }
  const operands = new ConvOperands(node, env, shape);
  return shape.inChannels === shape.group
    ? depthwiseConv(node, env, shape, activation, operands)
    : gemmConv(node, env, shape, activation, operands);
}

/** The planned dims of a convolution's operands (X, W, the optional bias, Y). */
interface OperandDims {
  xDims: number[];
  wDims: number[];
  outDims: number[];
  outChannels: number;
  hasBias: boolean;
}

/** The heap addresses of a convolution's tensors for one run. */
class ConvOperands {
  private readonly operands: HeapOperands;

  constructor(
    private readonly node: Node,
    env: WasmEnv,
    private readonly shape: OperandDims,
  ) {
    this.operands = new HeapOperands(env, node);
  }

  /** The tensors' addresses, or undefined when the run's shapes are not the planned ones. */
  bind(args: KernelArgs): { x: number; w: number; bias: number; y: number; output: Tensor } | undefined {
    const { node, shape, operands } = this;
    const x = tensorInput(args, 0, node);
    const w = tensorInput(args, 1, node);
    const bias = shape.hasBias ? tensorInput(args, 2, node) : undefined;
    const planned = (t: Tensor, dims: readonly number[]) => t.type === 'float32' && sameDims(t.dims, dims);
    if (
      !planned(x, shape.xDims) ||
      !planned(w, shape.wDims) ||
      (bias && !planned(bias, [shape.outChannels]))
    ) {
      return undefined;
    }
    const output = args.allocateOutput(0, 'float32', shape.outDims);
    return {
      x: operands.input(x, 0, 0),
      w: operands.input(w, 1, 1),
      bias: bias ? operands.input(bias, 2, 2) : 0,
      y: operands.output(output, 3),
      output,
    };
  }

  /** Scratch block `slot` of this kernel. */
  scratch(slot: number, bytes: number): number {
    return this.operands.scratch(4 + slot, bytes);
  }

  /** `outputs` once `pending` is done and a staged output is copied out. */
  finish(pending: Pending, outputs: KernelOutputs): KernelOutputs | Promise<KernelOutputs> {
    return this.operands.finish(pending, outputs);
  }
}

// Depthwise: a direct window kernel

function depthwiseConv(
  node: Node,
  env: WasmEnv,
  shape: ConvShape,
  activation: Activation | undefined,
  operands: ConvOperands,
): PreparedKernel {
  const { window, batch, inChannels, outChannels, hasBias } = shape;
  const spec: WindowKernelSpec = {
    window,
    reduction: { kind: 'weighted', inChannels, outChannels, bias: hasBias, activation },
    relaxedSimd: env.features.relaxedSimd,
  };
  const name = windowKernelName(spec);
  const kernel = generatedKernel(env.runtime, windowKernelKey(spec), name, (module) =>
    buildWindowKernel(module, name, spec),
  );
  const neutral = constantRow(env, 0, window.inWidth);
  const planes = batch * outChannels;
  const range = planeTiles(planes, window.outHeight, env.threads);
  const work = planes * window.outHeight * window.outWidth * window.kernel[0] * window.kernel[1];
  const reference = env.reference(node);
  return {
    name,
    run: (args) => {
      const bound = operands.bind(args);
      if (!bound) return reference.run(args);
      const { x, y, w, bias, output } = bound;
      return operands.finish(env.runtime.parallel(kernel, range, [x, y, neutral, w, bias], work), [output]);
    },
  };
}

// Everything else: im2col into packed panels, then the GEMM, fused in one parallel loop

/** Rows of the GEMM's register tile (its micro-kernels are 4×8): row blocks are multiples of it. */
const GEMM_TILE_ROWS = 4;
/** Bytes of zero-bordered input planes a padded convolution keeps; more images run in turns. */
const BORDERED_BYTES = 8 << 20;
/** A panel block is halved for more tiles only while it keeps at least this many panels. */
const MIN_SPLIT_PANELS = 16;

/**
 * Panels and rows per tile. A thread's panels take at most half of L2 (all of them when they fit,
 * so deep convolutions read their weights once), rows of A a quarter. Then, for tiles enough to
 * share out, panel blocks are halved first (no work is repeated) and row blocks next (each thread
 * then packs the panels it needs itself).
 */
function fusedBlocking(
  depth: number,
  pixels: number,
  rows: number,
  items: number,
  threads: number,
): { panelBlock: number; rowBlock: number } {
  const panels = Math.ceil(pixels / PANEL_WIDTH);
  const panelBytes = depth * PANEL_WIDTH * F32;
  let panelBlock =
    panels * panelBytes <= L2_BYTES / 2 ? panels : Math.max(1, Math.floor(L2_BYTES / 4 / panelBytes));
  const alignRows = (value: number) =>
    Math.max(GEMM_TILE_ROWS, Math.ceil(value / GEMM_TILE_ROWS) * GEMM_TILE_ROWS);
  let rowBlock = Math.min(rows, alignRows(Math.floor(L2_BYTES / 4 / (depth * F32))));
  const wanted = threads > 1 ? TILES_PER_THREAD * threads : 1;
  const tiles = () => items * Math.ceil(panels / panelBlock) * Math.ceil(rows / rowBlock);
  while (tiles() < wanted) {
    if (panelBlock >= MIN_SPLIT_PANELS) panelBlock = Math.ceil(panelBlock / 2);
    else if (rowBlock > GEMM_TILE_ROWS) rowBlock = Math.min(rows, alignRows(rowBlock / 2));
    else break;
  }
  return { panelBlock, rowBlock };
}

function gemmConv(
  node: Node,
  env: WasmEnv,
  shape: ConvShape,
  activation: Activation | undefined,
  operands: ConvOperands,
): PreparedKernel {
  const { window, batch, inChannels, outChannels, group, hasBias } = shape;
  const { inHeight, inWidth, outHeight, outWidth, kernel, strides, pads } = window;
  const groupChannels = inChannels / group;
  const rows = outChannels / group;
  const depth = groupChannels * kernel[0] * kernel[1];
  const pixels = outHeight * outWidth;
  const pointwise =
    kernel[0] === 1 && kernel[1] === 1 && strides[0] === 1 && strides[1] === 1 && pads.every((p) => p === 0);
  const padded = pads.some((p) => p > 0);
  const paddedHeight = inHeight + pads[0] + pads[2];
  const paddedWidth = inWidth + pads[1] + pads[3];
  const sourcePlaneBytes = (padded ? paddedHeight * paddedWidth : inHeight * inWidth) * F32;
  // A pointwise convolution reads each plane as one row of pixels.
  const im2col: Im2colSpec = pointwise
    ? { ...window, channels: groupChannels, inHeight: 1, inWidth: pixels, outHeight: 1, outWidth: pixels }
    : { ...window, channels: groupChannels, inHeight: paddedHeight, inWidth: paddedWidth };
  // Padded images run in turns so that the bordered copy of the input stays within BORDERED_BYTES.
  const imagesPerJob = padded
    ? Math.max(1, Math.min(batch, Math.floor(BORDERED_BYTES / (inChannels * sourcePlaneBytes))))
    : batch;
  const { panelBlock, rowBlock } = fusedBlocking(depth, pixels, rows, imagesPerJob * group, env.threads);
  const fused: FusedConvSpec = {
    im2col,
    rows,
    depth,
    pixels,
    groups: group,
    panelBlock,
    rowBlock,
    depthBlock: depthBlock(depth),
    imageBytes: inChannels * sourcePlaneBytes,
    groupBytes: groupChannels * sourcePlaneBytes,
    bias: hasBias,
  };
  const gemmSpec: GemmKernelSpec = {
    rows: GEMM_TILE_ROWS,
    relaxedSimd: env.features.relaxedSimd,
    bias: hasBias ? 'row' : 'none',
    activation,
  };
  const im2colName = im2colKernelName(im2col);
  const key = [im2colKernelKey(im2col), gemmModuleKey(gemmSpec), JSON.stringify(fused)].join(':');
  const convKernel = generatedKernel(env.runtime, key, 'conv', (module) => {
    const im2colFunction = buildIm2colKernel(module, im2colName, im2col);
    buildFusedConvKernel(module, fused, im2colFunction, emitGemm(module, gemmSpec));
  });
  const pad: PadSpec = { height: inHeight, width: inWidth, pads };
  const padKernel = padded
    ? generatedKernel(env.runtime, padKernelKey(pad), 'pad_f32_rows', (module) => buildPadKernel(module, pad))
    : undefined;

  const blocks = Math.ceil(Math.ceil(pixels / PANEL_WIDTH) / panelBlock);
  const rowBlocks = Math.ceil(rows / rowBlock);
  const scratchBytes = env.threads * fusedScratchBytes(fused);
  const imageBytes = inChannels * inHeight * inWidth * F32;
  const borderedBytes = imagesPerJob * fused.imageBytes;
  /** The parallel loops over `images` images: the pad copy's rows, and the convolution's tiles. */
  const ranges = (images: number) => {
    const dims = [images * group, blocks, rowBlocks];
    const padRows = images * inChannels * inHeight;
    const padTile = Math.max(1, Math.ceil(padRows / (TILES_PER_THREAD * env.threads)));
    return {
      conv: { dims, tile: env.threads > 1 ? [1, 1, 1] : dims },
      convWork: images * group * rows * pixels * depth,
      pad: { dims: [padRows], tile: [padTile] },
      padWork: padRows * inWidth,
    };
  };
  const fullJob = ranges(imagesPerJob);
  const lastJob = ranges(batch % imagesPerJob || imagesPerJob);
  const reference = env.reference(node);
  let zeroedBorder = -1;
  let taggedScratch = -1;
  let generation = 0;

  /** The zero-bordered copy of the input planes, its border zeroed when the block is new. */
  const borderedPlanes = (): number => {
    const address = operands.scratch(1, borderedBytes);
    if (address !== zeroedBorder) {
      env.heap.bytes(address, borderedBytes).fill(0);
      zeroedBorder = address;
    }
    return address;
  };

  /** The threads' scratch; a new block's tags are cleared, as it may hold another kernel's. */
  const threadScratch = (): number => {
    const address = operands.scratch(0, scratchBytes);
    if (address !== taggedScratch) {
      const tags = env.heap.view('int32', address, scratchBytes / 4) as Int32Array;
      for (let thread = 0; thread < env.threads; thread++) tags[(thread * fusedScratchBytes(fused)) / 4] = -1;
      taggedScratch = address;
    }
    return address;
  };

  function* steps(x: number, w: number, bias: number, y: number): Generator<Pending> {
    const scratch = threadScratch();
    for (let first = 0; first < batch; first += imagesPerJob) {
      const job = first + imagesPerJob < batch ? fullJob : lastJob;
      // A new generation (never -1) tells every thread's scratch that the panels it holds are stale.
      generation = (generation + 1) & 0x7fffffff;
      let source = x + first * imageBytes;
      if (padKernel) {
        const bordered = borderedPlanes();
        yield env.runtime.parallel(padKernel, job.pad, [source, bordered], job.padWork);
        source = bordered;
      }
      const out = y + first * outChannels * pixels * F32;
      yield env.runtime.parallel(
        convKernel,
        job.conv,
        [source, w, bias, out, scratch, generation],
        job.convWork,
      );
    }
  }

  return {
    name: `conv_${im2colName}_${gemmKernelName(gemmSpec)}`,
    run: (args) => {
      const bound = operands.bind(args);
      if (!bound) return reference.run(args);
      const { x, w, bias, y, output } = bound;
      return operands.finish(inOrder(steps(x, w, bias, y)), [output]);
    },
  };
}

export const kernels: WasmKernelDef[] = [
  { op: 'Conv', since: 1, claims: claimsConv, prepare: prepareConv },
  { domain: HEDDLE_DOMAIN, op: 'FusedConv', since: 1, claims: claimsConv, prepare: prepareConv },
];
