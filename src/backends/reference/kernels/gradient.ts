/**
 * ai.onnx.preview.training::Gradient: reverse-mode automatic differentiation. The computation
 * from xs (and the constants zs) to y is the forward graph that the importer attached to the node
 * (src/ir/gradient-forward.ts). The kernel runs it on the node's inputs, keeping every
 * intermediate, seeds y's adjoint with ones of y's shape, then walks the nodes backwards, each
 * operator's rule turning its output's adjoint into adjoints of the inputs that depend on xs;
 * adjoints of a value read several times add up. Broadcast inputs get their adjoint summed back to
 * their own shape. Everything is computed in float64 and rounded once into each x's type. An
 * operator without a rule on the path from xs to y fails the node rather than answer wrongly.
 */

import type { DataType } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import { describeValue, type RuntimeValue } from '../../../core/values.js';
import { FORWARD_GRAPH_ATTRIBUTE } from '../../../ir/gradient-forward.js';
import {
  intAttribute,
  intsAttribute,
  opLabel,
  readsOf,
  TRAINING_DOMAIN,
  type Node,
} from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { broadcastIndex, readInts, sameDims, shapeSize, toNumbers } from '../util.js';
import { matmulShapes } from './matmul.js';
import { normalizedReductionAxes } from './reduce.js';
import { softmaxLanes } from './softmax.js';
import { transposeTensor } from './shape.js';

/** A float64 tensor the backward pass computes with. */
interface Dense {
  readonly dims: readonly number[];
  readonly data: Float64Array;
}

/** What a derivative rule sees of one forward node. */
interface Step {
  readonly node: Node;
  readonly ctx: KernelContext;
  /** The forward value of input `i`, in float64. */
  input(i: number): Dense;
  /** The forward value of input `i` as it was computed (integer shapes and axes). */
  tensor(i: number): Tensor | undefined;
  /** Whether input `i` depends on xs, so that its adjoint is wanted. */
  active(i: number): boolean;
  /** The forward value of output 0. */
  readonly output: Dense;
  /** The adjoint of output 0. */
  readonly grad: Dense;
}

/** A derivative rule: the adjoint of each input, undefined where it has none or none is wanted. */
type Rule = (step: Step) => (Dense | undefined)[];

export const kernels: KernelDef[] = [{ domain: TRAINING_DOMAIN, op: 'Gradient', since: 1, run: gradient }];

function gradient(ctx: KernelContext): (RuntimeValue | undefined)[] {
  const xs = ctx.strings('xs');
  const y = ctx.string('y');
  const zs = ctx.strings('zs', []);
  if (ctx.inputs.length !== xs.length + zs.length) {
    ctx.fail(`Gradient takes the ${xs.length} xs then the ${zs.length} zs, got ${ctx.inputs.length} inputs`);
  }
  if (ctx.outputCount > xs.length) ctx.fail(`Gradient has ${xs.length} xs but ${ctx.outputCount} outputs`);
  xs.forEach((name, i) => {
    const type = ctx.input(i).type;
    if (!isDifferentiableType(type)) ctx.fail(`Gradient: x '${name}' is ${type}, not a float tensor`);
  });
  const forward = ctx.graph(FORWARD_GRAPH_ATTRIBUTE);
  const values = new Map<string, RuntimeValue | undefined>();
  forward.inputs.forEach((input, i) => values.set(input.name, ctx.inputs[i]));
  const results = ctx.runSubgraph(forward, ctx.inputs);
  forward.outputs.forEach((output, i) => values.set(output.name, results[i]));

  const adjoints = backward(ctx, forward.nodes, values, new Set(xs), y);
  return xs.map((name, i) => {
    if (!ctx.wantsOutput(i)) return undefined;
    const x = ctx.input(i);
    const adjoint = adjoints.get(name);
    if (adjoint && !sameDims(adjoint.dims, x.dims)) {
      ctx.fail(
        `Gradient: the adjoint of '${name}' has dims [${adjoint.dims.join(', ')}], not [${x.dims.join(', ')}]`,
      );
    }
    return ctx.outputFromNumbers(i, x.type, adjoint?.data ?? new Float64Array(x.size), x.dims);
  });
}

