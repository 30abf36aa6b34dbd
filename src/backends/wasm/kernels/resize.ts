/**
 * Resize and Upsample on the wasm backend for the common image cases: nearest (every nearest_mode
 * and coordinate transformation, elements of 4 bytes) and linear (bilinear, float32) resampling
 * of the last two axes, the leading axes passing through. Along each resized axis every output
 * position maps to input positions once per shape (tables of byte offsets and weights in the
 * heap, computed in float64 with the reference backend's coordinate transformation and nearest
 * rounding); the generated kernel then walks planes and output rows in parallel tiles, reading
 * through the tables. The attributes and scales or sizes of every opset are read by the reference
 * backend's `resizePlan`.
 *
 * Cubic, antialiased linear and tf_crop_and_resize are not claimed; a run whose scales or sizes
 * turn out to resize a leading axis is handed to the reference backend.
 */

import { intAttribute, type Node, stringAttribute, type ValueType } from '../../../ir/graph.js';
import type { PreparedKernel } from '../../backend.js';
import { KernelContext } from '../../reference/kernel.js';
import {
  isNearestMode,
  nearestIndex,
  originalCoordinate,
  resizePlan,
  type AxisResize,
  type ResizeSettings,
} from '../../reference/kernels/resize.js';
import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { HeapOperands } from '../codegen/elementwise.js';
import { tensorInput, typeOf, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';
import { elementBytesOf, sharedKernel } from './transpose.js';

type Interpolation = 'nearest' | 'linear';

/** The coordinate transformations generated (tf_crop_and_resize, with its roi, is left to the reference). */
const COORDINATE_MODES: readonly string[] = [
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
];

/** Where output position i of an axis reads: `low` and `high` with `high`'s weight (nearest: low only). */
interface AxisSampling {
  low: Int32Array;
  high: Int32Array;
  weight: Float64Array;
}

/** The mode attribute, for claiming and preparing before a run reads the settings in full. */
function interpolationOf(node: Node): Interpolation | string {
  const mode = stringAttribute(node, 'mode', 'nearest');
  // Upsample-1 named linear interpolation 'bilinear'.
  if (mode === 'linear' || mode === 'bilinear') return 'linear';
  return mode;
}

/** The axis's tables: the reference backend's coordinates and nearest positions, or linear's two neighbours. */
function axisSampling(ctx: KernelContext, settings: ResizeSettings, axis: AxisResize): AxisSampling {
  const { outLength, inLength } = axis;
  const sampling = {
    low: new Int32Array(outLength),
    high: new Int32Array(outLength),
    weight: new Float64Array(outLength),
  };
  const clamp = (i: number): number => Math.min(Math.max(i, 0), inLength - 1);
  for (let i = 0; i < outLength; i++) {
    const x = originalCoordinate(ctx, settings.coordinateMode, i, axis);
    if (settings.mode === 'nearest') {
      sampling.low[i] = sampling.high[i] = nearestIndex(settings, x, axis);
      continue;
    }
    const base = Math.floor(x);
    sampling.low[i] = clamp(base);
    sampling.high[i] = clamp(base + 1);
    sampling.weight[i] = x - base;
  }
  return sampling;
}

/** True when the axis reads position i for output position i. */
function passesThrough(sampling: AxisSampling, axis: AxisResize): boolean {
  if (axis.outLength !== axis.inLength) return false;
  for (let i = 0; i < axis.outLength; i++) {
    const low = sampling.low[i] === i && (sampling.weight[i] === 0 || sampling.high[i] === i);
    if (!low) return false;
  }
  return true;
}

/** Bytes per table entry: two offsets and a weight for linear, one offset for nearest. */
function entryBytes(interpolation: Interpolation): number {
  return interpolation === 'linear' ? 12 : 4;
}

/** Writes an axis's table at `address`: its positions as byte offsets (`unit` bytes apart), and weights. */
function writeTable(
  env: WasmEnv,
  address: number,
  sampling: AxisSampling,
  interpolation: Interpolation,
  unit: number,
): void {
  const entry = entryBytes(interpolation);
  const table = new DataView(new ArrayBuffer(sampling.low.length * entry));
  for (let i = 0; i < sampling.low.length; i++) {
    table.setInt32(i * entry, sampling.low[i]! * unit, true);
    if (interpolation === 'linear') {
      table.setInt32(i * entry + 4, sampling.high[i]! * unit, true);
      table.setFloat32(i * entry + 8, sampling.weight[i]!, true);
    }
  }
  env.heap.bytes(address, table.byteLength).set(new Uint8Array(table.buffer));
}

function resizeKernel(node: Node, env: WasmEnv): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const reference = env.reference(node);
  const interpolation = interpolationOf(node) as Interpolation;
  const entry = entryBytes(interpolation);
  const kernel = resampleKernel(env.runtime, interpolation);
  // The last run's shapes, and whether its outer axes pass through; its tables stay in this
  // kernel's scratch blocks, so a run of the same shapes samples nothing again.
  let tablesKey: string | undefined;
  let outerAxesPassThrough = false;
  return {
    name: `resize_${interpolation}_2d_simd128`,
    run(args) {
      const x = tensorInput(args, 0, node);
      const supported = interpolation === 'linear' ? x.type === 'float32' : elementBytesOf(x.type) === 4;
      const rank = x.dims.length;
      if (!supported || rank < 2) return reference.run(args);
      const ctx = new KernelContext(node, args);
      const { settings, axes } = resizePlan(ctx, x);
      const [height, width] = [axes[rank - 2]!, axes[rank - 1]!];
      const rowTable = operands.scratch(2, height.outLength * entry);
      const columnTable = operands.scratch(3, width.outLength * entry);
      const key = JSON.stringify([axes, x.dims]);
      if (tablesKey !== key) {
        const samplings = axes.map((axis) => axisSampling(ctx, settings, axis));
        outerAxesPassThrough = axes.slice(0, rank - 2).every((axis, a) => passesThrough(samplings[a]!, axis));
        writeTable(env, rowTable, samplings[rank - 2]!, interpolation, width.inLength * 4);
        writeTable(env, columnTable, samplings[rank - 1]!, interpolation, 4);
        tablesKey = key;
      }
      if (!outerAxesPassThrough) return reference.run(args);
      const out = args.allocateOutput(
        0,
        x.type,
        axes.map((axis) => axis.outLength),
      );
      if (out.size === 0) return [out];
      const planes = x.size / (height.inLength * width.inLength);
      const outPlane = height.outLength * width.outLength;
      const rowsPerTile = Math.max(1, Math.min(height.outLength, Math.ceil(16384 / (width.outLength * 4))));
      const pending = env.runtime.parallel(
        kernel,
        { dims: [planes, height.outLength], tile: [1, rowsPerTile] },
        [
          operands.input(x, 0, 0),
          operands.output(out, 1),
          height.inLength * width.inLength * 4,
          outPlane * 4,
          width.outLength,
          rowTable,
          columnTable,
        ],
        planes * outPlane * 4,
      );
      return operands.finish(pending, [out]);
    },
  };
}

