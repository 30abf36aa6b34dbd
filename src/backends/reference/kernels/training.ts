/**
 * The optimizers of the ai.onnx.preview.training domain: Adagrad, Adam and Momentum (standard and
 * Nesterov). Each takes a learning rate R and an update count T, then n tensors to optimize
 * followed by their gradients and per-tensor state, and returns the updated tensors followed by
 * the updated state. Each tensor group is updated independently, in float64, elementwise.
 */

import type { Tensor } from '../../../core/tensor.js';
import { TRAINING_DOMAIN } from '../../../ir/graph.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { scalarNumber, toNumbers } from '../util.js';

/**
 * Splits inputs 2.. into `groups` equal lists (X, G, state...) of n tensors each and checks that
 * every tensor of a slot has the dims of its X.
 */
function optimizerInputs(
  ctx: KernelContext,
  groups: number,
): { rate: number; step: number; slots: Tensor[][] } {
  const count = ctx.inputs.length - 2;
  if (count <= 0 || count % groups !== 0) {
    ctx.fail(`expected R, T and ${groups} lists of equal length, got ${ctx.inputs.length} inputs`);
  }
  const n = count / groups;
  const lists = Array.from({ length: groups }, (_, g) =>
    Array.from({ length: n }, (_, i) => ctx.input(2 + g * n + i)),
  );
  const slots = Array.from({ length: n }, (_, i) => lists.map((list) => list[i]!));
  for (const slot of slots) {
    const x = slot[0]!;
    for (const t of slot) {
      if (t.dims.join() !== x.dims.join() || t.dims.length !== x.dims.length) {
        ctx.fail(`optimizer inputs must share dims: [${x.dims.join(', ')}] vs [${t.dims.join(', ')}]`);
      }
    }
  }
  return { rate: scalarNumber(ctx.input(0)), step: scalarNumber(ctx.input(1)), slots };
}

/**
 * Runs `update` on every element of every slot; `update` maps the slot's input elements to its
 * output elements (new X, then new state). Outputs are ordered by output kind, then by slot; those
 * the model leaves unnamed are skipped.
 */
function runOptimizer(
  ctx: KernelContext,
  slots: Tensor[][],
  update: (values: number[]) => number[],
): (Tensor | undefined)[] {
  const outputKinds = slots[0]!.length - 1;
  const outputs = new Array<Tensor | undefined>(outputKinds * slots.length);
  slots.forEach((slot, i) => {
    const inputs = slot.map((t) => toNumbers(t));
    const results = Array.from({ length: outputKinds }, () => new Float64Array(slot[0]!.size));
    for (let e = 0; e < slot[0]!.size; e++) {
      update(inputs.map((values) => values[e]!)).forEach((value, k) => (results[k]![e] = value));
    }
    results.forEach((values, k) => {
      const index = k * slots.length + i;
      // New X takes X's type; each new state takes its input state's (slot[0] is X, slot[1] G).
      const type = slot[k === 0 ? 0 : k + 1]!.type;
      if (ctx.wantsOutput(index)) outputs[index] = ctx.outputFromNumbers(index, type, values, slot[0]!.dims);
    });
  });
  return outputs;
}

function adagrad(ctx: KernelContext): (Tensor | undefined)[] {
  const { rate, step, slots } = optimizerInputs(ctx, 3);
  const decay = ctx.float('decay_factor', 0);
  const epsilon = ctx.float('epsilon', 1e-6);
  const norm = ctx.float('norm_coefficient', 0);
  const adjustedRate = rate / (1 + step * decay);
  return runOptimizer(ctx, slots, ([x, g, h]) => {
    const gradient = norm * x! + g!;
    const hNew = h! + gradient * gradient;
    return [x! - (adjustedRate * gradient) / (Math.sqrt(hNew) + epsilon), hNew];
  });
}

function adam(ctx: KernelContext): (Tensor | undefined)[] {
  const { rate, step, slots } = optimizerInputs(ctx, 4);
  const alpha = ctx.float('alpha', 0.9);
  const beta = ctx.float('beta', 0.999);
  const epsilon = ctx.float('epsilon', 1e-6);
  const norm = ctx.float('norm_coefficient', 0);
  const normPost = ctx.float('norm_coefficient_post', 0);
  // Bias correction of the two moment estimates applies once updates have started.
  const adjustedRate = step > 0 ? (rate * Math.sqrt(1 - beta ** step)) / (1 - alpha ** step) : rate;
  return runOptimizer(ctx, slots, ([x, g, v, h]) => {
    const gradient = norm * x! + g!;
    const vNew = alpha * v! + (1 - alpha) * gradient;
    const hNew = beta * h! + (1 - beta) * gradient * gradient;
    const xNew = x! - (adjustedRate * vNew) / (Math.sqrt(hNew) + epsilon);
    return [(1 - normPost) * xNew, vNew, hNew];
  });
}

function momentum(ctx: KernelContext): (Tensor | undefined)[] {
  const { rate, step, slots } = optimizerInputs(ctx, 3);
  const alpha = ctx.float('alpha');
  const norm = ctx.float('norm_coefficient');
  const beta = ctx.float('beta');
  const mode = ctx.string('mode');
  if (mode !== 'standard' && mode !== 'nesterov') {
    ctx.fail(`mode must be 'standard' or 'nesterov', got '${mode}'`);
  }
  // The first update takes the whole gradient.
  const gradientWeight = step > 0 ? beta : 1;
  return runOptimizer(ctx, slots, ([x, g, v]) => {
    const gradient = norm * x! + g!;
    const vNew = alpha * v! + gradientWeight * gradient;
    const direction = mode === 'standard' ? vNew : gradient + alpha * vNew;
    return [x! - rate * direction, vNew];
  });
}

export const kernels: KernelDef[] = [
  { domain: TRAINING_DOMAIN, op: 'Adagrad', since: 1, run: adagrad },
  { domain: TRAINING_DOMAIN, op: 'Adam', since: 1, run: adam },
  { domain: TRAINING_DOMAIN, op: 'Momentum', since: 1, run: momentum },
];
