/**
 * Per-shape tuning of the wasm kernels. A kernel with several ways to compute one shape (tile
 * sizes, micro-kernel variants) asks the `Tuner` to `choose` among them: the first time a
 * (kernel, shape) pair is seen on a machine, each candidate is timed briefly on the calling thread
 * and the fastest wins; the winner is remembered in memory and in a JSON file in Heddle's cache
 * folder, one file per machine fingerprint (as the probe's), so later sessions and processes on
 * the same machine reuse it without measuring. Turned off (`--no-tune`, session option
 * `tuning: false`), the tuner always answers the first candidate and neither measures nor touches
 * the disk, so runs are deterministic.
 *
 * The cache file is read once per process. A decision is written by merging it into what the file
 * holds at that moment, through a temporary file and a rename, so concurrent processes never see
 * half a file; two processes deciding at once may drop one another's entry, which costs only a
 * measurement later. A file that cannot be read or parsed is ignored (and replaced on the next
 * write), and a cache that cannot be written leaves the decisions in memory.
 */

import * as path from 'node:path';
import { cacheDirectory, machineFingerprint, readCached, writeCached } from '../../host/cache.js';
import { describeMachine } from '../../host/machine.js';

export interface TuningCandidate<T> {
  /** Stable across processes: the name is what the cache stores. */
  name: string;
  value: T;
}

/** The seconds one timed call of the kernel with this candidate takes. */
export type Measure<T> = (value: T) => number;

export interface TunerOptions {
  /** `false`: the first candidate, with nothing measured or stored (default true). */
  tune?: boolean;
  /** Folder of the cache file (default: Heddle's cache folder, read when the file is first needed). */
  directory?: string;
  /** Machine the decisions hold for (default: this one's fingerprint). */
  fingerprint?: string;
  /**
   * Seconds of calls one decision may spend (default 0.02); a warm-up and one timed call per
   * candidate happen whatever it is.
   */
  budgetSeconds?: number;
}

/** A decision as the cache file keeps it: the winner, and each candidate's median for the curious. */
export interface TuningDecision {
  choice: string;
  medianSeconds: Record<string, number>;
}

interface CacheFile {
  format: typeof CACHE_FORMAT;
  fingerprint: string;
  /** kernel → shape key → decision. */
  decisions: Record<string, Record<string, TuningDecision>>;
}

const CACHE_FORMAT = 1;
const DEFAULT_BUDGET_SECONDS = 0.02;
/** Timed calls per candidate at most: enough for a median that shrugs off one interrupted call. */
const MAX_REPETITIONS = 5;

export class Tuner {
  readonly enabled: boolean;
  private readonly budgetSeconds: number;
  private readonly directory?: string;
  private knownFingerprint?: string;
  private decisions?: Map<string, TuningDecision>;

  constructor(options: TunerOptions = {}) {
    this.enabled = options.tune ?? true;
    this.budgetSeconds = options.budgetSeconds ?? DEFAULT_BUDGET_SECONDS;
    this.directory = options.directory;
    this.knownFingerprint = options.fingerprint;
  }

  /**
   * The value of the fastest candidate for `kernel` on the shape `shapeKey`. Everything that
   * changes which candidate wins and that the caller's candidates do not show (thread count, host
   * features) belongs in `kernel` or `shapeKey`. Ties go to the earlier candidate.
   */
  choose<T>(
    kernel: string,
    shapeKey: string,
    candidates: readonly TuningCandidate<T>[],
    measure: Measure<T>,
  ): T {
    const first = candidates[0];
    if (first === undefined) throw new Error(`tuning ${kernel} for ${shapeKey}: there are no candidates`);
    if (new Set(candidates.map((candidate) => candidate.name)).size !== candidates.length)
      throw new Error(`tuning ${kernel} for ${shapeKey}: two candidates have the same name`);
    if (!this.enabled || candidates.length === 1) return first.value;
    const key = decisionKey(kernel, shapeKey);
    const known = this.loaded().get(key);
    const remembered = known && candidates.find((candidate) => candidate.name === known.choice);
    if (remembered) return remembered.value;
    const decision = this.measureCandidates(candidates, measure);
    this.loaded().set(key, decision);
    this.store(kernel, shapeKey, decision);
    return candidates.find((candidate) => candidate.name === decision.choice)!.value;
  }

