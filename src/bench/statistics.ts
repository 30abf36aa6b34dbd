/**
 * Summary statistics of latency samples: order statistics (median, p90, p99, min, max), the mean,
 * a bootstrapped 95% confidence interval of the median, and throughput. The bootstrap draws from a
 * seeded generator so that the same samples always give the same interval.
 */

import { seededRandom } from '../core/random.js';

export interface Interval {
  low: number;
  high: number;
}

export interface LatencySummary {
  count: number;
  median: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
  /** Bootstrapped 95% confidence interval of the median. */
  medianCi: Interval;
  /** Runs per second at the median latency. */
  throughput: number;
}

export interface SummaryOptions {
  /** Resamples of the bootstrap (default 1000). */
  resamples?: number;
  seed?: number;
}

/** The q-quantile (0..1) of ascending `sorted`, interpolating linearly between neighbours (numpy's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  const fraction = position - below;
  return sorted[below]! + (sorted[above]! - sorted[below]!) * fraction;
}

function ascending(samples: readonly number[]): Float64Array {
  return Float64Array.from(samples).sort();
}

/** The median of one resample (with replacement) of `samples`. */
function resampledMedian(samples: readonly number[], random: () => number): number {
  const resample = new Float64Array(samples.length);
  for (let i = 0; i < samples.length; i++) resample[i] = samples[Math.floor(random() * samples.length)]!;
  return quantile(resample.sort(), 0.5);
}

/**
 * Percentile bootstrap: the median of each resample, then the 2.5% and 97.5% quantiles of those
 * medians. Resampling makes no assumption about the latency distribution, which is skewed.
 */
export function bootstrapMedianInterval(samples: readonly number[], options: SummaryOptions = {}): Interval {
  if (samples.length === 0) return { low: NaN, high: NaN };
  const resamples = options.resamples ?? 1000;
  const random = seededRandom(options.seed ?? 1);
  const medians = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) medians[r] = resampledMedian(samples, random);
  medians.sort();
  return { low: quantile(medians, 0.025), high: quantile(medians, 0.975) };
}

export function summarize(samples: readonly number[], options: SummaryOptions = {}): LatencySummary {
  const sorted = ascending(samples);
  const median = quantile(sorted, 0.5);
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    count: samples.length,
    median,
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    min: sorted.length ? sorted[0]! : NaN,
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    mean: samples.length ? sum / samples.length : NaN,
    medianCi: bootstrapMedianInterval(samples, options),
    throughput: median > 0 ? 1000 / median : NaN,
  };
}

/**
 * The ratio of two medians with its spread: the bootstrap interval of the ratio, from resampling
 * both sample sets independently. `numerator / denominator`; >1 means the numerator is slower.
 */
export function medianRatio(
  numerator: readonly number[],
  denominator: readonly number[],
  options: SummaryOptions = {},
): { ratio: number; ci: Interval } {
  const ratio = quantile(ascending(numerator), 0.5) / quantile(ascending(denominator), 0.5);
  const resamples = options.resamples ?? 1000;
  const random = seededRandom(options.seed ?? 1);
  const ratios = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++)
    ratios[r] = resampledMedian(numerator, random) / resampledMedian(denominator, random);
  ratios.sort();
  return { ratio, ci: { low: quantile(ratios, 0.025), high: quantile(ratios, 0.975) } };
}
