/**
 * The random operators on the reference backend, judged by the statistics of large samples:
 * Bernoulli, RandomUniform, RandomNormal (and their `Like` variants), Multinomial and Dropout in
 * training mode. Their streams are Heddle's own, so no fixed expected values exist; instead each
 * mean, variance or frequency must lie within a few standard errors of what the distribution
 * gives. Every node has a fixed seed, so the samples, and the test, are the same on every run; a
 * seed also has to give the same output again, and a different seed a different one.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InferenceSession, Tensor } from '../src/index.js';
import type { DataType } from '../src/core/dtype.js';
import { buildModel, type NodeSpec } from './support/build-model.js';

/** Large enough that a standard error is a small fraction of what it qualifies. */
const SAMPLES = 100_000;

/**
 * How many standard errors a statistic may stray. With fixed seeds nothing is left to chance,
 * but the bound still has to hold for whatever seeds a change to the generators brings.
 */
const STANDARD_ERRORS = 4;

/** Runs one node on the reference backend; feeds and outputs are named as the node's inputs and outputs. */
async function runNode(
  node: Omit<NodeSpec, 'outputs'>,
  opset: number,
  feeds: Record<string, Tensor> = {},
  outputs: Record<string, DataType> = { y: 'float32' },
): Promise<Tensor[]> {
  const outputNames = Object.keys(outputs);
  const model = buildModel({
    opsets: { '': opset },
    nodes: [{ ...node, outputs: outputNames }],
    inputs: Object.entries(feeds).map(([name, t]) => ({ name, type: t.type as DataType, dims: t.dims })),
    outputs: Object.entries(outputs).map(([name, type]) => ({ name, type })),
  });
  const session = await InferenceSession.create(model, { executionProviders: ['reference'] });
  const results = await session.run(feeds);
  await session.release();
  return outputNames.map((name) => results[name] as Tensor);
}

/** `runNode` for a node of one output, y, of `type`. */
async function runSingle(
  node: Omit<NodeSpec, 'outputs'>,
  opset: number,
  feeds: Record<string, Tensor> = {},
  type: DataType = 'float32',
): Promise<Tensor> {
  return (await runNode(node, opset, feeds, { y: type }))[0]!;
}

function numbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/** The unbiased sample variance. */
function variance(values: readonly number[]): number {
  const m = mean(values);
  return values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1);
}

function assertNear(what: string, actual: number, expected: number, standardError: number): void {
  const bound = STANDARD_ERRORS * standardError;
  assert.ok(
    Math.abs(actual - expected) <= bound,
    `${what} is ${actual}, expected ${expected} ± ${bound} (${STANDARD_ERRORS} standard errors)`,
  );
}

/** The share of `count` successes in `trials` against probability `p`, with its binomial error. */
function assertFrequency(what: string, count: number, trials: number, p: number): void {
  assertNear(what, count / trials, p, Math.sqrt((p * (1 - p)) / trials));
}

/**
 * Mean and variance of a sample against a distribution's. The variance's standard error is the
 * normal distribution's, which over-states it for the uniform one (whose tails are lighter).
 */
function assertMoments(
  what: string,
  values: readonly number[],
  expectedMean: number,
  expectedVariance: number,
): void {
  const n = values.length;
  assertNear(`${what} mean`, mean(values), expectedMean, Math.sqrt(expectedVariance / n));
  assertNear(
    `${what} variance`,
    variance(values),
    expectedVariance,
    expectedVariance * Math.sqrt(2 / (n - 1)),
  );
}

/** Same seed, same output (each run is a fresh session); another seed, another output. */
async function assertSeedsRepeat(run: (seed: number) => Promise<Tensor>): Promise<void> {
  const first = numbers(await run(7));
  assert.deepEqual(numbers(await run(7)), first, 'the same seed gives the same output');
  assert.notDeepEqual(numbers(await run(8)), first, 'another seed gives another output');
}

test('RandomUniform: values in [low, high], uniform over tenths of the range', async () => {
  const [low, high] = [-2, 3];
  const draw = (seed: number) =>
    runSingle(
      {
        op: 'RandomUniform',
        inputs: [],
        attributes: { shape: [SAMPLES], low: { float: low }, high: { float: high }, seed: { float: seed } },
      },
      1,
    );
  const y = await draw(1);
  assert.equal(y.type, 'float32');
  assert.deepEqual(y.dims, [SAMPLES]);
  const values = numbers(y);
  assert.ok(
    values.every((v) => v >= low && v <= high),
    'every value lies in [low, high]',
  );
  assertMoments('uniform', values, (low + high) / 2, (high - low) ** 2 / 12);
  const tenths = new Array<number>(10).fill(0);
  for (const v of values) tenths[Math.min(9, Math.floor(((v - low) / (high - low)) * 10))]!++;
  tenths.forEach((count, i) => assertFrequency(`tenth ${i}`, count, SAMPLES, 0.1));
  await assertSeedsRepeat(draw);
});

