/**
 * Generated code for the convolution family, specialised to every static fact of one node (plane
 * sizes, kernel, strides, dilations, pads, activation):
 *
 * - `buildWindowKernel`: a sliding window over NCHW planes, four outputs of a row per f32x4, for
 *   depthwise convolutions (a weighted sum per window) and for MaxPool and AveragePool. Rows of the
 *   window that fall in the padding read a "neutral row" (zeros, or NaN for max) instead of
 *   branching, so only the few border columns take the checked scalar path.
 * - `buildIm2colKernel`: the input of a convolution rearranged as the GEMM's B operand, already in
 *   its packed-panel layout (panels of 8 output pixels, K = channels·kh·kw rows each), so the
 *   GEMM runs on it with no packing pass of its own.
 * - `buildFusedConvKernel`: im2col and the GEMM driver (codegen/gemm.ts) in one tiled loop, each
 *   thread packing its panels into scratch of its own and multiplying them while they are in cache.
 * - `buildPadKernel`: copies planes into a zero-bordered buffer, so that im2col never checks bounds.
 * - `buildCol2imKernel`: a transposed convolution's columns gathered into its output rows.
 */

import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { activationName, emitActivation, type Activation } from './activation.js';
import { floatLanes, i32Function, splat } from './math.js';

/** Where a window lands on one plane: sizes, kernel and the window's steps, all static. */
export interface PlaneWindow {
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  /** top, left, bottom, right */
  readonly pads: readonly [number, number, number, number];
}

/** What a window computes. */
export type WindowReduction =
  | {
      kind: 'weighted';
      /** Output channel c reads input channel floor(c / (outChannels / inChannels)). */
      inChannels: number;
      outChannels: number;
      bias: boolean;
      activation?: Activation;
    }
  | { kind: 'max' }
  | { kind: 'average'; countIncludePad: boolean };

export interface WindowKernelSpec {
  readonly window: PlaneWindow;
  readonly reduction: WindowReduction;
  readonly relaxedSimd: boolean;
}

const F32 = 4;

const EVEN_FLOATS = floatLanes([0, 2, 4, 6]);
const ODD_FLOATS = floatLanes([1, 3, 5, 7]);
const NEXT_FLOATS = floatLanes([1, 2, 3, 4]);

/** Replaces the i32 i on the stack by base + i·scale: an element's address (or row) from its index. */
function addScaled(f: FunctionBuilder, base: Local, scale: number): FunctionBuilder {
  return f.i32Const(scale).op('i32.mul').get(base).op('i32.add');
}

/** A loop bound: a constant, or a local (a tile's bounds, mostly). */
type Bound = number | Local;

/** for (i = from; i < end; i += step) body. */
function forRange(
  f: FunctionBuilder,
  i: Local,
  from: Bound,
  end: Bound,
  step: number,
  body: () => void,
): void {
  const push = (bound: Bound) => (typeof bound === 'number' ? f.i32Const(bound) : f.get(bound));
  push(from);
  f.set(i);
  f.block(null, (exit) => {
    f.get(i);
    push(end);
    f.op('i32.ge_s').brIf(exit);
    f.loop(null, (top) => {
      body();
      f.get(i).i32Const(step).op('i32.add').tee(i);
      push(end);
      f.op('i32.lt_s').brIf(top);
    });
  });
}

/** The name a window kernel has in traces, e.g. `dwconv_f32_3x3s2_relu_relaxedsimd`. */
export function windowKernelName(spec: WindowKernelSpec): string {
  const { kernel, strides, dilations } = spec.window;
  const reduction = spec.reduction;
  const prefix = reduction.kind === 'weighted' ? 'dwconv' : reduction.kind === 'max' ? 'maxpool' : 'avgpool';
  const pair = (values: readonly number[]) => (values[0] === values[1] ? `${values[0]}` : values.join('x'));
  const dilation = dilations[0] === 1 && dilations[1] === 1 ? '' : `d${pair(dilations)}`;
  const suffix =
    reduction.kind === 'weighted'
      ? `_${activationName(reduction.activation)}`
      : reduction.kind === 'average' && reduction.countIncludePad
        ? '_withpad'
        : '';
  const simd = spec.relaxedSimd && reduction.kind === 'weighted' ? 'relaxedsimd' : 'simd128';
  return `${prefix}_f32_${kernel.join('x')}s${pair(strides)}${dilation}${suffix}_${simd}`;
}

/** The module key: the name plus every static size the code bakes in. */
export function windowKernelKey(spec: WindowKernelSpec): string {
  const w = spec.window;
  const reduction = spec.reduction;
  const channels = reduction.kind === 'weighted' ? `:c${reduction.inChannels}>${reduction.outChannels}` : '';
  const bias = reduction.kind === 'weighted' && reduction.bias ? ':bias' : '';
  const params = reduction.kind === 'weighted' ? `:${reduction.activation?.params.join(',') ?? ''}` : '';
  return (
    `${windowKernelName(spec)}:${w.inHeight}x${w.inWidth}>${w.outHeight}x${w.outWidth}` +
    `:p${w.pads.join(',')}${channels}${bias}${params}`
  );
}

/**
 * How one output vector (4 outputs of a row, window start at column ix0) gathers the inputs of
 * kernel column kx when the stride is 2: each tap's 4 inputs are every other float from ix0 + e,
 * e = kx·dilation. Two loads give the even floats (tap e) and the odd ones (tap e + 1); a tap two
 * floats on from one already gathered needs only one more float.
 */
type StrideTwoStep =
  | { kind: 'pair'; e: number }
  | { kind: 'odd'; e: number; pairAt: number }
  | { kind: 'next'; e: number; from: number };

function strideTwoSteps(offsets: readonly number[]): StrideTwoStep[] {
  const steps: StrideTwoStep[] = [];
  const pairs = new Set<number>();
  const gathered = new Set<number>();
  for (const e of [...new Set(offsets)].sort((a, b) => a - b)) {
    if (pairs.has(e - 1)) steps.push({ kind: 'odd', e, pairAt: e - 1 });
    else if (gathered.has(e - 2)) steps.push({ kind: 'next', e, from: e - 2 });
    else {
      steps.push({ kind: 'pair', e });
      pairs.add(e);
    }
    gathered.add(e);
  }
  return steps;
}

