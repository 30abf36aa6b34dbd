/**
 * com.heddle::ElementwiseChain on float32 as ONE generated loop: the chain's program (see the
 * reference backend's fused-elementwise.ts for its encoding) becomes an elementwise program
 * (codegen/elementwise.ts) whose intermediates stay in registers, so a chain of k operators reads
 * its inputs and writes its output once instead of k times. The module is keyed by the program, so
 * the layers of a model that repeat a chain share one.
 *
 * Instructions follow ai.onnx at the chain's INSTRUCTION_OPSET; those without a generated form
 * (the trigonometric family, Shrink, Pow with an exponent that is not a constant of
 * POWER_EXPONENTS) leave the chain to the reference backend.
 */

import { intsAttribute, type Node, type ValueType } from '../../../ir/graph.js';
import { HEDDLE_DOMAIN } from '../../../ir/graph.js';
import type { Tensor } from '../../../core/tensor.js';
import {
  claimsInputCount,
  POWER_EXPONENTS,
  prepareElementwise,
  type ElementInputType,
  type ElementInstruction,
  type ElementOp,
  type ElementwiseProgram,
  type Operand,
} from '../codegen/elementwise.js';
import { typeOf, type WasmKernelDef } from '../kernel.js';

/** A chain instruction's generated form: its op, and its float attributes with their defaults. */
interface InstructionForm {
  readonly op: ElementOp;
  readonly params: readonly (readonly [name: string, fallback: number])[];
}

const PLAIN_INSTRUCTIONS =
  'Abs Neg Sign Floor Ceil Round Sqrt Exp Log Reciprocal Erf Relu Sigmoid Softplus Softsign Tanh ' +
  'HardSwish Mish Gelu Add Sub Mul Div Max Min PRelu Where Clip';

const INSTRUCTIONS = new Map<string, InstructionForm>([
  ...PLAIN_INSTRUCTIONS.split(' ').map((op): [string, InstructionForm] => [
    op,
    { op: op as ElementOp, params: [] },
  ]),
  ['LeakyRelu', { op: 'LeakyRelu', params: [['alpha', 0.01]] }],
  ['ThresholdedRelu', { op: 'ThresholdedRelu', params: [['alpha', 1]] }],
  ['Elu', { op: 'Elu', params: [['alpha', 1]] }],
  ['Celu', { op: 'Celu', params: [['alpha', 1]] }],
  ['Swish', { op: 'Swish', params: [['alpha', 1]] }],
  [
    'Selu',
    {
      op: 'Selu',
      params: [
        ['alpha', 1.67326319217681884765625],
        ['gamma', 1.05070102214813232421875],
      ],
    },
  ],
  [
    'HardSigmoid',
    {
      op: 'HardSigmoid',
      params: [
        ['alpha', 0.2],
        ['beta', 0.5],
      ],
    },
  ],
  ['Pow', { op: 'Power', params: [] }],
]);

/** The chain's program as the node encodes it. */
interface ChainProgram {
  ops: string[];
  operands: number[][];
  attributes: Map<string, number>[];
}

function strings(node: Node, name: string): string[] | undefined {
  const attribute = node.attributes.get(name);
  return attribute?.type === 'strings' ? attribute.value : undefined;
}

/** Decodes the node's program, or says why it cannot be (the reference kernel reports bad programs). */
function decode(node: Node): ChainProgram | string {
  const ops = strings(node, 'ops');
  const counts = intsAttribute(node, 'operand_counts');
  const flat = intsAttribute(node, 'operands');
  const owners = intsAttribute(node, 'attribute_owners') ?? [];
  const names = strings(node, 'attribute_names') ?? [];
  const valuesAttribute = node.attributes.get('attribute_values');
  const values = valuesAttribute?.type === 'floats' ? valuesAttribute.value : [];
  if (!ops || !counts || !flat || ops.length === 0 || counts.length !== ops.length)
    return 'a malformed program';
  if (counts.reduce((sum, n) => sum + n, 0) !== flat.length || names.length !== owners.length) {
    return 'a malformed program';
  }
  const inputCount = node.inputs.length;
  let next = 0;
  const operands = counts.map((count) => flat.slice(next, (next += count)));
  if (operands.some((refs, j) => refs.some((ref) => ref < -1 || ref >= inputCount + j)))
    return 'a malformed program';
  const attributes = ops.map(() => new Map<string, number>());
  owners.forEach((owner, a) => attributes[owner]?.set(names[a]!, values[a] ?? NaN));
  return { ops, operands, attributes };
}

