/**
 * The generator of elementwise loops: a small program of float operations over N inputs that
 * broadcast to one contiguous float32 output, compiled into one pass over the output with every
 * intermediate in registers. The unary, binary and ElementwiseChain kernels are all such programs.
 *
 * The output's shape and the inputs' broadcast strides are first reduced (axes of length 1 dropped,
 * neighbours that are contiguous for every operand merged), which turns the common cases into a
 * few layouts: same shape or scalar (one axis), a vector along the last axis or one value per row
 * (per channel of NCHW). The loop runs over [rows, columns] of the reduced shape; a row's start
 * in each input comes from its index over the outer axes and the input's strides along them, which
 * covers every broadcast (two-way ones included) in the general case. Along the columns an input
 * is contiguous or constant (numpy broadcasting allows no other innermost stride), so it is read
 * with a vector load per four columns, a splat once per row, or, for a scalar, a splat once per
 * tile. Columns go eight or four at a time, the last few one at a time through the same vector code. Shapes
 * and strides are baked into the module (plans are specialised to shapes), so its loops index with
 * constants.
 *
 * Bool inputs (Where's condition) are read as bytes and widened to lane masks.
 *
 * Also here, what other kernels share with these: the heap addresses of a kernel's operands and the
 * copy-out of staged outputs (`HeapOperands`, `residentAddress`, `finishStaged`), plans kept per
 * shape (`ShapeMemo`), reference checks as a test of a run (`unlessFails`), and the loops of
 * the kernels that reduce along rows or across them (softmax, normalization, reduce).
 */

import { HeddleError } from '../../../core/errors.js';
import { Tensor, type TensorData } from '../../../core/tensor.js';
import { opLabel, type Node } from '../../../ir/graph.js';
import type { KernelArgs, KernelOutputs, PreparedKernel } from '../../backend.js';
import { broadcastShapes, sameDims } from '../../reference/util.js';
import type { FunctionBuilder, Local, ModuleBuilder } from '../assembler/index.js';
import type { Staging, WasmEnv } from '../kernel.js';
import { MAX_ARGS } from '../pool/control.js';
import type { TiledRange } from '../pool/index.js';
import type { ModuleKernel, WasmRuntime } from '../runtime.js';
import { emitActivation } from './activation.js';
import { generatedKernel } from './compile.js';
import {
  emitErf,
  emitExp,
  emitExpm1,
  emitLog,
  emitSigmoid,
  emitSoftplus,
  emitTanh,
  i32Function,
  splat,
  v128Temp,
} from './math.js';

/** The operations a program is made of, with ONNX's meaning (parameters as ONNX's attributes). */
export type ElementOp =
  | 'Identity'
  | 'Abs'
  | 'Neg'
  | 'Sqrt'
  | 'Reciprocal'
  | 'Floor'
  | 'Ceil'
  | 'Round'
  | 'Sign'
  | 'Exp'
  | 'Log'
  | 'Erf'
  | 'Sigmoid'
  | 'Tanh'
  | 'Softplus'
  | 'Softsign'
  | 'Relu'
  | 'LeakyRelu'
  | 'ThresholdedRelu'
  | 'Elu'
  | 'Selu'
  | 'Celu'
  | 'HardSigmoid'
  | 'HardSwish'
  | 'Mish'
  | 'Gelu'
  | 'FastGelu'
  | 'Swish'
  | 'Clip'
  | 'Add'
  | 'Sub'
  | 'Mul'
  | 'Div'
  | 'Max'
  | 'Min'
  | 'PRelu'
  | 'Where'
  /** x^p for the constant p = params[0], one of POWER_EXPONENTS. */
  | 'Power';

/** The constant exponents `Power` computes exactly enough (by products, roots and reciprocals). */
export const POWER_EXPONENTS: ReadonlySet<number> = new Set([-1, -0.5, 0, 0.5, 1, 2, 3]);

/** Operand of an instruction: an input of the kernel, the result of an earlier instruction, a constant. */
export type Operand =
  | { readonly kind: 'input'; readonly index: number }
  | { readonly kind: 'result'; readonly index: number }
  | { readonly kind: 'constant'; readonly value: number };

export interface ElementInstruction {
  readonly op: ElementOp;
  readonly operands: readonly Operand[];
  /** The op's float attributes in the order ONNX lists them (LeakyRelu [alpha], Clip [min, max]...). */
  readonly params: readonly number[];
}

/** Element types of the inputs a program reads: floats, or bools (Where's condition). */
export type ElementInputType = 'float32' | 'bool';

/** A program: its inputs' element types and its instructions; the last one's result is the output. */
export interface ElementwiseProgram {
  readonly inputs: readonly ElementInputType[];
  readonly instructions: readonly ElementInstruction[];
}

