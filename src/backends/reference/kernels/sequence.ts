/**
 * Sequence and optional operators: building, editing and reading tensor sequences
 * (SequenceEmpty/Construct/Insert/Erase/At/Length), converting between tensors and sequences
 * (SplitToSequence, ConcatFromSequence), mapping a subgraph over sequences (SequenceMap), and
 * the optional type (Optional, OptionalHasElement, OptionalGetElement). An optional that holds a
 * value is the value itself; only the empty optional has its own runtime value.
 *
 * The slicing and concatenation helpers are exported for the control-flow kernels (Loop and
 * Scan), which cut and stack tensors the same way; concatenation writes into the memory an
 * `Allocate` gives, an output's when the result is one.
 */

import {
  allocateStorage,
  dataTypeFromOnnx,
  slotsPerElement,
  type DataType,
  type TensorData,
} from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import { EmptyOptional, TensorSequence, describeValue, type RuntimeValue } from '../../../core/values.js';
import type { ValueType } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { normalizeAxis, readInts, scalarNumber, shapeSize } from '../util.js';

/** Copies `count` storage slots from `src[from...]` to `dst[to...]`, whatever the storage kind. */
function copySlots(src: TensorData, from: number, dst: TensorData, to: number, count: number): void {
  if (Array.isArray(src)) {
    for (let i = 0; i < count; i++) (dst as string[])[to + i] = src[from + i]!;
    return;
  }
  (dst as Float64Array).set((src as Float64Array).subarray(from, from + count), to);
}

/** Makes the tensor a result is written into. */
export type Allocate = (type: DataType, dims: readonly number[]) => Tensor;

/** New memory, for results that are not node outputs (sequence elements, intermediate values). */
export const newTensor: Allocate = (type, dims) =>
  new Tensor(type, allocateStorage(type, shapeSize(dims)), dims);

/** The memory of a node's output `index`, for results returned as that output. */
export function outputTensor(ctx: KernelContext, index: number): Allocate {
  return (type, dims) => ctx.output(index, type, dims);
}

/** The part of `t` with indices [start, start + length) along `axis`, keeping the axis. */
export function sliceAlongAxis(t: Tensor, axis: number, start: number, length: number): Tensor {
  const dims = [...t.dims];
  const outer = shapeSize(dims.slice(0, axis));
  const inner = shapeSize(dims.slice(axis + 1)) * slotsPerElement(t.type);
  const axisSize = dims[axis]!;
  dims[axis] = length;
  const out = newTensor(t.type, dims);
  for (let o = 0; o < outer; o++) {
    copySlots(t.data, (o * axisSize + start) * inner, out.data, o * length * inner, length * inner);
  }
  return out;
}

/** Concatenates tensors of one type along `axis`, into `allocate`'s tensor; all other dims must agree. */
export function concatAlongAxis(
  tensors: readonly Tensor[],
  axis: number,
  fail: (reason: string) => never,
  allocate: Allocate = newTensor,
): Tensor {
  const first = tensors[0];
  if (!first) fail('cannot concatenate an empty list of tensors');
  for (const t of tensors) {
    if (t.type !== first.type) fail(`cannot concatenate tensors of types ${first.type} and ${t.type}`);
    if (t.dims.length !== first.dims.length || t.dims.some((d, i) => i !== axis && d !== first.dims[i])) {
      fail(
        `cannot concatenate tensors of dims [${first.dims.join(', ')}] and [${t.dims.join(', ')}] on axis ${axis}`,
      );
    }
  }
  const dims = [...first.dims];
  dims[axis] = tensors.reduce((sum, t) => sum + t.dims[axis]!, 0);
  const outer = shapeSize(dims.slice(0, axis));
  const inner = shapeSize(dims.slice(axis + 1)) * slotsPerElement(first.type);
  const out = allocate(first.type, dims);
  let to = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of tensors) {
      const block = t.dims[axis]! * inner;
      copySlots(t.data, o * block, out.data, to, block);
      to += block;
    }
  }
  return out;
}

/** Stacks same-shaped tensors along a new axis `axis`, into `allocate`'s tensor. */
export function stackAlongAxis(
  tensors: readonly Tensor[],
  axis: number,
  fail: (reason: string) => never,
  allocate: Allocate = newTensor,
): Tensor {
  const withAxis = tensors.map((t) => t.reshape([...t.dims.slice(0, axis), 1, ...t.dims.slice(axis)]));
  return concatAlongAxis(withAxis, axis, fail, allocate);
}

