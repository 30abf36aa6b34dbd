/**
 * ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare and
 * ReduceLogSum on float32 over any axes (an attribute before opset 13 for ReduceSum and 18 for the
 * others, an input from then on), with keepdims and noop_with_empty_axes.
 *
 * The input's axes are reduced to alternating groups of kept and reduced axes (length-1 axes
 * dropped, neighbours of one kind merged). Each reduced group is one pass of a generated kernel
 * over [outer, group, inner], innermost group first, into scratch and finally into the output:
 * - `rows` (inner 1: the group is contiguous): four elements of a row per vector, the row's
 *   lanes combined at its end;
 * - `columns` (inner > 1): a vector holds four neighbouring outputs, read with the group's stride.
 * The first pass maps elements (square, abs) before combining them, the last finishes (mean,
 * square root, log); Max and Min propagate NaN as the reference does. Reductions of empty sets
 * and the noop go to the reference kernel.
 */

import { Tensor } from '../../../core/tensor.js';
import { intAttribute, intsAttribute, type Node } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { normalizedReductionAxes } from '../../reference/kernels/reduce.js';
import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import { generatedKernel } from '../codegen/compile.js';
import {
  columnGroupOffset,
  columnsFunction,
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
import { emitLog, foldAccumulators, splat } from '../codegen/math.js';
import { claimsFloat32, type WasmEnv, type WasmKernelDef } from '../kernel.js';
import type { TiledRange } from '../pool/index.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';

interface Reduction {
  /** Applied to each element before combining. */
  readonly map: 'none' | 'square' | 'abs';
  readonly combine: 'add' | 'max' | 'min' | 'mul';
  /** Applied to the combined value: divided by the count, square root, log. */
  readonly finish: 'none' | 'mean' | 'sqrt' | 'log';
}

const REDUCTIONS: ReadonlyMap<string, Reduction> = new Map([
  ['ReduceSum', { map: 'none', combine: 'add', finish: 'none' }],
  ['ReduceMean', { map: 'none', combine: 'add', finish: 'mean' }],
  ['ReduceMax', { map: 'none', combine: 'max', finish: 'none' }],
  ['ReduceMin', { map: 'none', combine: 'min', finish: 'none' }],
  ['ReduceProd', { map: 'none', combine: 'mul', finish: 'none' }],
  ['ReduceL1', { map: 'abs', combine: 'add', finish: 'none' }],
  ['ReduceL2', { map: 'square', combine: 'add', finish: 'sqrt' }],
  ['ReduceSumSquare', { map: 'square', combine: 'add', finish: 'none' }],
  ['ReduceLogSum', { map: 'none', combine: 'add', finish: 'log' }],
]);

const IDENTITY = { add: 0, max: -Infinity, min: Infinity, mul: 1 } as const;

/** One pass: which steps of the reduction it applies, over [outer, length, inner]. */
interface Pass {
  readonly reduction: Reduction;
  readonly first: boolean;
  readonly last: boolean;
  readonly length: number;
  readonly inner: number;
  /** Elements reduced into each output over all passes (Mean's divisor). */
  readonly count: number;
}

function passKey(pass: Pass): string {
  const { reduction, first, last, length, inner, count } = pass;
  const steps = `${first ? reduction.map : 'none'}_${reduction.combine}_${last ? reduction.finish : 'none'}`;
  return `reduce_f32_${steps}_${length}x${inner}${last && reduction.finish === 'mean' ? `_${count}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Code generation

function emitMap(f: FunctionBuilder, pass: Pass, temp: Local): void {
  if (!pass.first || pass.reduction.map === 'none') return;
  if (pass.reduction.map === 'abs') f.op('f32x4.abs');
  else f.tee(temp).get(temp).op('f32x4.mul');
}

function emitCombine(f: FunctionBuilder, pass: Pass): void {
  f.op(`f32x4.${pass.reduction.combine}`);
}

function emitFinish(f: FunctionBuilder, pass: Pass): void {
  if (!pass.last) return;
  switch (pass.reduction.finish) {
    case 'mean':
      splat(f, pass.count).op('f32x4.div');
      return;
    case 'sqrt':
      f.op('f32x4.sqrt');
      return;
    case 'log':
      emitLog(f);
      return;
    case 'none':
      return;
  }
}

/** The `rows` kernel: each row of `length` contiguous floats into one output. */
function buildRows(module: ModuleBuilder, pass: Pass): void {
  const { f, begin, end, input, output } = rowsFunction(module);
  const row = f.local('i32', 'row');
  const p = f.local('i32', 'p');
  const counter = f.local('i32', 'i');
  const accumulators = Array.from({ length: ROW_ACCUMULATORS }, (_, k) => f.local('v128', `acc${k}`));
  const temp = f.local('v128', 'temp');
  const identity = IDENTITY[pass.reduction.combine];
  f.get(begin).set(row);
  f.loop(null, (nextRow) => {
    f.get(row)
      .i32Const(pass.length * 4)
      .op('i32.mul')
      .get(input)
      .op('i32.add')
      .set(p);
    for (const accumulator of accumulators) splat(f, identity).set(accumulator);
    forEachInRow(f, pass.length, [p], counter, (lanes, offset, slot) => {
      f.get(accumulators[slot]!);
      f.get(p).mem(lanes === 4 ? 'v128.load' : 'v128.load32_splat', { offset, align: 4 });
      emitMap(f, pass, temp);
      // A single element is splat in every lane; the others take the identity.
      if (lanes === 1) splat(f, identity).v128Const('i32x4', [-1, 0, 0, 0]).op('v128.bitselect');
      emitCombine(f, pass);
      f.set(accumulators[slot]!);
    });
    foldAccumulators(f, accumulators, `f32x4.${pass.reduction.combine}`);
    f.get(row).i32Const(4).op('i32.mul').get(output).op('i32.add').get(accumulators[0]!);
    emitFinish(f, pass);
    f.memLane('v128.store32_lane', 0);
    f.get(row).i32Const(1).op('i32.add').tee(row).get(end).op('i32.lt_u').brIf(nextRow);
  });
}

/** The `columns` kernel: four neighbouring outputs per vector, their elements `inner` floats apart. */
function buildColumns(module: ModuleBuilder, pass: Pass): void {
  const { f, tile, input, output } = columnsFunction(module);
  const { column } = tile;
  const p = f.local('i32', 'p');
  const r = f.local('i32', 'r');
  const acc = f.local('v128', 'acc');
  const temp = f.local('v128', 'temp');
  const { length, inner } = pass;
  const group = (lanes: 4 | 1): void => {
    columnGroupOffset(f, tile, length * inner);
    f.get(input).op('i32.add').set(p);
    splat(f, IDENTITY[pass.reduction.combine]).set(acc);
    repeat(f, r, length, () => {
      f.get(acc).get(p);
      f.mem(lanes === 4 ? 'v128.load' : 'v128.load32_splat', { align: 4 });
      emitMap(f, pass, temp);
      emitCombine(f, pass);
      f.set(acc);
      f.get(p)
        .i32Const(inner * 4)
        .op('i32.add')
        .set(p);
    });
    columnGroupOffset(f, tile, inner);
    f.get(output).op('i32.add').get(acc);
    emitFinish(f, pass);
    if (lanes === 4) f.mem('v128.store', { align: 4 });
    else f.memLane('v128.store32_lane', 0);
    f.get(column).i32Const(lanes).op('i32.add').set(column);
  };
  forEachColumnGroup(f, tile, group);
}

// ---------------------------------------------------------------------------------------------
// Planning and running

interface Group {
  size: number;
  reduced: boolean;
}

/** The input's axes as alternating kept and reduced groups, length-1 axes dropped. */
function groupsOf(dims: readonly number[], axes: ReadonlySet<number>): Group[] {
  const groups: Group[] = [];
  dims.forEach((size, axis) => {
    if (size === 1) return;
    const reduced = axes.has(axis);
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced) last.size *= size;
    else groups.push({ size, reduced });
  });
  // Every output is still a reduction (of one element) when no axis of length > 1 is reduced.
  if (!groups.some((g) => g.reduced)) groups.push({ size: 1, reduced: true });
  return groups;
}

/** The passes, innermost reduced group first, each over [outer, length, inner] of what is left. */
function planPasses(groups: readonly Group[], reduction: Reduction): { pass: Pass; outer: number }[] {
  const size = (list: readonly Group[]): number => list.reduce((n, g) => n * g.size, 1);
  const count = size(groups.filter((g) => g.reduced));
  const remaining = [...groups];
  const passes: { pass: Pass; outer: number }[] = [];
  for (;;) {
    const index = remaining.map((g) => g.reduced).lastIndexOf(true);
    if (index < 0) return passes;
    const outer = size(remaining.slice(0, index));
    const inner = size(remaining.slice(index + 1));
    const length = remaining[index]!.size;
    remaining.splice(index, 1);
    const last = !remaining.some((g) => g.reduced);
    passes.push({ pass: { reduction, first: passes.length === 0, last, length, inner, count }, outer });
  }
}

/** A pass ready to run: its kernel, tiles and work, and the floats it writes. */
interface PlannedPass {
  readonly kernel: ModuleKernel;
  readonly range: TiledRange;
  readonly work: number;
  readonly outputs: number;
}

function planPass(runtime: WasmRuntime, { pass, outer }: { pass: Pass; outer: number }): PlannedPass {
  const elements = outer * pass.length * pass.inner;
  const tiles = tileTarget(runtime.threads, elements);
  const rows = pass.inner === 1;
  const kernel = generatedKernel(runtime, passKey(pass), rows ? 'rows' : 'columns', (module) =>
    rows ? buildRows(module, pass) : buildColumns(module, pass),
  );
  const outputs = outer * pass.inner;
  if (rows) {
    const range = { dims: [outer], tile: [Math.ceil(outer / tiles)] };
    return { kernel, range, work: elements, outputs };
  }
  return { kernel, range: rowColumnRange(outer, pass.inner, tiles), work: elements, outputs };
}

/** Runs the passes one after another, waiting for a pass that went to the pool before the next. */
function runPasses(
  runtime: WasmRuntime,
  passes: readonly PlannedPass[],
  addresses: readonly number[],
  from = 0,
): void | Promise<void> {
  for (let k = from; k < passes.length; k++) {
    const { kernel, range, work } = passes[k]!;
    const pending = runtime.parallel(kernel, range, [addresses[k]!, addresses[k + 1]!], work);
    if (pending) return pending.then(() => runPasses(runtime, passes, addresses, k + 1));
  }
}

// ---------------------------------------------------------------------------------------------
// Kernels

/**
 * The axes to reduce (normalized), or undefined when the run is the reference kernel's: axes out
 * of range or repeated (it reports them), a non-constant axes input of another type, the noop.
 */
function reductionAxes(
  node: Node,
  args: KernelArgs,
  rank: number,
  axesAreInput: boolean,
): number[] | undefined {
  let axes: number[];
  if (axesAreInput) {
    const input = (node.inputs[1] ?? '') === '' ? undefined : args.inputs[1];
    if (input !== undefined && !(input instanceof Tensor && input.type === 'int64')) return undefined;
    axes = input ? Array.from(input.data as BigInt64Array, Number) : [];
    if (axes.length === 0 && intAttribute(node, 'noop_with_empty_axes', 0) !== 0) return undefined;
  } else {
    axes = intsAttribute(node, 'axes') ?? [];
  }
  return unlessFails((fail) => normalizedReductionAxes(axes, rank, fail));
}

function prepareReduce(
  node: Node,
  env: WasmEnv,
  reduction: Reduction,
  axesInputSince: number,
): PreparedKernel {
  const operands = new HeapOperands(env, node);
  const keepdims = intAttribute(node, 'keepdims', 1) !== 0;
  let reference: PreparedKernel | undefined;
  const plans = new ShapeMemo<{ outDims: number[]; passes: PlannedPass[] }>();
  return {
    name: `${node.opType.toLowerCase()}_f32`,
    run(args: KernelArgs): KernelOutputs | Promise<KernelOutputs> {
      const x = args.inputs[0];
      const axes =
        x instanceof Tensor
          ? reductionAxes(node, args, x.dims.length, node.opset >= axesInputSince)
          : undefined;
      const reducedCount = x instanceof Tensor && axes ? axes.reduce((n, a) => n * x.dims[a]!, 1) : 0;
      if (!(x instanceof Tensor) || x.type !== 'float32' || !axes || reducedCount === 0 || x.size === 0) {
        reference ??= env.reference(node);
        return reference.run(args);
      }
      const { outDims, passes } = plans.get([x.dims, axes], () => {
        const reduced = new Set(axes);
        return {
          outDims: keepdims
            ? x.dims.map((d, a) => (reduced.has(a) ? 1 : d))
            : x.dims.filter((_, a) => !reduced.has(a)),
          passes: planPasses(groupsOf(x.dims, reduced), reduction).map((pass) => planPass(env.runtime, pass)),
        };
      });
      const output = args.allocateOutput(0, 'float32', outDims);
      // Pass k reads addresses[k] and writes addresses[k + 1]: scratch between, alternating.
      const addresses = [operands.input(x, 0, 0)];
      passes.forEach(({ outputs }, k) => {
        const last = k === passes.length - 1;
        addresses.push(last ? operands.output(output, 2) : operands.scratch(3 + (k % 2), outputs * 4));
      });
      return operands.finish(runPasses(env.runtime, passes, addresses), [output]);
    },
  };
}

export const kernels: WasmKernelDef[] = [...REDUCTIONS].map(([op, reduction]) => {
  const axesInputSince = op === 'ReduceSum' ? 13 : 18;
  return {
    op,
    since: 1,
    claims: (node, types) => claimsFloat32(node, types, [0]),
    prepare: (node, env) => prepareReduce(node, env, reduction, axesInputSince),
  };
});
