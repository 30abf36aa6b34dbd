/**
 * The few statistics the profiler needs: medians and quantiles of run samples, and a bootstrap
 * interval for the difference of two medians, from a seeded generator so that comparing the same
 * two profiles always gives the same answer.
 */

import { seededRandom } from '../core/random.js';

/** The q-quantile (0 ≤ q ≤ 1) with linear interpolation between order statistics; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export interface BootstrapOptions {
  /** Coverage of the interval (default 0.95). */
  confidence?: number;
  resamples?: number;
  seed?: number;
}

/**
 * A percentile-bootstrap interval for median(b) - median(a): both sample sets are resampled with
 * replacement many times, and the interval holds the central `confidence` share of the
 * resampled differences.
 */
export function medianDifferenceInterval(
  a: readonly number[],
  b: readonly number[],
  { confidence = 0.95, resamples = 2000, seed = 1 }: BootstrapOptions = {},
): [number, number] {
  const random = seededRandom(seed);
  const resample = (values: readonly number[]) =>
    median(Array.from(values, () => values[Math.floor(random() * values.length)]!));
  const differences = Array.from({ length: resamples }, () => resample(b) - resample(a));
  const tail = (1 - confidence) / 2;
  return [quantile(differences, tail), quantile(differences, 1 - tail)];
}