/** The program of one operation on the kernel's inputs in order. */
export function singleOp(
  op: ElementOp,
  inputs: readonly ElementInputType[],
  params: readonly number[] = [],
): ElementwiseProgram {
  const operands = inputs.map((_, index): Operand => ({ kind: 'input', index }));
  return { inputs, instructions: [{ op, operands, params }] };
}

/** A key naming the program's computation, for module caches. */
function programKey(program: ElementwiseProgram): string {
  const operand = (o: Operand): string =>
    o.kind === 'input' ? `i${o.index}` : o.kind === 'result' ? `r${o.index}` : `c${o.value}`;
  const steps = program.instructions.map(
    ({ op, operands, params }) =>
      `${op}(${operands.map(operand).join(',')}${params.map((p) => `;${p}`).join('')})`,
  );
  return `${program.inputs.map((t) => (t === 'bool' ? 'b' : 'f')).join('')}:${steps.join(' ')}`;
}

/** The program's operations per element: its vector instructions (about) over the four lanes. */
function programCost(program: ElementwiseProgram): number {
  return program.instructions.reduce((sum, { op }) => sum + (VECTOR_INSTRUCTIONS[op] ?? 1), 0) / 4;
}

/** About how many vector instructions the ops that take more than one generate. */
const VECTOR_INSTRUCTIONS: Partial<Record<ElementOp, number>> = {
  Exp: 25,
  Log: 35,
  Erf: 70,
  Sigmoid: 32,
  Tanh: 45,
  Softplus: 70,
  Elu: 30,
  Selu: 32,
  Celu: 34,
  Mish: 115,
  Gelu: 30,
  FastGelu: 38,
  Swish: 34,
  Sign: 6,
  Softsign: 5,
  PRelu: 4,
  Power: 3,
};

// ---------------------------------------------------------------------------------------------
// Layout

/** The reduced loop: its axes and, per input, its stride along each (in elements; 0 broadcasts). */
export interface ElementwiseLayout {
  readonly dims: readonly number[];
  readonly strides: readonly (readonly number[])[];
}

/**
 * The loop over `outDims` with each input (of `inputDims`, broadcast numpy-style to `outDims`)
 * read at its strides: length-1 axes dropped, neighbours merged where every input is contiguous
 * across them. At least one axis remains (of length 1 for a scalar output).
 */
export function elementwiseLayout(
  outDims: readonly number[],
  inputDims: readonly (readonly number[])[],
): ElementwiseLayout {
  const rank = outDims.length;
  const aligned = inputDims.map((dims) => {
    const strides = new Array<number>(rank).fill(0);
    let stride = 1;
    for (let a = dims.length - 1; a >= 0; a--) {
      const axis = rank - dims.length + a;
      if (dims[a] !== 1) strides[axis] = stride;
      stride *= dims[a]!;
    }
    return strides;
  });
  const dims: number[] = [];
  const strides: number[][] = inputDims.map(() => []);
  for (let axis = 0; axis < rank; axis++) {
    const size = outDims[axis]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 && aligned.every((s, i) => strides[i]![last] === s[axis]! * size);
    if (mergeable) {
      dims[last]! *= size;
      aligned.forEach((s, i) => (strides[i]![last] = s[axis]!));
    } else {
      dims.push(size);
      aligned.forEach((s, i) => strides[i]!.push(s[axis]!));
    }
  }
  if (dims.length === 0) return { dims: [1], strides: inputDims.map(() => [0]) };
  return { dims, strides };
}

/** How an input is read: once (a scalar), once per row (constant along it) or along the row. */
type InnerRead = 'scalar' | 'row' | 'contiguous';

function innerRead(strides: readonly number[]): InnerRead {
  if (strides.every((s) => s === 0)) return 'scalar';
  return strides[strides.length - 1] === 0 ? 'row' : 'contiguous';
}

// ---------------------------------------------------------------------------------------------
// Running

/** How a program runs over a layout: its kernel, its tiles, and the pool's `work` of it. */
export interface ElementwisePlan {
  readonly kernel: ModuleKernel;
  readonly range: TiledRange;
  readonly work: number;
}

/** Elements per tile at least: smaller tiles cost more in calls than they gain in balance. */
const MIN_TILE_ELEMENTS = 4096;
/** Tiles per thread to aim for, so that a thread that finishes early can steal. */
const TILES_PER_THREAD = 4;

/** The tiles a loop over `elements` aims for on `threads`, none under `minTileElements`. */
export function tileTarget(threads: number, elements: number, minTileElements = MIN_TILE_ELEMENTS): number {
  return Math.max(1, Math.min(threads * TILES_PER_THREAD, Math.floor(elements / minTileElements)));
}

/**
 * [rows, columns] cut into about `tiles` tiles: whole rows while there are enough of them, else
 * one row per tile and its columns in groups of four.
 */