/** The last float a vector reads, relative to its window start, for kernel columns at `offsets`. */
function vectorReach(stride: number, offsets: readonly number[]): number {
  const last = Math.max(...offsets);
  if (stride === 1) return last + 3;
  if (stride !== 2) return last + 3 * stride;
  return Math.max(
    ...strideTwoSteps(offsets).map((step) =>
      step.kind === 'pair' ? step.e + 7 : step.kind === 'next' ? step.e + 6 : 0,
    ),
  );
}

/** The columns of a row computed four at a time: [first, first + 4·count). */
function vectorColumns(window: PlaneWindow, reach: number): { first: number; count: number } {
  const { inWidth, outWidth, strides, pads } = window;
  const first = Math.ceil(pads[1] / strides[1]);
  // The last window start whose reads stay inside the row, and the last that fills 4 outputs.
  const lastStart = Math.min(Math.floor((inWidth - 1 - reach + pads[1]) / strides[1]), outWidth - 4);
  const count = lastStart >= first ? Math.floor((lastStart - first) / 4) + 1 : 0;
  return count > 0 ? { first, count } : { first: 0, count: 0 };
}

/**
 * A sliding-window kernel over planes: `name(thread, plane0, plane1, row0, row1, x, y, neutral[, w,
 * bias])` computes output rows [row0, row1) of planes [plane0, plane1). `neutral` points at a row
 * of inWidth floats, all zero (NaN for max). Weighted windows read weights
 * [outChannels, kh·kw] and, with `bias`, one bias per output channel.
 */
export function buildWindowKernel(module: ModuleBuilder, name: string, spec: WindowKernelSpec): void {
  new WindowKernelWriter(module, name, spec).write();
}

const WINDOW_PARAMS = ['thread', 'plane0', 'plane1', 'row0', 'row1', 'x', 'y', 'neutral'] as const;
const WEIGHTED_WINDOW_PARAMS = [...WINDOW_PARAMS, 'w', 'bias'] as const;

class WindowKernelWriter {
  private readonly f: FunctionBuilder;
  private readonly w: PlaneWindow;
  private readonly reduction: WindowReduction;
  private readonly taps: number;
  private readonly columnOffsets: number[];
  private readonly x: Local;
  private readonly y: Local;
  private readonly neutral: Local;
  private readonly weights?: Local;
  private readonly biases?: Local;
  private readonly plane: Local;
  private readonly oy: Local;
  private readonly ox: Local;
  private readonly xPlane: Local;
  private readonly yRow: Local;
  private readonly wPlane: Local;
  private readonly base: Local;
  private readonly column: Local;
  private readonly rowPointers: Local[];
  private readonly rowCount: Local;
  private readonly columnCount: Local;
  private readonly rowScale: Local;
  private readonly initial: Local;
  private readonly weightVectors: Local[] = [];
  /** While set, maxima combine with a bare pmax (see vectorOutputs). */
  private quickMax = false;
  private readonly temporaries: Local[] = [];

  constructor(
    module: ModuleBuilder,
    name: string,
    private readonly spec: WindowKernelSpec,
  ) {
    this.w = spec.window;
    this.reduction = spec.reduction;
    const [kh, kw] = this.w.kernel;
    this.taps = kh * kw;
    this.columnOffsets = Array.from({ length: kw }, (_, kx) => kx * this.w.dilations[1]);
    const weighted = this.reduction.kind === 'weighted';
    const f = (this.f = i32Function(module, name, weighted ? WEIGHTED_WINDOW_PARAMS : WINDOW_PARAMS).f);
    [, , , , , this.x, this.y, this.neutral, this.weights, this.biases] = f.params;
    this.plane = f.local('i32', 'plane');
    this.oy = f.local('i32', 'oy');
    this.ox = f.local('i32', 'ox');
    this.xPlane = f.local('i32', 'xPlane');
    this.yRow = f.local('i32', 'yRow');
    this.wPlane = f.local('i32', 'wPlane');
    this.base = f.local('i32', 'base');
    this.column = f.local('i32', 'column');
    this.rowPointers = Array.from({ length: kh }, (_, ky) => f.local('i32', `inputRow${ky}`));
    this.rowCount = f.local('i32', 'rowCount');
    this.columnCount = f.local('i32', 'columnCount');
    this.rowScale = f.local('v128', 'rowScale');
    this.initial = f.local('v128', 'initial');
  }

  write(): void {
    const f = this.f;
    const [plane0, plane1, row0, row1] = f.params.slice(1, 5) as Local[];
    forRange(f, this.plane, plane0!, plane1!, 1, () => {
      this.startPlane();
      forRange(f, this.oy, row0!, row1!, 1, () => this.writeRow());
    });
  }

  /** Plane pointers, and for weighted windows the plane's weights and bias as vectors. */
  private startPlane(): void {
    const f = this.f;
    const { inHeight, inWidth } = this.w;
    const reduction = this.reduction;
    if (reduction.kind === 'weighted') {
      const { inChannels, outChannels } = reduction;
      const channel = f.local('i32', 'channel');
      f.get(this.plane).i32Const(outChannels).op('i32.rem_u').set(channel);
      // The input plane: batch item times inChannels, plus the channel this output channel reads.
      f.get(this.plane).i32Const(outChannels).op('i32.div_u').i32Const(inChannels).op('i32.mul');
      f.get(channel)
        .i32Const(outChannels / inChannels)
        .op('i32.div_u')
        .op('i32.add');
      addScaled(f, this.x, inHeight * inWidth * F32).set(this.xPlane);
      addScaled(f.get(channel), this.weights!, this.taps * F32).set(this.wPlane);
      if (this.weightsInRegisters()) {
        for (let t = 0; t < this.taps; t++) {
          const vector = (this.weightVectors[t] ??= f.local('v128', `w${t}`));
          f.get(this.wPlane)
            .mem('v128.load32_splat', { offset: t * F32 })
            .set(vector);
        }
      }
      if (reduction.bias) {
        addScaled(f.get(channel), this.biases!, F32);
        f.mem('v128.load32_splat').set(this.initial);
      } else {
        splat(f, 0).set(this.initial);
      }
    } else {
      addScaled(f.get(this.plane), this.x, inHeight * inWidth * F32);
      f.set(this.xPlane);
      const start = reduction.kind === 'max' ? NaN : 0;
      splat(f, start).set(this.initial);
    }
  }

