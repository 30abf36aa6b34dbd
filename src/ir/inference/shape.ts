/**
 * Rules for operators that read or rearrange a tensor's shape without touching its elements:
 * Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose and Expand. Shape starts the
 * folding of shape computations: its value is the input's dims, symbolic names included, so a
 * `Shape → Gather → Concat → Reshape` chain keeps `batch` where the exporter kept it.
 */

import type { Dim } from '../graph.js';
import { lengthOfInput, listArgument, shapeArgument } from './common.js';
import {
  broadcastShapes,
  dimProduct,
  formatShape,
  isStaticShape,
  normalizeAxes,
  normalizeAxis,
  tensorType,
  unknownDims,
} from './dims.js';
import { filledValue, mapBroadcast } from './known-values.js';
import type { InferenceRule, InferredTypes, KnownValue, RuleContext, TensorType } from './rule.js';

/** Shape-15's [start, end) range of axes, clamped to the rank. */
function shapeRange(ctx: RuleContext, rank: number): [number, number] {
  const clamp = (axis: number) => Math.min(Math.max(axis < 0 ? axis + rank : axis, 0), rank);
  return [clamp(ctx.int('start', 0)), clamp(ctx.int('end', rank))];
}

function shape(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType('int64', [null])];
  const [start, end] = shapeRange(ctx, x.length);
  return [tensorType('int64', [Math.max(end - start, 0)])];
}

function foldShape(ctx: RuleContext): (KnownValue | undefined)[] {
  const x = ctx.shape(0);
  if (!x) return [];
  const [start, end] = shapeRange(ctx, x.length);
  const elements = x.slice(start, end);
  return [{ elemType: 'int64', shape: [elements.length], elements }];
}

function foldSize(ctx: RuleContext): (KnownValue | undefined)[] {
  const x = ctx.shape(0);
  const size = x ? dimProduct(x) : null;
  return size === null ? [] : [{ elemType: 'int64', shape: [], elements: [size] }];
}

/** A reshaping operator's fold: the same elements under the inferred static shape. */
function foldReshaped(ctx: RuleContext, types: InferredTypes): (KnownValue | undefined)[] {
  const input = ctx.value(0);
  const output = types[0];
  if (!input || output?.kind !== 'tensor' || !isStaticShape(output.shape)) return [];
  if (output.shape.reduce((a, b) => a * b, 1) !== input.elements.length) return [];
  return [{ ...input, shape: output.shape }];
}

/** A product of dims as a number times symbolic names; undefined when a dim is unknown. */
function factorize(dims: Dim[]): { coefficient: number; symbols: string[] } | undefined {
  let coefficient = 1;
  const symbols: string[] = [];
  for (const d of dims) {
    if (d === null) return undefined;
    if (typeof d === 'number') coefficient *= d;
    else symbols.push(d);
  }
  return { coefficient, symbols };
}

/** The dim a Reshape `-1` stands for: input size over the other output dims, cancelling shared symbols. */
function inferredDim(ctx: RuleContext, input: Dim[], others: Dim[]): Dim {
  const total = factorize(input);
  const known = factorize(others);
  if (!total || !known || known.coefficient === 0) return null;
  for (const symbol of known.symbols) {
    const at = total.symbols.indexOf(symbol);
    if (at < 0) return null;
    total.symbols.splice(at, 1);
  }
  if (total.symbols.length === 0) {
    if (total.coefficient % known.coefficient !== 0) {
      ctx.fail(
        `cannot reshape ${formatShape(input)} with ${formatShape([...others, -1])}: sizes do not divide`,
      );
    }
    return total.coefficient / known.coefficient;
  }
  return total.symbols.length === 1 && total.coefficient === known.coefficient ? total.symbols[0]! : null;
}

function reshape(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  // Reshape-1 took the shape as an attribute; from opset 5 it is input 1.
  const target = ctx.opset < 5 ? ctx.ints('shape') : shapeArgument(ctx, 1);
  if (!target) return [tensorType(ctx.elemType(0))];
  const allowZero = ctx.opset >= 14 && ctx.int('allowzero', 0) !== 0;
  const out = target.map((d, i): Dim => {
    if (typeof d === 'number' && d < -1) ctx.fail(`shape ${formatShape(target)} holds ${d}`);
    if (d !== 0 || allowZero) return d;
    if (!x) return null;
    if (i >= x.length) {
      ctx.fail(`shape ${formatShape(target)} copies axis ${i} of ${formatShape(x)}, which it lacks`);
    }
    return x[i]!;
  });
  const wildcards = out.flatMap((d, i) => (d === -1 ? [i] : []));
  if (wildcards.length > 1) ctx.fail(`shape ${formatShape(target)} has more than one -1`);
  if (wildcards.length === 1) {
    const at = wildcards[0]!;
    const others = out.filter((_, i) => i !== at);
    out[at] = x ? inferredDim(ctx, x, others) : null;
  }
  if (x && isStaticShape(x) && isStaticShape(out) && dimProduct(x) !== dimProduct(out)) {
    ctx.fail(`cannot reshape ${formatShape(x)} to ${formatShape(out)}: sizes differ`);
  }
  return [tensorType(ctx.elemType(0), out)];
}