export function rowColumnRange(rows: number, columns: number, tiles: number): TiledRange {
  const tile =
    rows >= tiles
      ? [Math.ceil(rows / tiles), columns]
      : [1, Math.min(columns, Math.ceil(columns / Math.ceil(tiles / rows) / 4) * 4)];
  return { dims: [rows, columns], tile };
}

/** The plan of `program` over `layout` (undefined when the output is empty). */
export function planElementwise(
  runtime: WasmRuntime,
  program: ElementwiseProgram,
  layout: ElementwiseLayout,
): ElementwisePlan | undefined {
  const columns = layout.dims[layout.dims.length - 1]!;
  const rows = layout.dims.slice(0, -1).reduce((n, d) => n * d, 1);
  const elements = rows * columns;
  if (elements === 0) return undefined;
  // Work as bytes moved plus vector operations: four bytes per element of each stream read or
  // written, and the program's operations.
  const streams = layout.strides.filter((s) => innerRead(s) !== 'scalar').length + 1;
  return {
    kernel: elementwiseKernel(runtime, program, layout),
    range: rowColumnRange(rows, columns, tileTarget(runtime.threads, elements)),
    work: elements * (4 * streams + programCost(program)),
  };
}

/** Runs a plan on the heap addresses of the inputs and the output: inline when small, else on the pool. */
export function runElementwise(
  runtime: WasmRuntime,
  plan: ElementwisePlan | undefined,
  inputs: readonly number[],
  output: number,
): void | Promise<void> {
  if (!plan) return;
  return runtime.parallel(plan.kernel, plan.range, [...inputs, output], plan.work);
}

/** The compiled loop of `program` over `layout`, one module per program and layout. */
function elementwiseKernel(
  runtime: WasmRuntime,
  program: ElementwiseProgram,
  layout: ElementwiseLayout,
): ModuleKernel {
  const key = `elementwise_f32_${programKey(program)}_${layout.dims.join('x')}_${layout.strides
    .map((s) => s.join('.'))
    .join('/')}`;
  return generatedKernel(runtime, key, 'elementwise', (module) => buildModule(module, program, layout));
}

// ---------------------------------------------------------------------------------------------
// Kernels

/** What an elementwise kernel computes: its program, and the node's input feeding each program input. */
export interface ElementwiseSpec {
  readonly program: ElementwiseProgram;
  readonly inputs: readonly number[];
  /** Program inputs that must hold one value, read as scalars whatever their rank (Clip's bounds). */
  readonly scalars?: readonly number[];
  /** The output must have the first input's shape: the others broadcast to it (PRelu's slope). */
  readonly unidirectional?: boolean;
}

/**
 * `true` when a program of `inputs` inputs fits a kernel's arguments (an address per input and
 * one for the output), otherwise the reason.
 */
export function claimsInputCount(inputs: number): true | string {
  return inputs + 1 <= MAX_ARGS
    ? true
    : `an elementwise kernel takes at most ${MAX_ARGS - 1} inputs, not ${inputs}`;
}

/**
 * The kernel of a node computing `spec` over its inputs broadcast together into output 0. Runs
 * whose inputs are not of the program's element types go to the reference kernel.
 */
export function prepareElementwise(
  node: Node,
  env: WasmEnv,
  name: string,
  spec: ElementwiseSpec,
): PreparedKernel {
  const operands = new HeapOperands(env, node);
  let reference: PreparedKernel | undefined;
  const referenceRun = (args: KernelArgs): KernelOutputs | Promise<KernelOutputs> => {
    reference ??= env.reference(node);
    return reference.run(args);
  };
  const plans = new ShapeMemo<{ outDims: number[]; plan: ElementwisePlan | undefined }>();
  return {
    name,
    run(args: KernelArgs): KernelOutputs | Promise<KernelOutputs> {
      const values = spec.inputs.map((i) => args.inputs[i]);
      if (!values.every((t, k): t is Tensor => t instanceof Tensor && t.type === spec.program.inputs[k]))
        return referenceRun(args);
      const tensors: Tensor[] = values;
      if (!(spec.scalars ?? []).every((k) => tensors[k]!.size === 1)) return referenceRun(args);
      const shapes = tensors.map((t, k) => (spec.scalars?.includes(k) ? [] : t.dims));
      const planned = plans.get(shapes, () => {
        const outDims = broadcastShapes(shapes, (reason) => {
          throw new HeddleError(reason, { ...args.site, node: node.name, opType: opLabel(node) });
        });
        return {
          outDims,
          plan: planElementwise(env.runtime, spec.program, elementwiseLayout(outDims, shapes)),
        };
      });
      // The reference kernel names what is wrong when the others do not broadcast to the first.
      if (spec.unidirectional && !sameDims(planned.outDims, shapes[0]!)) return referenceRun(args);
      const output = args.allocateOutput(0, 'float32', planned.outDims);
      const pending = runElementwise(
        env.runtime,
        planned.plan,
        tensors.map((t, k) => operands.input(t, spec.inputs[k]!, k)),
        operands.output(output, tensors.length),
      );
      return operands.finish(pending, [output]);
    },
  };
}

