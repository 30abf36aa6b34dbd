/**
 * The float32 unary elementwise operators as generated loops (codegen/elementwise.ts): the
 * activations (Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Elu, Selu, Celu, Softplus,
 * Softsign, ThresholdedRelu, Mish, Swish, Gelu of ai.onnx and com.heddle), the transcendentals
 * (Exp, Log, Erf), and Sqrt, Abs, Neg, Reciprocal, Floor, Ceil, Round, Sign and Clip. Each is a
 * one-instruction program; its attributes are baked into the code. Clip's bounds (inputs from
 * opset 11) are read as scalars by the same loop.
 */

import { floatAttribute, HEDDLE_DOMAIN, type Node, stringAttribute } from '../../../ir/graph.js';
import {
  prepareElementwise,
  singleOp,
  type ElementInputType,
  type ElementOp,
  type ElementwiseProgram,
  type Operand,
} from '../codegen/elementwise.js';
import { claimsFloat32, type WasmKernelDef } from '../kernel.js';

const FLOAT32_MAX = 3.4028234663852886e38;

/** A unary ai.onnx operator: the first opset it exists in, and its params from its attributes. */
function unary(op: ElementOp, since: number, params: (node: Node) => number[] = () => []): WasmKernelDef {
  return {
    op,
    since,
    claims: (node, types) => claimsFloat32(node, types),
    prepare: (node, env) =>
      prepareElementwise(node, env, `elementwise_f32_${op.toLowerCase()}`, {
        program: singleOp(op, ['float32'], params(node)),
        inputs: [0],
      }),
  };
}

/** Gelu's form by its `approximate` attribute: 'none' (erf) or 'tanh'. */
function gelu(domain: string, since: number): WasmKernelDef {
  return {
    domain,
    op: 'Gelu',
    since,
    claims: (node, types) => {
      const approximate = stringAttribute(node, 'approximate', 'none');
      if (approximate !== 'none' && approximate !== 'tanh')
        return `Gelu's approximate '${approximate}' is unknown`;
      return claimsFloat32(node, types);
    },
    prepare: (node, env) => {
      const op = stringAttribute(node, 'approximate', 'none') === 'tanh' ? 'FastGelu' : 'Gelu';
      return prepareElementwise(node, env, `elementwise_f32_${op.toLowerCase()}`, {
        program: singleOp(op, ['float32']),
        inputs: [0],
      });
    },
  };
}

/**
 * Clip: bounds as attributes before opset 11 (±FLT_MAX by default), as optional scalar inputs
 * after, where a missing bound is ∓Infinity.
 */
const clip: WasmKernelDef = {
  op: 'Clip',
  since: 1,
  claims: (node, types) => claimsFloat32(node, types),
  prepare: (node, env) => {
    const name = 'elementwise_f32_clip';
    if (node.opset < 11) {
      const params = [floatAttribute(node, 'min', -FLOAT32_MAX), floatAttribute(node, 'max', FLOAT32_MAX)];
      return prepareElementwise(node, env, name, {
        program: singleOp('Clip', ['float32'], params),
        inputs: [0],
      });
    }
    const inputs = [0];
    const inputTypes: ElementInputType[] = ['float32'];
    const operands: Operand[] = [{ kind: 'input', index: 0 }];
    [1, 2].forEach((index) => {
      if ((node.inputs[index] ?? '') === '') {
        operands.push({ kind: 'constant', value: index === 1 ? -Infinity : Infinity });
        return;
      }
      operands.push({ kind: 'input', index: inputs.length });
      inputs.push(index);
      inputTypes.push('float32');
    });
    const program: ElementwiseProgram = {
      inputs: inputTypes,
      instructions: [{ op: 'Clip', operands, params: [] }],
    };
    return prepareElementwise(node, env, name, {
      program,
      inputs,
      scalars: inputs.slice(1).map((_, k) => k + 1),
    });
  },
};

const alpha = (fallback: number) => (node: Node) => [floatAttribute(node, 'alpha', fallback)];

export const kernels: WasmKernelDef[] = [
  unary('Relu', 1),
  unary('LeakyRelu', 1, alpha(0.01)),
  unary('Sigmoid', 1),
  unary('Tanh', 1),
  unary('Exp', 1),
  unary('Log', 1),
  unary('Sqrt', 1),
  unary('Abs', 1),
  unary('Neg', 1),
  unary('Reciprocal', 1),
  unary('Floor', 1),
  unary('Ceil', 1),
  unary('Round', 11),
  unary('Sign', 9),
  unary('Erf', 9),
  unary('Softplus', 1),
  unary('Softsign', 1),
  unary('HardSigmoid', 1, (node) => [floatAttribute(node, 'alpha', 0.2), floatAttribute(node, 'beta', 0.5)]),
  unary('HardSwish', 14),
  unary('Elu', 1, alpha(1)),
  unary('Selu', 1, (node) => [
    floatAttribute(node, 'alpha', 1.67326319217681884765625),
    floatAttribute(node, 'gamma', 1.05070102214813232421875),
  ]),
  unary('Celu', 12, alpha(1)),
  unary('ThresholdedRelu', 10, alpha(1)),
  unary('Mish', 18),
  unary('Swish', 24, alpha(1)),
  gelu('', 20),
  gelu(HEDDLE_DOMAIN, 1),
  clip,
];