/** Adjoints of every value on a path from xs to y, by name. */
function backward(
  ctx: KernelContext,
  nodes: readonly Node[],
  values: ReadonlyMap<string, RuntimeValue | undefined>,
  xs: ReadonlySet<string>,
  y: string,
): Map<string, Dense> {
  const tensorOf = (name: string): Tensor | undefined => {
    const value = values.get(name);
    return value instanceof Tensor ? value : undefined;
  };
  const dense = new Map<string, Dense>();
  const denseOf = (name: string): Dense => {
    const found = dense.get(name);
    if (found) return found;
    const tensor = tensorOf(name);
    if (!tensor) ctx.fail(`Gradient: value '${name}' is ${describeValue(values.get(name))}, not a tensor`);
    const made = { dims: tensor.dims, data: Float64Array.from(toNumbers(tensor)) };
    dense.set(name, made);
    return made;
  };

  const active = activeValues(nodes, xs, tensorOf);
  const seed = tensorOf(y);
  if (!seed || !isDifferentiableType(seed.type)) {
    ctx.fail(`Gradient: y '${y}' is ${describeValue(values.get(y))}, not a float tensor`);
  }
  const adjoints = new Map<string, Dense>([
    [y, { dims: seed.dims, data: new Float64Array(seed.size).fill(1) }],
  ]);
  for (let n = nodes.length - 1; n >= 0; n--) {
    const node = nodes[n]!;
    // Only nodes between xs and y need a rule; the others pass no adjoint on to an x.
    if (!node.outputs.some((name) => adjoints.has(name))) continue;
    if (!readsOf(node).some((name) => active.has(name))) continue;
    const grad = adjoints.get(node.outputs[0] ?? '');
    const wanted = node.inputs.map((name) => active.has(name));
    const rule = node.domain === '' ? RULES.get(node.opType) : undefined;
    if (!rule || !grad || node.outputs.length !== 1) {
      ctx.fail(`Gradient: operator ${opLabel(node)} is not differentiable here (node '${node.name}')`);
    }
    const step: Step = {
      node,
      ctx,
      input: (i) => denseOf(node.inputs[i] ?? ''),
      tensor: (i) => tensorOf(node.inputs[i] ?? ''),
      active: (i) => wanted[i] === true,
      // Read only by the rules that need it: converting every node's output would be wasted work.
      get output() {
        return denseOf(node.outputs[0]!);
      },
      grad,
    };
    rule(step).forEach((adjoint, i) => {
      if (adjoint && wanted[i]) accumulate(adjoints, node.inputs[i]!, adjoint);
    });
  }
  return adjoints;
}

/** Float tensors that depend on an x: the only values whose adjoints matter. */
function activeValues(
  nodes: readonly Node[],
  xs: ReadonlySet<string>,
  tensorOf: (name: string) => Tensor | undefined,
): Set<string> {
  const isFloatTensor = (name: string) => {
    const tensor = tensorOf(name);
    return tensor !== undefined && isDifferentiableType(tensor.type);
  };
  const active = new Set([...xs].filter(isFloatTensor));
  for (const node of nodes) {
    if (!readsOf(node).some((name) => active.has(name))) continue;
    for (const name of node.outputs) if (name !== '' && isFloatTensor(name)) active.add(name);
  }
  return active;
}

const DIFFERENTIABLE_TYPES: ReadonlySet<DataType> = new Set(['float16', 'bfloat16', 'float32', 'float64']);

function isDifferentiableType(type: DataType): boolean {
  return DIFFERENTIABLE_TYPES.has(type);
}

function accumulate(adjoints: Map<string, Dense>, name: string, adjoint: Dense): void {
  const existing = adjoints.get(name);
  if (!existing) {
    adjoints.set(name, adjoint);
    return;
  }
  const sum = new Float64Array(existing.data);
  for (let i = 0; i < sum.length; i++) sum[i]! += adjoint.data[i]!;
  adjoints.set(name, { dims: existing.dims, data: sum });
}

/**
 * A tensor of `grad`'s dims whose element i is f(grad[i], a[i'], b[i'']), where a and b are
 * broadcast to those dims.
 */
function pointwise(
  grad: Dense,
  operands: readonly Dense[],
  f: (g: number, a: number, b: number) => number,
): Dense {
  const [a, b] = operands;
  const aIndex = a && broadcastIndex(a.dims, grad.dims);
  const bIndex = b && broadcastIndex(b.dims, grad.dims);
  const data = new Float64Array(grad.data.length);
  for (let i = 0; i < data.length; i++) {
    data[i] = f(grad.data[i]!, aIndex ? a.data[aIndex[i]!]! : 0, bIndex ? b.data[bIndex[i]!]! : 0);
  }
  return { dims: grad.dims, data };
}