/** The reason an instruction has no generated form, if it has none. */
function unsupported(
  chain: ChainProgram,
  types: ReadonlyMap<string, ValueType>,
  node: Node,
): string | undefined {
  for (const [j, op] of chain.ops.entries()) {
    if (!INSTRUCTIONS.has(op)) return `its ${op} instruction has no generated form`;
    const refs = chain.operands[j]!;
    if (op === 'Where' && refs[0]! >= node.inputs.length)
      return `its Where's condition is computed in the chain`;
    if (op === 'Pow' && refs[1]! >= node.inputs.length) return `its Pow's exponent is computed in the chain`;
    if (refs.some((ref) => ref < 0) && op !== 'Clip') return `its ${op} has an omitted operand`;
  }
  for (const [k, name] of node.inputs.entries()) {
    const type = typeOf(types, name);
    if (type !== undefined && type !== inputType(chain, k)) return `its input '${name}' is ${type}`;
  }
  const output = typeOf(types, node.outputs[0] ?? '');
  if (output !== undefined && output !== 'float32') return `its output is ${output}`;
  return undefined;
}

/** The element type the program reads node input `k` as: bool for Where's condition, else float32. */
function inputType(chain: ChainProgram, k: number): ElementInputType {
  const condition = chain.ops.some((op, j) => op === 'Where' && chain.operands[j]![0] === k);
  return condition ? 'bool' : 'float32';
}

/**
 * The elementwise program of a chain, given the values of its Pow exponents (node inputs), or
 * undefined when an exponent is not a constant the generated code computes. Clip's bounds are read
 * as scalars; an exponent is read too, unused, so that it broadcasts as Pow's operands do.
 */
function compile(
  chain: ChainProgram,
  node: Node,
  exponent: (k: number) => number | undefined,
): { program: ElementwiseProgram; scalars: number[] } | undefined {
  const inputCount = node.inputs.length;
  const scalars = new Set<number>();
  const instructions: ElementInstruction[] = [];
  /** The program instruction holding each chain instruction's result (variadic ones take several). */
  const resultOf: number[] = [];
  const operand = (ref: number): Operand =>
    ref < inputCount ? { kind: 'input', index: ref } : { kind: 'result', index: resultOf[ref - inputCount]! };
  for (const [j, name] of chain.ops.entries()) {
    const { op, params: defaults } = INSTRUCTIONS.get(name)!;
    const refs = chain.operands[j]!;
    const params = defaults.map(([attribute, fallback]) => chain.attributes[j]!.get(attribute) ?? fallback);
    if (name === 'Pow') {
      const value = exponent(refs[1]!);
      if (value === undefined || !POWER_EXPONENTS.has(value)) return undefined;
      instructions.push({ op, operands: [operand(refs[0]!)], params: [value] });
    } else if (name === 'Clip') {
      const bounds = [refs[1] ?? -1, refs[2] ?? -1];
      bounds.forEach((ref) => ref >= 0 && ref < inputCount && scalars.add(ref));
      const [low, high] = bounds.map((ref, b): Operand =>
        ref < 0 ? { kind: 'constant', value: b === 0 ? -Infinity : Infinity } : operand(ref),
      );
      instructions.push({ op, operands: [operand(refs[0]!), low!, high!], params });
    } else if ((name === 'Max' || name === 'Min') && refs.length !== 2) {
      // Variadic: folded left to right; of one operand, the operand itself.
      let left = operand(refs[0]!);
      if (refs.length === 1) instructions.push({ op: 'Identity', operands: [left], params });
      for (const ref of refs.slice(1)) {
        instructions.push({ op, operands: [left, operand(ref)], params });
        left = { kind: 'result', index: instructions.length - 1 };
      }
    } else {
      instructions.push({ op, operands: refs.map(operand), params });
    }
    resultOf.push(instructions.length - 1);
  }
  const inputs = node.inputs.map((_, k) => inputType(chain, k));
  return { program: { inputs, instructions }, scalars: [...scalars] };
}

/** A short name of the chain for traces: `elementwise_f32_chain_div_where`. */
function chainName(chain: ChainProgram): string {
  return `elementwise_f32_chain_${chain.ops.map((op) => op.toLowerCase()).join('_')}`;
}

const elementwiseChain: WasmKernelDef = {
  domain: HEDDLE_DOMAIN,
  op: 'ElementwiseChain',
  since: 1,
  claims: (node, types) => {
    const fits = claimsInputCount(node.inputs.length);
    if (fits !== true) return fits;
    const chain = decode(node);
    if (typeof chain === 'string') return `the chain has ${chain}`;
    const reason = unsupported(chain, types, node);
    return reason === undefined ? true : `the chain: ${reason}`;
  },
  prepare: (node, env) => {
    const chain = decode(node);
    if (typeof chain === 'string') return env.reference(node);
    const exponent = (k: number): number | undefined => {
      const value: Tensor | undefined = env.constant(node.inputs[k] ?? '');
      return value?.type === 'float32' && value.size === 1 ? (value.data as Float32Array)[0] : undefined;
    };
    const compiled = compile(chain, node, exponent);
    if (!compiled) return env.reference(node);
    return prepareElementwise(node, env, chainName(chain), {
      program: compiled.program,
      inputs: node.inputs.map((_, k) => k),
      scalars: compiled.scalars,
    });
  },
};

export const kernels: WasmKernelDef[] = [elementwiseChain];
