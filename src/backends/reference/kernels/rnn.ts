/**
 * The recurrent layers RNN, GRU and LSTM. They share one driver: it reads the common inputs
 * (X, W, R, B, sequence_lens, initial states), honours `direction`, `layout`, `clip` and the
 * activation attributes, and walks each (direction, batch entry) pair through time with a
 * per-operator cell. Everything is computed in float64; each hidden state is rounded to X's type
 * once, as it is written into the outputs.
 */

import type { Tensor } from '../../../core/tensor.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { floatSink, readInts, toNumbers } from '../util.js';

type Activation = (x: number) => number;

/** Activations that take no parameters. */
const PLAIN_ACTIVATIONS: Record<string, Activation> = {
  relu: (x) => Math.max(x, 0),
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  softsign: (x) => x / (1 + Math.abs(x)),
  softplus: (x) => Math.log1p(Math.exp(x)),
};

/** Activations with alpha (and beta) parameters, with the defaults the spec gives. */
const PARAMETRIC_ACTIVATIONS: Record<
  string,
  { alpha: number; beta?: number; make: (alpha: number, beta: number) => Activation }
> = {
  affine: { alpha: 1, beta: 0, make: (a, b) => (x) => a * x + b },
  leakyrelu: { alpha: 0.01, make: (a) => (x) => (x >= 0 ? x : a * x) },
  thresholdedrelu: { alpha: 1, make: (a) => (x) => (x > a ? x : 0) },
  scaledtanh: { alpha: 1, beta: 1, make: (a, b) => (x) => a * Math.tanh(b * x) },
  hardsigmoid: { alpha: 0.2, beta: 0.5, make: (a, b) => (x) => Math.min(1, Math.max(0, a * x + b)) },
  elu: { alpha: 1, make: (a) => (x) => (x >= 0 ? x : a * (Math.exp(x) - 1)) },
};

/** The weights of one direction, as float64 row-major matrices. */
interface DirectionWeights {
  /** [gates * hidden, input] */
  w: Float64Array;
  /** [gates * hidden, hidden] */
  r: Float64Array;
  /** [gates * hidden] input bias */
  wb: Float64Array;
  /** [gates * hidden] recurrence bias */
  rb: Float64Array;
  /** [3 * hidden] LSTM peepholes (i, o, f) */
  p: Float64Array;
}

interface CellState {
  h: Float64Array;
  c: Float64Array;
}

/**
 * One time step of a cell: `xw` is X_t·Wᵀ + Wb for all gates; the cell updates `state` in place.
 * `acts` are the direction's activations (f, g[, h]) with the clip already folded in.
 */
type Cell = (
  xw: Float64Array,
  state: CellState,
  weights: DirectionWeights,
  acts: readonly Activation[],
  hidden: number,
) => void;

interface RecurrentOp {
  op: string;
  since: number;
  gates: number;
  defaultActivations: string[];
  hasCellState: boolean;
  cell: (ctx: KernelContext) => Cell;
}

/** Adds R·h (rows [gate * hidden, (gate + 1) * hidden)) plus the recurrence bias into `out`. */
function addRecurrence(
  out: Float64Array,
  gate: number,
  h: Float64Array,
  weights: DirectionWeights,
  hidden: number,
): void {
  for (let j = 0; j < hidden; j++) {
    const row = gate * hidden + j;
    let sum = weights.rb[row]!;
    for (let k = 0; k < hidden; k++) sum += weights.r[row * hidden + k]! * h[k]!;
    out[j] += sum;
  }
}

const rnnCell: Cell = (xw, state, weights, acts, hidden) => {
  const pre = xw.slice(0, hidden);
  addRecurrence(pre, 0, state.h, weights, hidden);
  for (let j = 0; j < hidden; j++) state.h[j] = acts[0]!(pre[j]!);
};

/** GRU gates are ordered z, r, h in W, R and B. */
function gruCell(linearBeforeReset: boolean): Cell {
  return (xw, state, weights, acts, hidden) => {
    const [f, g] = acts as [Activation, Activation];
    const h = state.h;
    const z = xw.slice(0, hidden);
    const r = xw.slice(hidden, 2 * hidden);
    addRecurrence(z, 0, h, weights, hidden);
    addRecurrence(r, 1, h, weights, hidden);
    for (let j = 0; j < hidden; j++) {
      z[j] = f(z[j]!);
      r[j] = f(r[j]!);
    }
    const candidate = xw.slice(2 * hidden, 3 * hidden);
    if (linearBeforeReset) {
      const recurrent = new Float64Array(hidden);
      addRecurrence(recurrent, 2, h, weights, hidden);
      for (let j = 0; j < hidden; j++) candidate[j] += r[j]! * recurrent[j]!;
    } else {
      addRecurrence(
        candidate,
        2,
        h.map((v, j) => v * r[j]!),
        weights,
        hidden,
      );
    }
    for (let j = 0; j < hidden; j++) {
      const ht = g(candidate[j]!);
      h[j] = (1 - z[j]!) * ht + z[j]! * h[j]!;
    }
  };
}