/**
 * The value made for the last shapes (or other lists of numbers) seen, made again only when they
 * change: plans are specialised to shapes, so a kernel's runs see the same ones and skip planning.
 */
export class ShapeMemo<T> {
  private shapes?: (readonly number[])[];
  private value?: T;

  get(shapes: readonly (readonly number[])[], make: () => T): T {
    const same =
      this.shapes !== undefined &&
      this.shapes.length === shapes.length &&
      this.shapes.every((s, i) => sameDims(s, shapes[i]!));
    if (!same) {
      this.value = make();
      this.shapes = shapes.map((s) => [...s]);
    }
    return this.value as T;
  }
}

/** Thrown by `unlessFails`'s `fail`: a check the run did not pass, not a fault. */
class FailedCheck extends Error {}

/**
 * What `compute` returns, or undefined where it calls `fail`: a reference helper's checks (an axis
 * in range, shapes that fit) as a wasm kernel's test of whether a run is its own, the reference
 * kernel then running it and reporting what failed.
 */
export function unlessFails<T>(compute: (fail: (reason: string) => never) => T): T | undefined {
  try {
    return compute((reason) => {
      throw new FailedCheck(reason);
    });
  } catch (error) {
    if (error instanceof FailedCheck) return undefined;
    throw error;
  }
}

/**
 * Heap addresses of a kernel's tensors: a tensor in the heap is used where it is, a constant (an
 * initializer, outside the heap) is copied into a heap block of the session once, and any other
 * tensor goes through the kernel's staging.
 */
export class HeapOperands {
  private readonly staging: Staging;

  constructor(
    private readonly env: WasmEnv,
    private readonly node: Node,
  ) {
    this.staging = env.staging();
  }

  /** The address of `tensor`, the node's input `index`, staged (when it must be) in `slot`. */
  input(tensor: Tensor, index: number, slot: number): number {
    return residentAddress(this.env, this.node, tensor, index) ?? this.staging.input(tensor, slot);
  }

  /** The address to write `tensor` at, staged (when it must be) in `slot`. */
  output(tensor: Tensor, slot: number): number {
    return this.staging.output(tensor, slot);
  }

  /** A scratch block in `slot`. */
  scratch(slot: number, bytes: number): number {
    return this.staging.block(slot, bytes);
  }

  /** `outputs` once `pending` is done and staged outputs are copied out. */
  finish(pending: void | Promise<void>, outputs: KernelOutputs): KernelOutputs | Promise<KernelOutputs> {
    return finishStaged(this.staging, pending, outputs);
  }
}

/**
 * The heap address of `tensor`, the node's input `index`, without staging: where it is when it is
 * in the heap, a heap block of the session (copied once) when it is a constant, else undefined.
 */
export function residentAddress(env: WasmEnv, node: Node, tensor: Tensor, index: number): number | undefined {
  const own = env.heap.pointerOf(tensor.data);
  if (own !== undefined) return own;
  const name = node.inputs[index];
  if (!name || env.constant(name) !== tensor) return undefined;
  return env.memo(tensor, 'heap copy', () => {
    const data = tensor.data as Exclude<TensorData, string[]>;
    const address = env.keep(data.byteLength);
    env.heap
      .bytes(address, data.byteLength)
      .set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return address;
  });
}

/** `outputs` once `pending` is done and the outputs `staging` holds are copied out. */
export function finishStaged(
  staging: Staging,
  pending: void | Promise<void>,
  outputs: KernelOutputs,
): KernelOutputs | Promise<KernelOutputs> {
  if (!pending) {
    staging.finish();
    return outputs;
  }
  return pending.then(() => {
    staging.finish();
    return outputs;
  });
}

// ---------------------------------------------------------------------------------------------
// Code generation