  /** Nine taps or fewer keep their weights in registers; larger kernels load them as they go. */
  private weightsInRegisters(): boolean {
    return this.taps <= 9;
  }

  private writeRow(): void {
    const f = this.f;
    const { inHeight, inWidth, outHeight, outWidth, kernel, strides, dilations, pads } = this.w;
    const [kh, kw] = kernel;
    const reduction = this.reduction;
    f.i32Const(0).set(this.rowCount);
    for (let ky = 0; ky < kh; ky++) {
      const iy = this.temporary('i32', 0);
      f.get(this.oy)
        .i32Const(strides[0])
        .op('i32.mul')
        .i32Const(ky * dilations[0] - pads[0])
        .op('i32.add');
      f.set(iy);
      // The input row, or the neutral row when this kernel row falls in the padding.
      addScaled(f.get(iy), this.xPlane, inWidth * F32);
      f.get(this.neutral);
      f.get(iy).i32Const(inHeight).op('i32.lt_u').select().set(this.rowPointers[ky]!);
      if (reduction.kind === 'average') this.countTap(this.rowCount, iy, 0, reduction.countIncludePad);
    }
    if (reduction.kind === 'average') {
      f.f32Const(1).get(this.rowCount).i32Const(kw).op('i32.mul').op('f32.convert_i32_s').op('f32.div');
      f.op('f32x4.splat').set(this.rowScale);
    }
    addScaled(f.get(this.plane), this.oy, outHeight);
    addScaled(f, this.y, outWidth * F32).set(this.yRow);

    const reach = vectorReach(strides[1], this.columnOffsets);
    const { first, count } = vectorColumns(this.w, reach);
    const unroll = this.unroll();
    const mainEnd = first + 4 * unroll * Math.floor(count / unroll);
    const end = first + 4 * count;
    this.scalarColumns(0, first);
    this.vectorColumns(first, mainEnd, unroll);
    this.vectorColumns(mainEnd, end, 1);
    this.scalarColumns(end, outWidth);
  }

  /**
   * Output vectors per loop step. A weighted window keeps its weights in registers and one
   * accumulator (more spill: measured 25% slower at two); the pools have registers to spare.
   */
  private unroll(): number {
    return this.reduction.kind === 'weighted' ? 1 : 2;
  }

  private scalarColumns(from: number, to: number): void {
    if (from >= to) return;
    const f = this.f;
    forRange(f, this.ox, from, to, 1, () => this.scalarOutput());
  }

  private vectorColumns(from: number, to: number, unroll: number): void {
    if (from >= to) return;
    const f = this.f;
    forRange(f, this.ox, from, to, 4 * unroll, () => this.vectorOutputs(unroll));
  }

  /**
   * count += 1 when the tap at input index `at` along `axis` (0 rows, 1 columns) is one an average
   * divides by: inside the input, or (counting padding) inside the padded input.
   */
  private countTap(count: Local, at: Local, axis: 0 | 1, countIncludePad: boolean): void {
    const f = this.f;
    const { pads } = this.w;
    const size = axis === 0 ? this.w.inHeight : this.w.inWidth;
    f.get(count).get(at);
    if (countIncludePad) {
      f.i32Const(pads[axis])
        .op('i32.add')
        .i32Const(size + pads[axis] + pads[axis + 2]);
    } else {
      f.i32Const(size);
    }
    f.op('i32.lt_u').op('i32.add').set(count);
  }

  /** One output at column ox, every tap checked against the row's ends. */
  private scalarOutput(): void {
    const f = this.f;
    const { inWidth, kernel, strides, pads } = this.w;
    const [kh, kw] = kernel;
    const reduction = this.reduction;
    const acc = this.temporary('v128', 0);
    const ix = this.temporary('i32', 1);
    f.get(this.initial).set(acc);
    f.i32Const(0).set(this.columnCount);
    for (let kx = 0; kx < kw; kx++) {
      f.get(this.ox)
        .i32Const(strides[1])
        .op('i32.mul')
        .i32Const(this.columnOffsets[kx]! - pads[1]);
      f.op('i32.add').set(ix);
      f.get(ix).i32Const(inWidth).op('i32.lt_u');
      f.if(null, () => {
        for (let ky = 0; ky < kh; ky++) {
          f.get(this.rowPointers[ky]!).get(ix).i32Const(2).op('i32.shl').op('i32.add');
          f.mem('v128.load32_splat');
          this.combine(acc, ky * kw + kx);
        }
      });
      if (reduction.kind === 'average') this.countTap(this.columnCount, ix, 1, reduction.countIncludePad);
    }
    f.get(acc);
    if (reduction.kind === 'average') {
      f.get(this.rowCount).get(this.columnCount).op('i32.mul').op('f32.convert_i32_s').op('f32x4.splat');
      f.op('f32x4.div');
    } else if (reduction.kind === 'weighted') {
      emitActivation(f, reduction.activation);
    }
    f.set(acc);
    f.get(this.yRow).get(this.ox).i32Const(2).op('i32.shl').op('i32.add').get(acc);
    f.memLane('v128.store32_lane', 0);
  }