function sequenceInput(ctx: KernelContext, i: number): TensorSequence {
  const value = ctx.inputs[i];
  if (value instanceof TensorSequence) return value;
  ctx.fail(`input ${i} must be a sequence, got ${describeValue(value)}`);
}

/** A position input, checked against [-size, limit) and made non-negative. */
function readPosition(ctx: KernelContext, t: Tensor, size: number, limit: number): number {
  if (t.type !== 'int32' && t.type !== 'int64') ctx.fail(`position must be int32 or int64, got ${t.type}`);
  const position = scalarNumber(t);
  if (position < -size || position >= limit) {
    ctx.fail(`position ${position} is out of range for a sequence of ${size} tensors`);
  }
  return position < 0 ? position + size : position;
}

function checkElementType(ctx: KernelContext, sequence: TensorSequence, t: Tensor): void {
  if (sequence.elemType !== undefined && t.type !== sequence.elemType) {
    ctx.fail(`a sequence of ${sequence.elemType} tensors cannot take a ${t.type} tensor`);
  }
}

function sequenceEmpty(ctx: KernelContext): RuntimeValue[] {
  const code = ctx.int('dtype', 1);
  const type = dataTypeFromOnnx(code);
  if (!type) ctx.fail(`unknown dtype ${code}`);
  return [new TensorSequence(type, [])];
}

function sequenceConstruct(ctx: KernelContext): RuntimeValue[] {
  const tensors = ctx.inputs.map((_, i) => ctx.input(i));
  const type = tensors[0]?.type;
  for (const t of tensors) {
    if (t.type !== type) ctx.fail(`all inputs must have one type, got ${type} and ${t.type}`);
  }
  return [new TensorSequence(type, tensors)];
}

function sequenceInsert(ctx: KernelContext): RuntimeValue[] {
  const sequence = sequenceInput(ctx, 0);
  const tensor = ctx.input(1);
  checkElementType(ctx, sequence, tensor);
  const size = sequence.items.length;
  const positionInput = ctx.optionalInput(2);
  const position = positionInput ? readPosition(ctx, positionInput, size, size + 1) : size;
  const items = [...sequence.items];
  items.splice(position, 0, tensor);
  return [new TensorSequence(sequence.elemType ?? tensor.type, items)];
}

function sequenceErase(ctx: KernelContext): RuntimeValue[] {
  const sequence = sequenceInput(ctx, 0);
  const size = sequence.items.length;
  if (size === 0) ctx.fail('cannot erase from an empty sequence');
  const positionInput = ctx.optionalInput(1);
  const position = positionInput ? readPosition(ctx, positionInput, size, size) : size - 1;
  const items = [...sequence.items];
  items.splice(position, 1);
  return [new TensorSequence(sequence.elemType, items)];
}

function sequenceAt(ctx: KernelContext): RuntimeValue[] {
  const sequence = sequenceInput(ctx, 0);
  const size = sequence.items.length;
  return [sequence.items[readPosition(ctx, ctx.input(1), size, size)]!];
}

function sequenceLength(ctx: KernelContext): RuntimeValue[] {
  return [ctx.outputFromNumbers(0, 'int64', [sequenceInput(ctx, 0).items.length], [])];
}

function splitToSequence(ctx: KernelContext): RuntimeValue[] {
  const input = ctx.input(0);
  const splitInput = ctx.optionalInput(1);
  const axis = normalizeAxis(ctx.int('axis', 0), input.dims.length, (r) => ctx.fail(r));
  const axisSize = input.dims[axis]!;
  const lengths = splitInput ? splitLengths(ctx, splitInput, axisSize) : new Array<number>(axisSize).fill(1);
  const squeeze = !splitInput && ctx.int('keepdims', 1) === 0;
  const items: Tensor[] = [];
  let start = 0;
  for (const length of lengths) {
    const part = sliceAlongAxis(input, axis, start, length);
    items.push(squeeze ? part.reshape(input.dims.filter((_, i) => i !== axis)) : part);
    start += length;
  }
  return [new TensorSequence(input.type, items)];
}