function buildModule(module: ModuleBuilder, program: ElementwiseProgram, layout: ElementwiseLayout): void {
  const inputCount = program.inputs.length;
  const { f, params } = i32Function(module, 'elementwise', [
    'thread',
    'rowBegin',
    'rowEnd',
    'columnBegin',
    'columnEnd',
    ...program.inputs.map((_, i) => `input${i}`),
    'output',
  ]);
  const [, rowBegin, rowEnd, columnBegin, columnEnd] = params;
  const bases = params.slice(5, 5 + inputCount);
  const output = params[5 + inputCount]!;
  const reads = layout.strides.map(innerRead);
  const elementBytes = program.inputs.map((type) => (type === 'bool' ? 1 : 4));
  const values = program.inputs.map((_, i) => f.local('v128', `in${i}`));
  const pointers = program.inputs.map((_, i) => f.local('i32', `p${i}`));
  const row = f.local('i32', 'row');
  const column = f.local('i32', 'column');
  const outPointer = f.local('i32', 'q');
  const vectorEnd = f.local('i32', 'vectorEnd');
  const columns = layout.dims[layout.dims.length - 1]!;
  const gen = new ProgramEmitter(f, program);

  // Scalars are read once per tile.
  reads.forEach((read, i) => {
    if (read === 'scalar') loadSplat(f, bases[i]!, program.inputs[i]!).set(values[i]!);
  });
  emitVectorEnd(f, columnBegin, columnEnd, vectorEnd);
  f.get(rowBegin).set(row);
  f.loop(null, (nextRow) => {
    // Each input's address at (row, columnBegin); rows index the reduced outer axes.
    reads.forEach((read, i) => {
      if (read === 'scalar') return;
      emitRowOffset(f, row, layout.dims, layout.strides[i]!);
      if (read === 'contiguous') f.get(columnBegin).op('i32.add');
      f.i32Const(elementBytes[i]!).op('i32.mul').get(bases[i]!).op('i32.add').set(pointers[i]!);
      if (read === 'row') loadSplat(f, pointers[i]!, program.inputs[i]!).set(values[i]!);
    });
    f.get(row).i32Const(columns).op('i32.mul').get(columnBegin).op('i32.add');
    f.i32Const(4).op('i32.mul').get(output).op('i32.add').set(outPointer);
    f.get(columnBegin).set(column);
    const step = (lanes: 1 | 4): void => {
      reads.forEach((read, i) => {
        if (read === 'contiguous') loadValues(f, pointers[i]!, program.inputs[i]!, lanes).set(values[i]!);
      });
      f.get(outPointer);
      gen.emit(values);
      if (lanes === 4) f.mem('v128.store');
      else f.memLane('v128.store32_lane', 0);
      reads.forEach((read, i) => {
        if (read !== 'contiguous') return;
        f.get(pointers[i]!)
          .i32Const(elementBytes[i]! * lanes)
          .op('i32.add')
          .set(pointers[i]!);
      });
      f.get(outPointer)
        .i32Const(4 * lanes)
        .op('i32.add')
        .set(outPointer);
      f.get(column).i32Const(lanes).op('i32.add').set(column);
    };
    // Two vectors per iteration while they last (less loop overhead for the cheap programs).
    f.block(null, (pairsDone) => {
      f.get(column).i32Const(8).op('i32.add').get(vectorEnd).op('i32.gt_u').brIf(pairsDone);
      f.loop(null, (nextPair) => {
        step(4);
        step(4);
        f.get(column).i32Const(8).op('i32.add').get(vectorEnd).op('i32.le_u').brIf(nextPair);
      });
    });
    f.block(null, (vectorsDone) => {
      f.get(column).get(vectorEnd).op('i32.ge_u').brIf(vectorsDone);
      step(4);
    });
    f.block(null, (done) => {
      f.get(column).get(columnEnd).op('i32.ge_u').brIf(done);
      f.loop(null, (nextElement) => {
        step(1);
        f.get(column).get(columnEnd).op('i32.lt_u').brIf(nextElement);
      });
    });
    f.get(row).i32Const(1).op('i32.add').tee(row).get(rowEnd).op('i32.lt_u').brIf(nextRow);
  });
}

/** Pushes the element offset of `row` (a row-major index over all axes but the last) for `strides`. */
function emitRowOffset(
  f: FunctionBuilder,
  row: Local,
  dims: readonly number[],
  strides: readonly number[],
): void {
  f.i32Const(0);
  let below = 1;
  for (let axis = dims.length - 2; axis >= 0; axis--) {
    const stride = strides[axis]!;
    if (stride !== 0) {
      f.get(row);
      if (below > 1) f.i32Const(below).op('i32.div_u');
      if (axis > 0) f.i32Const(dims[axis]!).op('i32.rem_u');
      f.i32Const(stride).op('i32.mul').op('i32.add');
    }
    below *= dims[axis]!;
  }
}

/** Pushes the element at `pointer` in all four lanes (a bool as a lane mask). */
function loadSplat(f: FunctionBuilder, pointer: Local, type: ElementInputType): FunctionBuilder {
  if (type === 'float32') return f.get(pointer).mem('v128.load32_splat');
  // A byte splat across all 16 bytes is non-zero in every 32-bit lane exactly when it is non-zero.
  return f.get(pointer).mem('v128.load8_splat').v128Const('i32x4', [0, 0, 0, 0]).op('i32x4.ne');
}

