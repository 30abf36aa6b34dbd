/**
 * Which outputs of a conformance case are random draws, and the properties they are checked by.
 * ONNX's expected outputs for random operators are numpy's draws, which no other generator
 * reproduces, so such an output is compared by what every draw must satisfy (shape, type, range,
 * Dropout's scaling and mask) instead of by value. The decision comes from the model's nodes and
 * the data set's feeds, never from the case's name: an output is random when a random operator,
 * or Dropout in training mode, produces it or when it is computed from one of theirs.
 */

import { Tensor } from '../core/tensor.js';
import { floatAttribute, subgraphsOf, type Graph, type Node } from '../ir/graph.js';
import type { OnnxValue } from '../runtime/session.js';
import { toNumbers } from '../backends/reference/util.js';
import { GraphEditor, isOp, isRandom } from '../passes/graph-edit.js';
import { typeOrDimsMismatch, type Tolerance } from './runner.js';

export interface PropertyCheck {
  /** What the output is and what is checked, e.g. "Bernoulli's draws: shape, type, values in {0, 1}". */
  description: string;
  /**
   * The first property `actual` breaks, or undefined. `outputs` holds every actual output of the
   * run by name, for properties that relate two outputs (Dropout's mask and its output).
   */
  check(
    actual: OnnxValue,
    expected: OnnxValue,
    outputs: Readonly<Record<string, OnnxValue>>,
  ): string | undefined;
}

