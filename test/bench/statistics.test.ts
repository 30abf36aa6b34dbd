/**
 * The bench statistics against distributions whose quantiles are known in closed form: large
 * synthetic samples from uniform, normal and exponential laws must give their quantiles and mean;
 * the bootstrapped interval of the median must cover the true median in most of many seeded
 * trials, and be the same for the same seed.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { bootstrapMedianInterval, medianRatio, quantile, summarize } from '../../src/bench/statistics.js';

interface Law {
  name: string;
  draw: (random: () => number) => number;
  median: number;
  p90: number;
  p99: number;
  mean: number;
}

const Z90 = 1.2815515655446004;
const Z99 = 2.3263478740408408;

function normal(random: () => number): number {
  // Box–Muller; 1 - random() keeps the logarithm finite.
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const LAWS: Law[] = [
  { name: 'uniform(2, 6)', draw: (r) => 2 + 4 * r(), median: 4, p90: 5.6, p99: 5.96, mean: 4 },
  {
    name: 'normal(10, 2)',
    draw: (r) => 10 + 2 * normal(r),
    median: 10,
    p90: 10 + 2 * Z90,
    p99: 10 + 2 * Z99,
    mean: 10,
  },
  {
    name: 'exponential(rate 0.5)',
    draw: (r) => -2 * Math.log(1 - r()),
    median: 2 * Math.LN2,
    p90: 2 * Math.log(10),
    p99: 2 * Math.log(100),
    mean: 2,
  },
];

function sample(law: Law, n: number, seed: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => law.draw(random));
}

function assertClose(actual: number, expected: number, relative: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= relative * Math.abs(expected),
    `${what}: ${actual} is not within ${relative * 100}% of ${expected}`,
  );
}

for (const law of LAWS) {
  test(`summarize recovers the quantiles and mean of ${law.name}`, () => {
    const samples = sample(law, 50_000, 7);
    const summary = summarize(samples, { resamples: 20 });
    assert.equal(summary.count, samples.length);
    assertClose(summary.median, law.median, 0.02, 'median');
    assertClose(summary.p90, law.p90, 0.02, 'p90');
    assertClose(summary.p99, law.p99, 0.03, 'p99');
    assertClose(summary.mean, law.mean, 0.02, 'mean');
    assert.equal(summary.min, Math.min(...samples));
    assert.equal(summary.max, Math.max(...samples));
    assert.ok(summary.medianCi.low <= summary.median && summary.median <= summary.medianCi.high);
    assertClose(summary.throughput, 1000 / summary.median, 1e-12, 'throughput');
  });

  test(`the bootstrap interval covers the true median of ${law.name} in most trials`, () => {
    const trials = 200;
    let covered = 0;
    for (let trial = 0; trial < trials; trial++) {
      const interval = bootstrapMedianInterval(sample(law, 101, 1000 + trial), {
        resamples: 400,
        seed: trial,
      });
      if (interval.low <= law.median && law.median <= interval.high) covered++;
    }
    // Nominal 95%; the percentile bootstrap of a median runs a little under it on small samples.
    assert.ok(covered / trials >= 0.88, `covered in ${covered} of ${trials} trials`);
  });
}

test('quantile interpolates linearly between order statistics', () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([5], 0.99), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('the bootstrap is deterministic for a seed', () => {
  const samples = sample(LAWS[2]!, 500, 3);
  assert.deepEqual(
    bootstrapMedianInterval(samples, { seed: 9 }),
    bootstrapMedianInterval(samples, { seed: 9 }),
  );
});

test('medianRatio gives the ratio of medians and an interval around it', () => {
  const base = sample(LAWS[1]!, 2000, 11);
  const { ratio, ci } = medianRatio(
    base.map((v) => v * 3),
    base,
  );
  assertClose(ratio, 3, 1e-12, 'ratio');
  assert.ok(ci.low <= 3 && 3 <= ci.high, `${ci.low}..${ci.high}`);
});
