/**
 * Transpose, and the strided copy that every data-movement kernel of the wasm backend (Transpose,
 * Concat, Split, Slice, Pad) is built on. A copy is described as a walk over some dims with the
 * strides of the walk through a source and a destination; axes of length 1 are dropped and axes
 * contiguous on both sides merged, and what is left runs as one of three generated kernels:
 *
 * - `run`: the innermost axis is contiguous on both sides, so each position of the outer axes copies
 *   one run of bytes (v128 loads and stores); attention's [B,S,H,D]→[B,H,S,D] and every Concat,
 *   Split and unit-step Slice are runs.
 * - `transpose`: the destination's contiguous axis is strided in the source and another axis is
 *   contiguous there; 4-byte elements then move in 4×4 blocks transposed in registers
 *   (i8x16.shuffle), tiled so both sides stay in cache.
 * - `strided`: anything else (steps, negative steps, broadcasts), one element at a time.
 *
 * The kernels take the strides as arguments, so one module per mode, rank and element size serves
 * every shape. Up to six axes run in one parallel loop; outer axes beyond those loop here.
 * Elements of 1, 2, 4 or 8 bytes are moved; the bytes are never interpreted.
 */

import { allocateStorage, slotsPerElement, type DataType } from '../../../core/dtype.js';
import { HeddleError } from '../../../core/errors.js';
import type { Tensor } from '../../../core/tensor.js';
import { intsAttribute, type Node, type ValueType } from '../../../ir/graph.js';
import type { KernelArgs, PreparedKernel } from '../../backend.js';
import { stridesOf } from '../../reference/util.js';
import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { generatedKernel } from '../codegen/compile.js';
import { HeapOperands } from '../codegen/elementwise.js';
import { i32Function } from '../codegen/math.js';
import { typeOf, tensorInput, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';

export type ElementBytes = 1 | 2 | 4 | 8;

const ELEMENT_BYTES = new Map<DataType, ElementBytes | undefined>();

/** Bytes per element of `type` when its elements are one plain 1-, 2-, 4- or 8-byte block. */
export function elementBytesOf(type: DataType): ElementBytes | undefined {
  if (!ELEMENT_BYTES.has(type)) {
    const bytes =
      type === 'string'
        ? 0
        : (allocateStorage(type, 0) as Uint8Array).BYTES_PER_ELEMENT * slotsPerElement(type);
    ELEMENT_BYTES.set(type, bytes === 1 || bytes === 2 || bytes === 4 || bytes === 8 ? bytes : undefined);
  }
  return ELEMENT_BYTES.get(type);
}

/**
 * `true` when every named value the plan knows the type of has elements these kernels move,
 * otherwise the reason. Values of unknown type are checked when the kernel runs.
 */
export function claimsMovable(
  names: readonly string[],
  types: ReadonlyMap<string, ValueType>,
): true | string {
  for (const name of names) {
    if (name === '') continue;
    const type = typeOf(types, name);
    if (type !== undefined && elementBytesOf(type) === undefined)
      return `the wasm data-movement kernels move elements of 1, 2, 4 or 8 bytes, '${name}' is ${type}`;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Ordering

/**
 * A kernel's progress: nothing when it is done, a promise when its work goes on past the call (a
 * pool job whose join waits on the event loop, or queued behind another).
 */
export type Pending = void | Promise<void>;

/**
 * Runs steps one after another, waiting for a step that is still going on before the next: a list
 * of steps, or a generator that runs one each time it is resumed.
 */
export function inOrder(steps: readonly (() => Pending)[] | Iterator<Pending>): Pending {
  const iterator = Array.isArray(steps) ? eachRun(steps) : (steps as Iterator<Pending>);
  for (let step = iterator.next(); !step.done; step = iterator.next()) {
    if (step.value) return step.value.then(() => inOrder(iterator));
  }
}

function* eachRun(steps: readonly (() => Pending)[]): Generator<Pending> {
  for (const step of steps) yield step();
}

// ---------------------------------------------------------------------------------------------
// The strided copy

/**
 * A copy of every element of a walk over `dims`: the element at coordinates c lies `Σ c[a]·src[a]`
 * elements from the source's start and goes `Σ c[a]·dst[a]` elements from the destination's.
 */
export interface StridedWalk {
  dims: readonly number[];
  src: readonly number[];
  dst: readonly number[];
}

/** The walk of a whole row-major tensor of `dims` read with `src` strides. */
export function denseWalk(dims: readonly number[], src: readonly number[]): StridedWalk {
  return { dims, src, dst: stridesOf(dims) };
}

type CopyMode = 'run' | 'transpose' | 'strided';

/** One axis of a copy, strides in bytes. */
interface CopyAxis {
  size: number;
  src: number;
  dst: number;
}

/** Axes one parallel loop takes (the pool's limit); outer axes beyond them loop on the caller. */
const KERNEL_AXES = 6;
/** About this many bytes per tile: enough that the call per tile is noise. */
const MIN_TILE_BYTES = 16384;
/**
 * Copies smaller than this stay on the calling thread: one thread moves 20–50 GB/s with v128
 * copies, so below it a copy is done in about the time a pool job takes to start and join
 * (measured at 10–30 µs on the 2-core host under load).
 */
const POOL_BYTES = 1 << 20;
/** Square blocks of the transposing kernel, in elements (a multiple of 4): 16 KiB a side. */
const TRANSPOSE_BLOCK = 64;

interface CopyPlan {
  mode: CopyMode;
  axes: CopyAxis[];
  bytes: number;
}

/** Drops length-1 axes and merges neighbours contiguous on both sides. */
function compactAxes(walk: StridedWalk, elementBytes: number): CopyAxis[] {
  const axes: CopyAxis[] = [];
  walk.dims.forEach((size, a) => {
    if (size === 1) return;
    const axis = { size, src: walk.src[a]! * elementBytes, dst: walk.dst[a]! * elementBytes };
    const outer = axes[axes.length - 1];
    if (outer && outer.src === axis.src * axis.size && outer.dst === axis.dst * axis.size)
      axes[axes.length - 1] = { ...axis, size: outer.size * axis.size };
    else axes.push(axis);
  });
  return axes;
}

function planCopy(walk: StridedWalk, elementBytes: ElementBytes): CopyPlan | undefined {
  if (walk.dims.some((d) => d === 0)) return undefined;
  const axes = compactAxes(walk, elementBytes);
  const bytes = walk.dims.reduce((n, d) => n * d, elementBytes);
  const inner = axes[axes.length - 1];
  if (!inner) return { mode: 'run', axes: [{ size: elementBytes, src: 1, dst: 1 }], bytes };
  if (inner.src === elementBytes && inner.dst === elementBytes) {
    axes[axes.length - 1] = { size: inner.size * elementBytes, src: 1, dst: 1 };
    return { mode: 'run', axes, bytes };
  }
  const sourceContiguous = axes.findIndex((axis) => axis.src === elementBytes);
  if (elementBytes === 4 && inner.dst === elementBytes && sourceContiguous >= 0) {
    const [rows] = axes.splice(sourceContiguous, 1);
    axes.splice(axes.length - 1, 0, rows!);
    return { mode: 'transpose', axes, bytes };
  }
  return { mode: 'strided', axes, bytes };
}

/**
 * Tile lengths for the kernel's axes: the inner ones as the mode wants them, the outer ones grown
 * until a tile holds about `target` bytes.
 */
function tilesFor(mode: CopyMode, axes: readonly CopyAxis[], elementBytes: number, target: number): number[] {
  const tiles = axes.map(() => 1);
  const last = axes.length - 1;
  let tileBytes: number;
  let outer: number;
  if (mode === 'transpose') {
    tiles[last] = Math.min(axes[last]!.size, TRANSPOSE_BLOCK);
    tiles[last - 1] = Math.min(axes[last - 1]!.size, TRANSPOSE_BLOCK);
    tileBytes = tiles[last]! * tiles[last - 1]! * elementBytes;
    outer = last - 2;
  } else {
    const unit = mode === 'run' ? 1 : elementBytes;
    tiles[last] = Math.min(axes[last]!.size, Math.max(64, Math.ceil(target / unit / 64) * 64));
    tileBytes = tiles[last]! * unit;
    outer = last - 1;
  }
  for (let a = outer; a >= 0 && tileBytes < target; a--) {
    tiles[a] = Math.min(axes[a]!.size, Math.max(1, Math.floor(target / tileBytes)));
    tileBytes *= tiles[a]!;
  }
  return tiles;
}

/**
 * Copies the walk from address `src` to address `dst` with the generated kernels, on the pool when
 * it is big enough to be worth it.
 */
export function copyStrided(
  runtime: WasmRuntime,
  elementBytes: ElementBytes,
  walk: StridedWalk,
  src: number,
  dst: number,
): Pending {
  const plan = planCopy(walk, elementBytes);
  if (!plan) return;
  const { mode, axes } = plan;
  const looped = axes.slice(0, Math.max(0, axes.length - KERNEL_AXES));
  const kernelAxes = axes.slice(looped.length);
  const kernel = copyKernel(runtime, mode, kernelAxes.length, elementBytes);
  const calls = looped.reduce((n, axis) => n * axis.size, 1);
  const target = Math.max(MIN_TILE_BYTES, Math.ceil(plan.bytes / calls / (8 * runtime.threads)));
  const range = {
    dims: kernelAxes.map((axis) => axis.size),
    tile: tilesFor(mode, kernelAxes, elementBytes, target),
  };
  const strides = kernelStrides(mode, kernelAxes);
  const work = plan.bytes / calls < POOL_BYTES ? 0 : plan.bytes / calls;
  const steps: (() => Pending)[] = [];
  const counter = looped.map(() => 0);
  for (let call = 0; call < calls; call++) {
    let from = src;
    let to = dst;
    looped.forEach((axis, a) => {
      from += counter[a]! * axis.src;
      to += counter[a]! * axis.dst;
    });
    steps.push(() => runtime.parallel(kernel, range, [from, to, ...strides], work));
    for (let a = looped.length - 1; a >= 0 && ++counter[a]! === looped[a]!.size; a--) counter[a] = 0;
  }
  return inOrder(steps);
}

/** The stride arguments of a kernel, in the order its parameters list them. */
function kernelStrides(mode: CopyMode, axes: readonly CopyAxis[]): number[] {
  const last = axes.length - 1;
  switch (mode) {
    case 'run':
      return axes.slice(0, last).flatMap((axis) => [axis.src, axis.dst]);
    case 'strided':
      return axes.flatMap((axis) => [axis.src, axis.dst]);
    case 'transpose':
      return [
        ...axes.slice(0, last - 1).flatMap((axis) => [axis.src, axis.dst]),
        axes[last]!.src,
        axes[last - 1]!.dst,
      ];
  }
}

// ---------------------------------------------------------------------------------------------
// Generated kernels

/** Export `name` of the data-movement module `build` makes, compiled once per runtime. */
export function sharedKernel(
  runtime: WasmRuntime,
  name: string,
  build: (builder: ModuleBuilder) => void,
): ModuleKernel {
  return generatedKernel(runtime, `datamove_${name}`, name, build);
}

function copyKernel(
  runtime: WasmRuntime,
  mode: CopyMode,
  rank: number,
  elementBytes: ElementBytes,
): ModuleKernel {
  const name =
    mode === 'run' ? `copy_run_r${rank}_simd128` : `copy_${mode}_r${rank}_e${elementBytes}_simd128`;
  return sharedKernel(runtime, name, (builder) => buildCopyKernel(builder, name, mode, rank, elementBytes));
}

/** The tile bounds of one axis and its strides (absent where the mode knows them). */
interface KernelAxis {
  begin: Local;
  end: Local;
  src?: Local;
  dst?: Local;
}

function buildCopyKernel(
  builder: ModuleBuilder,
  name: string,
  mode: CopyMode,
  rank: number,
  elementBytes: ElementBytes,
): void {
  const strided = (a: number): boolean =>
    mode === 'strided' || (mode === 'run' ? a < rank - 1 : a < rank - 2);
  const params: [string, 'i32'][] = [['thread', 'i32']];
  for (let a = 0; a < rank; a++) params.push([`begin${a}`, 'i32'], [`end${a}`, 'i32']);
  params.push(['src', 'i32'], ['dst', 'i32']);
  for (let a = 0; a < rank; a++)
    if (strided(a)) params.push([`srcStride${a}`, 'i32'], [`dstStride${a}`, 'i32']);
  if (mode === 'transpose') params.push(['rowStride', 'i32'], ['columnStride', 'i32']);
  const transposeEdge = mode === 'transpose' ? buildTransposeEdge(builder) : undefined;
  const f = builder.function(name, { params, export: true });
  const p = f.params;
  let next = 3 + 2 * rank;
  const axes: KernelAxis[] = [];
  for (let a = 0; a < rank; a++) {
    const axis: KernelAxis = { begin: p[1 + 2 * a]!, end: p[2 + 2 * a]! };
    if (strided(a)) {
      axis.src = p[next++]!;
      axis.dst = p[next++]!;
    }
    axes.push(axis);
  }
  const src = p[1 + 2 * rank]!;
  const dst = p[2 + 2 * rank]!;
  switch (mode) {
    case 'run':
      emitNest(f, axes.slice(0, rank - 1), src, dst, (s, d) => emitRunCopy(f, s, d, axes[rank - 1]!));
      break;
    case 'strided':
      emitNest(f, axes.slice(0, rank - 1), src, dst, (s, d) =>
        emitElementCopy(f, s, d, axes[rank - 1]!, elementBytes),
      );
      break;
    case 'transpose':
      emitNest(f, axes.slice(0, rank - 2), src, dst, (s, d) =>
        emitBlockTranspose(f, s, d, axes[rank - 2]!, axes[rank - 1]!, p[next]!, p[next + 1]!, transposeEdge!),
      );
      break;
  }
}

/** `while (condition) body`, where `condition` pushes an i32. */
function emitWhile(f: FunctionBuilder, condition: () => void, body: () => void): void {
  f.block(null, (exit) => {
    f.loop(null, (again) => {
      condition();
      f.op('i32.eqz').brIf(exit);
      body();
      f.br(again);
    });
  });
}

function emitAdd(f: FunctionBuilder, target: Local, amount: Local | number): void {
  f.get(target);
  if (typeof amount === 'number') f.i32Const(amount);
  else f.get(amount);
  f.op('i32.add').set(target);
}

/**
 * Loops over the tile of `axes` (outermost first), calling `inner` with the addresses of the tile
 * position's source and destination. Tiles are never empty, so the loops test at the bottom.
 */
function emitNest(
  f: FunctionBuilder,
  axes: readonly KernelAxis[],
  src: Local,
  dst: Local,
  inner: (src: Local, dst: Local) => void,
): void {
  const [axis, ...rest] = axes;
  if (!axis) {
    inner(src, dst);
    return;
  }
  const depth = rest.length;
  const i = f.local('i32', `i${depth}`);
  const s = f.local('i32', `s${depth}`);
  const d = f.local('i32', `d${depth}`);
  f.get(src).get(axis.begin).get(axis.src!).op('i32.mul').op('i32.add').set(s);
  f.get(dst).get(axis.begin).get(axis.dst!).op('i32.mul').op('i32.add').set(d);
  f.get(axis.begin).set(i);
  f.loop(null, (again) => {
    emitNest(f, rest, s, d, inner);
    emitAdd(f, s, axis.src!);
    emitAdd(f, d, axis.dst!);
    f.get(i).i32Const(1).op('i32.add').tee(i).get(axis.end).op('i32.lt_u').brIf(again);
  });
}

/** Copies bytes [begin, end) of a contiguous run: 64 bytes a step, then 16, then single bytes. */
function emitRunCopy(f: FunctionBuilder, src: Local, dst: Local, run: KernelAxis): void {
  const s = f.local('i32', 'runSrc');
  const d = f.local('i32', 'runDst');
  const n = f.local('i32', 'runBytes');
  f.get(src).get(run.begin).op('i32.add').set(s);
  f.get(dst).get(run.begin).op('i32.add').set(d);
  f.get(run.end).get(run.begin).op('i32.sub').set(n);
  for (const step of [64, 16]) {
    emitWhile(
      f,
      () => f.get(n).i32Const(step).op('i32.ge_u'),
      () => {
        for (let offset = 0; offset < step; offset += 16) {
          f.get(d).get(s).mem('v128.load', { offset, align: 1 }).mem('v128.store', { offset, align: 1 });
        }
        emitAdd(f, s, step);
        emitAdd(f, d, step);
        f.get(n).i32Const(step).op('i32.sub').set(n);
      },
    );
  }
  emitWhile(
    f,
    () => f.get(n),
    () => {
      f.get(d).get(s).mem('i32.load8_u').mem('i32.store8');
      emitAdd(f, s, 1);
      emitAdd(f, d, 1);
      f.get(n).i32Const(1).op('i32.sub').set(n);
    },
  );
}

const ELEMENT_ACCESS = {
  1: ['i32.load8_u', 'i32.store8'],
  2: ['i32.load16_u', 'i32.store16'],
  4: ['i32.load', 'i32.store'],
  8: ['i64.load', 'i64.store'],
} as const;

/** Copies elements [begin, end) of the innermost axis one by one, each side at its own stride. */
function emitElementCopy(
  f: FunctionBuilder,
  src: Local,
  dst: Local,
  axis: KernelAxis,
  elementBytes: ElementBytes,
): void {
  const [load, store] = ELEMENT_ACCESS[elementBytes];
  const s = f.local('i32', 'elementSrc');
  const d = f.local('i32', 'elementDst');
  const i = f.local('i32', 'element');
  f.get(src).get(axis.begin).get(axis.src!).op('i32.mul').op('i32.add').set(s);
  f.get(dst).get(axis.begin).get(axis.dst!).op('i32.mul').op('i32.add').set(d);
  f.get(axis.begin).set(i);
  f.loop(null, (again) => {
    f.get(d).get(s).mem(load, { align: 1 }).mem(store, { align: 1 });
    emitAdd(f, s, axis.src!);
    emitAdd(f, d, axis.dst!);
    f.get(i).i32Const(1).op('i32.add').tee(i).get(axis.end).op('i32.lt_u').brIf(again);
  });
}

/** Lanes of two vectors interleaved: the low (`high` false) or high 32-bit halves of a and b. */
function interleave32(high: boolean): number[] {
  const base = high ? 8 : 0;
  const lanes: number[] = [];
  for (const [vector, lane] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ] as const) {
    for (let byte = 0; byte < 4; byte++) lanes.push(vector * 16 + base + lane * 4 + byte);
  }
  return lanes;
}

/** The low (`high` false) or high 64-bit halves of two vectors, side by side. */
function halves64(high: boolean): number[] {
  const base = high ? 8 : 0;
  return [
    ...Array.from({ length: 8 }, (_, i) => base + i),
    ...Array.from({ length: 8 }, (_, i) => 16 + base + i),
  ];
}

/**
 * The scalar transpose of a block's ragged edge: destination rows [rowBegin, rowEnd) (source
 * columns) by destination columns [columnBegin, columnEnd) (source rows), 4-byte elements.
 */
function buildTransposeEdge(builder: ModuleBuilder): FunctionBuilder {
  const { f, params } = i32Function(
    builder,
    'transpose_edge',
    ['src', 'dst', 'rowBegin', 'rowEnd', 'columnBegin', 'columnEnd', 'rowStride', 'columnStride'],
    { exported: false },
  );
  const [src, dst, rowBegin, rowEnd, columnBegin, columnEnd, rowStride, columnStride] = params;
  const row = f.local('i32', 'row');
  const column = f.local('i32', 'column');
  const s = f.local('i32', 's');
  const d = f.local('i32', 'd');
  f.get(rowBegin).set(row);
  emitWhile(
    f,
    () => f.get(row).get(rowEnd).op('i32.lt_u'),
    () => {
      f.get(src).get(columnBegin).get(rowStride).op('i32.mul').op('i32.add');
      f.get(row).i32Const(2).op('i32.shl').op('i32.add').set(s);
      f.get(dst).get(row).get(columnStride).op('i32.mul').op('i32.add');
      f.get(columnBegin).i32Const(2).op('i32.shl').op('i32.add').set(d);
      f.get(columnBegin).set(column);
      emitWhile(
        f,
        () => f.get(column).get(columnEnd).op('i32.lt_u'),
        () => {
          f.get(d).get(s).mem('i32.load').mem('i32.store');
          emitAdd(f, s, rowStride);
          emitAdd(f, d, 4);
          emitAdd(f, column, 1);
        },
      );
      emitAdd(f, row, 1);
    },
  );
  return f;
}

/**
 * Transposes one tile: destination rows `rows` (the source's contiguous axis) by destination
 * columns `columns` (the destination's contiguous axis, `rowStride` apart in the source), in 4×4
 * blocks of four loads, eight shuffles and four stores; the ragged edges go to `edge`.
 */
function emitBlockTranspose(
  f: FunctionBuilder,
  src: Local,
  dst: Local,
  rows: KernelAxis,
  columns: KernelAxis,
  rowStride: Local,
  columnStride: Local,
  edge: FunctionBuilder,
): void {
  const row = f.local('i32', 'row');
  const column = f.local('i32', 'column');
  const s = f.local('i32', 'blockSrc');
  const d = f.local('i32', 'blockDst');
  const vectors = [0, 1, 2, 3].map((k) => f.local('v128', `r${k}`));
  const mixed = [0, 1, 2, 3].map((k) => f.local('v128', `t${k}`));
  const callEdge = (rowBegin: Local, rowEnd: () => void, columnBegin: Local): void => {
    f.get(src).get(dst).get(rowBegin);
    rowEnd();
    f.get(columnBegin).get(columns.end).get(rowStride).get(columnStride).call(edge);
  };
  f.get(rows.begin).set(row);
  emitWhile(
    f,
    () => f.get(row).i32Const(4).op('i32.add').get(rows.end).op('i32.le_u'),
    () => {
      f.get(columns.begin).set(column);
      f.get(src).get(column).get(rowStride).op('i32.mul').op('i32.add');
      f.get(row).i32Const(2).op('i32.shl').op('i32.add').set(s);
      f.get(dst).get(row).get(columnStride).op('i32.mul').op('i32.add');
      f.get(column).i32Const(2).op('i32.shl').op('i32.add').set(d);
      emitWhile(
        f,
        () => f.get(column).i32Const(4).op('i32.add').get(columns.end).op('i32.le_u'),
        () => {
          vectors.forEach((vector) => {
            f.get(s).mem('v128.load', { align: 4 }).set(vector);
            emitAdd(f, s, rowStride);
          });
          for (const [k, high] of [
            [0, false],
            [1, true],
          ] as const) {
            f.get(vectors[0]!).get(vectors[1]!).shuffle(interleave32(high)).set(mixed[k]!);
            f.get(vectors[2]!)
              .get(vectors[3]!)
              .shuffle(interleave32(high))
              .set(mixed[k + 2]!);
          }
          [
            [0, false],
            [0, true],
            [1, false],
            [1, true],
          ].forEach(([k, high], j) => {
            f.get(d);
            if (j > 0) f.get(columnStride).i32Const(j).op('i32.mul').op('i32.add');
            f.get(mixed[k as number]!)
              .get(mixed[(k as number) + 2]!)
              .shuffle(halves64(high as boolean))
              .mem('v128.store', { align: 4 });
          });
          emitAdd(f, d, 16);
          emitAdd(f, column, 4);
        },
      );
      f.get(column).get(columns.end).op('i32.lt_u');
      f.if(null, () => callEdge(row, () => f.get(row).i32Const(4).op('i32.add'), column));
      emitAdd(f, row, 4);
    },
  );
  f.get(row).get(rows.end).op('i32.lt_u');
  f.if(null, () => callEdge(row, () => f.get(rows.end), columns.begin));
}

// ---------------------------------------------------------------------------------------------
// Transpose

/** Where a copy of input 0 reads: the output's dims, the source's strides along them and its first element. */
export interface CopySource {
  dims: number[];
  strides: number[];
  offset: number;
}

/**
 * A kernel that copies input 0 into output 0 along a strided walk, which `source` plans from the
 * run's data; types of other element sizes go to the reference kernel.
 */
export function stridedCopyKernel(
  node: Node,
  env: WasmEnv,
  name: string,
  source: (data: Tensor, args: KernelArgs) => CopySource,
): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const reference = env.reference(node);
  return {
    name,
    run(args) {
      const data = tensorInput(args, 0, node);
      const elementBytes = elementBytesOf(data.type);
      if (elementBytes === undefined) return reference.run(args);
      const { dims, strides, offset } = source(data, args);
      const out = args.allocateOutput(0, data.type, dims);
      // An empty copy reads nothing: its offset may lie past the data.
      if (out.size === 0) return [out];
      const pending = copyStrided(
        env.runtime,
        elementBytes,
        denseWalk(dims, strides),
        operands.input(data, 0, 0) + offset * elementBytes,
        operands.output(out, 1),
      );
      return operands.finish(pending, [out]);
    },
  };
}

function transposeKernel(node: Node, env: WasmEnv): PreparedKernel {
  const requested = intsAttribute(node, 'perm');
  return stridedCopyKernel(node, env, 'transpose_simd128', (data) => {
    const rank = data.dims.length;
    const perm = requested ?? [...data.dims.keys()].reverse();
    const isPermutation =
      perm.length === rank && perm.every((p) => p >= 0 && p < rank) && new Set(perm).size === rank;
    if (!isPermutation)
      throw new HeddleError(`perm [${perm.join(', ')}] is not a permutation of ${rank} axes`);
    const strides = stridesOf(data.dims);
    return { dims: perm.map((p) => data.dims[p]!), strides: perm.map((p) => strides[p]!), offset: 0 };
  });
}

export const kernels: WasmKernelDef[] = [
  {
    op: 'Transpose',
    since: 1,
    claims: (node, types) => claimsMovable([node.inputs[0]!, node.outputs[0]!], types),
    prepare: transposeKernel,
  },
];