  /** `unroll` vectors of 4 outputs from column ox, every tap inside the row. */
  private vectorOutputs(unroll: number): void {
    const f = this.f;
    const { kernel, strides, pads } = this.w;
    const [kh] = kernel;
    const reduction = this.reduction;
    const accs = Array.from({ length: unroll }, (_, u) => this.temporary('v128', u));
    const max = reduction.kind === 'max';
    // A maximum first runs from -inf with one pmax per tap (NaN taps ignored); a lane left at -inf
    // (only NaN or padding seen, or a true -inf) is computed again the careful way.
    this.quickMax = max;
    for (const acc of accs) {
      if (max) splat(f, -Infinity).set(acc);
      else f.get(this.initial).set(acc);
    }
    f.get(this.ox).i32Const(strides[1]).op('i32.mul').i32Const(-pads[1]).op('i32.add');
    f.i32Const(2).op('i32.shl').set(this.column);
    const addTaps = (chosen: readonly number[]) => {
      for (let ky = 0; ky < kh; ky++) {
        f.get(this.rowPointers[ky]!).get(this.column).op('i32.add').set(this.base);
        for (const u of chosen) this.rowTaps(ky, accs[u]!, 4 * u * strides[1]);
      }
    };
    addTaps(accs.map((_, u) => u));
    this.quickMax = false;
    if (max) {
      accs.forEach((acc, u) => {
        splat(f.get(acc), -Infinity).op('f32x4.eq');
        f.op('v128.any_true');
        f.if(null, () => {
          f.get(this.initial).set(acc);
          addTaps([u]);
        });
      });
    }
    f.get(this.yRow).get(this.ox).i32Const(2).op('i32.shl').op('i32.add').set(this.base);
    accs.forEach((acc, u) => {
      f.get(this.base).get(acc);
      if (reduction.kind === 'average') f.get(this.rowScale).op('f32x4.mul');
      else if (reduction.kind === 'weighted') emitActivation(f, reduction.activation);
      f.mem('v128.store', { offset: u * 4 * F32 });
    });
  }

  /** Adds kernel row ky's taps for the vector whose window starts `shift` floats past `base`. */
  private rowTaps(ky: number, acc: Local, shift: number): void {
    const f = this.f;
    const [, kw] = this.w.kernel;
    const stride = this.w.strides[1];
    const load = (float: number) => f.get(this.base).mem('v128.load', { offset: (shift + float) * F32 });
    if (stride === 1) {
      for (let kx = 0; kx < kw; kx++) {
        load(this.columnOffsets[kx]!);
        this.combine(acc, ky * kw + kx);
      }
      return;
    }
    if (stride === 2) {
      this.strideTwoTaps(ky, acc, shift);
      return;
    }
    const gathered = this.temporary('v128', 8);
    for (let kx = 0; kx < kw; kx++) {
      splat(f, 0).set(gathered);
      for (let lane = 0; lane < 4; lane++) {
        f.get(this.base).get(gathered);
        f.memLane('v128.load32_lane', lane, {
          offset: (shift + this.columnOffsets[kx]! + lane * stride) * F32,
        });
        f.set(gathered);
      }
      f.get(gathered);
      this.combine(acc, ky * kw + kx);
    }
  }

  private strideTwoTaps(ky: number, acc: Local, shift: number): void {
    const f = this.f;
    const [, kw] = this.w.kernel;
    const load = (float: number) => f.get(this.base).mem('v128.load', { offset: (shift + float) * F32 });
    const pairs = new Map<number, [Local, Local]>();
    const gathered = new Map<number, Local>();
    strideTwoSteps(this.columnOffsets).forEach((step, index) => {
      const vector = this.temporary('v128', 8 + index);
      if (step.kind === 'pair') {
        const low = this.temporary('v128', 16 + 2 * index);
        const high = this.temporary('v128', 17 + 2 * index);
        load(step.e);
        f.tee(low);
        load(step.e + 4);
        f.tee(high).shuffle(EVEN_FLOATS);
        pairs.set(step.e, [low, high]);
      } else if (step.kind === 'odd') {
        const [low, high] = pairs.get(step.pairAt)!;
        f.get(low).get(high).shuffle(ODD_FLOATS);
      } else {
        f.get(gathered.get(step.from)!);
        f.get(this.base).mem('v128.load32_zero', { offset: (shift + step.e + 6) * F32 });
        f.shuffle(NEXT_FLOATS);
      }
      f.set(vector);
      gathered.set(step.e, vector);
    });
    for (let kx = 0; kx < kw; kx++) {
      f.get(gathered.get(this.columnOffsets[kx]!)!);
      this.combine(acc, ky * kw + kx);
    }
  }

  /** acc = acc ⊕ (the vector on the stack), with tap t's weight for weighted windows. */
  private combine(acc: Local, tap: number): void {
    const f = this.f;
    switch (this.reduction.kind) {
      case 'max': {
        // pmax keeps acc when the value is NaN; a NaN acc (nothing seen yet) gives way to the value.
        const value = this.temporary('v128', 7);
        f.set(value).get(acc).get(value).op('f32x4.pmax');
        if (!this.quickMax) f.get(value).get(acc).get(acc).op('f32x4.eq').op('v128.bitselect');
        break;
      }
      case 'average':
        f.get(acc).op('f32x4.add');
        break;
      case 'weighted':
        if (this.weightsInRegisters()) f.get(this.weightVectors[tap]!);
        else f.get(this.wPlane).mem('v128.load32_splat', { offset: tap * F32 });
        if (this.spec.relaxedSimd) f.get(acc).op('f32x4.relaxed_madd');
        else f.op('f32x4.mul').get(acc).op('f32x4.add');
        break;
    }
    f.set(acc);
  }

  /** The `index`th scratch local of a type, made on first use. */
  private temporary(type: 'i32' | 'v128', index: number): Local {
    const key = (type === 'i32' ? 0 : 64) + index;
    return (this.temporaries[key] ??= this.f.local(type, `${type}_${index}`));
  }
}

/**
 * The static shape of an im2col: the (padded) source planes and the convolution over them. The
 * window's input sizes are the source planes', padding included: im2col reads no padding.
 */
export interface Im2colSpec extends Omit<PlaneWindow, 'pads'> {
  /** Channels of one group: K = channels·kh·kw. */
  readonly channels: number;
}

/** A kernel name's window: `3x3s2x2`, with dilations when they are not 1 (`3x3s1x1d2x2`). */
function windowOfName(window: Pick<PlaneWindow, 'kernel' | 'strides' | 'dilations'>): string {
  const { kernel, strides, dilations } = window;
  const dilation = dilations[0] === 1 && dilations[1] === 1 ? '' : `d${dilations.join('x')}`;
  return `${kernel.join('x')}s${strides.join('x')}${dilation}`;
}