function resampleKernel(runtime: WasmRuntime, interpolation: Interpolation): ModuleKernel {
  const name = `resize_${interpolation}_2d`;
  return sharedKernel(runtime, name, (builder) => buildResampleKernel(builder, name, interpolation));
}

function buildResampleKernel(builder: ModuleBuilder, name: string, interpolation: Interpolation): void {
  const f = builder.function(name, {
    params: [
      ['thread', 'i32'],
      ['planeBegin', 'i32'],
      ['planeEnd', 'i32'],
      ['rowBegin', 'i32'],
      ['rowEnd', 'i32'],
      ['src', 'i32'],
      ['dst', 'i32'],
      ['inPlane', 'i32'],
      ['outPlane', 'i32'],
      ['width', 'i32'],
      ['rowTable', 'i32'],
      ['columnTable', 'i32'],
    ],
    export: true,
  });
  const [
    ,
    planeBegin,
    planeEnd,
    rowBegin,
    rowEnd,
    src,
    dst,
    inPlane,
    outPlane,
    width,
    rowTable,
    columnTable,
  ] = f.params as Local[];
  const entry = entryBytes(interpolation);
  const plane = f.local('i32', 'plane');
  const row = f.local('i32', 'row');
  const column = f.local('i32', 'column');
  const source = f.local('i32', 'source');
  const lowRow = f.local('i32', 'lowRow');
  const highRow = f.local('i32', 'highRow');
  const rowWeight = f.local('f32', 'rowWeight');
  const target = f.local('i32', 'target');
  const columnEntry = f.local('i32', 'columnEntry');
  const top = f.local('f32', 'top');
  const columnWeight = f.local('f32', 'columnWeight');
  const entryOf = (table: Local, index: Local): void => {
    f.get(table).get(index).i32Const(entry).op('i32.mul').op('i32.add');
  };
  f.get(planeBegin!).set(plane);
  f.loop(null, (nextPlane) => {
    f.get(src!).get(plane).get(inPlane!).op('i32.mul').op('i32.add').set(source);
    f.get(rowBegin!).set(row);
    f.loop(null, (nextRow) => {
      entryOf(rowTable!, row);
      f.mem('i32.load').get(source).op('i32.add').set(lowRow);
      if (interpolation === 'linear') {
        entryOf(rowTable!, row);
        f.mem('i32.load', { offset: 4 }).get(source).op('i32.add').set(highRow);
        entryOf(rowTable!, row);
        f.mem('f32.load', { offset: 8 }).set(rowWeight);
      }
      f.get(dst!).get(plane).get(outPlane!).op('i32.mul').op('i32.add');
      f.get(row).get(width!).op('i32.mul').i32Const(2).op('i32.shl').op('i32.add').set(target);
      f.get(columnTable!).set(columnEntry);
      f.i32Const(0).set(column);
      f.loop(null, (nextColumn) => {
        f.get(target);
        if (interpolation === 'nearest') {
          f.get(columnEntry).mem('i32.load').get(lowRow).op('i32.add').mem('i32.load').mem('i32.store');
        } else {
          emitLinear(f, lowRow, columnEntry, columnWeight);
          f.set(top);
          emitLinear(f, highRow, columnEntry, columnWeight);
          f.get(top).op('f32.sub').get(rowWeight).op('f32.mul').get(top).op('f32.add').mem('f32.store');
        }
        f.get(target).i32Const(4).op('i32.add').set(target);
        f.get(columnEntry).i32Const(entry).op('i32.add').set(columnEntry);
        f.get(column).i32Const(1).op('i32.add').tee(column).get(width!).op('i32.lt_u').brIf(nextColumn);
      });
      f.get(row).i32Const(1).op('i32.add').tee(row).get(rowEnd!).op('i32.lt_u').brIf(nextRow);
    });
    f.get(plane).i32Const(1).op('i32.add').tee(plane).get(planeEnd!).op('i32.lt_u').brIf(nextPlane);
  });
}