/** LSTM gates are ordered i, o, f, c in W, R and B; peepholes i, o, f in P. */
function lstmCell(inputForget: boolean): Cell {
  return (xw, state, weights, acts, hidden) => {
    const [f, g, hAct] = acts as [Activation, Activation, Activation];
    const pre = xw.slice();
    for (let gate = 0; gate < 4; gate++) {
      addRecurrence(pre.subarray(gate * hidden), gate, state.h, weights, hidden);
    }
    const { h, c } = state;
    const p = weights.p;
    for (let j = 0; j < hidden; j++) {
      const input = f(pre[j]! + p[j]! * c[j]!);
      const forget = inputForget ? 1 - input : f(pre[2 * hidden + j]! + p[2 * hidden + j]! * c[j]!);
      const cellIn = g(pre[3 * hidden + j]!);
      c[j] = forget * c[j]! + input * cellIn;
      const output = f(pre[hidden + j]! + p[hidden + j]! * c[j]!);
      h[j] = output * hAct(c[j]!);
    }
  };
}

const RECURRENT_OPS: RecurrentOp[] = [
  { op: 'RNN', since: 1, gates: 1, defaultActivations: ['Tanh'], hasCellState: false, cell: () => rnnCell },
  {
    op: 'GRU',
    since: 1,
    gates: 3,
    defaultActivations: ['Sigmoid', 'Tanh'],
    hasCellState: false,
    cell: (ctx) => gruCell(ctx.int('linear_before_reset', 0) !== 0),
  },
  {
    op: 'LSTM',
    since: 1,
    gates: 4,
    defaultActivations: ['Sigmoid', 'Tanh', 'Tanh'],
    hasCellState: true,
    cell: (ctx) => lstmCell(ctx.int('input_forget', 0) !== 0),
  },
];

/** The activations named by the node, alpha/beta consumed in order by those that take them. */
function readActivations(ctx: KernelContext, spec: RecurrentOp, directions: number): Activation[][] {
  const perDirection = spec.defaultActivations.length;
  const names = ctx.strings('activations', []);
  const all =
    names.length > 0 ? names : Array.from({ length: directions }, () => spec.defaultActivations).flat();
  if (all.length !== perDirection * directions) {
    ctx.fail(
      `expected ${perDirection * directions} activations (${perDirection} per direction), got ${all.length}`,
    );
  }
  const alphas = ctx.floats('activation_alpha', []);
  const betas = ctx.floats('activation_beta', []);
  let nextAlpha = 0;
  let nextBeta = 0;
  const clip = ctx.has('clip') ? ctx.float('clip') : undefined;
  if (clip !== undefined && !(clip > 0)) ctx.fail(`clip must be positive, got ${clip}`);
  const functions = all.map((name) => {
    const key = name.toLowerCase();
    const plain = PLAIN_ACTIVATIONS[key];
    let fn: Activation;
    if (plain) fn = plain;
    else {
      const parametric = PARAMETRIC_ACTIVATIONS[key];
      if (!parametric) ctx.fail(`unknown activation '${name}'`);
      const alpha = alphas[nextAlpha++] ?? parametric.alpha;
      const beta = parametric.beta === undefined ? 0 : (betas[nextBeta++] ?? parametric.beta);
      fn = parametric.make(alpha, beta);
    }
    return clip === undefined ? fn : (x: number) => fn(Math.min(clip, Math.max(-clip, x)));
  });
  return Array.from({ length: directions }, (_, d) =>
    functions.slice(d * perDirection, (d + 1) * perDirection),
  );
}

function expectDims(ctx: KernelContext, name: string, t: Tensor, dims: number[]): void {
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    ctx.fail(`${name} must have dims [${dims.join(', ')}], got [${t.dims.join(', ')}]`);
  }
}