export function im2colKernelName(spec: Im2colSpec): string {
  return `im2col_f32_${windowOfName(spec)}_panel8`;
}

export function im2colKernelKey(spec: Im2colSpec): string {
  return `${im2colKernelName(spec)}:c${spec.channels}:${spec.inHeight}x${spec.inWidth}>${spec.outHeight}x${spec.outWidth}`;
}

/**
 * `name(thread, panel0, panel1, src, dst, firstPanel)`: panels firstPanel + [panel0, panel1) of
 * the packed B operand (panel p holds output pixels 8p..8p+7, zero past the last), panel
 * firstPanel + i written at dst + i·K·8 floats. Row k = (c·kh + ky)·kw + kx of a panel holds the 8 pixels'
 * inputs under that tap.
 *
 * Three kinds of panel: 8 pixels of one output row (stride 1: two vector loads per tap; stride 2:
 * four, and two shuffles), 8 pixels
 * spanning two rows (stride 1: the two rows' loads blended lane by lane), and the rest (other
 * strides, the last panel, rows shorter than 7) gathered a float at a time.
 */
export function buildIm2colKernel(module: ModuleBuilder, name: string, spec: Im2colSpec): FunctionBuilder {
  const writer = new Im2colWriter(module, name, spec);
  writer.write();
  return writer.f;
}

const IM2COL_PARAMS = ['thread', 'panel0', 'panel1', 'src', 'dst', 'firstPanel'] as const;

class Im2colWriter {
  readonly f: FunctionBuilder;
  private readonly pixels: number;
  private readonly tapOffsets: number[];
  private readonly panelBytes: number;
  private readonly src: Local;
  private readonly dst: Local;
  private readonly firstPanel: Local;
  private readonly relative: Local;
  private readonly panel: Local;
  private readonly out: Local;
  private readonly oy: Local;
  private readonly ox: Local;
  private readonly base: Local;
  private readonly baseB: Local;
  private readonly channel: Local;
  private readonly maskLow: Local;
  private readonly maskHigh: Local;
  private readonly lanes: Local[];
  private readonly gathered: Local;

  constructor(
    module: ModuleBuilder,
    name: string,
    private readonly spec: Im2colSpec,
  ) {
    const { inWidth, kernel, dilations, channels, outHeight, outWidth } = spec;
    this.pixels = outHeight * outWidth;
    this.tapOffsets = [];
    for (let ky = 0; ky < kernel[0]; ky++) {
      for (let kx = 0; kx < kernel[1]; kx++)
        this.tapOffsets.push(ky * dilations[0] * inWidth + kx * dilations[1]);
    }
    this.panelBytes = channels * this.tapOffsets.length * 8 * F32;
    const { f, params } = i32Function(module, name, IM2COL_PARAMS);
    this.f = f;
    [, , , this.src, this.dst, this.firstPanel] = params;
    this.relative = f.local('i32', 'relative');
    this.panel = f.local('i32', 'panel');
    this.out = f.local('i32', 'out');
    this.oy = f.local('i32', 'oy');
    this.ox = f.local('i32', 'ox');
    this.base = f.local('i32', 'base');
    this.baseB = f.local('i32', 'baseB');
    this.channel = f.local('i32', 'channel');
    this.maskLow = f.local('v128', 'maskLow');
    this.maskHigh = f.local('v128', 'maskHigh');
    this.lanes = Array.from({ length: 8 }, (_, l) => f.local('i32', `lane${l}`));
    this.gathered = f.local('v128', 'gathered');
  }

  write(): void {
    const f = this.f;
    const [panel0, panel1] = f.params.slice(1, 3) as Local[];
    forRange(f, this.relative, panel0!, panel1!, 1, () => this.writePanel());
  }

  private writePanel(): void {
    const f = this.f;
    const { outWidth, strides } = this.spec;
    f.get(this.relative).get(this.firstPanel).op('i32.add').set(this.panel);
    addScaled(f.get(this.relative), this.dst, this.panelBytes).set(this.out);
    f.get(this.panel).i32Const(8).op('i32.mul').i32Const(outWidth).op('i32.div_u').set(this.oy);
    f.get(this.panel).i32Const(8).op('i32.mul').i32Const(outWidth).op('i32.rem_u').set(this.ox);
    const whole = () =>
      f
        .get(this.panel)
        .i32Const(8)
        .op('i32.mul')
        .i32Const(this.pixels - 8)
        .op('i32.le_s');
    const inOneRow = () =>
      f
        .get(this.ox)
        .i32Const(outWidth - 8)
        .op('i32.le_s');
    whole();
    inOneRow();
    f.op('i32.and');
    f.if(
      null,
      () => this.rowPanel(),
      () => {
        if (strides[1] === 1 && outWidth >= 7) {
          whole();
          f.if(
            null,
            () => this.twoRowPanel(),
            () => this.gatheredPanel(),
          );
        } else {
          this.gatheredPanel();
        }
      },
    );
  }

  /** The source address of output pixel (oy, ox) on channel 0 under tap (0, 0). */
  private pixelAddress(oy: () => void, ox: () => void): void {
    const { inWidth, strides } = this.spec;
    const f = this.f;
    oy();
    f.i32Const(strides[0] * inWidth).op('i32.mul');
    ox();
    f.i32Const(strides[1]).op('i32.mul').op('i32.add').i32Const(2).op('i32.shl').get(this.src).op('i32.add');
  }

  /** Loops over channels: `body` writes one channel's taps from `base` (and `baseB`) on. */
  private forChannels(body: () => void, advance: readonly Local[]): void {
    const f = this.f;
    const planeBytes = this.spec.inHeight * this.spec.inWidth * F32;
    const tapBytes = this.tapOffsets.length * 8 * F32;
    forRange(f, this.channel, 0, this.spec.channels, 1, () => {
      body();
      for (const pointer of advance) f.get(pointer).i32Const(planeBytes).op('i32.add').set(pointer);
      f.get(this.out).i32Const(tapBytes).op('i32.add').set(this.out);
    });
  }