/** Operators whose output is a boolean, so 0 or 1 whatever their inputs drew. */
const BOOLEAN_OPS = new Set([
  'Equal',
  'Greater',
  'GreaterOrEqual',
  'Less',
  'LessOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);

/** Operators that pass a 0-or-1 value on as 0 or 1. */
const ZERO_ONE_PRESERVING_OPS = new Set(['Cast', 'CastLike', 'Identity']);

/**
 * The property checks for the graph's random outputs, by output name, for one data set: whether
 * a Dropout trains, and what its input and ratio are, may come from the feeds.
 */
export function propertyChecks(
  graph: Graph,
  feeds: Readonly<Record<string, OnnxValue>>,
  tolerance: Tolerance,
): Map<string, PropertyCheck> {
  const model = new ModelValues(graph, feeds);
  const fromRandom = new Map<string, Node>();
  for (const node of graph.nodes) {
    const source = drawsRandomly(node, model)
      ? node
      : node.inputs.map((n) => fromRandom.get(n)).find(Boolean);
    if (source) for (const output of node.outputs) if (output) fromRandom.set(output, source);
  }
  const checks = new Map<string, PropertyCheck>();
  for (const { name } of graph.outputs) {
    const source = fromRandom.get(name);
    if (!source) continue;
    const producer = model.producer(name)!;
    const check =
      producer === source ? drawCheck(producer, name, model, tolerance) : derivedCheck(source, name, model);
    checks.set(name, check);
  }
  return checks;
}

/** The model's nodes by output, and the values known before running it. */
class ModelValues {
  private readonly editor: GraphEditor;

  constructor(
    private readonly graph: Graph,
    private readonly feeds: Readonly<Record<string, OnnxValue>>,
  ) {
    this.editor = new GraphEditor(graph);
  }

  producer(name: string): Node | undefined {
    return this.editor.producer(name);
  }

  /** A fed, initializer or Constant value; undefined for what only running the graph computes. */
  known(name: string): Tensor | undefined {
    const fed = this.feeds[name];
    if (fed instanceof Tensor) return fed;
    // An overridable initializer the data set leaves unfed keeps its value: `constant` leaves it out.
    return this.graph.initializers.get(name) ?? this.editor.constant(name);
  }

  /** A known scalar as a number; NaN when it is computed in the graph. */
  knownScalar(name: string): number {
    const tensor = this.known(name);
    return tensor && tensor.size === 1 ? toNumbers(tensor)[0]! : NaN;
  }

  /** Whether the value is 0 or 1 whatever was drawn: a boolean, or one cast from a boolean. */
  isZeroOrOne(name: string): boolean {
    const node = this.editor.producer(name);
    if (!node || node.domain !== '') return false;
    if (BOOLEAN_OPS.has(node.opType) || node.opType === 'Bernoulli') return true;
    return ZERO_ONE_PRESERVING_OPS.has(node.opType) && this.isZeroOrOne(node.inputs[0]!);
  }
}

/** Whether the node draws, itself or in its subgraphs. */
function drawsRandomly(node: Node, model?: ModelValues): boolean {
  if (isOp(node, 'Dropout')) return dropoutTrains(node, model);
  if (isRandom(node)) return true;
  return subgraphsOf(node).some((graph) => graph.nodes.some((inner) => drawsRandomly(inner)));
}

/**
 * Dropout draws only in training mode (its `training_mode` input, from opset 12) with a ratio
 * above 0: at ratio 0 it keeps every element, so its outputs compare by value. A mode or ratio
 * computed in the graph (or in a subgraph, where `model` is absent) may draw, so it counts.
 */
function dropoutTrains(node: Node, model: ModelValues | undefined): boolean {
  const mode = node.inputs[2];
  if (node.opset < 12 || !mode) return false;
  const training = model ? model.knownScalar(mode) : NaN;
  return training !== 0 && dropoutRatio(node, model) !== 0;
}

/** Dropout's ratio: 0.5 when the input is omitted, NaN when it is computed in the graph. */
function dropoutRatio(node: Node, model: ModelValues | undefined): number {
  const ratio = node.inputs[1];
  if (!ratio) return 0.5;
  return model ? model.knownScalar(ratio) : NaN;
}

/** The check of an output a random node produced itself. */
function drawCheck(node: Node, output: string, model: ModelValues, tolerance: Tolerance): PropertyCheck {
  switch (node.opType) {
    case 'Bernoulli':
      return bernoulliCheck(model.known(node.inputs[0]!));
    case 'RandomUniform':
    case 'RandomUniformLike':
      return uniformCheck(node);
    case 'Multinomial':
      return multinomialCheck(model.known(node.inputs[0]!));
    case 'Dropout':
      return dropoutCheck(node, output, model, tolerance);
    case 'RandomNormal':
    case 'RandomNormalLike':
      return {
        description: `${node.opType}'s draws: shape, type, finite values`,
        check: elementwise((v) => (Number.isFinite(v) ? undefined : 'is not finite')),
      };
    default:
      // A control-flow node whose subgraph draws: its outputs are computed from those draws.
      return derivedCheck(node, output, model);
  }
}

/** The check of an output computed from draws by other nodes: only what those nodes guarantee. */
function derivedCheck(source: Node, output: string, model: ModelValues): PropertyCheck {
  const from = `computed from the draws of ${source.opType}`;
  if (model.isZeroOrOne(output)) {
    return { description: `${from}: shape, type, values in {0, 1}`, check: elementwise(zeroOrOne) };
  }
  return { description: `${from}: shape, type`, check: elementwise(() => undefined) };
}

function zeroOrOne(value: number): string | undefined {
  return value === 0 || value === 1 ? undefined : 'is neither 0 nor 1';
}

/** Bernoulli: 0 or 1, and certainly 0 (1) where the probability is 0 (1). */
function bernoulliCheck(probabilities: Tensor | undefined): PropertyCheck {
  const p = probabilities && toNumbers(probabilities);
  return {
    description: "Bernoulli's draws: shape, type, values in {0, 1}, 0 where p = 0 and 1 where p = 1",
    check: elementwise((value, i) => {
      const certain = p && (p[i] === 0 || p[i] === 1);
      return certain && value !== p[i] ? `is not ${p[i]}, though that is its probability` : zeroOrOne(value);
    }),
  };
}

/** RandomUniform(Like): in [low, high); high itself only where rounding to a narrower float reaches it. */
function uniformCheck(node: Node): PropertyCheck {
  const low = floatAttribute(node, 'low', 0);
  const high = floatAttribute(node, 'high', 1);
  return {
    description: `${node.opType}'s draws: shape, type, values in [${low}, ${high})`,
    check: elementwise((value, _, tensor) =>
      value >= low && (value < high || (value === high && tensor.type !== 'float64'))
        ? undefined
        : `is outside [${low}, ${high})`,
    ),
  };
}

/** Multinomial: class indices, below the class count where the input's shape is known. */
function multinomialCheck(logits: Tensor | undefined): PropertyCheck {
  const classes = logits?.dims[1] ?? Infinity;
  const range = logits ? `[0, ${classes})` : '(the class count is computed in the graph)';
  return {
    description: `Multinomial's draws: shape, type, class indices ${range}`,
    check: elementwise((value) =>
      Number.isInteger(value) && value >= 0 && value < classes ? undefined : 'is not a class index',
    ),
  };
}

/**
 * Dropout in training: each output element is 0 or x / (1 - ratio), and the mask is true exactly
 * where the output kept the input. Without a known input or ratio only shape and type are checked.
 */
function dropoutCheck(node: Node, output: string, model: ModelValues, tolerance: Tolerance): PropertyCheck {
  const x = model.known(node.inputs[0]!);
  const ratio = dropoutRatio(node, model);
  const isMask = output === node.outputs[1];
  if (!x || Number.isNaN(ratio)) {
    const what = isMask ? 'mask' : 'output';
    return { description: `Dropout's ${what} in training: shape, type`, check: elementwise(() => undefined) };
  }
  const scaled = Array.from(toNumbers(x), (v) => v / (1 - ratio));
  const kept = (y: number, i: number) =>
    Math.abs(y - scaled[i]!) <= tolerance.atol + tolerance.rtol * Math.abs(scaled[i]!);
  if (!isMask) {
    return {
      description: `Dropout's output in training (ratio ${ratio}): shape, type, each element 0 or x / (1 - ratio)`,
      check: elementwise((y, i) => (y === 0 || kept(y, i) ? undefined : `is neither 0 nor ${scaled[i]}`)),
    };
  }
  return {
    description: "Dropout's mask in training: shape, type, true exactly where the output kept the input",
    check: (actual, expected, outputs) => {
      const y = outputs[node.outputs[0]!];
      const values = y instanceof Tensor ? toNumbers(y) : undefined;
      return elementwise((mask, i) => {
        if (mask !== 0 && mask !== 1) return 'is neither true nor false';
        if (!values) return undefined;
        if (mask === 1 && !kept(values[i]!, i))
          return `is true, but the output is ${values[i]}, not ${scaled[i]}`;
        return mask === 0 && values[i] !== 0 ? `is false, but the output is ${values[i]}, not 0` : undefined;
      })(actual, expected);
    },
  };
}

/** A check of shape and type, then of each element by `property` (a complaint, or undefined). */
function elementwise(
  property: (value: number, index: number, tensor: Tensor) => string | undefined,
): (actual: OnnxValue, expected: OnnxValue) => string | undefined {
  return (actual, expected) => {
    if (!(expected instanceof Tensor)) return 'the expected value is not a tensor';
    if (!(actual instanceof Tensor)) return 'expected a tensor';
    const mismatch = typeOrDimsMismatch(actual, expected);
    if (mismatch) return mismatch;
    const values = toNumbers(actual);
    for (let i = 0; i < values.length; i++) {
      const complaint = property(values[i]!, i, actual);
      if (complaint) return `element ${i} (${values[i]}) ${complaint}`;
    }
    return undefined;
  };
}