function runRecurrent(ctx: KernelContext, spec: RecurrentOp): (Tensor | undefined)[] {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const r = ctx.input(2);
  const bias = ctx.optionalInput(3);
  const sequenceLens = ctx.optionalInput(4);
  const initialH = ctx.optionalInput(5);
  const initialC = spec.hasCellState ? ctx.optionalInput(6) : undefined;
  const peepholes = spec.hasCellState ? ctx.optionalInput(7) : undefined;

  const batchMajor = ctx.opset >= 14 && ctx.int('layout', 0) === 1;
  if (x.dims.length !== 3) ctx.fail(`X must have rank 3, got dims [${x.dims.join(', ')}]`);
  const [seqLength, batch, inputSize] = (batchMajor ? [x.dims[1], x.dims[0], x.dims[2]] : x.dims) as number[];
  const direction = ctx.string('direction', 'forward');
  if (!['forward', 'reverse', 'bidirectional'].includes(direction)) {
    ctx.fail(`unknown direction '${direction}'`);
  }
  const directions = direction === 'bidirectional' ? 2 : 1;
  if (w.dims.length !== 3) ctx.fail(`W must have rank 3, got dims [${w.dims.join(', ')}]`);
  const hidden = ctx.int('hidden_size', w.dims[1]! / spec.gates);
  const rows = spec.gates * hidden;
  expectDims(ctx, 'W', w, [directions, rows, inputSize]);
  expectDims(ctx, 'R', r, [directions, rows, hidden]);
  if (bias) expectDims(ctx, 'B', bias, [directions, 2 * rows]);
  if (peepholes) expectDims(ctx, 'P', peepholes, [directions, 3 * hidden]);
  const stateDims = batchMajor ? [batch, directions, hidden] : [directions, batch, hidden];
  if (initialH) expectDims(ctx, 'initial_h', initialH, stateDims);
  if (initialC) expectDims(ctx, 'initial_c', initialC, stateDims);

  const lengths = sequenceLens ? readInts(sequenceLens) : new Array<number>(batch).fill(seqLength);
  if (lengths.length !== batch) ctx.fail(`sequence_lens must have ${batch} entries, got ${lengths.length}`);
  for (const len of lengths) {
    if (!Number.isInteger(len) || len < 0 || len > seqLength) {
      ctx.fail(`sequence length ${len} is out of range [0, ${seqLength}]`);
    }
  }

  const xs = toNumbers(x);
  const ws = float64Of(w);
  const rs = float64Of(r);
  const bs = bias && float64Of(bias);
  const ps = peepholes && float64Of(peepholes);
  const h0 = initialH && float64Of(initialH);
  const c0 = initialC && float64Of(initialC);
  const activations = readActivations(ctx, spec, directions);
  const cell = spec.cell(ctx);

  const yDims = batchMajor ? [batch, seqLength, directions, hidden] : [seqLength, directions, batch, hidden];
  const y = ctx.wantsOutput(0) ? floatSink(ctx.output(0, x.type, yDims)) : undefined;
  const yH = ctx.wantsOutput(1) ? floatSink(ctx.output(1, x.type, stateDims)) : undefined;
  const yC =
    spec.hasCellState && ctx.wantsOutput(2) ? floatSink(ctx.output(2, x.type, stateDims)) : undefined;
  // Steps past a batch entry's sequence length stay zero.
  if (lengths.some((length) => length < seqLength)) y?.values.fill(0);
  const xAt = (t: number, b: number) => (batchMajor ? b * seqLength + t : t * batch + b) * inputSize;
  const yAt = (t: number, d: number, b: number) =>
    (batchMajor ? (b * seqLength + t) * directions + d : (t * directions + d) * batch + b) * hidden;
  const stateAt = (d: number, b: number) => (batchMajor ? b * directions + d : d * batch + b) * hidden;

  for (let d = 0; d < directions; d++) {
    const weights: DirectionWeights = {
      w: ws.subarray(d * rows * inputSize, (d + 1) * rows * inputSize),
      r: rs.subarray(d * rows * hidden, (d + 1) * rows * hidden),
      wb: bs ? bs.subarray(2 * d * rows, (2 * d + 1) * rows) : new Float64Array(rows),
      rb: bs ? bs.subarray((2 * d + 1) * rows, (2 * d + 2) * rows) : new Float64Array(rows),
      p: ps ? ps.subarray(3 * d * hidden, 3 * (d + 1) * hidden) : new Float64Array(3 * hidden),
    };
    const reverse = direction === 'reverse' || d === 1;
    for (let b = 0; b < batch; b++) {
      const at = stateAt(d, b);
      const state: CellState = {
        h: h0 ? h0.slice(at, at + hidden) : new Float64Array(hidden),
        c: c0 ? c0.slice(at, at + hidden) : new Float64Array(hidden),
      };
      const length = lengths[b]!;
      for (let step = 0; step < length; step++) {
        const t = reverse ? length - 1 - step : step;
        const xw = inputProjection(xs, xAt(t, b), inputSize, weights, rows);
        cell(xw, state, weights, activations[d]!, hidden);
        y?.values.set(state.h, yAt(t, d, b));
      }
      yH?.values.set(state.h, at);
      yC?.values.set(state.c, at);
    }
  }

  const outputs = [y?.finish(), yH?.finish()];
  if (spec.hasCellState) outputs.push(yC?.finish());
  return outputs;
}

function float64Of(t: Tensor): Float64Array {
  return Float64Array.from(toNumbers(t));
}

/** X_t·Wᵀ + Wb for every gate row. */
function inputProjection(
  xs: ArrayLike<number>,
  offset: number,
  inputSize: number,
  weights: DirectionWeights,
  rows: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let row = 0; row < rows; row++) {
    let sum = weights.wb[row]!;
    for (let k = 0; k < inputSize; k++) sum += weights.w[row * inputSize + k]! * xs[offset + k]!;
    out[row] = sum;
  }
  return out;
}

export const kernels: KernelDef[] = RECURRENT_OPS.map((spec) => ({
  op: spec.op,
  since: spec.since,
  run: (ctx: KernelContext) => runRecurrent(ctx, spec),
}));