  private rowPanel(): void {
    const f = this.f;
    const stride = this.spec.strides[1];
    this.pixelAddress(
      () => f.get(this.oy),
      () => f.get(this.ox),
    );
    f.set(this.base);
    this.forChannels(() => {
      this.tapOffsets.forEach((offset, t) => {
        for (let half = 0; half < 2; half++) {
          f.get(this.out);
          const load = (float: number) =>
            f.get(this.base).mem('v128.load', { offset: (offset + float) * F32 });
          if (stride === 1) {
            load(4 * half);
          } else if (stride === 2) {
            // Floats 0,2,..,6 are the even ones of [0..7]; 8,..,14 the odd ones of [7..14], so no
            // load reaches past the last float the panel needs.
            load(half === 0 ? 0 : 7);
            load(half === 0 ? 4 : 11);
            f.shuffle(half === 0 ? EVEN_FLOATS : ODD_FLOATS);
          } else {
            splat(f, 0);
            for (let lane = 0; lane < 4; lane++) {
              f.set(this.gathered).get(this.base).get(this.gathered);
              f.memLane('v128.load32_lane', lane, { offset: (offset + (4 * half + lane) * stride) * F32 });
            }
          }
          f.mem('v128.store', { offset: (t * 8 + 4 * half) * F32 });
        }
      });
    }, [this.base]);
  }

  /**
   * Pixels 0..a-1 end row oy and a..7 start row oy + 1 (stride 1): each half-panel loads 4 floats
   * along each row, the second row's from a floats before its start, and keeps lanes < a from the
   * first.
   */
  private twoRowPanel(): void {
    const f = this.f;
    const { outWidth } = this.spec;
    const inFirstRow = this.lanes[0]!;
    f.i32Const(outWidth).get(this.ox).op('i32.sub').set(inFirstRow);
    this.pixelAddress(
      () => f.get(this.oy),
      () => f.get(this.ox),
    );
    f.set(this.base);
    this.pixelAddress(
      () => f.get(this.oy).i32Const(1).op('i32.add'),
      () => f.i32Const(0).get(inFirstRow).op('i32.sub'),
    );
    f.set(this.baseB);
    f.get(inFirstRow).op('i32x4.splat').v128Const('i32x4', [0, 1, 2, 3]).op('i32x4.gt_s').set(this.maskLow);
    f.get(inFirstRow).op('i32x4.splat').v128Const('i32x4', [4, 5, 6, 7]).op('i32x4.gt_s').set(this.maskHigh);
    this.forChannels(() => {
      this.tapOffsets.forEach((offset, t) => {
        for (let half = 0; half < 2; half++) {
          const at = { offset: (offset + 4 * half) * F32 };
          f.get(this.out);
          f.get(this.base).mem('v128.load', at).get(this.baseB).mem('v128.load', at);
          f.get(half === 0 ? this.maskLow : this.maskHigh).op('v128.bitselect');
          f.mem('v128.store', { offset: (t * 8 + 4 * half) * F32 });
        }
      });
    }, [this.base, this.baseB]);
  }

  /** Every pixel's address of its own; lanes past the last pixel (last panel only) are zeroed. */
  private gatheredPanel(): void {
    const f = this.f;
    const { outWidth } = this.spec;
    const last = this.pixels - 1;
    const pixel = this.base;
    this.lanes.forEach((lane, l) => {
      f.get(this.panel).i32Const(8).op('i32.mul').i32Const(l).op('i32.add').set(pixel);
      f.get(pixel).i32Const(last).get(pixel).i32Const(last).op('i32.lt_s').select().set(pixel);
      this.pixelAddress(
        () => f.get(pixel).i32Const(outWidth).op('i32.div_u'),
        () => f.get(pixel).i32Const(outWidth).op('i32.rem_u'),
      );
      f.set(lane);
    });
    f.i32Const(this.pixels).get(this.panel).i32Const(8).op('i32.mul').op('i32.sub').set(pixel);
    f.get(pixel).op('i32x4.splat').v128Const('i32x4', [0, 1, 2, 3]).op('i32x4.gt_s').set(this.maskLow);
    f.get(pixel).op('i32x4.splat').v128Const('i32x4', [4, 5, 6, 7]).op('i32x4.gt_s').set(this.maskHigh);
    this.forChannels(() => {
      this.tapOffsets.forEach((offset, t) => {
        for (let half = 0; half < 2; half++) {
          f.get(this.out);
          splat(f, 0);
          for (let lane = 0; lane < 4; lane++) {
            f.set(this.gathered)
              .get(this.lanes[4 * half + lane]!)
              .get(this.gathered);
            f.memLane('v128.load32_lane', lane, { offset: offset * F32 });
          }
          f.get(half === 0 ? this.maskLow : this.maskHigh).op('v128.and');
          f.mem('v128.store', { offset: (t * 8 + 4 * half) * F32 });
        }
      });
    }, this.lanes);
  }
}

/** The static shape of a pad copy: `channels` planes of height × width into bordered planes. */
export interface PadSpec {
  readonly height: number;
  readonly width: number;
  /** top, left, bottom, right */
  readonly pads: readonly [number, number, number, number];
}

export function padKernelKey(spec: PadSpec): string {
  return `pad_f32_rows:${spec.height}x${spec.width}:p${spec.pads.join(',')}`;
}

/**
 * `pad_f32_rows(thread, row0, row1, x, padded)`: copies input rows [row0, row1) (over all planes)
 * into the bordered planes. The border itself is never written: the caller zeroes it once.
 */
export function buildPadKernel(module: ModuleBuilder, spec: PadSpec): void {
  const { height, width, pads } = spec;
  const paddedHeight = height + pads[0] + pads[2];
  const paddedWidth = width + pads[1] + pads[3];
  const { f, params } = i32Function(module, 'pad_f32_rows', ['thread', 'row0', 'row1', 'x', 'padded']);
  const [, row0, row1, x, padded] = params;
  const row = f.local('i32', 'row');
  forRange(f, row, row0, row1, 1, () => {
    // Plane r / height, row r % height: at padded row (plane·paddedHeight + row + top), column left.
    f.get(row).i32Const(height).op('i32.div_u').i32Const(paddedHeight).op('i32.mul');
    f.get(row).i32Const(height).op('i32.rem_u').op('i32.add').i32Const(pads[0]).op('i32.add');
    f.i32Const(paddedWidth).op('i32.mul').i32Const(pads[1]).op('i32.add').i32Const(2).op('i32.shl');
    f.get(padded).op('i32.add');
    addScaled(f.get(row), x, width * F32);
    f.i32Const(width * F32).memoryCopy();
  });
}