/** The chunk lengths of a `split` input: one length for equal chunks (the last may be shorter), or a list. */
function splitLengths(ctx: KernelContext, split: Tensor, axisSize: number): number[] {
  if (split.type !== 'int32' && split.type !== 'int64') {
    ctx.fail(`split must be int32 or int64, got ${split.type}`);
  }
  const values = readInts(split);
  if (split.dims.length === 0) {
    const chunk = values[0]!;
    if (chunk <= 0) ctx.fail(`split must be positive, got ${chunk}`);
    const count = Math.ceil(axisSize / chunk);
    return Array.from({ length: count }, (_, i) => Math.min(chunk, axisSize - i * chunk));
  }
  if (split.dims.length !== 1) ctx.fail(`split must be a scalar or 1-D, got dims [${split.dims.join(', ')}]`);
  if (values.some((v) => v < 0)) ctx.fail(`split lengths must be non-negative, got [${values.join(', ')}]`);
  const total = values.reduce((a, b) => a + b, 0);
  if (total !== axisSize) {
    ctx.fail(`split lengths [${values.join(', ')}] sum to ${total}, not the axis size ${axisSize}`);
  }
  return values;
}

function concatFromSequence(ctx: KernelContext): RuntimeValue[] {
  const sequence = sequenceInput(ctx, 0);
  const first = sequence.items[0];
  if (!first) ctx.fail('cannot concatenate an empty sequence');
  const newAxis = ctx.int('new_axis', 0) === 1;
  const fail = (reason: string) => ctx.fail(reason);
  const axis = normalizeAxis(ctx.int('axis'), first.dims.length, fail, newAxis);
  const join = newAxis ? stackAlongAxis : concatAlongAxis;
  return [join(sequence.items, axis, fail, outputTensor(ctx, 0))];
}

/**
 * Runs the body once per position: sequence inputs give their element at that position, tensor
 * inputs are passed whole every time. Each body output becomes a sequence.
 */
function sequenceMap(ctx: KernelContext): RuntimeValue[] {
  const body = ctx.graph('body');
  const length = sequenceInput(ctx, 0).items.length;
  const inputs = ctx.inputs.map((value, i) => {
    if (value instanceof TensorSequence) {
      if (value.items.length !== length) {
        ctx.fail(`input ${i} has ${value.items.length} elements, input 0 has ${length}`);
      }
      return value;
    }
    return ctx.input(i);
  });
  const results: Tensor[][] = body.outputs.map(() => []);
  for (let position = 0; position < length; position++) {
    const elements = inputs.map((value) =>
      value instanceof TensorSequence ? value.items[position]! : value,
    );
    ctx.runSubgraph(body, elements).forEach((out, k) => {
      if (!(out instanceof Tensor)) ctx.fail(`body output ${k} must be a tensor, got ${describeValue(out)}`);
      results[k]!.push(out);
    });
  }
  return results.map(
    (items, k) => new TensorSequence(items[0]?.type ?? declaredTensorType(body.outputs[k]?.type), items),
  );
}

function declaredTensorType(type: ValueType | undefined) {
  return type?.kind === 'tensor' ? type.elemType : undefined;
}

function optional(ctx: KernelContext): RuntimeValue[] {
  return [ctx.inputs[0] ?? new EmptyOptional()];
}

/** Since opset 18 the input may be a plain tensor or sequence, or left out (an empty optional). */
function optionalHasElement(ctx: KernelContext): RuntimeValue[] {
  const value = ctx.inputs[0];
  const has = value !== undefined && !(value instanceof EmptyOptional);
  return [ctx.outputFromNumbers(0, 'bool', [has ? 1 : 0], [])];
}

function optionalGetElement(ctx: KernelContext): RuntimeValue[] {
  const value = ctx.inputs[0];
  if (value === undefined || value instanceof EmptyOptional) ctx.fail('the optional input is empty');
  return [value];
}

export const kernels: KernelDef[] = [
  { op: 'SequenceEmpty', since: 11, run: sequenceEmpty },
  { op: 'SequenceConstruct', since: 11, run: sequenceConstruct },
  { op: 'SequenceInsert', since: 11, run: sequenceInsert },
  { op: 'SequenceErase', since: 11, run: sequenceErase },
  { op: 'SequenceAt', since: 11, run: sequenceAt },
  { op: 'SequenceLength', since: 11, run: sequenceLength },
  { op: 'SplitToSequence', since: 11, run: splitToSequence },
  { op: 'ConcatFromSequence', since: 11, run: concatFromSequence },
  { op: 'SequenceMap', since: 17, run: sequenceMap },
  { op: 'Optional', since: 15, run: optional },
  { op: 'OptionalHasElement', since: 15, run: optionalHasElement },
  { op: 'OptionalGetElement', since: 15, run: optionalGetElement },
];
