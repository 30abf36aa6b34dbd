/**
 * Rules for control flow. If: what both branches agree on (or the taken branch, when the
 * condition is known). Loop and Scan: the body is inferred with the loop-carried types, and once
 * more with those types widened where an iteration changes them, so that every type claimed
 * holds for every iteration; scan outputs stack the body's per-iteration outputs.
 */

import type { Dim, Graph, ValueType } from '../graph.js';
import { normalizeAxis, tensorType, unifyDims, withoutAxis } from './dims.js';
import { knownScalarNumber } from './known-values.js';
import type { InferredTypes, InferenceRule, KnownValue, RuleContext } from './rule.js';
import { commonType, sameType } from './value-types.js';

type Types = (ValueType | undefined)[];

function subgraph(ctx: RuleContext, name: string): Graph {
  const graph = ctx.graph(name);
  if (!graph) ctx.fail(`attribute '${name}' (a graph) is missing`);
  return graph;
}

/** The branch an If takes, when its condition is known at load time. */
function takenBranch(ctx: RuleContext): Graph | undefined {
  const condition = knownScalarNumber(ctx.value(0));
  if (condition === undefined) return undefined;
  return subgraph(ctx, condition !== 0 ? 'then_branch' : 'else_branch');
}

/**
 * What both branches agree on; with a known condition, the taken branch alone (the other may not
 * even be valid for these inputs: exporters guard branches by the very shapes they differ on).
 */
function ifRule(ctx: RuleContext): InferredTypes {
  const taken = takenBranch(ctx);
  if (taken) return ctx.inferSubgraph(taken, []);
  const thenTypes = ctx.inferSubgraph(subgraph(ctx, 'then_branch'), []);
  const elseTypes = ctx.inferSubgraph(subgraph(ctx, 'else_branch'), []);
  return Array.from({ length: ctx.outputCount }, (_, i) => commonType(thenTypes[i], elseTypes[i]));
}

/** A known condition lets the values of the taken branch through (exporters branch on shapes). */
function foldIf(ctx: RuleContext): (KnownValue | undefined)[] {
  const taken = takenBranch(ctx);
  return taken ? ctx.subgraphValues(taken) : [];
}

/**
 * Infers a loop body whose inputs depend on the loop-carried state; returns the body's outputs
 * and the carried types that hold on every iteration.
 */
function iterate(
  ctx: RuleContext,
  body: Graph,
  initial: Types,
  inputsFor: (state: Types) => Types,
  stateOf: (outputs: Types) => Types,
  values: (KnownValue | undefined)[] = [],
) {
  let state = initial;
  let outputs = ctx.inferSubgraph(body, inputsFor(state), values);
  const widened = state.map((t, i) => commonType(t, stateOf(outputs)[i]));
  if (widened.some((t, i) => !sameType(t, state[i]))) {
    state = widened;
    outputs = ctx.inferSubgraph(body, inputsFor(state), values);
  }
  return { outputs, state: state.map((t, i) => commonType(t, stateOf(outputs)[i])) };
}

/** A per-iteration output stacked into a tensor along `axis`, `count` iterations long. */
function stacked(type: ValueType | undefined, count: Dim, axis = 0): ValueType | undefined {
  if (type?.kind !== 'tensor') return undefined;
  if (!type.shape) return tensorType(type.elemType);
  const shape = [...type.shape];
  shape.splice(axis, 0, count);
  return tensorType(type.elemType, shape);
}

/** With a condition input, the body runs only while the condition holds: its condition input is true. */
const ALWAYS_TRUE: KnownValue = { elemType: 'bool', shape: [], elements: [1] };

/**
 * How many times a Loop runs, when known: M times without a condition input, or with one that
 * starts true and that the body provably keeps true; never when it starts false.
 */
function tripCount(ctx: RuleContext, body: Graph): Dim {
  const limit = ctx.hasInput(0) ? knownScalarNumber(ctx.value(0)) : undefined;
  if (!ctx.hasInput(1)) return limit ?? null;
  const initial = knownScalarNumber(ctx.value(1));
  if (initial === 0) return 0;
  if (initial === undefined || limit === undefined) return null;
  return knownScalarNumber(ctx.subgraphValues(body)[0]) === 1 ? limit : null;
}

