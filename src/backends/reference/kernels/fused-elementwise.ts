/**
 * com.heddle::ElementwiseChain, the node the elementwise-chain pass makes of a tree of elementwise
 * operators, and `runStandardKernel`, with which every fused kernel runs the standard kernels of
 * the steps it stands for.
 *
 * A chain carries its computation as a small program in plain ONNX attributes:
 * - `ops` (strings): each instruction's ai.onnx operator, in the order they run;
 * - `operand_counts` (ints) and `operands` (ints, all instructions' operands in a row): operand
 *   k < n is the node's input k (of n), n + j the result of instruction j, and -1 an omitted
 *   optional operand;
 * - `attribute_owners` (ints), `attribute_names` (strings), `attribute_values` (floats): the
 *   instructions' (float) attributes, each with the index of the instruction it belongs to.
 * The last instruction's result is the output. The reference kernel runs each instruction's
 * standard kernel on whole tensors, so a chain broadcasts and rounds to its element type after
 * every step exactly as the unfused operators do, and gives their results bit for bit; what the
 * fusion saves is left to backends that compile the program into one pass over the elements.
 */

import { allocateStorage } from '../../../core/dtype.js';
import { Tensor } from '../../../core/tensor.js';
import { HEDDLE_DOMAIN, type Attribute, type Node } from '../../../ir/graph.js';
import { KernelContext, type KernelDef } from '../kernel.js';
import { shapeSize } from '../util.js';
import { kernels as activation } from './activation.js';
import { kernels as binary } from './binary.js';
import { kernels as unary } from './unary.js';

/**
 * The ai.onnx opset whose semantics the instructions follow: numpy broadcasting for the binary
 * operators, Clip's bounds as inputs.
 */
export const INSTRUCTION_OPSET = 21;

/**
 * The operators a chain may hold, each with the first opset from which a node of it computes what
 * the instruction (run at INSTRUCTION_OPSET) computes: earlier binary operators broadcast only when
 * asked, earlier Max and Min need equal shapes, earlier PRelu slopes are per channel, earlier Clip
 * takes its bounds as attributes.
 */
export const CHAIN_OPS: ReadonlyMap<string, number> = new Map([
  ...words(
    'Abs Neg Sign Floor Ceil Round Sqrt Exp Log Reciprocal Erf Sin Cos Tan Asin Acos Atan Sinh Cosh Asinh ' +
      'Acosh Atanh Relu LeakyRelu ThresholdedRelu Elu Selu Celu Sigmoid HardSigmoid HardSwish Softplus ' +
      'Softsign Tanh Gelu Mish Swish Shrink Where',
  ).map((op): [string, number] => [op, 1]),
  ...words('Add Sub Mul Div Pow PRelu').map((op): [string, number] => [op, 7]),
  ...words('Max Min').map((op): [string, number] => [op, 8]),
  ['Clip', 11],
]);

function words(list: string): string[] {
  return list.split(' ');
}

const INSTRUCTION_KERNELS: ReadonlyMap<string, KernelDef> = new Map(
  [...unary, ...activation, ...binary]
    .filter((def) => (def.domain ?? '') === '' && CHAIN_OPS.has(def.op))
    .map((def) => [def.op, def]),
);

/** One step of a fused node: a standard kernel, the opset it runs at, its inputs and attributes. */
export interface StandardStep {
  kernel: KernelDef;
  opset: number;
  inputs: readonly (Tensor | undefined)[];
  attributes?: readonly Attribute[];
  /** The step computes the fused node's output, so it may write where the plan put that output. */
  last?: boolean;
}

/**
 * Runs a standard kernel as one step of the fused node `ctx` runs: its errors name the fused
 * node, and its one output is returned. Only the last step writes into the fused node's output
 * memory; the others get memory of their own.
 */
export function runStandardKernel(ctx: KernelContext, step: StandardStep): Tensor {
  const { kernel, opset, inputs, attributes = [], last = false } = step;
  const node: Node = {
    name: ctx.node.name,
    opType: kernel.op,
    domain: kernel.domain ?? '',
    opset,
    // Kernels read values from the context; the names only tell which inputs are present.
    inputs: inputs.map((t, i) => (t ? `${ctx.node.name}:${kernel.op}:${i}` : '')),
    outputs: [ctx.node.outputs[0] ?? ''],
    attributes: new Map(attributes.map((a) => [a.name, a])),
  };
  const stepContext = new KernelContext(node, {
    inputs,
    site: ctx.site,
    runSubgraph: (graph, values) => ctx.runSubgraph(graph, values),
    allocateOutput: (index, type, dims) =>
      last ? ctx.output(index, type, dims) : new Tensor(type, allocateStorage(type, shapeSize(dims)), dims),
  });
  const [result] = kernel.run(stepContext);
  if (!(result instanceof Tensor)) ctx.fail(`its ${kernel.op} step did not give a tensor`);
  return result;
}

interface Instruction {
  kernel: KernelDef;
  operands: number[];
  attributes: Attribute[];
}

/** Decodes and checks the program: known operators, operands that exist before they are used. */
function readProgram(ctx: KernelContext): Instruction[] {
  const ops = ctx.strings('ops');
  const counts = ctx.ints('operand_counts');
  const operands = ctx.ints('operands');
  const owners = ctx.ints('attribute_owners', []);
  const names = ctx.strings('attribute_names', []);
  const values = ctx.floats('attribute_values', []);
  if (ops.length === 0) ctx.fail('the program has no instructions');
  if (counts.length !== ops.length) {
    ctx.fail(`operand_counts has ${counts.length} entries for ${ops.length} instructions`);
  }
  if (counts.reduce((sum, n) => sum + n, 0) !== operands.length || counts.some((n) => n < 0)) {
    ctx.fail(`operand_counts [${counts.join(', ')}] do not add up to the ${operands.length} operands`);
  }
  if (names.length !== owners.length || values.length !== owners.length) {
    ctx.fail('attribute_owners, attribute_names and attribute_values must have one entry per attribute');
  }
  const inputCount = ctx.node.inputs.length;
  let next = 0;
  return ops.map((op, j) => {
    const kernel = INSTRUCTION_KERNELS.get(op) ?? ctx.fail(`instruction ${j}: '${op}' cannot be chained`);
    const refs = operands.slice(next, (next += counts[j]!));
    const bad = refs.find((ref) => ref < -1 || ref >= inputCount + j);
    if (bad !== undefined) ctx.fail(`instruction ${j}: operand ${bad} is not defined before it`);
    const attributes = owners.flatMap((owner, a): Attribute[] =>
      owner === j ? [{ name: names[a]!, type: 'float', value: values[a]! }] : [],
    );
    return { kernel, operands: refs, attributes };
  });
}

function elementwiseChain(ctx: KernelContext): Tensor[] {
  const program = readProgram(ctx);
  const values: (Tensor | undefined)[] = ctx.node.inputs.map((_, i) => ctx.optionalInput(i));
  program.forEach(({ kernel, operands, attributes }, j) => {
    const inputs = operands.map((ref) => (ref < 0 ? undefined : values[ref]));
    const last = j === program.length - 1;
    values.push(runStandardKernel(ctx, { kernel, opset: INSTRUCTION_OPSET, inputs, attributes, last }));
  });
  return [values[values.length - 1]!];
}

export const kernels: KernelDef[] = [
  { domain: HEDDLE_DOMAIN, op: 'ElementwiseChain', since: 1, run: elementwiseChain },
];
