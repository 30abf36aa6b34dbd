/**
 * com.heddle::FusedConv, FusedGemm and FusedMatMul: a Conv, Gemm or MatMul together with the bias
 * Add and the activation that followed it, as the linear-activation fusion makes them.
 *
 * Attributes: the base operator's own, plus `activation` (absent for none) and `activation_params`
 * (floats). The activations are Relu, Sigmoid, Tanh, HardSwish, LeakyRelu [alpha],
 * HardSigmoid [alpha, beta], Clip [min, max], Gelu (the erf form), FastGelu (the tanh form) and
 * SiLU (x * Sigmoid(x)). FusedGemm and FusedMatMul take, after the base operator's inputs (Gemm's
 * C in place even when omitted), an optional 1-D bias added along the last axis.
 *
 * Each kernel runs the standard kernels of the steps it replaces, one after the other, so its
 * results are the unfused nodes' bit for bit.
 */

import type { Tensor } from '../../../core/tensor.js';
import { HEDDLE_DOMAIN, type Attribute } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { fromNumbers } from '../util.js';
import { kernels as activation } from './activation.js';
import { kernels as binary } from './binary.js';
import { kernels as conv } from './conv.js';
import { INSTRUCTION_OPSET, runStandardKernel, type StandardStep } from './fused-elementwise.js';
import { kernels as matmul } from './matmul.js';

/** The attributes the fusion adds to the base operator's. */
const ACTIVATION_ATTRIBUTES: ReadonlySet<string> = new Set(['activation', 'activation_params']);

function standardKernel(op: string): KernelDef {
  const def = [...activation, ...binary, ...conv, ...matmul].find(
    (k) => (k.domain ?? '') === '' && k.op === op,
  );
  if (!def) throw new Error(`no standard ${op} kernel`);
  return def;
}

const KERNELS = {
  Add: standardKernel('Add'),
  Mul: standardKernel('Mul'),
  Relu: standardKernel('Relu'),
  Sigmoid: standardKernel('Sigmoid'),
  Tanh: standardKernel('Tanh'),
  HardSwish: standardKernel('HardSwish'),
  LeakyRelu: standardKernel('LeakyRelu'),
  HardSigmoid: standardKernel('HardSigmoid'),
  Clip: standardKernel('Clip'),
  Gelu: standardKernel('Gelu'),
};

/** An activation: the names of its activation_params, and how it runs on the linear result. */
interface Activation {
  params: readonly string[];
  apply: (ctx: KernelContext, y: Tensor, params: readonly number[]) => Tensor;
}

/** An activation's step: the last one, computing the fused node's output. */
function activationStep(
  kernel: KernelDef,
  inputs: readonly (Tensor | undefined)[],
  attributes: readonly Attribute[] = [],
): StandardStep {
  return { kernel, opset: INSTRUCTION_OPSET, inputs, attributes, last: true };
}

/** An activation that is one standard operator whose float attributes are the params, in order. */
function standardActivation(kernel: KernelDef, params: readonly string[] = []): Activation {
  return {
    params,
    apply: (ctx, y, values) => {
      const attributes = params.map((name, i): Attribute => ({ name, type: 'float', value: values[i]! }));
      return runStandardKernel(ctx, activationStep(kernel, [y], attributes));
    },
  };
}

function gelu(approximate: string): Activation {
  const attributes: Attribute[] = [{ name: 'approximate', type: 'string', value: approximate }];
  return {
    params: [],
    apply: (ctx, y) => runStandardKernel(ctx, activationStep(KERNELS.Gelu, [y], attributes)),
  };
}

const clip: Activation = {
  params: ['min', 'max'],
  apply: (ctx, y, [min, max]) => {
    const bound = (v: number) => fromNumbers(y.type, [v], []);
    return runStandardKernel(ctx, activationStep(KERNELS.Clip, [y, bound(min!), bound(max!)]));
  },
};

