/**
 * Recurrent and flexible attention: LinearAttention (opset 27; the linear, gated, delta and
 * gated-delta state updates, with grouped-query heads), CausalConvWithState (opset 27; the
 * depthwise causal convolution that feeds it, carrying the last k - 1 inputs between calls) and
 * ai.onnx.preview's FlexAttention (scaled dot-product attention whose scores and probabilities
 * pass through optional modifier subgraphs). Arithmetic is in float64, rounded to the output
 * types once, as results are written into the outputs, except where the spec fixes an
 * intermediate precision (FlexAttention's softmax_precision).
 */

import { dataTypeFromOnnx, isFloatType, type DataType } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import { describeValue } from '../../../core/values.js';
import type { Graph } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { floatSink, fromNumbers, sameDims, toNumbers } from '../util.js';

function floatInput(ctx: KernelContext, i: number, name: string): Tensor {
  const t = ctx.input(i);
  if (!isFloatType(t.type)) ctx.fail(`${name} must be a floating-point tensor, got ${t.type}`);
  return t;
}

function optionalFloatInput(ctx: KernelContext, i: number, name: string): Tensor | undefined {
  return ctx.optionalInput(i) && floatInput(ctx, i, name);
}

function dimsText(t: Tensor): string {
  return `[${t.dims.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------
// LinearAttention
// ---------------------------------------------------------------------------------------------

type UpdateRule = 'linear' | 'gated' | 'delta' | 'gated_delta';

/** The recurrence's shapes: queries [B, T, Hq * dk], keys [B, T, Hkv * dk], values [B, T, Hkv * dv]. */
interface LinearShape {
  batch: number;
  steps: number;
  queryHeads: number;
  kvHeads: number;
  keySize: number;
  valueSize: number;
}

function readUpdateRule(ctx: KernelContext): UpdateRule {
  const rule = ctx.string('update_rule', 'gated_delta');
  if (rule !== 'linear' && rule !== 'gated' && rule !== 'delta' && rule !== 'gated_delta') {
    ctx.fail(`update_rule must be linear, gated, delta or gated_delta, got '${rule}'`);
  }
  return rule;
}

function readLinearShape(ctx: KernelContext, query: Tensor, key: Tensor, value: Tensor): LinearShape {
  const queryHeads = ctx.int('q_num_heads');
  const kvHeads = ctx.int('kv_num_heads');
  if (queryHeads <= 0 || kvHeads <= 0 || queryHeads % kvHeads !== 0) {
    ctx.fail(`q_num_heads (${queryHeads}) must be a positive multiple of kv_num_heads (${kvHeads})`);
  }
  for (const [name, t] of [
    ['query', query],
    ['key', key],
    ['value', value],
  ] as const) {
    if (t.dims.length !== 3) ctx.fail(`${name} must be [B, T, heads * size], got dims ${dimsText(t)}`);
  }
  const [batch, steps, queryWidth] = query.dims as [number, number, number];
  if (queryWidth % queryHeads !== 0) {
    ctx.fail(`query's width ${queryWidth} does not split into ${queryHeads} heads`);
  }
  const keySize = queryWidth / queryHeads;
  const valueWidth = value.dims[2]!;
  if (valueWidth % kvHeads !== 0) {
    ctx.fail(`value's width ${valueWidth} does not split into ${kvHeads} heads`);
  }
  const valueSize = valueWidth / kvHeads;
  if (!sameDims(key.dims, [batch, steps, kvHeads * keySize])) {
    ctx.fail(`key must be [${batch}, ${steps}, ${kvHeads * keySize}], got dims ${dimsText(key)}`);
  }
  if (value.dims[0] !== batch || value.dims[1] !== steps) {
    ctx.fail(`value must be [${batch}, ${steps}, heads * size], got dims ${dimsText(value)}`);
  }
  return { batch, steps, queryHeads, kvHeads, keySize, valueSize };
}

/** A gate's value for (batch, step, KV head, key index). */
type GateReader = (b: number, step: number, head: number, i: number) => number;

/**
 * A per-step gate of dims [B, T, width], width one of `widths`, read through the returned function
 * at (batch, step, KV head, key index): a gate per key, per head (broadcast over keys) or shared
 * by all heads (width 1).
 */