/** Pushes `lanes` consecutive elements from `pointer` on (one in every lane when `lanes` is 1). */
function loadValues(
  f: FunctionBuilder,
  pointer: Local,
  type: ElementInputType,
  lanes: 1 | 4,
): FunctionBuilder {
  if (lanes === 1) return loadSplat(f, pointer, type);
  if (type === 'float32') return f.get(pointer).mem('v128.load', { align: 4 });
  f.get(pointer)
    .mem('v128.load32_zero', { align: 1 })
    .op('i16x8.extend_low_i8x16_u')
    .op('i32x4.extend_low_i16x8_u');
  return f.v128Const('i32x4', [0, 0, 0, 0]).op('i32x4.ne');
}

/** Emits a program's instructions on vectors of its inputs, leaving the result on the stack. */
class ProgramEmitter {
  private readonly results: Local[];

  constructor(
    private readonly f: FunctionBuilder,
    private readonly program: ElementwiseProgram,
  ) {
    this.results = program.instructions.map((_, j) => f.local('v128', `r${j}`));
  }

  emit(inputs: readonly Local[]): void {
    const { f, program, results } = this;
    program.instructions.forEach((instruction, j) => {
      for (const operand of instruction.operands) {
        if (operand.kind === 'input') f.get(inputs[operand.index]!);
        else if (operand.kind === 'result') f.get(results[operand.index]!);
        else splat(f, operand.value);
      }
      emitOp(f, instruction);
      if (j < results.length - 1) f.set(results[j]!);
    });
  }
}

/** Replaces the instruction's operands on the stack with its result. */
export function emitOp(f: FunctionBuilder, { op, params, operands }: ElementInstruction): void {
  const [p0 = 0, p1 = 0] = params;
  switch (op) {
    case 'Identity':
      return;
    case 'Abs':
      f.op('f32x4.abs');
      return;
    case 'Neg':
      f.op('f32x4.neg');
      return;
    case 'Sqrt':
      f.op('f32x4.sqrt');
      return;
    case 'Reciprocal':
      reciprocal(f);
      return;
    case 'Floor':
      f.op('f32x4.floor');
      return;
    case 'Ceil':
      f.op('f32x4.ceil');
      return;
    case 'Round':
      f.op('f32x4.nearest');
      return;
    case 'Sign':
      sign(f);
      return;
    case 'Exp':
      emitExp(f);
      return;
    case 'Log':
      emitLog(f);
      return;
    case 'Erf':
      emitErf(f);
      return;
    case 'Softplus':
      emitSoftplus(f);
      return;
    case 'Softsign': {
      const x = v128Temp(f, 'op.x');
      f.tee(x).get(x).op('f32x4.abs');
      splat(f, 1).op('f32x4.add').op('f32x4.div');
      return;
    }
    case 'Sigmoid':
    case 'Tanh':
    case 'Gelu':
    case 'FastGelu':
    case 'Relu':
    case 'LeakyRelu':
    case 'HardSigmoid':
    case 'HardSwish':
      emitActivation(f, { kind: op, params });
      return;
    case 'ThresholdedRelu': {
      // x > alpha ? x : 0
      const x = v128Temp(f, 'op.x');
      f.tee(x).get(x);
      splat(f, p0).op('f32x4.gt').op('v128.and');
      return;
    }
    case 'Elu':
      elu(f, p0);
      return;
    case 'Selu': {
      // x > 0 ? gamma·x : gamma·alpha·expm1(x) (NaN goes through expm1)
      const x = v128Temp(f, 'op.x');
      const negative = v128Temp(f, 'op.negative');
      f.tee(x);
      emitExpm1(f);
      splat(f, p0 * p1)
        .op('f32x4.mul')
        .set(negative);
      splat(f.get(x), p1).op('f32x4.mul').get(negative).get(x);
      splat(f, 0).op('f32x4.gt').op('v128.bitselect');
      return;
    }
    case 'Celu': {
      // max(0, x) + min(0, alpha·expm1(x/alpha))
      const x = v128Temp(f, 'op.x');
      splat(f.tee(x), p0).op('f32x4.div');
      emitExpm1(f);
      splat(f, p0).op('f32x4.mul');
      splat(f, 0).op('f32x4.pmin');
      splat(f.get(x), 0).op('f32x4.pmax').op('f32x4.add');
      return;
    }
    case 'Mish': {
      // x·tanh(softplus(x))
      const x = v128Temp(f, 'op.x');
      f.tee(x);
      emitSoftplus(f);
      emitTanh(f);
      f.get(x).op('f32x4.mul');
      return;
    }
    case 'Swish': {
      // x·sigmoid(alpha·x)
      const x = v128Temp(f, 'op.x');
      splat(f.tee(x), p0).op('f32x4.mul');
      emitSigmoid(f);
      f.get(x).op('f32x4.mul');
      return;
    }
    case 'Clip':
      clip(f, operands.length, params);
      return;
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Max':
    case 'Min':
      f.op(`f32x4.${op.toLowerCase() as 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min'}`);
      return;
    case 'PRelu': {
      // x < 0 ? slope·x : x
      const slope = v128Temp(f, 'op.slope');
      const x = v128Temp(f, 'op.x');
      f.set(slope).tee(x).get(slope).op('f32x4.mul').get(x).get(x);
      splat(f, 0).op('f32x4.lt').op('v128.bitselect');
      return;
    }
    case 'Where': {
      // The condition comes first; bitselect wants it last.
      const whenTrue = v128Temp(f, 'op.true');
      const whenFalse = v128Temp(f, 'op.false');
      const condition = v128Temp(f, 'op.condition');
      f.set(whenFalse).set(whenTrue).set(condition);
      f.get(whenTrue).get(whenFalse).get(condition).op('v128.bitselect');
      return;
    }
    case 'Power':
      power(f, p0);
      return;
  }
}