  /** The decision remembered for (kernel, shape), made in this process or read from the cache file. */
  decision(kernel: string, shapeKey: string): TuningDecision | undefined {
    return this.enabled ? this.loaded().get(decisionKey(kernel, shapeKey)) : undefined;
  }

  /** Where the decisions are kept on disk. */
  get cacheFile(): string {
    const fingerprint = this.fingerprint();
    return path.join(this.directory ?? cacheDirectory(), `tuning-${fingerprint}.json`);
  }

  /**
   * One warm-up call per candidate (compiles, faults pages in, and estimates the call's length),
   * then rounds that time each candidate once in turn, so drift of the machine spreads over all
   * of them, until the budget is spent or every candidate has its repetitions.
   */
  private measureCandidates<T>(
    candidates: readonly TuningCandidate<T>[],
    measure: Measure<T>,
  ): TuningDecision {
    const latest = candidates.map((candidate) => measure(candidate.value));
    const samples = candidates.map((): number[] => []);
    let spent = latest.reduce((sum, seconds) => sum + seconds, 0);
    for (let round = 0; round < MAX_REPETITIONS; round++) {
      const roundSeconds = latest.reduce((sum, seconds) => sum + seconds, 0);
      if (round > 0 && spent + roundSeconds > this.budgetSeconds) break;
      candidates.forEach((candidate, i) => {
        const seconds = measure(candidate.value);
        samples[i]!.push(seconds);
        latest[i] = seconds;
        spent += seconds;
      });
    }
    const medians = samples.map(median);
    let best = 0;
    medians.forEach((seconds, i) => {
      if (seconds < medians[best]!) best = i;
    });
    return {
      choice: candidates[best]!.name,
      medianSeconds: Object.fromEntries(candidates.map((candidate, i) => [candidate.name, medians[i]!])),
    };
  }

  private loaded(): Map<string, TuningDecision> {
    if (!this.decisions) {
      this.decisions = new Map();
      const file = readCacheFile(this.cacheFile, this.fingerprint());
      for (const [kernel, shapes] of Object.entries(file?.decisions ?? {})) {
        for (const [shapeKey, decision] of Object.entries(shapes)) {
          if (isDecision(decision)) this.decisions.set(decisionKey(kernel, shapeKey), decision);
        }
      }
    }
    return this.decisions;
  }

  /** Merges the decision into the file as it is now, so other processes' decisions stay. */
  private store(kernel: string, shapeKey: string, decision: TuningDecision): void {
    const fingerprint = this.fingerprint();
    const file = this.cacheFile;
    const current = readCacheFile(file, fingerprint) ?? { format: CACHE_FORMAT, fingerprint, decisions: {} };
    (current.decisions[kernel] ??= {})[shapeKey] = decision;
    try {
      writeCached(file, current);
    } catch {
      // A read-only or full cache folder costs a measurement in the next process, not this run.
    }
  }

  private fingerprint(): string {
    return (this.knownFingerprint ??= machineFingerprint(describeMachine()));
  }
}

const processTuners = new Map<boolean, Tuner>();

/**
 * The process's tuner for these options: one that measures and caches (the default), or the
 * deterministic one of `tune: false`.
 */
export function tunerFor(options: { tune?: boolean } = {}): Tuner {
  const tune = options.tune ?? true;
  let tuner = processTuners.get(tune);
  if (!tuner) processTuners.set(tune, (tuner = new Tuner({ tune })));
  return tuner;
}

function decisionKey(kernel: string, shapeKey: string): string {
  return JSON.stringify([kernel, shapeKey]);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The file's content when it is a cache of this format for this machine; anything else is ignored. */
function readCacheFile(file: string, fingerprint: string): CacheFile | undefined {
  const candidate = readCached<Partial<CacheFile> | null>(file);
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    candidate.format !== CACHE_FORMAT ||
    candidate.fingerprint !== fingerprint ||
    !isRecord(candidate.decisions) ||
    !Object.values(candidate.decisions).every(isRecord)
  )
    return undefined;
  return candidate as CacheFile;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDecision(value: unknown): value is TuningDecision {
  return isRecord(value) && typeof value.choice === 'string' && isRecord(value.medianSeconds);
}