function readGate(
  ctx: KernelContext,
  t: Tensor,
  name: string,
  shape: LinearShape,
  widths: readonly number[],
): GateReader {
  const width = t.dims[2]!;
  if (
    t.dims.length !== 3 ||
    t.dims[0] !== shape.batch ||
    t.dims[1] !== shape.steps ||
    !widths.includes(width)
  ) {
    const allowed = widths.map((w) => `[${shape.batch}, ${shape.steps}, ${w}]`).join(' or ');
    ctx.fail(`${name} must be ${allowed}, got dims ${dimsText(t)}`);
  }
  const values = toNumbers(t);
  const rowStart = (b: number, step: number): number => (b * shape.steps + step) * width;
  if (width === shape.kvHeads) return (b, step, head) => values[rowStart(b, step) + head]!;
  if (width === 1) return (b, step) => values[rowStart(b, step)]!;
  return (b, step, head, i) => values[rowStart(b, step) + head * shape.keySize + i]!;
}

/** The recurrence's inputs, as numbers, with the gates' readers for the rules that use them. */
interface LinearInputs {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  decayAt: GateReader | undefined;
  betaAt: GateReader | undefined;
}

/**
 * Advances the state of KV head `h` by one token and writes the outputs of its query heads. The
 * state S is dk x dv: gated rules first decay S by exp(g); delta rules then replace v by
 * beta * (v - S^T k); every rule adds k v^T; each query head of the group reads scale * q^T S.
 */
function advanceHead(
  shape: LinearShape,
  inputs: LinearInputs,
  s: Float64Array,
  output: Float32Array | Float64Array,
  scale: number,
  b: number,
  step: number,
  h: number,
): void {
  const { steps, queryHeads, kvHeads, keySize, valueSize } = shape;
  const { q, k, v, decayAt, betaAt } = inputs;
  const token = b * steps + step;
  const kAt = (token * kvHeads + h) * keySize;
  const vAt = (token * kvHeads + h) * valueSize;
  if (decayAt) {
    for (let i = 0; i < keySize; i++) {
      const factor = Math.exp(decayAt(b, step, h, i));
      for (let m = 0; m < valueSize; m++) s[i * valueSize + m]! *= factor;
    }
  }
  const written = Float64Array.from({ length: valueSize }, (_, m) => v[vAt + m]!);
  if (betaAt) {
    const rate = betaAt(b, step, h, 0);
    for (let m = 0; m < valueSize; m++) {
      let recalled = 0;
      for (let i = 0; i < keySize; i++) recalled += s[i * valueSize + m]! * k[kAt + i]!;
      written[m] = rate * (written[m]! - recalled);
    }
  }
  for (let i = 0; i < keySize; i++) {
    for (let m = 0; m < valueSize; m++) s[i * valueSize + m]! += k[kAt + i]! * written[m]!;
  }
  const group = queryHeads / kvHeads;
  for (let hq = h * group; hq < (h + 1) * group; hq++) {
    const qAt = (token * queryHeads + hq) * keySize;
    const outAt = (token * queryHeads + hq) * valueSize;
    for (let m = 0; m < valueSize; m++) {
      let read = 0;
      for (let i = 0; i < keySize; i++) read += q[qAt + i]! * s[i * valueSize + m]!;
      output[outAt + m] = scale * read;
    }
  }
}

/**
 * Runs the recurrence token by token from past_state (zeros without one). The state stays in
 * float64 throughout; each output element is rounded once, as it is written.
 */
