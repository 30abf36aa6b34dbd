/**
 * The float32 binary and variadic elementwise operators with numpy broadcasting, as generated loops
 * (codegen/elementwise.ts): Add, Sub, Mul, Div, Max, Min, Sum, Mean, PRelu, Where, and Pow when its
 * exponent is a constant the loop computes exactly enough (x², x³, √x, 1/x, ...; any other Pow runs
 * on the reference kernel). The operators' opsets before numpy broadcasting (legacy `broadcast`
 * and `axis` attributes) are left to the reference backend.
 */

import type { Node, ValueType } from '../../../ir/graph.js';
import {
  claimsInputCount,
  POWER_EXPONENTS,
  prepareElementwise,
  singleOp,
  type ElementInstruction,
  type ElementOp,
  type ElementwiseProgram,
  type Operand,
} from '../codegen/elementwise.js';
import { claimsFloat32, typeOf, type WasmKernelDef } from '../kernel.js';

const input = (index: number): Operand => ({ kind: 'input', index });
const result = (index: number): Operand => ({ kind: 'result', index });

function kernelName(op: string): string {
  return `elementwise_f32_${op.toLowerCase()}`;
}

function binary(op: ElementOp, since: number): WasmKernelDef {
  return {
    op,
    since,
    claims: (node, types) => claimsFloat32(node, types),
    prepare: (node, env) =>
      prepareElementwise(node, env, kernelName(op), {
        program: singleOp(op, ['float32', 'float32']),
        inputs: [0, 1],
      }),
  };
}

/**
 * A variadic operator folded left to right over its inputs (`op` of 1 input is the input itself);
 * Mean divides the sum by the count at the end.
 */
function variadic(op: 'Max' | 'Min' | 'Sum' | 'Mean', since: number): WasmKernelDef {
  const step: ElementOp = op === 'Max' || op === 'Min' ? op : 'Add';
  return {
    op,
    since,
    claims: (node, types) => {
      const fits = claimsInputCount(node.inputs.length);
      return fits === true ? claimsFloat32(node, types) : fits;
    },
    prepare: (node, env) => {
      const count = node.inputs.length;
      const instructions: ElementInstruction[] = [];
      for (let i = 1; i < count; i++) {
        const left = i === 1 ? input(0) : result(instructions.length - 1);
        instructions.push({ op: step, operands: [left, input(i)], params: [] });
      }
      if (instructions.length === 0) instructions.push({ op: 'Identity', operands: [input(0)], params: [] });
      if (op === 'Mean' && count > 1) {
        const sum = result(instructions.length - 1);
        instructions.push({ op: 'Div', operands: [sum, { kind: 'constant', value: count }], params: [] });
      }
      const program: ElementwiseProgram = { inputs: node.inputs.map(() => 'float32'), instructions };
      return prepareElementwise(node, env, kernelName(op), { program, inputs: node.inputs.map((_, i) => i) });
    },
  };
}

/** Pow with a float32 exponent that is a constant scalar of POWER_EXPONENTS; others run on reference. */
const pow: WasmKernelDef = {
  op: 'Pow',
  since: 7,
  claims: (node, types) => claimsFloat32(node, types),
  prepare: (node, env) => {
    const exponent = env.constant(node.inputs[1] ?? '');
    const value =
      exponent?.type === 'float32' && exponent.size === 1 ? (exponent.data as Float32Array)[0]! : NaN;
    if (!POWER_EXPONENTS.has(value)) return env.reference(node);
    // The exponent is read (as a scalar, once) only so that it broadcasts as Pow's operands do.
    const program: ElementwiseProgram = {
      inputs: ['float32', 'float32'],
      instructions: [{ op: 'Power', operands: [input(0)], params: [value] }],
    };
    return prepareElementwise(node, env, `${kernelName('Pow')}_${value}`, { program, inputs: [0, 1] });
  },
};

/** PRelu: the slope broadcasts to X (unidirectionally); X's shape is the output's. */
const prelu: WasmKernelDef = {
  op: 'PRelu',
  since: 7,
  claims: (node, types) => claimsFloat32(node, types),
  prepare: (node, env) =>
    prepareElementwise(node, env, kernelName('PRelu'), {
      program: singleOp('PRelu', ['float32', 'float32']),
      inputs: [0, 1],
      unidirectional: true,
    }),
};

/** Where(condition, X, Y) on a bool condition and float32 X and Y. */
const where: WasmKernelDef = {
  op: 'Where',
  since: 9,
  claims: (node: Node, types: ReadonlyMap<string, ValueType>) => {
    const condition = typeOf(types, node.inputs[0] ?? '');
    if (condition !== undefined && condition !== 'bool') return `Where's condition is ${condition}, not bool`;
    return claimsFloat32(node, types, [1, 2]);
  },
  prepare: (node, env) =>
    prepareElementwise(node, env, kernelName('Where'), {
      program: singleOp('Where', ['bool', 'float32', 'float32']),
      inputs: [0, 1, 2],
    }),
};

export const kernels: WasmKernelDef[] = [
  binary('Add', 7),
  binary('Sub', 7),
  binary('Mul', 7),
  binary('Div', 7),
  variadic('Max', 8),
  variadic('Min', 8),
  variadic('Sum', 8),
  variadic('Mean', 8),
  pow,
  prelu,
  where,
];
