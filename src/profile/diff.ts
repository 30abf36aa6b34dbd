/**
 * Comparing two profiles operator by operator. Each profile keeps, per operator group, its self
 * time in every steady run; a change is flagged only when it is larger than the runs' own spread:
 * when the 95% percentile-bootstrap interval of median(B) - median(A) excludes zero. A group that
 * one profile lacks took no time in that profile's runs (its samples are zeros), so an operator a
 * rewrite removed is flagged like any other change. With fewer than MIN_SAMPLES runs on a side
 * the spread cannot be told, and nothing is flagged.
 */

import { HeddleError } from '../core/errors.js';
import { PROFILE_FORMAT, PROFILE_VERSION, type GroupBy, type OperatorRow, type Profile } from './profile.js';
import { median, medianDifferenceInterval } from './statistics.js';

/** Runs needed on each side before a bootstrap interval means anything. */
export const MIN_SAMPLES = 3;

export const DIFF_METHOD = '95% percentile-bootstrap interval of the difference of medians, excluding 0';

export type DeltaStatus = 'slower' | 'faster' | 'unchanged' | 'added' | 'removed' | 'too few runs';

export interface Delta {
  key: string;
  op: string;
  /** Median self time per run in A and in B (0 where the profile lacks the group). */
  medianAUs: number;
  medianBUs: number;
  /** medianBUs - medianAUs. */
  deltaUs: number;
  /** medianBUs / medianAUs (Infinity for an added group). */
  ratio: number;
  /** The bootstrap interval of the difference; absent with too few runs. */
  intervalUs?: [number, number];
  flagged: boolean;
  status: DeltaStatus;
}

export interface ProfileDiff {
  a: string;
  b: string;
  groupBy: GroupBy;
  method: string;
  /** The whole run: the steady runs' durations. */
  run: Delta;
  /** Every group of either profile, the largest absolute change first. */
  operators: Delta[];
}

export function diffProfiles(a: Profile, b: Profile): ProfileDiff {
  if (a.groupBy !== b.groupBy) {
    throw new HeddleError(
      `the profiles group operators differently (${a.groupBy} and ${b.groupBy}): profile both with the same --group-by`,
    );
  }
  const rowsA = new Map(a.operators.map((row) => [row.key, row]));
  const rowsB = new Map(b.operators.map((row) => [row.key, row]));
  const keys = [...new Set([...rowsA.keys(), ...rowsB.keys()])];
  const runsA = a.runs.steady.length;
  const runsB = b.runs.steady.length;
  const operators = keys.map((key) => {
    const rowA = rowsA.get(key);
    const rowB = rowsB.get(key);
    const presence = !rowA ? 'added' : !rowB ? 'removed' : undefined;
    return delta(key, (rowA ?? rowB)!.op, samplesOf(rowA, runsA), samplesOf(rowB, runsB), presence);
  });
  const runSamples = (p: Profile) => p.runs.steady.map((i) => p.runs.durationsUs[i]!);
  return {
    a: a.model,
    b: b.model,
    groupBy: a.groupBy,
    method: DIFF_METHOD,
    run: delta('run', 'run', runSamples(a), runSamples(b), undefined),
    operators: operators.sort((x, y) => Math.abs(y.deltaUs) - Math.abs(x.deltaUs)),
  };
}

function samplesOf(row: OperatorRow | undefined, runs: number): number[] {
  return row ? row.samplesUs : Array.from({ length: runs }, () => 0);
}

function delta(
  key: string,
  op: string,
  a: readonly number[],
  b: readonly number[],
  presence: 'added' | 'removed' | undefined,
): Delta {
  const medianAUs = median(a);
  const medianBUs = median(b);
  const common = {
    key,
    op,
    medianAUs,
    medianBUs,
    deltaUs: medianBUs - medianAUs,
    ratio: medianBUs / medianAUs,
  };
  if (a.length < MIN_SAMPLES || b.length < MIN_SAMPLES)
    return { ...common, flagged: false, status: 'too few runs' };
  const intervalUs = medianDifferenceInterval(a, b);
  const flagged = intervalUs[0] > 0 || intervalUs[1] < 0;
  const status = presence ?? (!flagged ? 'unchanged' : common.deltaUs > 0 ? 'slower' : 'faster');
  return { ...common, intervalUs, flagged, status };
}

/** A profile read from JSON text, refused unless it is one this version writes. */
export function parseProfile(text: string, source: string): Profile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HeddleError(`${source} is not JSON: ${(error as Error).message}`);
  }
  const candidate = value as Partial<Profile> | null;
  if (candidate?.format !== PROFILE_FORMAT) {
    throw new HeddleError(`${source} is not a heddle profile (write one with heddle profile MODEL --json)`);
  }
  if (candidate.version !== PROFILE_VERSION) {
    throw new HeddleError(
      `${source} is a version ${candidate.version} profile; this heddle reads version ${PROFILE_VERSION}`,
    );
  }
  return candidate as Profile;
}