/**
 * The static shape of a col2im: columns [outChannels·kh·kw, inHeight·inWidth] (a transposed
 * convolution's GEMM result for one image) added into output planes of outHeight × outWidth,
 * column (ky, kx) of input pixel (iy, ix) landing on (iy·sh + ky·dh - top, ix·sw + kx·dw - left).
 * Pads may be negative (an output_shape larger than the full result).
 */
export interface Col2imSpec extends Omit<PlaneWindow, 'pads'> {
  /** top, left */
  readonly pads: readonly [number, number];
  readonly bias: boolean;
}

export function col2imKernelName(spec: Col2imSpec): string {
  return `col2im_f32_${windowOfName(spec)}_simd128`;
}

export function col2imKernelKey(spec: Col2imSpec): string {
  return (
    `${col2imKernelName(spec)}:${spec.inHeight}x${spec.inWidth}>${spec.outHeight}x${spec.outWidth}` +
    `:p${spec.pads.join(',')}${spec.bias ? ':bias' : ''}`
  );
}

const COL2IM_PARAMS = ['thread', 'plane0', 'plane1', 'row0', 'row1', 'cols', 'y', 'bias'] as const;

/**
 * `name(thread, plane0, plane1, row0, row1, cols, y, bias)`: output rows [row0, row1) of planes
 * [plane0, plane1) of one image, each row gathered from the columns that land on it (no two tiles
 * write one output, so no atomics). Columns of one kernel column kx land on a run of outputs
 * spaced by the stride, known statically; a stride of 1 adds them four at a time.
 */
export function buildCol2imKernel(module: ModuleBuilder, name: string, spec: Col2imSpec): void {
  const { inHeight, inWidth, outHeight, outWidth, kernel, strides, dilations, pads } = spec;
  const [kh, kw] = kernel;
  const { f, params } = i32Function(module, name, COL2IM_PARAMS);
  const [, plane0, plane1, row0, row1, cols, y, bias] = params;
  const plane = f.local('i32', 'plane');
  const oy = f.local('i32', 'oy');
  const yRow = f.local('i32', 'yRow');
  const shifted = f.local('i32', 'shifted');
  const source = f.local('i32', 'source');
  const at = f.local('i32', 'at');
  const initial = f.local('v128', 'initial');
  const target = f.local('i32', 'target');
  const pixels = inHeight * inWidth;
  /** target[i·outStep] += source[i] for i < count: four at a time for a stride of 1. */
  const addRun = (count: number, outStep: number) => {
    const vectors = outStep === 1 ? Math.floor(count / 4) : 0;
    const step = vectors > 0 ? 4 : 1;
    const looped = vectors > 0 ? vectors * 4 : count;
    forRange(f, at, 0, looped, step, () => {
      const load = vectors > 0 ? 'v128.load' : 'f32.load';
      addScaled(f.get(at), target, outStep * F32);
      addScaled(f.get(at), target, outStep * F32).mem(load);
      f.get(at).i32Const(2).op('i32.shl').get(source).op('i32.add').mem(load);
      f.op(vectors > 0 ? 'f32x4.add' : 'f32.add').mem(vectors > 0 ? 'v128.store' : 'f32.store');
    });
    for (let i = looped; i < count; i++) {
      f.get(target)
        .get(target)
        .mem('f32.load', { offset: i * F32 });
      f.get(source)
        .mem('f32.load', { offset: i * F32 })
        .op('f32.add');
      f.mem('f32.store', { offset: i * F32 });
    }
  };

  forRange(f, plane, plane0, plane1, 1, () => {
    if (spec.bias) f.get(plane).i32Const(2).op('i32.shl').get(bias).op('i32.add').mem('v128.load32_splat');
    else splat(f, 0);
    f.set(initial);
    forRange(f, oy, row0, row1, 1, () => {
      addScaled(f.get(plane), oy, outHeight);
      addScaled(f, y, outWidth * F32).set(yRow);
      for (let ox = 0; ox + 4 <= outWidth; ox += 4) {
        f.get(yRow)
          .get(initial)
          .mem('v128.store', { offset: ox * F32 });
      }
      for (let ox = outWidth - (outWidth % 4); ox < outWidth; ox++) {
        f.get(yRow)
          .get(initial)
          .memLane('v128.store32_lane', 0, { offset: ox * F32 });
      }
      for (let ky = 0; ky < kh; ky++) {
        // The input row landing here: (oy + top - ky·dh) / sh when that divides and is in range.
        f.get(oy)
          .i32Const(pads[0] - ky * dilations[0])
          .op('i32.add')
          .set(shifted);
        f.get(shifted).i32Const(strides[0]).op('i32.rem_u').op('i32.eqz');
        f.get(shifted).i32Const(strides[0]).op('i32.div_u').i32Const(inHeight).op('i32.lt_u');
        f.op('i32.and');
        f.if(null, () => {
          for (let kx = 0; kx < kw; kx++) {
            const shift = kx * dilations[1] - pads[1];
            const first = Math.max(0, Math.ceil(-shift / strides[1]));
            const end = Math.min(inWidth, Math.floor((outWidth - 1 - shift) / strides[1]) + 1);
            if (end <= first) continue;
            // Column row (plane·kh + ky)·kw + kx, input row shifted / sh, from pixel `first`.
            f.get(plane).i32Const(kh).op('i32.mul').i32Const(ky).op('i32.add');
            f.i32Const(kw).op('i32.mul').i32Const(kx).op('i32.add').i32Const(pixels).op('i32.mul');
            f.get(shifted).i32Const(strides[0]).op('i32.div_u').i32Const(inWidth).op('i32.mul').op('i32.add');
            f.i32Const(first).op('i32.add').i32Const(2).op('i32.shl').get(cols).op('i32.add').set(source);
            f.get(yRow)
              .i32Const((first * strides[1] + shift) * F32)
              .op('i32.add')
              .set(target);
            addRun(end - first, strides[1]);
          }
        });
      }
    });
  });
}