function linearAttention(ctx: KernelContext): (Tensor | undefined)[] {
  const rule = readUpdateRule(ctx);
  const query = floatInput(ctx, 0, 'query');
  const key = floatInput(ctx, 1, 'key');
  const value = floatInput(ctx, 2, 'value');
  const past = optionalFloatInput(ctx, 3, 'past_state');
  const decay = optionalFloatInput(ctx, 4, 'decay');
  const beta = optionalFloatInput(ctx, 5, 'beta');
  if (ctx.inputs.slice(6).some((input) => input !== undefined)) {
    ctx.fail('LinearAttention takes at most 6 inputs');
  }
  const gated = rule === 'gated' || rule === 'gated_delta';
  const delta = rule === 'delta' || rule === 'gated_delta';
  if (gated !== (decay !== undefined)) {
    ctx.fail(`update_rule '${rule}' ${gated ? 'requires' : 'forbids'} decay`);
  }
  if (delta !== (beta !== undefined)) {
    ctx.fail(`update_rule '${rule}' ${delta ? 'requires' : 'forbids'} beta`);
  }

  const shape = readLinearShape(ctx, query, key, value);
  const { batch, steps, queryHeads, kvHeads, keySize, valueSize } = shape;
  const inputs: LinearInputs = {
    q: toNumbers(query),
    k: toNumbers(key),
    v: toNumbers(value),
    decayAt: decay && readGate(ctx, decay, 'decay', shape, [kvHeads, kvHeads * keySize]),
    betaAt: beta && readGate(ctx, beta, 'beta', shape, [kvHeads, 1]),
  };
  const stateDims = [batch, kvHeads, keySize, valueSize];
  if (past && !sameDims(past.dims, stateDims)) {
    ctx.fail(`past_state must be [${stateDims.join(', ')}], got dims ${dimsText(past)}`);
  }
  const scaleAttribute = ctx.float('scale', 0);
  const scale = scaleAttribute === 0 ? 1 / Math.sqrt(keySize) : scaleAttribute;

  const headState = keySize * valueSize;
  const state = past ? Float64Array.from(toNumbers(past)) : new Float64Array(batch * kvHeads * headState);
  const output = floatSink(ctx.output(0, query.type, [batch, steps, queryHeads * valueSize]));
  for (let b = 0; b < batch; b++) {
    for (let step = 0; step < steps; step++) {
      for (let h = 0; h < kvHeads; h++) {
        const at = (b * kvHeads + h) * headState;
        advanceHead(shape, inputs, state.subarray(at, at + headState), output.values, scale, b, step, h);
      }
    }
  }
  return [
    output.finish(),
    ctx.wantsOutput(1) ? ctx.outputFromNumbers(1, past?.type ?? query.type, state, stateDims) : undefined,
  ];
}

// ---------------------------------------------------------------------------------------------
// CausalConvWithState
// ---------------------------------------------------------------------------------------------

function readActivation(ctx: KernelContext): (x: number) => number {
  const activation = ctx.string('activation', 'none');
  switch (activation) {
    case 'none':
      return (x) => x;
    case 'silu':
    case 'swish':
      return (x) => x / (1 + Math.exp(-x));
    default:
      return ctx.fail(`activation must be none, silu or swish, got '${activation}'`);
  }
}

/**
 * Per (batch, channel), the input is left-padded with the carried state (zeros without one), a
 * k-tap filter slides over it, and the last k - 1 padded positions become the new state.
 */
function causalConvWithState(ctx: KernelContext): (Tensor | undefined)[] {
  const input = floatInput(ctx, 0, 'input');
  const weight = floatInput(ctx, 1, 'weight');
  const bias = optionalFloatInput(ctx, 2, 'bias');
  const past = optionalFloatInput(ctx, 3, 'past_state');
  const activate = readActivation(ctx);
  if (input.dims.length !== 3) {
    ctx.fail(`input must be [batch, channels, length], got dims ${dimsText(input)}`);
  }
  const [batch, channels, length] = input.dims as [number, number, number];
  const taps = weight.dims[2] ?? 0;
  if (weight.dims.length !== 3 || weight.dims[0] !== channels || weight.dims[1] !== 1 || taps < 1) {
    ctx.fail(`weight must be [${channels}, 1, k] with k >= 1, got dims ${dimsText(weight)}`);
  }
  const carried = taps - 1;
  if (bias && !sameDims(bias.dims, [channels])) {
    ctx.fail(`bias must be [${channels}], got dims ${dimsText(bias)}`);
  }
  if (past && !sameDims(past.dims, [batch, channels, carried])) {
    ctx.fail(`past_state must be [${batch}, ${channels}, ${carried}], got dims ${dimsText(past)}`);
  }
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
    ['past_state', past],
  ] as const) {
    if (t && t.type !== input.type) ctx.fail(`${name} must be ${input.type} like input, got ${t.type}`);
  }

  const x = toNumbers(input);
  const w = toNumbers(weight);
  const biases = bias ? toNumbers(bias) : undefined;
  const pastValues = past ? toNumbers(past) : undefined;
  const output = floatSink(ctx.output(0, input.type, input.dims));
  const present = ctx.wantsOutput(1)
    ? floatSink(ctx.output(1, input.type, [batch, channels, carried]))
    : undefined;
  const padded = new Float64Array(carried + length);
  for (let row = 0; row < batch * channels; row++) {
    const c = row % channels;
    for (let j = 0; j < carried; j++) padded[j] = pastValues ? pastValues[row * carried + j]! : 0;
    for (let t = 0; t < length; t++) padded[carried + t] = x[row * length + t]!;
    for (let t = 0; t < length; t++) {
      let sum = biases ? biases[c]! : 0;
      for (let tap = 0; tap < taps; tap++) sum += w[c * taps + tap]! * padded[t + tap]!;
      output.values[row * length + t] = activate(sum);
    }
    present?.values.set(padded.subarray(length), row * carried);
  }
  return [output.finish(), present?.finish()];
}