function flatten(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0), [null, null])];
  const axis = normalizeAxis(ctx.int('axis', 1), x.length, ctx.fail, true);
  return [tensorType(ctx.elemType(0), [dimProduct(x.slice(0, axis)), dimProduct(x.slice(axis))])];
}

function squeeze(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const axes = listArgument(ctx, 'axes', 1, 13);
  if (!x) return [tensorType(ctx.elemType(0))];
  if (axes === null) {
    const count = lengthOfInput(ctx, 1);
    return [tensorType(ctx.elemType(0), count === undefined ? undefined : unknownDims(x.length - count))];
  }
  if (!axes || axes.length === 0) {
    // Which dims are 1 decides the rank: unknown while any dim is not a known size.
    return [tensorType(ctx.elemType(0), isStaticShape(x) ? x.filter((d) => d !== 1) : undefined)];
  }
  const removed = new Set(normalizeAxes(axes, x.length, ctx.fail));
  for (const axis of removed) {
    const d = x[axis];
    if (typeof d === 'number' && d !== 1) {
      ctx.fail(`cannot squeeze axis ${axis} of ${formatShape(x)}: its size is ${d}`);
    }
  }
  const kept = x.filter((_, i) => !removed.has(i));
  return [tensorType(ctx.elemType(0), kept)];
}

function unsqueeze(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const axes = listArgument(ctx, 'axes', 1, 13);
  if (!x || axes === undefined) return [tensorType(ctx.elemType(0))];
  if (axes === null) {
    const count = lengthOfInput(ctx, 1);
    return [tensorType(ctx.elemType(0), count === undefined ? undefined : unknownDims(x.length + count))];
  }
  const rank = x.length + axes.length;
  const inserted = new Set(normalizeAxes(axes, rank, ctx.fail));
  const rest = x[Symbol.iterator]();
  const out = Array.from({ length: rank }, (_, i): Dim => (inserted.has(i) ? 1 : rest.next().value!));
  return [tensorType(ctx.elemType(0), out)];
}

function transpose(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  if (!x) return [tensorType(ctx.elemType(0))];
  const perm = ctx.ints('perm') ?? x.map((_, i) => x.length - 1 - i);
  const isPermutation = new Set(perm).size === x.length && perm.every((p) => p >= 0 && p < x.length);
  if (perm.length !== x.length || !isPermutation) {
    ctx.fail(`perm [${perm.join(', ')}] is not a permutation of ${x.length} axes`);
  }
  const permuted = perm.map((p) => x[p]!);
  return [tensorType(ctx.elemType(0), permuted)];
}

function expand(ctx: RuleContext): InferredTypes {
  const x = ctx.shape(0);
  const target = shapeArgument(ctx, 1);
  return [tensorType(ctx.elemType(0), target && broadcastShapes([x, target], ctx.fail))];
}

function foldExpand(ctx: RuleContext, types: InferredTypes): (KnownValue | undefined)[] {
  const input = ctx.value(0);
  const output = types[0] as TensorType | undefined;
  const frame = output && filledValue(output.elemType, output.shape, 0);
  return input && frame ? [mapBroadcast([input, frame], input.elemType, ([element]) => element!)] : [];
}

export const rules: InferenceRule[] = [
  { op: 'Shape', infer: shape, fold: foldShape },
  { op: 'Size', infer: () => [tensorType('int64', [])], fold: foldSize },
  { op: 'Reshape', infer: reshape, fold: foldReshaped },
  { op: 'Flatten', infer: flatten, fold: foldReshaped },
  { op: 'Squeeze', infer: squeeze, fold: foldReshaped },
  { op: 'Unsqueeze', infer: unsqueeze, fold: foldReshaped },
  { op: 'Transpose', infer: transpose },
  { op: 'Expand', infer: expand, fold: foldExpand },
];
