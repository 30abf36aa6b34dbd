/**
 * Rules for operators that cut, join or grow tensors along axes: Concat, Split, Slice, Tile, Pad,
 * CenterCropPad, DepthToSpace/SpaceToDepth and ReverseSequence. Concat and Slice also fold
 * known values, as exporters slice and join shape vectors.
 */

import type { Dim } from '../graph.js';
import { lengthOfInput, listArgument } from './common.js';
import {
  addDims,
  dimsCompatible,
  divideDim,
  formatShape,
  multiplyDims,
  normalizeAxes,
  normalizeAxis,
  tensorType,
  unifyDims,
  unknownDims,
  withDim,
} from './dims.js';
import { knownNumbers, knownScalarNumber, MAX_KNOWN_ELEMENTS, stridesOf } from './known-values.js';
import type { InferenceRule, InferredTypes, KnownValue, RuleContext } from './rule.js';

function inputShapes(ctx: RuleContext): (Dim[] | undefined)[] {
  return Array.from({ length: ctx.inputCount }, (_, i) => ctx.shape(i));
}

function concatAxis(ctx: RuleContext, rank: number): number {
  // Concat-1 defaulted to axis 1; from opset 4 the attribute is required.
  if (ctx.opset >= 4 && !ctx.has('axis')) ctx.fail(`attribute 'axis' is required`);
  return normalizeAxis(ctx.int('axis', 1), rank, ctx.fail);
}

function concat(ctx: RuleContext): InferredTypes {
  const elemTypes = Array.from({ length: ctx.inputCount }, (_, i) => ctx.elemType(i));
  const elemType = elemTypes.find((t) => t !== undefined);
  const shapes = inputShapes(ctx);
  const known = shapes.filter((s): s is Dim[] => s !== undefined);
  const listed = known.map(formatShape).join(', ');
  if (known.length === 0) return [tensorType(elemType)];
  const rank = known[0]!.length;
  if (known.some((s) => s.length !== rank)) ctx.fail(`inputs of different ranks: ${listed}`);
  const axis = concatAxis(ctx, rank);
  const out = known[0]!.map((_, i): Dim => {
    if (i === axis) return shapes.reduce<Dim>((sum, s) => (s ? addDims(sum, s[axis]!) : null), 0);
    return known.reduce<Dim>((dim, s) => {
      if (!dimsCompatible(dim, s[i]!)) ctx.fail(`inputs differ on axis ${i}: ${listed}`);
      return unifyDims(dim, s[i]!);
    }, null);
  });
  return [tensorType(elemType, out)];
}

function foldConcat(ctx: RuleContext, types: InferredTypes): (KnownValue | undefined)[] {
  const values = Array.from({ length: ctx.inputCount }, (_, i) => ctx.value(i));
  const output = types[0];
  if (values.some((v) => v === undefined) || output?.kind !== 'tensor') return [];
  const parts = values as KnownValue[];
  const rank = parts[0]!.shape.length;
  const axis = concatAxis(ctx, rank);
  const outer = parts[0]!.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const elements: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    for (const part of parts) {
      const chunk = part.shape.slice(axis).reduce((a, b) => a * b, 1);
      elements.push(...part.elements.slice(o * chunk, (o + 1) * chunk));
    }
  }
  const shape = [...parts[0]!.shape];
  shape[axis] = parts.reduce((sum, p) => sum + p.shape[axis]!, 0);
  return [{ elemType: output.elemType, shape, elements }];
}

/** Sizes of the parts Split makes along a dim of `size`; undefined entries are unknown. */
function splitSizes(ctx: RuleContext, size: Dim, parts: number): Dim[] {
  const given = listArgument(ctx, 'split', 1, 13);
  if (given === null) return unknownDims(parts);
  if (given) {
    if (given.length !== parts) ctx.fail(`split has ${given.length} sizes for ${parts} outputs`);
    const total = given.reduce((a, b) => a + b, 0);
    if (typeof size === 'number' && total !== size) {
      ctx.fail(`split sizes add up to ${total}, the axis has ${size}`);
    }
    return given;
  }
  if (parts === 1) return [size];
  if (typeof size !== 'number') return unknownDims(parts);
  if (ctx.opset >= 18) {
    // Opset 18 allows uneven parts: all of ceil(size / parts) but the last, which takes the rest.
    const chunk = Math.ceil(size / parts);
    return Array.from({ length: parts }, (_, i) => (i < parts - 1 ? chunk : size - chunk * (parts - 1)));
  }
  if (size % parts !== 0) ctx.fail(`an axis of ${size} cannot be split into ${parts} equal parts`);
  return new Array<Dim>(parts).fill(size / parts);
}