// ---------------------------------------------------------------------------------------------
// FlexAttention (ai.onnx.preview)
// ---------------------------------------------------------------------------------------------

/** The softmax precision: the attribute's type, else float64 for float64 inputs and float32 otherwise. */
function softmaxPrecision(ctx: KernelContext, inputType: DataType): DataType {
  if (!ctx.has('softmax_precision')) return inputType === 'float64' ? 'float64' : 'float32';
  const code = ctx.int('softmax_precision');
  const type = dataTypeFromOnnx(code);
  if (type !== 'float32' && type !== 'float64' && type !== 'float16' && type !== 'bfloat16') {
    ctx.fail(`softmax_precision must be float, double, float16 or bfloat16, got ${type ?? code}`);
  }
  return type;
}

/** Runs a score_mod or prob_mod subgraph: one tensor in, one tensor of the same dims and type out. */
function runModifier(ctx: KernelContext, name: string, graph: Graph, scores: Tensor): Tensor {
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    ctx.fail(
      `${name} must take one input and return one output, it has ${graph.inputs.length} and ${graph.outputs.length}`,
    );
  }
  const [result] = ctx.runSubgraph(graph, [scores]);
  if (!(result instanceof Tensor) || result.type !== scores.type || !sameDims(result.dims, scores.dims)) {
    ctx.fail(
      `${name} must return a ${scores.type} tensor of dims ${dimsText(scores)}, got ${describeValue(result)}`,
    );
  }
  return result;
}

function softmaxRows(values: ArrayLike<number>, rowLength: number): Float64Array {
  const out = new Float64Array(values.length);
  for (let start = 0; start < values.length; start += rowLength) {
    let max = -Infinity;
    for (let j = 0; j < rowLength; j++) max = Math.max(max, values[start + j]!);
    let sum = 0;
    for (let j = 0; j < rowLength; j++) sum += out[start + j] = Math.exp(values[start + j]! - max);
    for (let j = 0; j < rowLength; j++) out[start + j]! /= sum;
  }
  return out;
}

/** Q is [B, Hq, L, E], K [B, Hkv, S, E] and V [B, Hkv, S, Ev]. */
interface FlexShape {
  batch: number;
  queryHeads: number;
  kvHeads: number;
  queryLength: number;
  kvLength: number;
  headSize: number;
  valueSize: number;
}

function readFlexShape(ctx: KernelContext, query: Tensor, key: Tensor, value: Tensor): FlexShape {
  for (const t of [query, key, value]) {
    if (t.dims.length !== 4) ctx.fail(`Q, K and V must be 4-D, got dims ${dimsText(t)}`);
  }
  if (key.type !== query.type || value.type !== query.type) {
    ctx.fail(`Q, K and V must share a type, got ${query.type}, ${key.type} and ${value.type}`);
  }
  const [batch, queryHeads, queryLength, headSize] = query.dims as [number, number, number, number];
  const [, kvHeads, kvLength] = key.dims as [number, number, number, number];
  const valueSize = value.dims[3]!;
  if (!sameDims(key.dims, [batch, kvHeads, kvLength, headSize])) {
    ctx.fail(`K must be [${batch}, heads, length, ${headSize}], got dims ${dimsText(key)}`);
  }
  if (!sameDims(value.dims, [batch, kvHeads, kvLength, valueSize])) {
    ctx.fail(`V must be [${batch}, ${kvHeads}, ${kvLength}, size], got dims ${dimsText(value)}`);
  }
  if (kvHeads <= 0 || queryHeads % kvHeads !== 0) {
    ctx.fail(`Q's ${queryHeads} heads must be a multiple of K's ${kvHeads}`);
  }
  return { batch, queryHeads, kvHeads, queryLength, kvLength, headSize, valueSize };
}

