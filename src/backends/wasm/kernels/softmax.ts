/**
 * Softmax and LogSoftmax on float32 as generated loops. The input is seen as [outer, lane, inner]
 * (before opset 13 coerced to 2-D at `axis`, so inner is 1; from 13 the lane is the one axis);
 * each lane is normalized in three passes over it: its maximum, the sum of e^(x - max) (stored by
 * Softmax on the way), then the scaling (or, for LogSoftmax, x - max - log(sum)).
 *
 * Two kernels, by where the lane lies in memory:
 * - `rows` (inner 1, a lane is contiguous): four elements of the lane per vector, lanes (rows)
 *   spread over the threads; what does not fill a vector is taken one element at a time.
 * - `columns` (inner > 1): a vector holds four neighbouring lanes, read with the lane's stride.
 * Lane length and strides are baked into the module. A NaN anywhere in a lane makes the lane NaN,
 * as the reference kernel does (its exponential enters the sum).
 */

import { Tensor } from '../../../core/tensor.js';
import { intAttribute, type Node } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { softmaxLanes, type LaneLayout } from '../../reference/kernels/softmax.js';
import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { generatedKernel } from '../codegen/compile.js';
import {
  columnsFunction,
  columnGroupOffset,
  forEachColumnGroup,
  forEachInRow,
  HeapOperands,
  repeat,
  ROW_ACCUMULATORS,
  rowsFunction,
  rowColumnRange,
  ShapeMemo,
  tileTarget,
  unlessFails,
} from '../codegen/elementwise.js';
import { emitExp, emitLog, foldAccumulators, splat } from '../codegen/math.js';
import { claimsFloat32, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import type { TiledRange } from '../pool/index.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';

type Variant = 'softmax' | 'logsoftmax';

// ---------------------------------------------------------------------------------------------
// Code generation

/**
 * The `rows` kernel: rows in [begin, end) of `lane` contiguous floats, visited by `forEachInRow`
 * (elements past the last vector alone, splat, counted in lane 0 only).
 */
function buildRows(module: ModuleBuilder, variant: Variant, lane: number): void {
  const { f, begin, end, input, output } = rowsFunction(module);
  const row = f.local('i32', 'row');
  const rowStart = f.local('i32', 'rowStart');
  const p = f.local('i32', 'p');
  const q = f.local('i32', 'q');
  const counter = f.local('i32', 'i');
  const accumulators = Array.from({ length: ROW_ACCUMULATORS }, (_, k) => f.local('v128', `acc${k}`));
  const max = f.local('v128', 'max');
  const scale = f.local('v128', 'scale');
  const value = f.local('v128', 'value');
  const load = (lanes: 4 | 1, base: Local, offset: number): FunctionBuilder =>
    f.get(base).mem(lanes === 4 ? 'v128.load' : 'v128.load32_splat', { offset, align: 4 });
  const store = (lanes: 4 | 1, offset: number): void => {
    if (lanes === 4) f.mem('v128.store', { offset, align: 4 });
    else f.memLane('v128.store32_lane', 0, { offset });
  };
  /** Points p and q at the row's starts. */
  const startRow = (): void => {
    f.get(rowStart).get(input).op('i32.add').set(p);
    f.get(rowStart).get(output).op('i32.add').set(q);
  };
  f.get(begin).set(row);
  f.loop(null, (nextRow) => {
    f.get(row)
      .i32Const(lane * 4)
      .op('i32.mul')
      .set(rowStart);
    // The maximum; a single element splat in every lane changes no maximum.
    for (const accumulator of accumulators) splat(f, -Infinity).set(accumulator);
    startRow();
    forEachInRow(f, lane, [p], counter, (lanes, offset, slot) => {
      f.get(accumulators[slot]!);
      load(lanes, p, offset).op('f32x4.pmax').set(accumulators[slot]!);
    });
    foldAccumulators(f, accumulators, 'f32x4.pmax');
    f.get(accumulators[0]!).set(max);
    // e^(x - max), stored by Softmax, summed.
    for (const accumulator of accumulators) splat(f, 0).set(accumulator);
    startRow();
    forEachInRow(f, lane, [p, q], counter, (lanes, offset, slot) => {
      load(lanes, p, offset).get(max).op('f32x4.sub');
      emitExp(f);
      f.set(value);
      if (variant === 'softmax') {
        f.get(q).get(value);
        store(lanes, offset);
      }
      f.get(accumulators[slot]!).get(value);
      if (lanes === 1) f.v128Const('i32x4', [-1, 0, 0, 0]).op('v128.and');
      f.op('f32x4.add').set(accumulators[slot]!);
    });
    foldAccumulators(f, accumulators, 'f32x4.add');
    startRow();
    if (variant === 'softmax') {
      splat(f, 1).get(accumulators[0]!).op('f32x4.div').set(scale);
      forEachInRow(f, lane, [q], counter, (lanes, offset) => {
        f.get(q);
        load(lanes, q, offset).get(scale).op('f32x4.mul');
        store(lanes, offset);
      });
    } else {
      // x - max - log(sum), in that order as the reference computes it.
      f.get(accumulators[0]!);
      emitLog(f);
      f.set(scale);
      forEachInRow(f, lane, [p, q], counter, (lanes, offset) => {
        f.get(q);
        load(lanes, p, offset).get(max).op('f32x4.sub').get(scale).op('f32x4.sub');
        store(lanes, offset);
      });
    }
    f.get(row).i32Const(1).op('i32.add').tee(row).get(end).op('i32.lt_u').brIf(nextRow);
  });
}

/**
 * The `columns` kernel: for each outer index in [outerBegin, outerEnd), the lanes (columns) in
 * [columnBegin, columnEnd) four at a time, each vector's elements `inner` floats apart; the
 * columns left over go one at a time (a splat, its lane 0 stored).
 */
function buildColumns(module: ModuleBuilder, variant: Variant, lane: number, inner: number): void {
  const { f, tile, input, output } = columnsFunction(module);
  const { column } = tile;
  const p = f.local('i32', 'p');
  const q = f.local('i32', 'q');
  const d = f.local('i32', 'd');
  const max = f.local('v128', 'max');
  const sum = f.local('v128', 'sum');
  const scale = f.local('v128', 'scale');
  const value = f.local('v128', 'value');
  const stride = inner * 4;
  const load = (lanes: 4 | 1, base: Local): void => {
    f.get(base).get(d).i32Const(stride).op('i32.mul').op('i32.add');
    f.mem(lanes === 4 ? 'v128.load' : 'v128.load32_splat', { align: 4 });
  };
  const store = (lanes: 4 | 1, value: () => void): void => {
    f.get(q).get(d).i32Const(stride).op('i32.mul').op('i32.add');
    value();
    if (lanes === 4) f.mem('v128.store', { align: 4 });
    else f.memLane('v128.store32_lane', 0);
  };
  const group = (lanes: 4 | 1): void => {
    // p and q: the group's first element, of the input and of the output.
    columnGroupOffset(f, tile, lane * inner).tee(p);
    f.get(output).op('i32.add').set(q);
    f.get(p).get(input).op('i32.add').set(p);
    splat(f, -Infinity).set(max);
    repeat(f, d, lane, () => {
      f.get(max);
      load(lanes, p);
      f.op('f32x4.pmax').set(max);
    });
    splat(f, 0).set(sum);
    repeat(f, d, lane, () => {
      load(lanes, p);
      f.get(max).op('f32x4.sub');
      emitExp(f);
      f.set(value);
      if (variant === 'softmax') store(lanes, () => f.get(value));
      f.get(sum).get(value).op('f32x4.add').set(sum);
    });
    if (variant === 'softmax') {
      splat(f, 1).get(sum).op('f32x4.div').set(scale);
      repeat(f, d, lane, () =>
        store(lanes, () => {
          load(lanes, q);
          f.get(scale).op('f32x4.mul');
        }),
      );
    } else {
      f.get(sum);
      emitLog(f);
      f.set(scale);
      repeat(f, d, lane, () =>
        store(lanes, () => {
          load(lanes, p);
          f.get(max).op('f32x4.sub').get(scale).op('f32x4.sub');
        }),
      );
    }
    f.get(column).i32Const(lanes).op('i32.add').set(column);
  };
  forEachColumnGroup(f, tile, group);
}

// ---------------------------------------------------------------------------------------------
// Kernels

/** Elements per tile at least, so that a tile's call is noise next to its work. */
const MIN_TILE_ELEMENTS = 2048;
/** Vector operations per element: the exponential and the three passes' loads and stores. */
const COST_PER_ELEMENT = 6;

/** How a run over one input shape goes: its kernel, tiles and work. */
interface SoftmaxPlan {
  readonly kernel: ModuleKernel;
  readonly range: TiledRange;
  readonly work: number;
}

/** The plan over `layout`, or 'empty' when there is nothing to compute. */
function planSoftmax(runtime: WasmRuntime, variant: Variant, layout: LaneLayout): SoftmaxPlan | 'empty' {
  const { outer, laneLength: lane, inner } = layout;
  const elements = outer * lane * inner;
  if (elements === 0) return 'empty';
  const work = elements * COST_PER_ELEMENT;
  const tiles = tileTarget(runtime.threads, elements, MIN_TILE_ELEMENTS);
  if (inner === 1) {
    const kernel = generatedKernel(runtime, `${variant}_f32_rows_${lane}`, 'rows', (module) =>
      buildRows(module, variant, lane),
    );
    return { kernel, range: { dims: [outer], tile: [Math.ceil(outer / tiles)] }, work };
  }
  const kernel = generatedKernel(runtime, `${variant}_f32_columns_${lane}x${inner}`, 'columns', (module) =>
    buildColumns(module, variant, lane, inner),
  );
  return { kernel, range: rowColumnRange(outer, inner, tiles), work };
}

function prepare(node: Node, env: WasmEnv, variant: Variant): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const axis = intAttribute(node, 'axis');
  // The plan of the last input shape: undefined when the axis is out of range for it.
  const plans = new ShapeMemo<SoftmaxPlan | 'empty' | undefined>();
  let reference: PreparedKernel | undefined;
  return {
    name: `${variant}_f32`,
    run(args: KernelArgs): KernelOutputs | Promise<KernelOutputs> {
      const x = args.inputs[0];
      const plan =
        x instanceof Tensor && x.type === 'float32'
          ? plans.get([x.dims], () => {
              const layout = unlessFails((fail) => softmaxLanes(x.dims, node.opset, axis, fail));
              return layout && planSoftmax(env.runtime, variant, layout);
            })
          : undefined;
      // Other types, and axes out of range (which the reference kernel reports), go to reference.
      if (!(x instanceof Tensor) || !plan) {
        reference ??= env.reference(node);
        return reference.run(args);
      }
      const output = args.allocateOutput(0, 'float32', x.dims);
      if (plan === 'empty') return [output];
      const addresses = [operands.input(x, 0, 0), operands.output(output, 1)];
      return operands.finish(env.runtime.parallel(plan.kernel, plan.range, addresses, plan.work), [output]);
    },
  };
}

function softmaxKernel(op: 'Softmax' | 'LogSoftmax'): WasmKernelDef {
  const variant: Variant = op === 'Softmax' ? 'softmax' : 'logsoftmax';
  return {
    op,
    since: 1,
    claims: (node, types) => claimsFloat32(node, types),
    prepare: (node, env) => prepare(node, env, variant),
  };
}

export const kernels: WasmKernelDef[] = [softmaxKernel('Softmax'), softmaxKernel('LogSoftmax')];