function split(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const parts = ctx.opset >= 18 && ctx.has('num_outputs') ? ctx.int('num_outputs', 0) : ctx.outputCount;
  if (!x) return Array.from({ length: ctx.outputCount }, () => tensorType(ctx.elemType(0)));
  const axis = normalizeAxis(ctx.int('axis', 0), x.length, ctx.fail);
  return splitSizes(ctx, x[axis]!, parts).map((size) => tensorType(ctx.elemType(0), withDim(x, axis, size)));
}

/** `count` entries of a known value along `axis`, from `start`. */
function partAlong(value: KnownValue, axis: number, start: number, count: number): KnownValue {
  const outer = value.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = value.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = value.shape[axis]!;
  const elements: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    const from = (o * size + start) * inner;
    elements.push(...value.elements.slice(from, from + count * inner));
  }
  const shape = [...value.shape];
  shape[axis] = count;
  return { ...value, shape, elements };
}

function foldSplit(ctx: RuleContext, types: InferredTypes): (KnownValue | undefined)[] {
  const input = ctx.value(0);
  if (!input) return [];
  const axis = normalizeAxis(ctx.int('axis', 0), input.shape.length, ctx.fail);
  const sizes = types.map((type) => (type?.kind === 'tensor' ? type.shape?.[axis] : undefined));
  if (!sizes.every((size) => typeof size === 'number')) return [];
  let start = 0;
  return (sizes as number[]).map((size) => {
    const part = partAlong(input, axis, start, size);
    start += size;
    return part;
  });
}

interface SliceParameters {
  starts: number[] | null;
  ends: number[] | null;
  /** Normalized axes; null when they are known only at run time. */
  axes: number[] | null;
  steps: number[] | null;
}

function sliceParameters(ctx: RuleContext, rank: number): SliceParameters {
  const read = (attribute: string, index: number) => listArgument(ctx, attribute, index, 10);
  const starts = read('starts', 1);
  const ends = read('ends', 2);
  if (starts === undefined || ends === undefined) ctx.fail('Slice needs starts and ends');
  const givenAxes = read('axes', 3);
  const givenSteps = read('steps', 4);
  const count = starts?.length ?? ends?.length ?? lengthOfInput(ctx, 1);
  let axes: number[] | null = null;
  if (givenAxes) axes = normalizeAxes(givenAxes, rank, ctx.fail);
  else if (givenAxes === undefined && count !== undefined) axes = Array.from({ length: count }, (_, i) => i);
  const steps = givenSteps === undefined ? (axes?.map(() => 1) ?? null) : givenSteps;
  const lists = [starts, ends, axes, steps].filter((list): list is number[] => list !== null);
  if (lists.some((list) => list.length !== lists[0]!.length)) {
    ctx.fail('starts, ends, axes and steps differ in length');
  }
  return { starts, ends, axes, steps };
}

/** Start and element count of slicing `size` elements from `start` to `end` by `step`, clamped as ONNX clamps. */
function sliceRange(size: number, start: number, end: number, step: number): [number, number] {
  const resolve = (i: number) => (i < 0 ? i + size : i);
  if (step > 0) {
    const first = Math.min(Math.max(resolve(start), 0), size);
    const last = Math.min(Math.max(resolve(end), 0), size);
    return [first, Math.max(0, Math.ceil((last - first) / step))];
  }
  const first = Math.min(Math.max(resolve(start), 0), size - 1);
  const last = Math.min(Math.max(resolve(end), -1), size - 1);
  return [first, Math.max(0, Math.ceil((first - last) / -step))];
}

/** A slice that keeps a whole axis whatever its size: the only one a symbolic dim survives. */
function keepsWholeAxis(start: number, end: number, step: number): boolean {
  return step === 1 && start === 0 && end >= 2 ** 31 - 1;
}

function slicedDim(dim: Dim, start: number, end: number, step: number): Dim {
  if (typeof dim === 'number') return sliceRange(dim, start, end, step)[1];
  return keepsWholeAxis(start, end, step) ? dim : null;
}

function slice(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0))];
  const { starts, ends, axes, steps } = sliceParameters(ctx, x.length);
  if (!axes) return [tensorType(ctx.elemType(0), unknownDims(x.length))];
  const out = [...x];
  axes.forEach((axis, k) => {
    const step = steps?.[k];
    if (step === 0) ctx.fail('a Slice step cannot be 0');
    if (!starts || !ends || step === undefined) {
      out[axis] = null;
      return;
    }
    out[axis] = slicedDim(x[axis]!, starts[k]!, ends[k]!, step);
  });
  return [tensorType(ctx.elemType(0), out)];
}