/** The K/V head (counted across batches) read by query head `bh` (also counted across batches). */
function kvHeadOf(shape: FlexShape, bh: number): number {
  const group = shape.queryHeads / shape.kvHeads;
  return Math.floor(bh / shape.queryHeads) * shape.kvHeads + Math.floor((bh % shape.queryHeads) / group);
}

/** (Q K^T) * scale, [B, Hq, L, S]. */
function scaledScores(
  shape: FlexShape,
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  scale: number,
): Float64Array {
  const { batch, queryHeads, queryLength, kvLength, headSize } = shape;
  const scores = new Float64Array(batch * queryHeads * queryLength * kvLength);
  for (let bh = 0; bh < batch * queryHeads; bh++) {
    const kvHead = kvHeadOf(shape, bh);
    for (let l = 0; l < queryLength; l++) {
      const qAt = (bh * queryLength + l) * headSize;
      for (let s = 0; s < kvLength; s++) {
        const kAt = (kvHead * kvLength + s) * headSize;
        let dot = 0;
        for (let e = 0; e < headSize; e++) dot += q[qAt + e]! * k[kAt + e]!;
        scores[(bh * queryLength + l) * kvLength + s] = dot * scale;
      }
    }
  }
  return scores;
}

/** Probs V, [B, Hq, L, Ev], into `output`. */
function weightedValues(
  shape: FlexShape,
  p: ArrayLike<number>,
  v: ArrayLike<number>,
  output: Float32Array | Float64Array,
): void {
  const { batch, queryHeads, queryLength, kvLength, valueSize } = shape;
  for (let bh = 0; bh < batch * queryHeads; bh++) {
    const kvHead = kvHeadOf(shape, bh);
    for (let l = 0; l < queryLength; l++) {
      const pAt = (bh * queryLength + l) * kvLength;
      const outAt = (bh * queryLength + l) * valueSize;
      for (let m = 0; m < valueSize; m++) {
        let sum = 0;
        for (let s = 0; s < kvLength; s++) sum += p[pAt + s]! * v[(kvHead * kvLength + s) * valueSize + m]!;
        output[outAt + m] = sum;
      }
    }
  }
}

/**
 * Scores = (Q K^T) * scale, then score_mod, Softmax over keys and prob_mod, all held in the
 * softmax precision; Y = Probs V. Query head h reads K/V head floor(h / (Hq / Hkv)).
 */
function flexAttention(ctx: KernelContext): Tensor {
  const query = floatInput(ctx, 0, 'Q');
  const key = floatInput(ctx, 1, 'K');
  const value = floatInput(ctx, 2, 'V');
  const shape = readFlexShape(ctx, query, key, value);
  const { batch, queryHeads, queryLength, kvLength, headSize, valueSize } = shape;
  const scale = ctx.float('scale', 1 / Math.sqrt(headSize));
  const precision = softmaxPrecision(ctx, query.type);
  const scoreDims = [batch, queryHeads, queryLength, kvLength];

  let scores = fromNumbers(
    precision,
    scaledScores(shape, toNumbers(query), toNumbers(key), scale),
    scoreDims,
  );
  if (ctx.has('score_mod')) scores = runModifier(ctx, 'score_mod', ctx.graph('score_mod'), scores);
  let probs = fromNumbers(precision, softmaxRows(toNumbers(scores), kvLength), scoreDims);
  if (ctx.has('prob_mod')) probs = runModifier(ctx, 'prob_mod', ctx.graph('prob_mod'), probs);
  const output = floatSink(ctx.output(0, query.type, [batch, queryHeads, queryLength, valueSize]));
  weightedValues(shape, toNumbers(probs), toNumbers(value), output.values);
  return output.finish();
}

export const kernels: KernelDef[] = [
  { op: 'LinearAttention', since: 27, run: (ctx) => linearAttention(ctx) },
  { op: 'CausalConvWithState', since: 27, run: (ctx) => causalConvWithState(ctx) },
  { domain: 'ai.onnx.preview', op: 'FlexAttention', since: 1, run: (ctx) => [flexAttention(ctx)] },
];