function loop(ctx: RuleContext): InferredTypes {
  const body = subgraph(ctx, 'body');
  const carriedCount = ctx.inputCount - 2;
  const initial = Array.from({ length: carriedCount }, (_, i) => ctx.inputType(i + 2));
  const scalar = (elemType: 'int64' | 'bool') => tensorType(elemType, []);
  const { outputs, state } = iterate(
    ctx,
    body,
    initial,
    (carried) => [scalar('int64'), scalar('bool'), ...carried],
    (out) => out.slice(1, 1 + carriedCount),
    ctx.hasInput(1) ? [undefined, ALWAYS_TRUE] : [],
  );
  const iterations = tripCount(ctx, body);
  const scans = outputs.slice(1 + carriedCount).map((type) => stacked(type, iterations));
  return [...state, ...scans];
}

/** Scan-9 and later: states, then scan inputs sliced along their scan axes. */
function scan(ctx: RuleContext): InferredTypes {
  const body = subgraph(ctx, 'body');
  const scanCount = ctx.int('num_scan_inputs', 0);
  const stateCount = ctx.inputCount - scanCount;
  const inputAxes = ctx.ints('scan_input_axes') ?? new Array<number>(scanCount).fill(0);
  const initial = Array.from({ length: stateCount }, (_, i) => ctx.inputType(i));
  let length: Dim = null;
  const slices: Types = Array.from({ length: scanCount }, (_, k) => {
    const input = ctx.tensor(stateCount + k);
    if (!input?.shape) return input && tensorType(input.elemType);
    const axis = normalizeAxis(inputAxes[k] ?? 0, input.shape.length, ctx.fail);
    length = unifyDims(length, input.shape[axis]!);
    return tensorType(input.elemType, withoutAxis(input.shape, axis));
  });
  const { outputs, state } = iterate(
    ctx,
    body,
    initial,
    (states) => [...states, ...slices],
    (out) => out.slice(0, stateCount),
  );
  const outputAxes = ctx.ints('scan_output_axes') ?? [];
  const scans = outputs.slice(stateCount).map((type, k) => {
    const rank = type?.kind === 'tensor' && type.shape ? type.shape.length + 1 : undefined;
    const axis = rank === undefined ? 0 : normalizeAxis(outputAxes[k] ?? 0, rank, ctx.fail);
    return stacked(type, length, axis);
  });
  return [...state, ...scans];
}

/** Scan-8: input 0 is sequence_lens, and every input and output has a leading batch axis. */
function scan8(ctx: RuleContext): InferredTypes {
  const body = subgraph(ctx, 'body');
  const scanCount = ctx.int('num_scan_inputs', 0);
  const stateCount = ctx.inputCount - 1 - scanCount;
  let batch: Dim = null;
  let length: Dim = null;
  const unbatched = (i: number, dropped: number): ValueType | undefined => {
    const input = ctx.tensor(i);
    if (!input?.shape) return input && tensorType(input.elemType);
    batch = unifyDims(batch, input.shape[0]!);
    if (dropped === 2) length = unifyDims(length, input.shape[1]!);
    return tensorType(input.elemType, input.shape.slice(dropped));
  };
  const initial = Array.from({ length: stateCount }, (_, i) => unbatched(1 + i, 1));
  const slices = Array.from({ length: scanCount }, (_, k) => unbatched(1 + stateCount + k, 2));
  const { outputs, state } = iterate(
    ctx,
    body,
    initial,
    (states) => [...states, ...slices],
    (out) => out.slice(0, stateCount),
  );
  const scans = outputs.slice(stateCount).map((type) => stacked(stacked(type, length), batch));
  return [...state.map((type) => stacked(type, batch)), ...scans];
}

export const rules: InferenceRule[] = [
  { op: 'If', infer: ifRule, fold: foldIf },
  { op: 'Loop', infer: loop },
  { op: 'Scan', infer: (ctx) => (ctx.opset < 9 ? scan8(ctx) : scan(ctx)) },
];