/** The blocking of a fused convolution: which pixels and output channels one tile computes. */
export interface FusedConvSpec {
  readonly im2col: Im2colSpec;
  /** Output channels per group (the GEMM's M), K and pixels per image (the GEMM's N). */
  readonly rows: number;
  readonly depth: number;
  readonly pixels: number;
  readonly groups: number;
  /** Panels per tile (a multiple of nothing: the last block may be short) and rows per tile. */
  readonly panelBlock: number;
  readonly rowBlock: number;
  /** K steps per pass of the GEMM driver. */
  readonly depthBlock: number;
  /** Bytes from one image of the source to the next, and from one group's channels to the next. */
  readonly imageBytes: number;
  readonly groupBytes: number;
  readonly bias: boolean;
}

/** Bytes of one thread's scratch: a tag (which panels it holds), then the panels. */
export function fusedScratchBytes(spec: FusedConvSpec): number {
  return FUSED_TAG_BYTES + spec.panelBlock * spec.depth * 8 * F32;
}
const FUSED_TAG_BYTES = 64;

/**
 * `conv(thread, item0, item1, block0, block1, rowBlock0, rowBlock1, src, w, bias, y, scratch,
 * generation)`: for each (image·group item, panel block, row block) of the tile, im2col of the
 * panel block into this thread's scratch (skipped when the scratch already holds it from this
 * run's previous tile: the pool hands a thread consecutive tiles, which differ in row block
 * first), then the GEMM driver on those panels for the block's rows of A. One parallel loop per
 * convolution, and the panels a thread writes are read by the same thread from its own cache.
 */
export function buildFusedConvKernel(
  module: ModuleBuilder,
  spec: FusedConvSpec,
  im2col: FunctionBuilder,
  gemm: FunctionBuilder,
): void {
  const { rows, depth, pixels, groups, panelBlock, rowBlock, depthBlock, imageBytes, groupBytes } = spec;
  const { f, params } = i32Function(module, 'conv', [
    'thread',
    'item0',
    'item1',
    'block0',
    'block1',
    'rowBlock0',
    'rowBlock1',
    'src',
    'w',
    'bias',
    'y',
    'scratch',
    'generation',
  ]);
  const [thread, item0, item1, block0, block1, rowBlock0, rowBlock1, src, w, bias, y, scratch, generation] =
    params;
  const item = f.local('i32', 'item');
  const group = f.local('i32', 'group');
  const source = f.local('i32', 'source');
  const block = f.local('i32', 'block');
  const rowBlockIndex = f.local('i32', 'rowBlockIndex');
  const firstRow = f.local('i32', 'firstRow');
  const mine = f.local('i32', 'mine');
  const panels = f.local('i32', 'panels');
  const totalPanels = Math.ceil(pixels / 8);
  const min = (a: () => void, b: () => void) => {
    a();
    b();
    a();
    b();
    f.op('i32.lt_s').select();
  };
  addScaled(f.get(thread), scratch, fusedScratchBytes(spec)).set(mine);
  f.get(mine).i32Const(FUSED_TAG_BYTES).op('i32.add').set(panels);
  forRange(f, item, item0, item1, 1, () => {
    f.get(item).i32Const(groups).op('i32.rem_u').set(group);
    f.get(item).i32Const(groups).op('i32.div_u').i32Const(imageBytes).op('i32.mul');
    f.get(group).i32Const(groupBytes).op('i32.mul').op('i32.add').get(src).op('i32.add').set(source);
    forRange(f, block, block0, block1, 1, () => {
      // im2col unless this thread's scratch already holds (generation, item, block).
      f.get(mine).mem('i32.load').get(generation).op('i32.ne');
      f.get(mine).mem('i32.load', { offset: 4 }).get(item).op('i32.ne').op('i32.or');
      f.get(mine).mem('i32.load', { offset: 8 }).get(block).op('i32.ne').op('i32.or');
      f.if(null, () => {
        f.get(thread).i32Const(0);
        min(
          () => f.i32Const(panelBlock),
          () => f.i32Const(totalPanels).get(block).i32Const(panelBlock).op('i32.mul').op('i32.sub'),
        );
        f.get(source).get(panels).get(block).i32Const(panelBlock).op('i32.mul').call(im2col);
        f.get(mine).get(generation).mem('i32.store');
        f.get(mine).get(item).mem('i32.store', { offset: 4 });
        f.get(mine).get(block).mem('i32.store', { offset: 8 });
      });
      forRange(f, rowBlockIndex, rowBlock0, rowBlock1, 1, () => {
        f.get(rowBlockIndex).i32Const(rowBlock).op('i32.mul').set(firstRow);
        // gemm(thread, 0, 1, m0, m1, n0, n1, a, lda, b, c, ldc, bias, k, strides×3, kBlock, addC, sweep)
        f.get(thread).i32Const(0).i32Const(1).get(firstRow);
        min(
          () => f.i32Const(rows),
          () => f.get(firstRow).i32Const(rowBlock).op('i32.add'),
        );
        f.i32Const(0);
        min(
          () => f.i32Const(panelBlock * 8),
          () =>
            f
              .i32Const(pixels)
              .get(block)
              .i32Const(panelBlock * 8)
              .op('i32.mul')
              .op('i32.sub'),
        );
        addScaled(f.get(group), w, rows * depth * F32);
        f.i32Const(depth).get(panels);
        f.get(item)
          .i32Const(rows * pixels)
          .op('i32.mul');
        f.get(block)
          .i32Const(panelBlock * 8)
          .op('i32.mul')
          .op('i32.add');
        f.i32Const(2).op('i32.shl').get(y).op('i32.add');
        f.i32Const(pixels);
        if (spec.bias) addScaled(f.get(group), bias, rows * F32);
        else f.i32Const(0);
        f.i32Const(depth).i32Const(0).i32Const(0).i32Const(0).i32Const(depthBlock).i32Const(0).i32Const(1);
        f.call(gemm);
      });
    });
  });
}
