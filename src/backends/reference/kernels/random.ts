/**
 * Random generators: RandomUniform, RandomNormal, their `Like` variants, Bernoulli and
 * Multinomial. A node with a `seed` attribute draws from a generator seeded by it afresh on every
 * run, so its outputs repeat from run to run; without one the generator is seeded at random.
 * Heddle's streams are its own: they do not reproduce numpy's or onnxruntime's numbers.
 */

import { dataTypeFromOnnx, isFloatType, type DataType } from '../../../core/dtype.js';
import type { Tensor } from '../../../core/tensor.js';
import { seededRandom } from '../../../core/random.js';
import type { KernelContext, KernelDef } from '../kernel.js';
import { shapeSize, toNumbers } from '../util.js';

/** A uniform generator on [0, 1). */
type Uniform = () => number;

/** The node's generator: seeded from all 64 bits of the float `seed`, so nearby seeds differ. */
function generatorFor(ctx: KernelContext): Uniform {
  if (!ctx.has('seed')) return seededRandom(Math.floor(Math.random() * 4294967296));
  const words = new Uint32Array(new Float64Array([ctx.float('seed')]).buffer);
  return seededRandom(Math.imul(words[0]!, 0x9e3779b1) ^ words[1]!);
}

/** A standard normal draw (Box–Muller). */
function normal(uniform: Uniform): number {
  const u = 1 - uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

/** The `dtype` attribute, or `fallback` when absent; must name one of `allowed`. */
function outputType(ctx: KernelContext, fallback: DataType, allowed: (type: DataType) => boolean): DataType {
  const type = ctx.has('dtype') ? dataTypeFromOnnx(ctx.int('dtype')) : fallback;
  if (type === undefined || !allowed(type)) {
    ctx.fail(`output type ${type ?? `code ${ctx.int('dtype')}`} is not allowed for this operator`);
  }
  return type;
}

function checkedShape(ctx: KernelContext): number[] {
  const shape = ctx.ints('shape');
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    ctx.fail(`shape [${shape.join(', ')}] has a negative dim`);
  }
  return shape;
}

function uniformTensor(ctx: KernelContext, type: DataType, dims: readonly number[]): Tensor {
  const low = ctx.float('low', 0);
  const high = ctx.float('high', 1);
  const draw = generatorFor(ctx);
  const values = Float64Array.from({ length: shapeSize(dims) }, () => low + (high - low) * draw());
  return ctx.outputFromNumbers(0, type, values, dims);
}

function normalTensor(ctx: KernelContext, type: DataType, dims: readonly number[]): Tensor {
  const mean = ctx.float('mean', 0);
  const scale = ctx.float('scale', 1);
  const draw = generatorFor(ctx);
  const values = Float64Array.from({ length: shapeSize(dims) }, () => mean + scale * normal(draw));
  return ctx.outputFromNumbers(0, type, values, dims);
}

function randomUniform(ctx: KernelContext): Tensor[] {
  return [uniformTensor(ctx, outputType(ctx, 'float32', isFloatType), checkedShape(ctx))];
}

function randomNormal(ctx: KernelContext): Tensor[] {
  return [normalTensor(ctx, outputType(ctx, 'float32', isFloatType), checkedShape(ctx))];
}

function randomUniformLike(ctx: KernelContext): Tensor[] {
  const like = ctx.input(0);
  return [uniformTensor(ctx, outputType(ctx, like.type, isFloatType), like.dims)];
}

function randomNormalLike(ctx: KernelContext): Tensor[] {
  const like = ctx.input(0);
  return [normalTensor(ctx, outputType(ctx, like.type, isFloatType), like.dims)];
}

/** 1 with the probability given by each input element, else 0. */
function bernoulli(ctx: KernelContext): Tensor[] {
  const input = ctx.input(0);
  if (!isFloatType(input.type)) ctx.fail(`input must hold probabilities as floats, got ${input.type}`);
  const type = outputType(ctx, input.type, (t) => t !== 'string' && !t.startsWith('complex'));
  const probabilities = toNumbers(input);
  const draw = generatorFor(ctx);
  const values = Float64Array.from(probabilities, (p) => (draw() < p ? 1 : 0));
  return [ctx.outputFromNumbers(0, type, values, input.dims)];
}

/**
 * For each row of unnormalized log-probabilities [batch, classes], draws `sample_size` class
 * indices from the softmax distribution of the row.
 */
function multinomial(ctx: KernelContext): Tensor[] {
  const input = ctx.input(0);
  if (input.dims.length !== 2) {
    ctx.fail(`input must be [batch, classes], got dims [${input.dims.join(', ')}]`);
  }
  const [batch, classes] = input.dims as [number, number];
  if (classes === 0) ctx.fail('input has no classes to draw from');
  const samples = ctx.int('sample_size', 1);
  if (samples < 0) ctx.fail(`sample_size must not be negative, got ${samples}`);
  const type = outputType(ctx, 'int32', (t) => t === 'int32' || t === 'int64');
  const logits = toNumbers(input);
  const draw = generatorFor(ctx);
  const out = new Float64Array(batch * samples);
  const cumulative = new Float64Array(classes);
  for (let b = 0; b < batch; b++) {
    const row = logits.slice(b * classes, (b + 1) * classes);
    let max = -Infinity;
    for (const logit of row) max = Math.max(max, logit);
    let total = 0;
    for (let c = 0; c < classes; c++) {
      total += Math.exp(row[c]! - max);
      cumulative[c] = total;
    }
    for (let s = 0; s < samples; s++) {
      const target = draw() * total;
      let chosen = 0;
      while (chosen < classes - 1 && cumulative[chosen]! <= target) chosen++;
      out[b * samples + s] = chosen;
    }
  }
  return [ctx.outputFromNumbers(0, type, out, [batch, samples])];
}

export const kernels: KernelDef[] = [
  { op: 'RandomUniform', since: 1, run: randomUniform },
  { op: 'RandomNormal', since: 1, run: randomNormal },
  { op: 'RandomUniformLike', since: 1, run: randomUniformLike },
  { op: 'RandomNormalLike', since: 1, run: randomNormalLike },
  { op: 'Bernoulli', since: 15, run: bernoulli },
  { op: 'Multinomial', since: 7, run: multinomial },
];