/** Sums an adjoint of a broadcast result back to the dims of the input that was broadcast. */
function unbroadcast(adjoint: Dense, dims: readonly number[]): Dense {
  if (sameDims(adjoint.dims, dims)) return adjoint;
  const index = broadcastIndex(dims, adjoint.dims);
  const data = new Float64Array(shapeSize(dims));
  for (let i = 0; i < index.length; i++) data[index[i]!]! += adjoint.data[i]!;
  return { dims, data };
}

function reshaped(value: Dense, dims: readonly number[]): Dense {
  return { dims, data: value.data };
}

/**
 * A broadcasting binary operator's rule, from the adjoint contributions g·∂out/∂a and g·∂out/∂b
 * written as functions of (g, a, b).
 */
function binaryRule(
  da: (g: number, a: number, b: number) => number,
  db: (g: number, a: number, b: number) => number,
): Rule {
  return (step) => {
    const a = step.input(0);
    const b = step.input(1);
    return [
      step.active(0) ? unbroadcast(pointwise(step.grad, [a, b], da), a.dims) : undefined,
      step.active(1) ? unbroadcast(pointwise(step.grad, [a, b], db), b.dims) : undefined,
    ];
  };
}

/** A unary elementwise operator whose input's adjoint is f(g, x) of its input x. */
function inputRule(f: (g: number, x: number) => number): Rule {
  return (step) => [pointwise(step.grad, [step.input(0)], f)];
}

/** A unary elementwise operator whose input's adjoint is f(g, y) of its output y, computed already. */
function outputRule(f: (g: number, y: number) => number): Rule {
  return (step) => [pointwise(step.grad, [step.output], f)];
}

/**
 * Operators whose output holds the input's elements in their order (Identity, a float-to-float
 * Cast, the shape changes): the adjoint is the output's, in the input's dims.
 */
const passThroughRule: Rule = (step) => [reshaped(step.grad, step.input(0).dims)];

/**
 * ReduceSum and ReduceMean: the adjoint spreads back over the reduced axes (divided by their
 * size for the mean). Axes became an input in opset `axesInputSince`.
 */
function reduceRule(mean: boolean, axesInputSince: number): Rule {
  return (step) => {
    const x = step.input(0);
    const rank = x.dims.length;
    const fail = step.ctx.fail.bind(step.ctx);
    let axes: number[];
    if (step.node.opset >= axesInputSince) {
      const axesInput = step.tensor(1);
      axes = axesInput ? readInts(axesInput) : [];
      if (axes.length === 0 && intAttribute(step.node, 'noop_with_empty_axes', 0) !== 0) return [step.grad];
    } else {
      axes = intsAttribute(step.node, 'axes') ?? [];
    }
    const reduced = new Set(normalizedReductionAxes(axes, rank, fail));
    const keptDims = x.dims.map((d, a) => (reduced.has(a) ? 1 : d));
    const count = shapeSize(x.dims) / shapeSize(keptDims);
    const scale = mean ? 1 / count : 1;
    const spread = broadcastIndex(keptDims, x.dims);
    const data = new Float64Array(spread.length);
    for (let i = 0; i < data.length; i++) data[i] = step.grad.data[spread[i]!]! * scale;
    return [{ dims: x.dims, data }];
  };
}

/**
 * MatMul with numpy semantics: a 1-D operand is a row (A) or column (B) vector, and the batch
 * dims broadcast. dA = dC · Bᵀ and dB = Aᵀ · dC per batch, each summed back over the batch dims
 * its operand was broadcast along.
 */