test('RandomNormal: mean, variance, and the shares within 1σ and beyond 2σ', async () => {
  const [mu, sigma] = [1.5, 0.25];
  const draw = (seed: number) =>
    runSingle(
      {
        op: 'RandomNormal',
        inputs: [],
        attributes: {
          shape: [100, SAMPLES / 100],
          mean: { float: mu },
          scale: { float: sigma },
          seed: { float: seed },
        },
      },
      1,
    );
  const y = await draw(1);
  assert.deepEqual(y.dims, [100, SAMPLES / 100]);
  const values = numbers(y);
  assertMoments('normal', values, mu, sigma ** 2);
  // A uniform or other sample can match two moments; the normal's shape puts 68.27% within 1σ.
  const withinOneSigma = values.filter((v) => Math.abs(v - mu) < sigma).length;
  assertFrequency('share within 1σ', withinOneSigma, SAMPLES, 0.682689);
  const beyondTwoSigma = values.filter((v) => Math.abs(v - mu) > 2 * sigma).length;
  assertFrequency('share beyond 2σ', beyondTwoSigma, SAMPLES, 0.0455003);
  await assertSeedsRepeat(draw);
});

test('RandomUniformLike and RandomNormalLike take the shape and type of their input', async () => {
  const x = new Tensor('float64', new Float64Array(SAMPLES), [SAMPLES / 4, 4]);
  const like = (op: string) =>
    runSingle({ op, inputs: ['x'], attributes: { seed: { float: 3 } } }, 1, { x }, 'float64');
  const [uniform, normal] = [await like('RandomUniformLike'), await like('RandomNormalLike')];
  for (const y of [uniform, normal]) {
    assert.equal(y.type, 'float64');
    assert.deepEqual(y.dims, [SAMPLES / 4, 4]);
  }
  assertMoments('uniform like', numbers(uniform), 0.5, 1 / 12);
  assertMoments('normal like', numbers(normal), 0, 1);
});

test('Bernoulli: each element is 1 with its own probability', async () => {
  const probabilities = [0, 0.1, 0.5, 0.9, 1];
  const perProbability = SAMPLES / probabilities.length;
  const x = new Tensor(
    'float32',
    Float32Array.from({ length: SAMPLES }, (_, i) => probabilities[i % probabilities.length]!),
    [SAMPLES],
  );
  const draw = (seed: number) =>
    runSingle({ op: 'Bernoulli', inputs: ['x'], attributes: { seed: { float: seed } } }, 15, { x });
  const y = await draw(1);
  assert.equal(y.type, 'float32');
  const values = numbers(y);
  assert.ok(
    values.every((v) => v === 0 || v === 1),
    'every value is 0 or 1',
  );
  probabilities.forEach((p, k) => {
    const ones = values.filter((v, i) => i % probabilities.length === k && v === 1).length;
    if (p === 0 || p === 1) assert.equal(ones, p * perProbability, `p = ${p} gives ${p} every time`);
    else assertFrequency(`share of ones at p = ${p}`, ones, perProbability, p);
  });
  await assertSeedsRepeat(draw);
});

test('Multinomial: class frequencies follow the softmax of each row', async () => {
  const rows = [
    [0.1, 0.2, 0.3, 0.4],
    [0.7, 0.05, 0.05, 0.2],
  ];
  // Logits shifted by a constant per row: the softmax, and so the draws, must not care.
  const logits = rows.flatMap((row, r) => row.map((p) => Math.log(p) + 10 * r));
  const x = new Tensor('float32', Float32Array.from(logits), [rows.length, 4]);
  const draw = (seed: number) =>
    runSingle(
      {
        op: 'Multinomial',
        inputs: ['x'],
        attributes: { sample_size: SAMPLES, dtype: 7, seed: { float: seed } },
      },
      7,
      { x },
      'int64',
    );
  const y = await draw(1);
  assert.equal(y.type, 'int64');
  assert.deepEqual(y.dims, [rows.length, SAMPLES]);
  const classes = numbers(y);
  rows.forEach((row, r) => {
    const drawn = classes.slice(r * SAMPLES, (r + 1) * SAMPLES);
    row.forEach((p, c) => {
      assertFrequency(`row ${r} class ${c}`, drawn.filter((k) => k === c).length, SAMPLES, p);
    });
  });
  await assertSeedsRepeat(draw);
});

test('Dropout in training: keeps 1 - ratio of the elements, scaled to keep the mean', async () => {
  const ratio = 0.3;
  const x = new Tensor(
    'float32',
    Float32Array.from({ length: SAMPLES }, (_, i) => 1 + (i % 7)),
    [SAMPLES],
  );
  const feeds = {
    x,
    ratio: new Tensor('float32', [ratio], []),
    training: new Tensor('bool', [true], []),
  };
  const drop = (seed: number) =>
    runNode({ op: 'Dropout', inputs: ['x', 'ratio', 'training'], attributes: { seed } }, 13, feeds, {
      y: 'float32',
      mask: 'bool',
    });
  const [y, mask] = await drop(1);
  const inputs = numbers(x);
  const outputs = numbers(y!);
  const kept = numbers(mask!);
  assert.equal(mask!.type, 'bool');
  outputs.forEach((v, i) => {
    const expected = kept[i] ? inputs[i]! / (1 - ratio) : 0;
    if (Math.abs(v - expected) > 1e-6 * expected) {
      assert.fail(`element ${i} is ${v}, expected ${expected} (mask ${kept[i]})`);
    }
  });
  assertFrequency('share kept', kept.filter((k) => k === 1).length, SAMPLES, 1 - ratio);
  // Each output is x / (1 - ratio) with probability 1 - ratio, else 0: its mean is x's.
  const outputVariance = inputs.reduce((sum, v) => sum + (v * v * ratio) / (1 - ratio), 0) / SAMPLES;
  assertNear('output mean', mean(outputs), mean(inputs), Math.sqrt(outputVariance / SAMPLES));
  await assertSeedsRepeat(async (seed) => (await drop(seed))[1]!);
});