const silu: Activation = {
  params: [],
  apply: (ctx, y) => {
    const gate = runStandardKernel(ctx, { kernel: KERNELS.Sigmoid, opset: INSTRUCTION_OPSET, inputs: [y] });
    return runStandardKernel(ctx, activationStep(KERNELS.Mul, [y, gate]));
  },
};

const ACTIVATIONS: ReadonlyMap<string, Activation> = new Map([
  ['Relu', standardActivation(KERNELS.Relu)],
  ['Sigmoid', standardActivation(KERNELS.Sigmoid)],
  ['Tanh', standardActivation(KERNELS.Tanh)],
  ['HardSwish', standardActivation(KERNELS.HardSwish)],
  ['LeakyRelu', standardActivation(KERNELS.LeakyRelu, ['alpha'])],
  ['HardSigmoid', standardActivation(KERNELS.HardSigmoid, ['alpha', 'beta'])],
  ['Clip', clip],
  ['Gelu', gelu('none')],
  ['FastGelu', gelu('tanh')],
  ['SiLU', silu],
]);

/** The activation the node names with its params, or undefined for none. */
function chosenActivation(ctx: KernelContext): { activation: Activation; params: number[] } | undefined {
  if (!ctx.has('activation')) return undefined;
  const name = ctx.string('activation');
  const activation = ACTIVATIONS.get(name) ?? ctx.fail(`unknown activation '${name}'`);
  const params = ctx.floats('activation_params', []);
  if (params.length !== activation.params.length) {
    const names = activation.params.length > 0 ? ` (${activation.params.join(', ')})` : '';
    ctx.fail(
      `activation ${name} takes ${activation.params.length} activation_params${names}, got ${params.length}`,
    );
  }
  return { activation, params };
}

/** y + bias, the bias 1-D and of y's last dim (or of one element), so that it runs along y's last axis. */
function addBias(ctx: KernelContext, y: Tensor, bias: Tensor, last: boolean): Tensor {
  const columns = y.dims[y.dims.length - 1];
  if (bias.dims.length !== 1 || (bias.dims[0] !== 1 && bias.dims[0] !== columns)) {
    ctx.fail(
      `bias of dims [${bias.dims.join(', ')}] does not run along the last axis of [${y.dims.join(', ')}]`,
    );
  }
  return runStandardKernel(ctx, { kernel: KERNELS.Add, opset: INSTRUCTION_OPSET, inputs: [y, bias], last });
}

/**
 * A fused operator over `base` (run at `baseOpset`, from which its semantics have not changed),
 * whose first `arity` inputs are the base operator's; with `takesBias`, input `arity` is the bias.
 */
function fusedLinear(
  op: string,
  base: KernelDef,
  baseOpset: number,
  arity: number,
  takesBias: boolean,
): KernelDef {
  return {
    domain: HEDDLE_DOMAIN,
    op,
    since: 1,
    run: (ctx) => {
      const activation = chosenActivation(ctx);
      const bias = takesBias ? ctx.optionalInput(arity) : undefined;
      const y = runStandardKernel(ctx, {
        kernel: base,
        opset: baseOpset,
        inputs: Array.from({ length: arity }, (_, i) => ctx.optionalInput(i)),
        attributes: [...ctx.node.attributes.values()].filter((a) => !ACTIVATION_ATTRIBUTES.has(a.name)),
        last: !bias && !activation,
      });
      const biased = bias ? addBias(ctx, y, bias, !activation) : y;
      return [activation ? activation.activation.apply(ctx, biased, activation.params) : biased];
    },
  };
}

export const kernels: KernelDef[] = [
  fusedLinear('FusedConv', standardKernel('Conv'), 11, 3, false),
  fusedLinear('FusedGemm', standardKernel('Gemm'), 13, 3, true),
  fusedLinear('FusedMatMul', standardKernel('MatMul'), 13, 2, true),
];