const matMulRule: Rule = (step) => {
  const a = step.input(0);
  const b = step.input(1);
  const fail = step.ctx.fail.bind(step.ctx);
  const { aDims, bDims, batchDims: batch, rows: m, depth: k, cols: n } = matmulShapes(a, b, fail);
  const aOf = broadcastIndex(aDims.slice(0, -2), batch);
  const bOf = broadcastIndex(bDims.slice(0, -2), batch);
  const g = step.grad.data;
  const batches = shapeSize(batch);
  const dA = new Float64Array(batches * m * k);
  const dB = new Float64Array(batches * k * n);
  for (let t = 0; t < batches; t++) {
    const aOffset = aOf[t]! * m * k;
    const bOffset = bOf[t]! * k * n;
    const gOffset = t * m * n;
    for (let i = 0; i < m; i++) {
      for (let p = 0; p < k; p++) {
        const av = a.data[aOffset + i * k + p]!;
        let sum = 0;
        for (let j = 0; j < n; j++) {
          const gv = g[gOffset + i * n + j]!;
          sum += gv * b.data[bOffset + p * n + j]!;
          dB[t * k * n + p * n + j]! += av * gv;
        }
        dA[t * m * k + i * k + p] = sum;
      }
    }
  }
  return [
    step.active(0) ? reshaped(unbroadcast({ dims: [...batch, m, k], data: dA }, aDims), a.dims) : undefined,
    step.active(1) ? reshaped(unbroadcast({ dims: [...batch, k, n], data: dB }, bDims), b.dims) : undefined,
  ];
};

/** Transpose: the adjoint goes back through the inverse permutation. */
const transposeRule: Rule = (step) => {
  const x = step.input(0);
  const rank = x.dims.length;
  const perm = intsAttribute(step.node, 'perm') ?? x.dims.map((_, a) => rank - 1 - a);
  // Output axis a was input axis perm[a], so input axis perm[a] is the adjoint's axis a.
  const inverse = new Array<number>(rank);
  perm.forEach((p, a) => (inverse[p] = a));
  const adjoint = transposeTensor(new Tensor('float64', step.grad.data, step.grad.dims), inverse);
  return [{ dims: x.dims, data: adjoint.data as Float64Array }];
};

/** Softmax: dx = y · (g − Σ g·y) along each lane of the forward Softmax (`softmaxLanes`). */
const softmaxRule: Rule = (step) => {
  const y = step.output;
  const dims = y.dims;
  const axis = intAttribute(step.node, 'axis');
  const fail = step.ctx.fail.bind(step.ctx);
  const { outer, laneLength: span, inner } = softmaxLanes(dims, step.node.opset, axis, fail);
  const g = step.grad.data;
  const data = new Float64Array(g.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * span * inner + i;
      let dot = 0;
      for (let s = 0; s < span; s++) dot += g[base + s * inner]! * y.data[base + s * inner]!;
      for (let s = 0; s < span; s++) {
        const at = base + s * inner;
        data[at] = y.data[at]! * (g[at]! - dot);
      }
    }
  }
  return [{ dims, data }];
};

/** Pow: d/da = b·a^(b−1) (0 where b is 0), d/db = a^b·ln a. */
const powRule = binaryRule(
  (g, a, b) => (b === 0 ? 0 : g * b * a ** (b - 1)),
  (g, a, b) => g * a ** b * Math.log(a),
);

const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  [
    'Add',
    binaryRule(
      (g) => g,
      (g) => g,
    ),
  ],
  [
    'Sub',
    binaryRule(
      (g) => g,
      (g) => -g,
    ),
  ],
  [
    'Mul',
    binaryRule(
      (g, _a, b) => g * b,
      (g, a) => g * a,
    ),
  ],
  [
    'Div',
    binaryRule(
      (g, _a, b) => g / b,
      (g, a, b) => (-g * a) / (b * b),
    ),
  ],
  ['Pow', powRule],
  [
    'Sum',
    (step) =>
      step.node.inputs.map((_, i) =>
        step.active(i) ? unbroadcast(step.grad, step.input(i).dims) : undefined,
      ),
  ],
  ['Neg', inputRule((g) => -g)],
  ['Identity', passThroughRule],
  // A Cast whose input and output both carry adjoints is one between float types.
  ['Cast', passThroughRule],
  ['Relu', inputRule((g, x) => (x > 0 ? g : 0))],
  ['Sigmoid', outputRule((g, y) => g * y * (1 - y))],
  ['Tanh', outputRule((g, y) => g * (1 - y * y))],
  ['Exp', outputRule((g, y) => g * y)],
  ['Log', inputRule((g, x) => g / x)],
  ['Sqrt', outputRule((g, y) => g / (2 * y))],
  ['MatMul', matMulRule],
  ['ReduceSum', reduceRule(false, 13)],
  ['ReduceMean', reduceRule(true, 18)],
  ['Reshape', passThroughRule],
  ['Flatten', passThroughRule],
  ['Squeeze', passThroughRule],
  ['Unsqueeze', passThroughRule],
  ['Transpose', transposeRule],
  ['Softmax', softmaxRule],
]);
