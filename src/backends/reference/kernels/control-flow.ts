/**
 * Control flow: If, Loop and Scan. Each runs its body subgraph through `ctx.runSubgraph`, which
 * makes the enclosing graph's values visible to the body by name. Loop and Scan thread state
 * values from one iteration to the next and stack per-iteration "scan outputs" along a new axis,
 * into the node's output memory. Values the body returns (If's results, final states) are passed
 * on as they are.
 */

import { Tensor } from '../../../core/tensor.js';
import { describeValue, type RuntimeValue } from '../../../core/values.js';
import type { Dim, Graph, ValueInfo } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { normalizeAxis, readInts, scalarNumber } from '../util.js';
import {
  concatAlongAxis,
  newTensor,
  outputTensor,
  sliceAlongAxis,
  stackAlongAxis,
  type Allocate,
} from './sequence.js';

function isTrue(ctx: KernelContext, value: RuntimeValue | undefined, what: string): boolean {
  if (!(value instanceof Tensor) || value.type !== 'bool' || value.size !== 1) {
    ctx.fail(`${what} must be a single bool, got ${describeValue(value)}`);
  }
  return value.data[0] !== 0;
}

/** Runs a body and checks it produced the number of outputs the caller relies on. */
function runBody(
  ctx: KernelContext,
  body: Graph,
  inputs: readonly RuntimeValue[],
  outputs: number,
): RuntimeValue[] {
  if (inputs.length !== body.inputs.length) {
    ctx.fail(
      `the body '${body.name}' takes ${body.inputs.length} inputs, the node gives it ${inputs.length}`,
    );
  }
  const results = ctx.runSubgraph(body, inputs);
  if (results.length !== outputs) {
    ctx.fail(`the body '${body.name}' returned ${results.length} values, expected ${outputs}`);
  }
  return results;
}