function reciprocal(f: FunctionBuilder): void {
  const x = v128Temp(f, 'op.x');
  f.set(x);
  splat(f, 1).get(x).op('f32x4.div');
}

/** -1 or 1 by the sign; ±0 and NaN stay as they are. */
function sign(f: FunctionBuilder): void {
  const x = v128Temp(f, 'op.x');
  splat(f.tee(x), -0).op('v128.and');
  splat(f, 1).op('v128.or').get(x);
  splat(f.get(x).op('f32x4.abs'), 0).op('f32x4.gt').op('v128.bitselect');
}

/** Elu: x < 0 ? alpha·expm1(x) : x (NaN takes the x side). */
function elu(f: FunctionBuilder, alpha: number): void {
  const x = v128Temp(f, 'op.x');
  f.tee(x);
  emitExpm1(f);
  splat(f, alpha).op('f32x4.mul').get(x).get(x);
  splat(f, 0).op('f32x4.lt').op('v128.bitselect');
}

/**
 * Clip: with one operand its bounds are `params` [min, max]; with three, the operands are x, min
 * and max (the program's builder passes a missing bound as ∓Infinity).
 */
function clip(f: FunctionBuilder, operandCount: number, params: readonly number[]): void {
  if (operandCount === 1) {
    emitActivation(f, { kind: 'Clip', params });
    return;
  }
  const high = v128Temp(f, 'op.high');
  f.set(high).op('f32x4.pmax').get(high).op('f32x4.pmin');
}

