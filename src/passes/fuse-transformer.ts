/**
 * Fusions of the transformer building blocks that exporters (PyTorch 1.x and 2.x, tf2onnx, Hugging
 * Face optimum) write out in primitive operators, into Heddle's own: LayerNormalization,
 * RMSNormalization, Gelu (erf and tanh forms) and scaled dot-product Attention.
 *
 * The normalizations and GELU come in many orderings: x * 0.5 * (1 + erf) or (0.5 * x) * (1 + erf),
 * Div by √2 or Mul by 1/√2, Div by the deviation or Mul by its Reciprocal, TensorFlow's
 * x * (γ / σ) + (β - μ * γ / σ)... Rather than list them, the matcher expands the arithmetic under
 * a candidate output into a polynomial over the values where it stops (atoms: x, the Erf output,
 * the deviation, weights) and compares that with the polynomial the pattern must be; every
 * ordering of one computation gives the same polynomial. Attention, a chain with few variants,
 * is matched node by node.
 *
 * LayerNormalization is fused into com.heddle::LayerNormalization, not ai.onnx's, whatever the
 * model's opset: the fused set stays uniform across eras (ai.onnx's exists only from opset 17),
 * and Heddle's broadcasts scale and bias both ways as the Mul and Add it replaces did, and takes
 * its scale as optional.
 */