/** Pushes `a + w·(b − a)` for the row at `rowAddress`: a, b its elements at the column entry's offsets. */
function emitLinear(f: FunctionBuilder, rowAddress: Local, columnEntry: Local, weight: Local): void {
  const a = f.local('f32', `a${rowAddress.name}`);
  f.get(columnEntry).mem('f32.load', { offset: 8 }).set(weight);
  f.get(columnEntry).mem('i32.load').get(rowAddress).op('i32.add').mem('f32.load').tee(a);
  f.get(columnEntry).mem('i32.load', { offset: 4 }).get(rowAddress).op('i32.add').mem('f32.load');
  f.get(a).op('f32.sub').get(weight).op('f32.mul').op('f32.add');
}

/** `true` when the kernel computes the node as its attributes configure it, otherwise the reason. */
function claimsResize(node: Node, types: ReadonlyMap<string, ValueType>): true | string {
  const interpolation = interpolationOf(node);
  if (interpolation !== 'nearest' && interpolation !== 'linear')
    return `the wasm Resize does nearest and linear, not ${interpolation}`;
  if (intAttribute(node, 'antialias', 0) !== 0 && interpolation === 'linear')
    return 'antialiasing is not generated';
  if (node.opType === 'Resize' && node.opset >= 11) {
    const coordinateMode = stringAttribute(node, 'coordinate_transformation_mode', 'half_pixel');
    if (!COORDINATE_MODES.includes(coordinateMode))
      return `the wasm Resize does not generate coordinate_transformation_mode '${coordinateMode}'`;
    if (!isNearestMode(stringAttribute(node, 'nearest_mode', 'round_prefer_floor')))
      return 'unknown nearest_mode';
  }
  const type = typeOf(types, node.inputs[0]!);
  if (type !== undefined && (interpolation === 'linear' ? type !== 'float32' : elementBytesOf(type) !== 4))
    return `the wasm Resize takes ${interpolation === 'linear' ? 'float32' : '4-byte elements'}, not ${type}`;
  return true;
}

export const kernels: WasmKernelDef[] = [
  { op: 'Resize', since: 10, claims: claimsResize, prepare: resizeKernel },
  { op: 'Upsample', since: 1, claims: claimsResize, prepare: resizeKernel },
];