function power(f: FunctionBuilder, exponent: number): void {
  const x = v128Temp(f, 'op.x');
  switch (exponent) {
    case 0:
      // x^0 is 1 for every x, NaN included.
      f.drop();
      splat(f, 1);
      return;
    case 1:
      return;
    case 2:
      f.tee(x).get(x).op('f32x4.mul');
      return;
    case 3:
      f.tee(x).get(x).op('f32x4.mul').get(x).op('f32x4.mul');
      return;
    case -1:
      reciprocal(f);
      return;
    case 0.5:
    case -0.5:
      // pow(-0, ±0.5) is +0 / +Infinity and pow(-Infinity, ±0.5) is +Infinity / +0, where sqrt gives
      // -0 and NaN: adding +0 turns -0 into +0, and -Infinity is mapped to +Infinity first.
      f.tee(x).op('f32x4.abs').get(x).get(x);
      splat(f, -Infinity).op('f32x4.eq').op('v128.bitselect').op('f32x4.sqrt');
      splat(f, 0).op('f32x4.add');
      if (exponent < 0) reciprocal(f);
      return;
    default:
      throw new Error(`Power has no generated form for the exponent ${exponent}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Rows: what the kernels that reduce along rows (softmax, normalization, reduce) share

/** Independent accumulators of a row reduction, so that consecutive vectors' operations overlap. */
export const ROW_ACCUMULATORS = 4;

/**
 * Visits a row of `length` floats: `visit(4, offset, slot)` for each whole vector and then
 * `visit(1, offset, slot)` for each element after them, `offset` in bytes from the `cursors`
 * (which the caller points at the row's starts in its streams) and `slot` the accumulator the
 * element feeds (0 to ROW_ACCUMULATORS - 1). Vectors go in groups of ROW_ACCUMULATORS, the cursors
 * advancing by a group each time round the loop.
 */
export function forEachInRow(
  f: FunctionBuilder,
  length: number,
  cursors: readonly Local[],
  counter: Local,
  visit: (lanes: 4 | 1, offset: number, slot: number) => void,
): void {
  const vectors = Math.floor(length / 4);
  const groups = Math.floor(vectors / ROW_ACCUMULATORS);
  const groupBytes = 16 * ROW_ACCUMULATORS;
  repeat(f, counter, groups, () => {
    for (let k = 0; k < ROW_ACCUMULATORS; k++) visit(4, 16 * k, k);
    for (const cursor of cursors) f.get(cursor).i32Const(groupBytes).op('i32.add').set(cursor);
  });
  const leftover = vectors % ROW_ACCUMULATORS;
  for (let k = 0; k < leftover; k++) visit(4, 16 * k, k);
  for (let j = 0; j < length % 4; j++) visit(1, 16 * leftover + 4 * j, j);
}

/** A counted loop `for (i = 0; i < count; i++)` with `i` in `counter`, emitted only when count > 0. */
export function repeat(f: FunctionBuilder, counter: Local, count: number, body: () => void): void {
  if (count <= 0) return;
  f.i32Const(0).set(counter);
  f.loop(null, (next) => {
    body();
    f.get(counter).i32Const(1).op('i32.add').tee(counter).i32Const(count).op('i32.lt_u').brIf(next);
  });
}

/** Sets `vectorEnd` where the whole vectors of [begin, end) stop: begin plus the length rounded down to 4. */
function emitVectorEnd(f: FunctionBuilder, begin: Local, end: Local, vectorEnd: Local): void {
  f.get(end).get(begin).op('i32.sub').i32Const(-4).op('i32.and').get(begin).op('i32.add').set(vectorEnd);
}

/**
 * The function of a kernel that reduces along rows, `rows(thread, begin, end, input, output)`
 * (exported), the tile being the rows in [begin, end).
 */
export function rowsFunction(module: ModuleBuilder): {
  f: FunctionBuilder;
  begin: Local;
  end: Local;
  input: Local;
  output: Local;
} {
  const { f, params } = i32Function(module, 'rows', ['thread', 'begin', 'end', 'input', 'output']);
  const [, begin, end, input, output] = params;
  return { f, begin, end, input, output };
}

/** The locals of a `columns` kernel's tile: its outer and column ranges, and the loop counters. */
export interface ColumnTile {
  outerBegin: Local;
  outerEnd: Local;
  columnBegin: Local;
  columnEnd: Local;
  outer: Local;
  column: Local;
  vectorEnd: Local;
}

/**
 * The function of a kernel that reduces across rows, `columns(thread, outerBegin, outerEnd,
 * columnBegin, columnEnd, input, output)` (exported), with its tile's locals.
 */
export function columnsFunction(module: ModuleBuilder): {
  f: FunctionBuilder;
  tile: ColumnTile;
  input: Local;
  output: Local;
} {
  const { f, params } = i32Function(module, 'columns', [
    'thread',
    'outerBegin',
    'outerEnd',
    'columnBegin',
    'columnEnd',
    'input',
    'output',
  ]);
  const [, outerBegin, outerEnd, columnBegin, columnEnd, input, output] = params;
  const tile: ColumnTile = {
    outerBegin,
    outerEnd,
    columnBegin,
    columnEnd,
    outer: f.local('i32', 'outer'),
    column: f.local('i32', 'column'),
    vectorEnd: f.local('i32', 'vectorEnd'),
  };
  return { f, tile, input, output };
}

/**
 * The loops of a kernel that reduces across rows, four neighbouring columns per vector: for each
 * outer index of the tile, `group(4)` for each whole vector of its columns and then `group(1)` for
 * each column after them. `group` reads `outer` and `column` and must advance `column` by its lanes.
 */
export function forEachColumnGroup(
  f: FunctionBuilder,
  tile: ColumnTile,
  group: (lanes: 4 | 1) => void,
): void {
  const { outerBegin, outerEnd, columnBegin, columnEnd, outer, column, vectorEnd } = tile;
  emitVectorEnd(f, columnBegin, columnEnd, vectorEnd);
  f.get(outerBegin).set(outer);
  f.loop(null, (nextOuter) => {
    f.get(columnBegin).set(column);
    for (const [lanes, end] of [
      [4, vectorEnd],
      [1, columnEnd],
    ] as const) {
      f.block(null, (done) => {
        f.get(column).get(end).op('i32.ge_u').brIf(done);
        f.loop(null, (next) => {
          group(lanes);
          f.get(column).get(end).op('i32.lt_u').brIf(next);
        });
      });
    }
    f.get(outer).i32Const(1).op('i32.add').tee(outer).get(outerEnd).op('i32.lt_u').brIf(nextOuter);
  });
}

/**
 * Pushes the byte offset of the tile's column group (its first element) in rows of `rowFloats`
 * floats: where a columns kernel's `group` starts.
 */
export function columnGroupOffset(f: FunctionBuilder, tile: ColumnTile, rowFloats: number): FunctionBuilder {
  return f
    .get(tile.outer)
    .i32Const(rowFloats)
    .op('i32.mul')
    .get(tile.column)
    .op('i32.add')
    .i32Const(4)
    .op('i32.mul');
}