function foldSlice(ctx: RuleContext): (KnownValue | undefined)[] {
  const data = ctx.value(0);
  if (!data) return [];
  const { starts, ends, axes, steps } = sliceParameters(ctx, data.shape.length);
  if (!starts || !ends || !axes || !steps) return [];
  const first = data.shape.map(() => 0);
  const stride = data.shape.map(() => 1);
  const shape = [...data.shape];
  axes.forEach((axis, k) => {
    [first[axis], shape[axis]] = sliceRange(data.shape[axis]!, starts[k]!, ends[k]!, steps[k]!);
    stride[axis] = steps[k]!;
  });
  const size = shape.reduce((a, b) => a * b, 1);
  if (size > MAX_KNOWN_ELEMENTS) return [];
  const inStrides = stridesOf(data.shape);
  const outStrides = stridesOf(shape);
  const elements: Dim[] = [];
  for (let flat = 0; flat < size; flat++) {
    let offset = 0;
    for (let axis = 0; axis < shape.length; axis++) {
      const index = Math.floor(flat / outStrides[axis]!) % shape[axis]!;
      offset += (first[axis]! + index * stride[axis]!) * inStrides[axis]!;
    }
    elements.push(data.elements[offset]!);
  }
  return [{ ...data, shape, elements }];
}

function tile(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0))];
  if (ctx.opset < 6) {
    // Tile-1 repeats one axis (input 2) a number of times (input 1).
    const tiles = knownScalarNumber(ctx.value(1));
    const axis = knownScalarNumber(ctx.value(2));
    if (tiles === undefined || axis === undefined) {
      return [tensorType(ctx.elemType(0), unknownDims(x.length))];
    }
    const at = normalizeAxis(axis, x.length, ctx.fail);
    return [tensorType(ctx.elemType(0), withDim(x, at, multiplyDims(x[at]!, tiles)))];
  }
  const repeats = knownNumbers(ctx.value(1));
  if (!repeats) return [tensorType(ctx.elemType(0), unknownDims(x.length))];
  if (repeats.length !== x.length) ctx.fail(`repeats has ${repeats.length} values for rank ${x.length}`);
  const tiled = x.map((d, i) => multiplyDims(d, repeats[i]!));
  return [tensorType(ctx.elemType(0), tiled)];
}

function padAmounts(ctx: RuleContext): number[] | null | undefined {
  if (ctx.opset < 2) return ctx.ints('paddings');
  return listArgument(ctx, 'pads', 1, 11);
}

function pad(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0))];
  const pads = padAmounts(ctx);
  const axesGiven = ctx.opset >= 18 && ctx.hasInput(3);
  const axesValue = axesGiven ? knownNumbers(ctx.value(3)) : x.map((_, i) => i);
  if (!axesValue) return [tensorType(ctx.elemType(0), unknownDims(x.length))];
  const axes = normalizeAxes(axesValue, x.length, ctx.fail);
  const out = [...x];
  if (pads && pads.length !== 2 * axes.length) {
    ctx.fail(`pads has ${pads.length} values for ${axes.length} axes`);
  }
  axes.forEach((axis, k) => {
    out[axis] = pads ? addDims(addDims(x[axis]!, pads[k]!), pads[k + axes.length]!) : null;
  });
  return [tensorType(ctx.elemType(0), out)];
}

function centerCropPad(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const sizes = knownNumbers(ctx.value(1));
  if (!x) return [tensorType(ctx.elemType(0))];
  const axes = normalizeAxes(ctx.ints('axes') ?? x.map((_, i) => i), x.length, ctx.fail);
  const out = [...x];
  axes.forEach((axis, k) => (out[axis] = sizes?.[k] ?? null));
  return [tensorType(ctx.elemType(0), out)];
}

function blockRearrange(toSpace: boolean) {
  return (ctx: RuleContext): InferredTypes => {
    const x = ctx.shape(0);
    if (!x) return [tensorType(ctx.elemType(0))];
    if (x.length !== 4) ctx.fail(`expects a 4-D input, got ${formatShape(x)}`);
    const block = ctx.int('blocksize', 0);
    if (block <= 0) ctx.fail(`attribute 'blocksize' must be positive`);
    const [n, c, h, w] = x as [Dim, Dim, Dim, Dim];
    const out = toSpace
      ? [n, divideDim(c, block * block), multiplyDims(h, block), multiplyDims(w, block)]
      : [n, multiplyDims(c, block * block), divideDim(h, block), divideDim(w, block)];
    return [tensorType(ctx.elemType(0), out)];
  };
}

export const rules: InferenceRule[] = [
  { op: 'Concat', infer: concat, fold: foldConcat },
  { op: 'Split', infer: split, fold: foldSplit },
  { op: 'Slice', infer: slice, fold: foldSlice },
  { op: 'Tile', infer: tile },
  { op: 'Pad', infer: pad },
  { op: 'CenterCropPad', infer: centerCropPad },
  { op: 'DepthToSpace', infer: blockRearrange(true) },
  { op: 'SpaceToDepth', infer: blockRearrange(false) },
  { op: 'ReverseSequence', infer: (ctx) => [ctx.tensor(0)] },
];