function bodyTensor(ctx: KernelContext, value: RuntimeValue | undefined, output: number): Tensor {
  if (!(value instanceof Tensor)) {
    ctx.fail(`body output ${output} must be a tensor, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Stacks the per-iteration values of one scan output along `axis`, into `allocate`'s tensor. With
 * no iterations there are no values to take a shape from, so the body's declared output type gives
 * it (unknown dims as 0).
 */
function stackScanOutput(
  ctx: KernelContext,
  steps: readonly Tensor[],
  axis: number,
  declared: ValueInfo | undefined,
  allocate: Allocate,
): Tensor {
  if (steps.length > 0) return stackAlongAxis(steps, axis, (reason) => ctx.fail(reason), allocate);
  const type = declared?.type;
  if (type?.kind !== 'tensor') {
    ctx.fail(`scan output '${declared?.name}' has no declared tensor type to build an empty result from`);
  }
  const dims = (type.shape ?? []).map((d: Dim) => (typeof d === 'number' ? d : 0));
  dims.splice(axis, 0, 0);
  return allocate(type.elemType, dims);
}

function runIf(ctx: KernelContext): RuntimeValue[] {
  const branch = ctx.graph(isTrue(ctx, ctx.inputs[0], 'cond') ? 'then_branch' : 'else_branch');
  return runBody(ctx, branch, [], ctx.outputCount);
}

/**
 * Loop: the body takes (iteration number, condition, carried values...) and returns
 * (condition, carried values..., scan outputs...). A missing trip count and a missing condition
 * both mean "no limit"; the body's condition output is ignored when the node has no condition.
 */
function runLoop(ctx: KernelContext): (RuntimeValue | undefined)[] {
  const body = ctx.graph('body');
  const tripCountInput = ctx.optionalInput(0);
  const tripCount = tripCountInput === undefined ? Infinity : scalarNumber(tripCountInput);
  const hasCondition = ctx.inputs[1] !== undefined;
  let keepGoing = hasCondition ? isTrue(ctx, ctx.inputs[1], 'cond') : true;
  let carried = ctx.inputs.slice(2).map((value, i) => {
    if (value === undefined) ctx.fail(`loop-carried input ${i} is missing`);
    return value;
  });
  const carriedCount = carried.length;
  const scanCount = body.outputs.length - 1 - carriedCount;
  if (scanCount < 0) {
    ctx.fail(`the body returns ${body.outputs.length} values, fewer than 1 + ${carriedCount} carried`);
  }
  const scans: Tensor[][] = Array.from({ length: scanCount }, () => []);
  for (let i = 0; i < tripCount && keepGoing; i++) {
    const iteration = new Tensor('int64', new BigInt64Array([BigInt(i)]), []);
    const condition = new Tensor('bool', new Uint8Array([1]), []);
    const results = runBody(ctx, body, [iteration, condition, ...carried], body.outputs.length);
    if (hasCondition) keepGoing = isTrue(ctx, results[0], 'the body condition output');
    carried = results.slice(1, 1 + carriedCount);
    scans.forEach((steps, k) =>
      steps.push(bodyTensor(ctx, results[1 + carriedCount + k], 1 + carriedCount + k)),
    );
  }
  const stacked = scans.map((steps, k) => {
    const index = carriedCount + k;
    if (!ctx.wantsOutput(index)) return undefined;
    return stackScanOutput(ctx, steps, 0, body.outputs[1 + index], outputTensor(ctx, index));
  });
  return [...carried, ...stacked];
}

interface ScanPass {
  states: readonly RuntimeValue[];
  scanInputs: readonly Tensor[];
  inputAxes: readonly number[];
  inputReversed: readonly boolean[];
  length: number;
}

/** Iterates a Scan body over `length` positions; returns the final states and each scan output's steps. */
function scanIterations(
  ctx: KernelContext,
  body: Graph,
  pass: ScanPass,
): { states: RuntimeValue[]; steps: Tensor[][] } {
  let states = [...pass.states];
  const stateCount = states.length;
  const steps: Tensor[][] = Array.from({ length: body.outputs.length - stateCount }, () => []);
  for (let t = 0; t < pass.length; t++) {
    const slices = pass.scanInputs.map((input, j) => {
      const axis = pass.inputAxes[j]!;
      const position = pass.inputReversed[j] ? pass.length - 1 - t : t;
      return sliceAlongAxis(input, axis, position, 1).reshape(input.dims.filter((_, a) => a !== axis));
    });
    const results = runBody(ctx, body, [...states, ...slices], body.outputs.length);
    states = results.slice(0, stateCount);
    steps.forEach((list, k) => list.push(bodyTensor(ctx, results[stateCount + k], stateCount + k)));
  }
  return { states, steps };
}

function directionFlags(ctx: KernelContext, name: string, count: number): boolean[] {
  const flags = ctx.ints(name, new Array<number>(count).fill(0));
  if (flags.length !== count) ctx.fail(`${name} must have ${count} entries, got ${flags.length}`);
  return flags.map((flag) => {
    if (flag !== 0 && flag !== 1) ctx.fail(`${name} entries must be 0 or 1, got ${flag}`);
    return flag === 1;
  });
}

function sharedScanLength(ctx: KernelContext, inputs: readonly Tensor[], axes: readonly number[]): number {
  const length = inputs[0]?.dims[axes[0]!];
  if (length === undefined) ctx.fail('Scan needs at least one scan input');
  inputs.forEach((input, j) => {
    if (input.dims[axes[j]!] !== length) {
      ctx.fail(
        `scan input ${j} has ${input.dims[axes[j]!]} positions along its scan axis, scan input 0 has ${length}`,
      );
    }
  });
  return length;
}

function tensorInputs(ctx: KernelContext, from: number, to: number): Tensor[] {
  return Array.from({ length: to - from }, (_, i) => ctx.input(from + i));
}

/** Scan (opset 9 on): states and scan inputs with per-input axes and directions, no batch axis. */
function runScan(ctx: KernelContext): (RuntimeValue | undefined)[] {
  const body = ctx.graph('body');
  const scanInputCount = ctx.int('num_scan_inputs');
  const stateCount = ctx.inputs.length - scanInputCount;
  if (stateCount < 0) ctx.fail(`num_scan_inputs ${scanInputCount} exceeds the ${ctx.inputs.length} inputs`);
  const scanInputs = tensorInputs(ctx, stateCount, ctx.inputs.length);
  const fail = (reason: string) => ctx.fail(reason);
  const axesAttr = ctx.ints('scan_input_axes', new Array<number>(scanInputCount).fill(0));
  if (axesAttr.length !== scanInputCount) ctx.fail(`scan_input_axes must have ${scanInputCount} entries`);
  const inputAxes = axesAttr.map((axis, j) => normalizeAxis(axis, scanInputs[j]!.dims.length, fail));
  const length = sharedScanLength(ctx, scanInputs, inputAxes);
  const states = ctx.inputs
    .slice(0, stateCount)
    .map((value, i) => value ?? ctx.fail(`state input ${i} is missing`));
  const result = scanIterations(ctx, body, {
    states,
    scanInputs,
    inputAxes,
    inputReversed: directionFlags(ctx, 'scan_input_directions', scanInputCount),
    length,
  });
  const scanOutputCount = result.steps.length;
  const outputAxes = ctx.ints('scan_output_axes', new Array<number>(scanOutputCount).fill(0));
  if (outputAxes.length !== scanOutputCount) {
    ctx.fail(`scan_output_axes must have ${scanOutputCount} entries`);
  }
  const outputReversed = directionFlags(ctx, 'scan_output_directions', scanOutputCount);
  const outputs = result.steps.map((steps, k) => {
    const index = stateCount + k;
    const declared = body.outputs[index];
    const rank = (steps[0]?.dims.length ?? declaredRank(declared)) + 1;
    const axis = normalizeAxis(outputAxes[k]!, rank, fail);
    if (!ctx.wantsOutput(index)) return undefined;
    const ordered = outputReversed[k] ? [...steps].reverse() : steps;
    return stackScanOutput(ctx, ordered, axis, declared, outputTensor(ctx, index));
  });
  return [...result.states, ...outputs];
}

function declaredRank(info: ValueInfo | undefined): number {
  return info?.type?.kind === 'tensor' ? (info.type.shape?.length ?? 0) : 0;
}

/**
 * Scan-8: the first input is optional per-batch sequence lengths, and every state and scan input
 * has a leading batch axis (scan inputs scan along axis 1). Each batch entry is scanned on its own;
 * positions past an entry's sequence length are zero in the scan outputs.
 */
function runBatchedScan(ctx: KernelContext): (RuntimeValue | undefined)[] {
  const body = ctx.graph('body');
  const scanInputCount = ctx.int('num_scan_inputs');
  const inputCount = ctx.inputs.length - 1;
  const stateCount = inputCount - scanInputCount;
  if (stateCount < 0) ctx.fail(`num_scan_inputs ${scanInputCount} exceeds the ${inputCount} inputs`);
  const states = tensorInputs(ctx, 1, 1 + stateCount);
  const scanInputs = tensorInputs(ctx, 1 + stateCount, ctx.inputs.length);
  const all = [...states, ...scanInputs];
  const batch = all[0]?.dims[0];
  if (batch === undefined) ctx.fail('Scan needs at least one input with a batch axis');
  if (all.some((t) => t.dims[0] !== batch)) ctx.fail(`all inputs must share the batch size ${batch}`);
  if (scanInputs.some((t) => t.dims.length < 2)) {
    ctx.fail('scan inputs must have a batch and a sequence axis');
  }
  const maxLength = sharedScanLength(
    ctx,
    scanInputs,
    scanInputs.map(() => 1),
  );
  const lengthsInput = ctx.optionalInput(0);
  const lengths = lengthsInput ? readInts(lengthsInput) : new Array<number>(batch).fill(maxLength);
  if (lengths.length !== batch) ctx.fail(`sequence_lens must have ${batch} entries, got ${lengths.length}`);
  const inputReversed = directionFlags(ctx, 'directions', scanInputCount);
  const entryOf = (t: Tensor, b: number) => sliceAlongAxis(t, 0, b, 1).reshape(t.dims.slice(1));

  const finalStates: Tensor[][] = states.map(() => []);
  const scanOutputs: Tensor[][] = Array.from({ length: body.outputs.length - stateCount }, () => []);
  for (let b = 0; b < batch; b++) {
    const length = lengths[b]!;
    if (!Number.isInteger(length) || length < 0 || length > maxLength) {
      ctx.fail(`sequence length ${length} is out of range [0, ${maxLength}]`);
    }
    const entryInputs = scanInputs.map((t) => entryOf(t, b));
    const result = scanIterations(ctx, body, {
      states: states.map((t) => entryOf(t, b)),
      scanInputs: entryInputs.map((t) => sliceAlongAxis(t, 0, 0, length)),
      inputAxes: entryInputs.map(() => 0),
      inputReversed,
      length,
    });
    result.states.forEach((state, i) => finalStates[i]!.push(bodyTensor(ctx, state, i)));
    result.steps.forEach((steps, k) => {
      const stacked = stackScanOutput(ctx, steps, 0, body.outputs[stateCount + k], newTensor);
      scanOutputs[k]!.push(padAxis0(ctx, stacked, maxLength));
    });
  }
  const fail = (reason: string) => ctx.fail(reason);
  return [...finalStates, ...scanOutputs].map((entries, i) =>
    ctx.wantsOutput(i) ? stackAlongAxis(entries, 0, fail, outputTensor(ctx, i)) : undefined,
  );
}

/** Extends axis 0 of `t` with zeros up to `size`. */
function padAxis0(ctx: KernelContext, t: Tensor, size: number): Tensor {
  const missing = size - t.dims[0]!;
  if (missing === 0) return t;
  // New memory is zero-filled.
  const zeros = newTensor(t.type, [missing, ...t.dims.slice(1)]);
  return concatAlongAxis([t, zeros], 0, (reason) => ctx.fail(reason));
}

export const kernels: KernelDef[] = [
  { op: 'If', since: 1, run: runIf },
  { op: 'Loop', since: 1, run: runLoop },
  { op: 'Scan', since: 8, run: (ctx) => (ctx.opset < 9 ? runBatchedScan(ctx) : runScan(ctx)) },
];