import { isFloatType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import { readInts, toNumbers } from '../backends/reference/util.js';
import {
  floatAttribute,
  HEDDLE_DOMAIN,
  intAttribute,
  intsAttribute,
  opLabel,
  type Attribute,
  type Node,
} from '../ir/graph.js';
import { isOp, rewriteEach, sameKnownDims, type GraphEditor } from './graph-edit.js';
import type { GraphPass, PassContext } from './pass.js';

// ---------------------------------------------------------------------------------------------
// Polynomials over atoms

/** A coefficient times atoms (value names) raised to non-zero integer powers. */
interface Term {
  coefficient: number;
  powers: ReadonlyMap<string, number>;
}

/** A sum of terms, keyed by their atoms and powers. */
type Polynomial = Map<string, Term>;

/** Past these sizes an expansion is no transformer pattern; the matcher gives up instead of growing. */
const MAX_TERMS = 16;
const MAX_EXPONENT = 4;
const MAX_REGION_NODES = 24;

/**
 * How far a coefficient may be from the pattern's: exporters write √2 as 1.4142 and 1/√2 as 0.7071
 * (ONNX Runtime's fusions accept the same); any other constant is off by far more.
 */
const COEFFICIENT_TOLERANCE = 1e-5;

function termKey(powers: ReadonlyMap<string, number>): string {
  return JSON.stringify([...powers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The sum of `terms`, like terms combined; undefined when it has too many terms to be a pattern. */
function polynomialOf(terms: Iterable<Term>): Polynomial | undefined {
  const result: Polynomial = new Map();
  for (const term of terms) {
    const key = termKey(term.powers);
    const coefficient = (result.get(key)?.coefficient ?? 0) + term.coefficient;
    if (coefficient === 0) result.delete(key);
    else result.set(key, { coefficient, powers: term.powers });
  }
  return result.size <= MAX_TERMS ? result : undefined;
}

function term(coefficient: number, ...atoms: [string, number][]): Term {
  return { coefficient, powers: new Map(atoms) };
}

function scaled(p: Polynomial, factor: number): Polynomial {
  return polynomialOf([...p.values()].map((t) => ({ ...t, coefficient: t.coefficient * factor })))!;
}

function sum(a: Polynomial, b: Polynomial): Polynomial | undefined {
  return polynomialOf([...a.values(), ...b.values()]);
}

function product(a: Polynomial, b: Polynomial): Polynomial | undefined {
  const terms: Term[] = [];
  for (const x of a.values()) {
    for (const y of b.values()) {
      const powers = new Map(x.powers);
      for (const [atom, power] of y.powers) {
        const total = (powers.get(atom) ?? 0) + power;
        if (total === 0) powers.delete(atom);
        else powers.set(atom, total);
      }
      terms.push({ coefficient: x.coefficient * y.coefficient, powers });
    }
  }
  return polynomialOf(terms);
}

/** 1/p, for a single term only: the reciprocal of a sum is no polynomial. */
function reciprocal(p: Polynomial): Polynomial | undefined {
  const [only, ...rest] = p.values();
  if (!only || rest.length > 0) return undefined;
  const powers = new Map([...only.powers].map(([atom, power]) => [atom, -power] as const));
  return polynomialOf([{ coefficient: 1 / only.coefficient, powers }]);
}

function power(p: Polynomial, exponent: number): Polynomial | undefined {
  if (exponent < 0) {
    const inverse = reciprocal(p);
    return inverse && power(inverse, -exponent);
  }
  let result: Polynomial | undefined = polynomialOf([term(1)]);
  for (let i = 0; i < exponent && result; i++) result = product(result, p);
  return result;
}

/** Whether `actual` is the sum of `expected`, coefficient by coefficient within the tolerance. */
function matchesPolynomial(actual: Polynomial, expected: Term[]): boolean {
  const want = polynomialOf(expected);
  if (!want || want.size !== actual.size) return false;
  for (const [key, t] of want) {
    const got = actual.get(key)?.coefficient;
    if (
      got === undefined ||
      Math.abs(got - t.coefficient) > COEFFICIENT_TOLERANCE * Math.abs(t.coefficient)
    ) {
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Reading the graph

/** A value's rank when known: declared or inferred, a constant's, or a Transpose's perm length. */
function knownRank(editor: GraphEditor, value: string): number | undefined {
  const type = editor.graph.valueTypes.get(value);
  if (type?.kind === 'tensor' && type.shape) return type.shape.length;
  const constant = editor.constant(value);
  if (constant) return constant.dims.length;
  const producer = editor.producer(value);
  return isOp(producer, 'Transpose') ? intsAttribute(producer, 'perm')?.length : undefined;
}

/** False only when the value's element type is known and is not a float type. */
function mayBeFloat(editor: GraphEditor, value: string): boolean {
  const type = editor.graph.valueTypes.get(value);
  return type?.kind !== 'tensor' || isFloatType(type.elemType);
}

/**
 * The number a one-element constant holds, when multiplying by it cannot change the other
 * operand's shape: the constant's rank is at most `minRank`, a rank the other operand is known
 * to have at least.
 */
function coefficientOf(editor: GraphEditor, value: string, minRank: number): number | undefined {
  const t: Tensor | undefined = editor.constant(value);
  if (!t || t.size !== 1 || t.dims.length > minRank || t.type === 'string' || t.type === 'bool')
    return undefined;
  if (t.type.startsWith('complex')) return undefined;
  const v = toNumbers(t)[0]!;
  return Number.isFinite(v) ? v : undefined;
}

const ARITHMETIC_OPS: ReadonlySet<string> = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Neg',
  'Reciprocal',
  'Pow',
  'Sum',
]);

/**
 * Nodes the polynomial expansion may look through. Before opset 7 the binary operators broadcast
 * by their own rule (an `axis` aligns the second operand), and before opset 8 Sum did not
 * broadcast; a polynomial captures neither.
 */
function isArithmetic(node: Node | undefined): node is Node {
  if (node === undefined || node.domain !== '' || !ARITHMETIC_OPS.has(node.opType)) return false;
  if (node.opType === 'Neg' || node.opType === 'Reciprocal') return true;
  return node.opset >= (node.opType === 'Sum' ? 8 : 7);
}

/** Arithmetic nodes that compute `root`'s output and that a fusion could remove with it. */
interface Region {
  root: Node;
  nodes: Set<Node>;
}

/**
 * The arithmetic under a candidate output `root`: the nodes reachable upwards from it without
 * passing a stop, less every node whose output something outside the region (other than the
 * pattern's `internal` nodes) also reads, since that node must stay.
 */
function exploreRegion(
  editor: GraphEditor,
  root: Node,
  stops: ReadonlySet<string>,
  internal: ReadonlySet<Node>,
): Region | undefined {
  const nodes = new Set<Node>();
  const visit = (node: Node): boolean => {
    if (nodes.has(node)) return true;
    if (nodes.size >= MAX_REGION_NODES) return false;
    nodes.add(node);
    const operands = node.opType === 'Pow' ? node.inputs.slice(0, 1) : node.inputs;
    for (const value of operands) {
      const producer = editor.producer(value);
      if (stops.has(value) || editor.constant(value) || !isArithmetic(producer)) continue;
      if (!visit(producer)) return false;
    }
    return true;
  };
  if (!isArithmetic(root) || !visit(root)) return undefined;
  let region = nodes;
  for (let size = 0; size !== region.size;) {
    size = region.size;
    const removable = new Set(
      [...region].filter((n) => n === root || readOnlyWithin(editor, n, region, internal)),
    );
    region = reachableWithin(editor, root, removable);
  }
  return { root, nodes: region };
}

/** Whether nothing outside `nodes` and `internal` reads the node's outputs (graph outputs included). */
function readOnlyWithin(
  editor: GraphEditor,
  node: Node,
  nodes: ReadonlySet<Node>,
  internal: ReadonlySet<Node> = new Set(),
): boolean {
  return node.outputs.every(
    (out) =>
      !editor.isGraphOutput(out) && editor.consumers(out).every((c) => nodes.has(c) || internal.has(c)),
  );
}

/** The nodes of `nodes` that `root` reads from through nodes of `nodes`, root included. */
function reachableWithin(editor: GraphEditor, root: Node, nodes: ReadonlySet<Node>): Set<Node> {
  const reached = new Set<Node>();
  const visit = (node: Node) => {
    if (reached.has(node) || !nodes.has(node)) return;
    reached.add(node);
    for (const value of node.inputs) {
      const producer = editor.producer(value);
      if (producer) visit(producer);
    }
  };
  visit(root);
  return reached;
}

/** Values outside the region that it reads, constants aside. */
function regionLeaves(editor: GraphEditor, region: Region): Set<string> {
  const leaves = new Set<string>();
  for (const node of region.nodes) {
    const operands = node.opType === 'Pow' ? node.inputs.slice(0, 1) : node.inputs;
    for (const value of operands) {
      const producer = editor.producer(value);
      if (!(producer && region.nodes.has(producer)) && !editor.constant(value)) leaves.add(value);
    }
  }
  return leaves;
}

/**
 * The region's output as a polynomial: arithmetic inside the region is expanded, one-element
 * constants that cannot change a shape (see coefficientOf) become coefficients, every other value
 * is an atom. Undefined when some node of the region has no polynomial form (a division by a sum,
 * a non-integer power).
 */
function expand(editor: GraphEditor, region: Region, minRank: number): Polynomial | undefined {
  const memo = new Map<string, Polynomial | undefined>();
  const valueOf = (value: string): Polynomial | undefined => {
    if (memo.has(value)) return memo.get(value);
    const producer = editor.producer(value);
    let result: Polynomial | undefined;
    if (producer && region.nodes.has(producer)) result = expandNode(producer);
    else {
      const c = coefficientOf(editor, value, minRank);
      result = polynomialOf([c === undefined ? term(1, [value, 1]) : term(c)]);
    }
    memo.set(value, result);
    return result;
  };
  const expandNode = (node: Node): Polynomial | undefined => {
    if (node.opType === 'Sum') {
      let total = polynomialOf([]);
      for (const value of node.inputs) {
        const operand = valueOf(value);
        total = total && operand && sum(total, operand);
      }
      return total;
    }
    const a = valueOf(node.inputs[0]!);
    if (!a) return undefined;
    if (node.opType === 'Neg') return scaled(a, -1);
    if (node.opType === 'Reciprocal') return reciprocal(a);
    if (node.opType === 'Pow') {
      const exponent = coefficientOf(editor, node.inputs[1]!, minRank);
      const integral =
        exponent !== undefined && Number.isInteger(exponent) && Math.abs(exponent) <= MAX_EXPONENT;
      return integral ? power(a, exponent) : undefined;
    }
    const b = valueOf(node.inputs[1]!);
    if (!b) return undefined;
    if (node.opType === 'Add') return sum(a, b);
    if (node.opType === 'Sub') return sum(a, scaled(b, -1));
    if (node.opType === 'Mul') return product(a, b);
    const inverse = reciprocal(b);
    return inverse && product(a, inverse);
  };
  return valueOf(region.root.outputs[0]!);
}

/**
 * Arithmetic nodes downstream of `value` (through arithmetic only), latest first: the candidate
 * outputs of a pattern whose inner part produces `value`. The latest that matches is the whole
 * pattern (a GELU's final Mul rather than its x * (1 + erf)).
 */
function downstreamCandidates(editor: GraphEditor, value: string): Node[] {
  const found = new Set<Node>();
  let frontier = [value];
  for (let depth = 0; depth < 6 && frontier.length > 0; depth++) {
    const next: string[] = [];
    for (const v of frontier) {
      for (const node of editor.consumers(v)) {
        if (!isArithmetic(node) || found.has(node)) continue;
        found.add(node);
        next.push(node.outputs[0]!);
      }
    }
    frontier = next;
  }
  const order = new Map(editor.graph.nodes.map((n, i) => [n, i]));
  return [...found].sort((a, b) => order.get(b)! - order.get(a)!);
}

/**
 * Replaces the matched nodes with `fused` (which takes over the root's output, so its readers and
 * declared type carry over), then drops the Constant nodes only they read.
 */
function applyFusion(ctx: PassContext, nodes: ReadonlySet<Node>, fused: Node, label: string): void {
  const { editor } = ctx;
  const order = new Map(editor.graph.nodes.map((n, i) => [n, i]));
  const sorted = [...nodes].sort((a, b) => order.get(a)! - order.get(b)!);
  const constantInputs = new Set(sorted.flatMap((n) => n.inputs.filter((v) => editor.constant(v))));
  editor.replace(sorted, fused);
  for (const value of constantInputs) {
    const producer = editor.producer(value);
    if (isOp(producer, 'Constant') && editor.consumers(value).length === 0 && !editor.isGraphOutput(value)) {
      editor.remove(producer);
    }
  }
  const ops = sorted.map((n) => n.opType).join(' + ');
  ctx.record(
    `fused ${ops} ('${sorted[0]!.name}' … '${sorted[sorted.length - 1]!.name}') into ${label}`,
    sorted,
  );
}

/**
 * Whether `nodes` may all go for a fused node reading `inputs`: every node but `root` has its
 * outputs read only inside the set, and no input is something the set computes.
 */
function replaceable(
  editor: GraphEditor,
  nodes: ReadonlySet<Node>,
  root: Node,
  inputs: readonly string[],
): boolean {
  const computed = new Set([...nodes].flatMap((n) => n.outputs));
  return (
    inputs.every((v) => !computed.has(v)) &&
    [...nodes].every((n) => n === root || readOnlyWithin(editor, n, nodes))
  );
}

function newFloatAttribute(name: string, value: number): Attribute {
  return { name, type: 'float', value };
}

/** Runs `fuse` on every node of the given type still in the graph; true when any fused. */
function fuseEach(ctx: PassContext, opTypes: readonly string[], fuse: (node: Node) => boolean): boolean {
  return rewriteEach(ctx.editor, (node) => node.domain === '' && opTypes.includes(node.opType), fuse);
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization and RMSNormalization

/** The axes a ReduceMean reduces ('all' when none are given), or undefined when it keeps no dims or they are unknown. */
function reducedAxes(editor: GraphEditor, node: Node): number[] | 'all' | undefined {
  if (intAttribute(node, 'keepdims', 1) !== 1) return undefined;
  let axes: number[];
  if (node.opset >= 18) {
    const input = node.inputs[1] ?? '';
    const constant = editor.constant(input);
    if (input !== '' && !constant) return undefined;
    axes = constant ? readInts(constant) : [];
    if (axes.length === 0 && intAttribute(node, 'noop_with_empty_axes', 0) !== 0) return undefined;
  } else {
    axes = intsAttribute(node, 'axes') ?? [];
  }
  return axes.length === 0 ? 'all' : axes;
}

/**
 * The normalization's first axis when `axes` are the trailing axes of a rank-`rank` tensor
 * (negative, so it holds for any rank), with the least rank the input must have. Reducing every
 * axis needs the rank known (and not 0, which has no axis to normalize from).
 */
function trailingAxis(
  axes: number[] | 'all',
  rank: number | undefined,
): { axis: number; minRank: number } | undefined {
  if (axes === 'all') return rank === undefined || rank === 0 ? undefined : { axis: -rank, minRank: rank };
  const negative = axes.map((a) => (a < 0 || rank === undefined ? a : a - rank));
  if (negative.some((a) => a >= 0 || (rank !== undefined && a < -rank))) return undefined;
  const sorted = [...new Set(negative)].sort((a, b) => a - b);
  if (sorted.length !== axes.length || sorted.some((a, i) => a !== i - sorted.length)) return undefined;
  return { axis: -sorted.length, minRank: rank ?? sorted.length };
}

/** The statistics side of a normalization, found from its Sqrt. */
interface Deviation {
  /** The normalized input. */
  x: string;
  /** LayerNormalization's mean of x (RMSNormalization has none). */
  mean?: string;
  /** The Sqrt (or Pow) output, and the power it has in the output's x term (-1 for a Sqrt). */
  deviation: string;
  deviationPower: number;
  axis: number;
  epsilon: number;
  minRank: number;
  nodes: Set<Node>;
}

/**
 * Reads Sqrt(ReduceMean(d²) + eps) (or Pow(·, ±0.5)), where d is x (RMSNormalization) or
 * x - ReduceMean(x) over the same axes (LayerNormalization), d² being Pow(d, 2) or d * d.
 */
function matchDeviation(editor: GraphEditor, anchor: Node): Deviation | undefined {
  const nodes = new Set<Node>([anchor]);
  let variance = editor.producer(anchor.inputs[0]!);
  let epsilonValue: string | undefined;
  if (isOp(variance, 'Add') && variance.opset >= 7) {
    nodes.add(variance);
    const [a, b] = variance.inputs as [string, string];
    const varianceSide = isOp(editor.producer(a), 'ReduceMean') ? a : b;
    epsilonValue = varianceSide === a ? b : a;
    variance = editor.producer(varianceSide);
  }
  if (!isOp(variance, 'ReduceMean')) return undefined;
  nodes.add(variance);
  const square = editor.producer(variance.inputs[0]!);
  const squared = square && squareOf(square);
  if (!squared) return undefined;
  nodes.add(square);

  const axes = reducedAxes(editor, variance);
  const centring = axes && centringOf(editor, squared.operand, axes);
  if (centring) nodes.add(centring.sub).add(centring.mean);
  const x = centring?.x ?? squared.operand;
  const trailing = axes && mayBeFloat(editor, x) ? trailingAxis(axes, knownRank(editor, x)) : undefined;
  if (!trailing) return undefined;
  const coefficient = (value: string) => coefficientOf(editor, value, trailing.minRank);
  const rootExponent = anchor.opType === 'Sqrt' ? 0.5 : coefficient(anchor.inputs[1]!);
  const deviationPower = rootExponent === 0.5 ? -1 : rootExponent === -0.5 ? 1 : undefined;
  const squareExponent = squared.exponent === undefined ? 2 : coefficient(squared.exponent);
  const epsilon = epsilonValue === undefined ? 0 : coefficient(epsilonValue);
  if (deviationPower === undefined || squareExponent !== 2 || epsilon === undefined) return undefined;
  return {
    x,
    mean: centring?.mean.outputs[0],
    deviation: anchor.outputs[0]!,
    deviationPower,
    axis: trailing.axis,
    epsilon,
    minRank: trailing.minRank,
    nodes,
  };
}

/** The d of Pow(d, e) (e to be checked for 2 once shapes are bounded) or of Mul(d, d). */
function squareOf(node: Node): { operand: string; exponent?: string } | undefined {
  if (isOp(node, 'Mul') && node.inputs[0] === node.inputs[1]) return { operand: node.inputs[0]! };
  if (isOp(node, 'Pow')) return { operand: node.inputs[0]!, exponent: node.inputs[1]! };
  return undefined;
}

/** x and the Sub and ReduceMean nodes when `value` is x - ReduceMean(x) over `axes`. */
function centringOf(
  editor: GraphEditor,
  value: string,
  axes: number[] | 'all',
): { x: string; sub: Node; mean: Node } | undefined {
  const sub = editor.producer(value);
  if (!isOp(sub, 'Sub') || sub.opset < 7) return undefined;
  const [x, meanValue] = sub.inputs as [string, string];
  const mean = editor.producer(meanValue);
  if (!isOp(mean, 'ReduceMean') || mean.inputs[0] !== x) return undefined;
  return JSON.stringify(reducedAxes(editor, mean)) === JSON.stringify(axes) ? { x, sub, mean } : undefined;
}

/**
 * Scale and bias of a normalization must be weights (constants, or values the caller feeds), so
 * that a residual added after it is never taken for its bias.
 */
function isWeight(editor: GraphEditor, value: string): boolean {
  const { graph } = editor;
  const fed = [...graph.inputs, ...graph.overridableInitializers].some((i) => i.name === value);
  return fed || editor.constant(value) !== undefined;
}

/**
 * Checks that `output` is (x - mean) · deviation^power · scale + bias, scale and bias optional
 * (and bias LayerNormalization's only), and returns the scale and bias atoms.
 */
function matchAffine(
  editor: GraphEditor,
  output: Polynomial,
  dev: Deviation,
): { scale?: string; bias?: string } | undefined {
  const statistics = new Set([dev.x, dev.deviation, ...(dev.mean ? [dev.mean] : [])]);
  const xTerm = [...output.values()].find((t) => t.powers.get(dev.x) === 1);
  if (!xTerm) return undefined;
  const others = [...xTerm.powers.keys()].filter((a) => !statistics.has(a));
  const scale = others[0];
  const biasTerms = [...output.values()].filter((t) => ![...t.powers.keys()].some((a) => statistics.has(a)));
  const bias = biasTerms.length === 1 ? [...biasTerms[0]!.powers.keys()][0] : undefined;
  if (others.length > 1 || biasTerms.length > 1 || (biasTerms.length === 1 && !bias)) return undefined;
  if ((scale && !isWeight(editor, scale)) || (bias && !isWeight(editor, bias))) return undefined;
  if (bias && !dev.mean) return undefined;

  const factor: [string, number][] = [
    [dev.deviation, dev.deviationPower],
    ...(scale ? [[scale, 1] as [string, number]] : []),
  ];
  const expected = [term(1, [dev.x, 1], ...factor)];
  if (dev.mean) expected.push(term(-1, [dev.mean, 1], ...factor));
  if (bias) expected.push(term(1, [bias, 1]));
  return matchesPolynomial(output, expected) ? { scale, bias } : undefined;
}

function fuseNormalization(ctx: PassContext, anchor: Node, layerNorm: boolean): boolean {
  const { editor } = ctx;
  const dev = matchDeviation(editor, anchor);
  if (!dev || (dev.mean !== undefined) !== layerNorm) return false;
  const stops = new Set([dev.x, dev.deviation, ...(dev.mean ? [dev.mean] : [])]);
  for (const root of downstreamCandidates(editor, dev.deviation)) {
    const region = exploreRegion(editor, root, stops, dev.nodes);
    const output = region && expand(editor, region, dev.minRank);
    const affine = output && matchAffine(editor, output, dev);
    if (!region || !affine) continue;
    const nodes = new Set([...dev.nodes, ...region.nodes]);
    const inputs = [dev.x, affine.scale ?? '', affine.bias ?? ''];
    while (inputs[inputs.length - 1] === '') inputs.pop();
    if (!replaceable(editor, nodes, root, inputs)) continue;
    const opType = layerNorm ? 'LayerNormalization' : 'RMSNormalization';
    const fused = editor.heddleNode(
      opType,
      root.name,
      inputs,
      [root.outputs[0]!],
      [{ name: 'axis', type: 'int', value: dev.axis }, newFloatAttribute('epsilon', dev.epsilon)],
    );
    applyFusion(ctx, nodes, fused, `${opType} (axis ${dev.axis}, epsilon ${dev.epsilon})`);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// GELU

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * What the argument of the Erf or Tanh must expand to, in the GELU's input x: x/√2, or
 * √(2/π)·(x + 0.044715·x³) for the tanh approximation.
 */
function geluArgument(anchor: Node, x: string): Term[] {
  if (anchor.opType === 'Erf') return [term(Math.SQRT1_2, [x, 1])];
  return [term(SQRT_2_OVER_PI, [x, 1]), term(SQRT_2_OVER_PI * 0.044715, [x, 3])];
}

/** Fuses 0.5 · x · (1 + Erf(x/√2)) or its tanh form, in any ordering, into Gelu. */
function fuseGelu(ctx: PassContext, anchor: Node): boolean {
  const { editor } = ctx;
  const argumentProducer = editor.producer(anchor.inputs[0]!);
  const argument = argumentProducer && exploreRegion(editor, argumentProducer, new Set(), new Set([anchor]));
  if (!argument) return false;
  const leaves = [...regionLeaves(editor, argument)];
  const x = leaves[0];
  if (leaves.length !== 1 || !x || !mayBeFloat(editor, x)) return false;
  const minRank = knownRank(editor, x) ?? 0;
  const argumentPolynomial = expand(editor, argument, minRank);
  if (!argumentPolynomial || !matchesPolynomial(argumentPolynomial, geluArgument(anchor, x))) return false;

  const activation = anchor.outputs[0]!;
  const inner = new Set([anchor, ...argument.nodes]);
  for (const root of downstreamCandidates(editor, activation)) {
    const region = exploreRegion(editor, root, new Set([x, activation]), inner);
    const output = region && expand(editor, region, minRank);
    if (!region || !output) continue;
    if (!matchesPolynomial(output, [term(0.5, [x, 1]), term(0.5, [x, 1], [activation, 1])])) continue;
    const nodes = new Set([...inner, ...region.nodes]);
    if (!replaceable(editor, nodes, root, [x])) continue;
    const approximate = anchor.opType === 'Erf' ? 'none' : 'tanh';
    const fused = editor.heddleNode(
      'Gelu',
      root.name,
      [x],
      [root.outputs[0]!],
      [{ name: 'approximate', type: 'string', value: approximate }],
    );
    applyFusion(ctx, nodes, fused, `Gelu (approximate '${approximate}')`);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Attention

/** A value with the constant scale factors applied to it (Mul or Div by a one-element constant) peeled off. */
interface Peeled {
  base: string;
  factor: number;
  nodes: Node[];
}

/**
 * Follows `value` up through Mul/Div by constants while each step's output feeds only the next,
 * multiplying their factors. Constants of rank 2 or less cannot change the shape of the rank-2+
 * operands attention works on.
 */
function peelScale(editor: GraphEditor, value: string, reader: Node): Peeled {
  const peeled: Peeled = { base: value, factor: 1, nodes: [] };
  for (;;) {
    const node = editor.producer(peeled.base);
    if (!node || node.opset < 7 || !editor.onlyFeeds(peeled.base, reader)) return peeled;
    const [a, b] = node.inputs as [string, string];
    let step: { operand: string; factor: number } | undefined;
    if (isOp(node, 'Mul')) {
      const ca = coefficientOf(editor, a, 2);
      const cb = coefficientOf(editor, b, 2);
      step =
        cb !== undefined
          ? { operand: a, factor: cb }
          : ca !== undefined
            ? { operand: b, factor: ca }
            : undefined;
    } else if (isOp(node, 'Div')) {
      const cb = coefficientOf(editor, b, 2);
      step = cb !== undefined && cb !== 0 ? { operand: a, factor: 1 / cb } : undefined;
    }
    if (!step) return peeled;
    peeled.base = step.operand;
    peeled.factor *= step.factor;
    peeled.nodes.push(node);
    reader = node;
  }
}

/** K as the fused node takes it, with the nodes between it and the first MatMul. */
interface KeyOperand {
  key: string;
  transposeK: boolean;
  /** The perm a head-split Transpose must keep, when the K Transpose also split heads. */
  headSplit?: { perm: number[]; from: Node };
  rank: number | undefined;
  factor: number;
  nodes: Node[];
}

/**
 * The first MatMul's second operand, Kᵀ: scale factors peeled off on either side of an optional
 * Transpose. A Transpose whose perm swaps the last two axes after other moves (BERT's [0, 2, 3, 1]
 * splits heads and transposes at once) leaves its other moves to a Transpose kept outside.
 */
function matchKey(editor: GraphEditor, operand: string, matmul: Node): KeyOperand {
  const outer = peelScale(editor, operand, matmul);
  const transpose = editor.producer(outer.base);
  const perm = transpose && intsAttribute(transpose, 'perm');
  const reader = outer.nodes[outer.nodes.length - 1] ?? matmul;
  if (
    !isOp(transpose, 'Transpose') ||
    perm === undefined ||
    perm.length < 2 ||
    !editor.onlyFeeds(outer.base, reader)
  ) {
    return {
      key: outer.base,
      transposeK: false,
      rank: knownRank(editor, outer.base),
      factor: outer.factor,
      nodes: outer.nodes,
    };
  }
  const inner = peelScale(editor, transpose.inputs[0]!, transpose);
  const rest = [...perm];
  const last = rest.length - 1;
  [rest[last - 1], rest[last]] = [rest[last]!, rest[last - 1]!];
  const identity = rest.every((p, i) => p === i);
  return {
    key: inner.base,
    transposeK: true,
    headSplit: identity ? undefined : { perm: rest, from: transpose },
    rank: perm.length,
    factor: outer.factor * inner.factor,
    nodes: [...outer.nodes, transpose, ...inner.nodes],
  };
}

/**
 * How the scores are masked before the Softmax: an Add of a float mask, or a Where that keeps the
 * scores where a bool mask says and puts a constant elsewhere (PyTorch's `masked_fill`).
 */
interface Masking {
  /** The node that applies the mask; none when the scores go to the Softmax as they are. */
  node?: Node;
  scores: string;
  mask?: string;
  /** A Where's constant and whether its condition marks the scores kept (rather than filled). */
  select?: { fill: number; keepWhereTrue: boolean };
}

/**
 * The scores side and the mask of the Add or Where before the Softmax: the side that leads to a
 * MatMul holds the scores.
 */
function splitMask(editor: GraphEditor, softmax: Node): Masking {
  const input = softmax.inputs[0]!;
  const node = editor.producer(input);
  if (isOp(node, 'Add') && node.opset >= 7) {
    for (const [s, m] of [
      [0, 1],
      [1, 0],
    ] as const) {
      const scores = node.inputs[s]!;
      if (leadsToScores(editor, scores, node)) return { node, scores, mask: node.inputs[m] };
    }
  }
  if (isOp(node, 'Where')) {
    const [condition, whenTrue, whenFalse] = node.inputs as [string, string, string];
    for (const [scores, other, keepWhereTrue] of [
      [whenTrue, whenFalse, true],
      [whenFalse, whenTrue, false],
    ] as const) {
      const fill = fillValueOf(editor, other);
      if (fill !== undefined && leadsToScores(editor, scores, node)) {
        return { node, scores, mask: condition, select: { fill, keepWhereTrue } };
      }
    }
  }
  return { scores: input };
}

/** Whether `value`, scale factors peeled off, is a MatMul's output: the scores rather than the mask. */
function leadsToScores(editor: GraphEditor, value: string, reader: Node): boolean {
  return isOp(editor.producer(peelScale(editor, value, reader).base), 'MatMul');
}

/**
 * The number a Where puts at masked scores, when it is a one-element float constant that cannot
 * widen the rank-2+ scores and the fused node's float attribute holds it exactly (any float32 or
 * narrower value, infinities and NaN included).
 */
function fillValueOf(editor: GraphEditor, value: string): number | undefined {
  const t = editor.constant(value);
  if (!t || t.size !== 1 || t.dims.length > 2 || !isFloatType(t.type)) return undefined;
  const fill = toNumbers(t)[0]!;
  return Number.isNaN(fill) || Math.fround(fill) === fill ? fill : undefined;
}

/**
 * The fused node's keep mask for a Where that fills where its condition is true: the input of
 * the Not that made the condition, or else a new Not of it, placed before `before`.
 */
function keepMaskOf(editor: GraphEditor, condition: string, before: Node): string {
  const producer = editor.producer(condition);
  if (isOp(producer, 'Not')) return producer.inputs[0]!;
  const keep = editor.freshValue(`${condition}_keep`);
  const not: Node = {
    name: editor.freshName(`${condition}_not`),
    opType: 'Not',
    domain: '',
    opset: editor.opset(''),
    inputs: [condition],
    outputs: [keep],
    attributes: new Map(),
  };
  const type = editor.graph.valueTypes.get(condition);
  if (type?.kind === 'tensor') editor.graph.valueTypes.set(keep, { ...type, elemType: 'bool' });
  editor.insert(not, before);
  return keep;
}

/** Softmax over the last axis: axis -1, or the last axis of an input of known rank. */
function softmaxOverLastAxis(softmax: Node, rank: number | undefined): boolean {
  const axis = intAttribute(softmax, 'axis', softmax.opset >= 13 ? -1 : 1);
  return axis === -1 || (rank !== undefined && axis === rank - 1);
}

/**
 * Fuses MatMul(Q, Kᵀ) → scale → (+ mask, or Where(mask, ·, fill)) → Softmax → MatMul(·, V) into
 * Attention(Q, K, V, mask?), the head split and merge staying outside. A Where becomes mask_mode
 * 'select' with its constant as mask_fill, the mask made a keep mask: exact where adding -Infinity
 * is not (a masked +Infinity or NaN score stays one when added to).
 */
function fuseAttention(ctx: PassContext, softmax: Node): boolean {
  const { editor } = ctx;
  const probabilities = softmax.outputs[0]!;
  const [output, ...others] = editor.consumers(probabilities);
  if (!isOp(output, 'MatMul') || others.length > 0 || output.inputs[0] !== probabilities) return false;
  const v = output.inputs[1]!;
  const { node: masking, scores, mask, select } = splitMask(editor, softmax);
  const scaled = peelScale(editor, scores, masking ?? softmax);
  const first = editor.producer(scaled.base);
  if (!isOp(first, 'MatMul') || mask === scores) return false;
  const query = peelScale(editor, first.inputs[0]!, first);
  const key = matchKey(editor, first.inputs[1]!, first);
  const queryRank = knownRank(editor, query.base);
  const valueRank = knownRank(editor, v);
  if (queryRank === undefined || queryRank < 2 || key.rank === undefined || key.rank < 2) return false;
  if (valueRank === undefined || valueRank < 2 || !mayBeFloat(editor, query.base)) return false;
  const maskRank = mask === undefined ? 0 : knownRank(editor, mask);
  const scoresRank =
    knownRank(editor, softmax.inputs[0]!) ??
    (maskRank === undefined ? undefined : Math.max(queryRank, key.rank, maskRank));
  if (!softmaxOverLastAxis(softmax, scoresRank)) return false;

  const nodes = new Set([...query.nodes, ...key.nodes, first, ...scaled.nodes, softmax, output]);
  if (masking) nodes.add(masking);
  const inputs = [query.base, key.key, v, ...(mask === undefined ? [] : [mask])];
  if (!replaceable(editor, nodes, output, inputs)) return false;
  const scale = query.factor * key.factor * scaled.factor;
  const headSplit = key.headSplit && headSplitTranspose(editor, key.key, key.headSplit);
  if (headSplit) inputs[1] = headSplit.outputs[0]!;
  if (select && !select.keepWhereTrue) inputs[3] = keepMaskOf(editor, mask!, output);
  const attributes: Attribute[] = [
    newFloatAttribute('scale', scale),
    { name: 'transpose_k', type: 'int', value: key.transposeK ? 1 : 0 },
  ];
  if (select) {
    attributes.push({ name: 'mask_mode', type: 'string', value: 'select' });
    attributes.push(newFloatAttribute('mask_fill', select.fill));
  }
  const fused = editor.heddleNode('Attention', output.name, inputs, [output.outputs[0]!], attributes);
  const split = headSplit ? `, K Transpose '${headSplit.name}' kept to split heads` : '';
  const selected = select ? `, mask_mode 'select', mask_fill ${select.fill}` : '';
  applyFusion(
    ctx,
    nodes,
    fused,
    `Attention (scale ${scale}, transpose_k ${key.transposeK ? 1 : 0}${selected}${split})`,
  );
  if (headSplit) editor.insert(headSplit, fused);
  return true;
}

/**
 * The Transpose of K by `perm` (the fused K Transpose's moves but the last-two swap) that stays
 * outside the fused node; its output's type, when the old one's is known, is the old one with its
 * last two dims swapped back.
 */
function headSplitTranspose(editor: GraphEditor, key: string, split: { perm: number[]; from: Node }): Node {
  const output = editor.freshValue(`${key}_heads`);
  const node: Node = {
    name: editor.freshName(split.from.name),
    opType: 'Transpose',
    domain: '',
    opset: split.from.opset,
    inputs: [key],
    outputs: [output],
    attributes: new Map([['perm', { name: 'perm', type: 'ints', value: split.perm }]]),
  };
  const oldType = editor.graph.valueTypes.get(split.from.outputs[0]!);
  if (oldType?.kind === 'tensor' && oldType.shape) {
    const shape = [...oldType.shape];
    const last = shape.length - 1;
    [shape[last - 1], shape[last]] = [shape[last]!, shape[last - 1]!];
    editor.graph.valueTypes.set(output, { ...oldType, shape });
  }
  return node;
}

/** The LayerNormalization nodes Add + LayerNormalization fuses over: ai.onnx's (opset 17) and Heddle's own. */
function isLayerNormalization(node: Node): boolean {
  return node.opType === 'LayerNormalization' && (node.domain === HEDDLE_DOMAIN || node.domain === '');
}

/**
 * Add(A, B) → LayerNormalization, the residual connection before a transformer block's norm,
 * into AddLayerNormalization(A, B, Scale, Bias) → (Y, Sum): one pass over the rows where two went
 * over them (and the Add's write and read of the sum), the sum still written for the Add's other
 * readers (the next residual). A and B have the same known dims (no broadcasting), and the
 * LayerNormalization's statistics outputs are unused. The fused node takes the Add's place, so
 * the sum is there for every reader the Add had; Scale and Bias must be available there.
 */
function fuseResidualLayerNorm(ctx: PassContext, layerNorm: Node): boolean {
  const { editor } = ctx;
  const sum = layerNorm.inputs[0]!;
  const add = editor.producer(sum);
  if (!isOp(add, 'Add') || add.opset < 7 || layerNorm.outputs.slice(1).some((o) => o !== '')) return false;
  if (layerNorm.domain === '' && intAttribute(layerNorm, 'stash_type', 1) !== 1) return false;
  const [a, b] = add.inputs as [string, string];
  if (!sameKnownDims(editor.shape(a), editor.shape(b)) || !mayBeFloat(editor, a) || !mayBeFloat(editor, b))
    return false;
  const nodes = editor.graph.nodes;
  const addAt = nodes.indexOf(add);
  const params = layerNorm.inputs.slice(1).filter((v) => v !== '');
  const readyAtAdd = params.every((v) => {
    const producer = editor.producer(v);
    return producer === undefined || nodes.indexOf(producer) < addAt;
  });
  if (!readyAtAdd) return false;
  const attributes: Attribute[] = [
    { name: 'axis', type: 'int', value: intAttribute(layerNorm, 'axis', -1) },
    newFloatAttribute('epsilon', floatAttribute(layerNorm, 'epsilon', 1e-5)),
  ];
  const fused = editor.heddleNode(
    'AddLayerNormalization',
    layerNorm.name,
    [a, b, layerNorm.inputs[1] ?? '', layerNorm.inputs[2] ?? ''],
    [layerNorm.outputs[0]!, sum],
    attributes,
  );
  editor.insert(fused, add);
  editor.remove(add);
  editor.remove(layerNorm);
  ctx.record(
    `fused Add '${add.name}' + ${opLabel(layerNorm)} '${layerNorm.name}' into AddLayerNormalization`,
    [add, layerNorm],
  );
  return true;
}

export const passes: GraphPass[] = [
  {
    name: 'fuse-layer-normalization',
    level: 'extended',
    run: (ctx) => fuseEach(ctx, ['Sqrt', 'Pow'], (node) => fuseNormalization(ctx, node, true)),
  },
  {
    name: 'fuse-residual-layer-normalization',
    level: 'extended',
    run: (ctx) => rewriteEach(ctx.editor, isLayerNormalization, (node) => fuseResidualLayerNorm(ctx, node)),
  },
  {
    name: 'fuse-rms-normalization',
    level: 'extended',
    run: (ctx) => fuseEach(ctx, ['Sqrt', 'Pow'], (node) => fuseNormalization(ctx, node, false)),
  },
  {
    name: 'fuse-gelu',
    level: 'extended',
    run: (ctx) => fuseEach(ctx, ['Erf', 'Tanh'], (node) => fuseGelu(ctx, node)),
  },
  {
    name: 'fuse-attention',
    level: 'extended',
    run: (ctx) => fuseEach(ctx, ['Softmax'], (node) => fuseAttention(ctx, node)),
  },
];
