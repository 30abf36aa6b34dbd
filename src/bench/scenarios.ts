/**
 * The load scenarios of MLPerf Inference, as batches for the runner processes:
 * - single-stream: the next query goes when the last returns (latency);
 * - offline: the same loop on inputs whose batch dimension is enlarged (samples per second);
 * - server: queries arrive as a Poisson process at a target rate and queue for a single server
 *   (latency with queueing, and whether the system kept up with the rate).
 */

import { seededRandom } from '../core/random.js';
import type { RunRequest, ServeRequest } from './protocol.js';
import type { SystemMeasurement } from './rounds.js';

export const SCENARIOS = ['single-stream', 'offline', 'server'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface ScenarioOptions {
  scenario: Scenario;
  /** Wall time each system gets per round. */
  sliceMs: number;
  /** Target queries per second of the server scenario. */
  rate: number;
  seed: number;
}

const SERVER_ARRIVALS_PER_SPAN = 20;

/** Builds the request of each round; server arrivals differ per round but not per system. */
export function batchRequest(options: ScenarioOptions): (round: number) => RunRequest | ServeRequest {
  if (options.scenario !== 'server') return () => ({ kind: 'run', minCount: 1, minMs: options.sliceMs });
  // Queries still queued when a span ends drain past it; spans of many arrivals keep that tail small.
  const spanMs = Math.max(options.sliceMs, (SERVER_ARRIVALS_PER_SPAN * 1000) / options.rate);
  return (round) => ({
    kind: 'serve',
    arrivalsMs: poissonArrivals(options.rate, spanMs, seededRandom(options.seed + round)),
    spanMs,
  });
}

/** Arrival times (ms) of a Poisson process at `rate` per second over `spanMs` (possibly none). */
export function poissonArrivals(rate: number, spanMs: number, random: () => number): number[] {
  const arrivals: number[] = [];
  const meanGapMs = 1000 / rate;
  // Exponential gaps by inversion; 1 - random() avoids log(0).
  for (
    let next = -meanGapMs * Math.log(1 - random());
    next < spanMs;
    next -= meanGapMs * Math.log(1 - random())
  )
    arrivals.push(next);
  return arrivals;
}

export interface ServerLoad {
  offeredQps: number;
  achievedQps: number;
  /** Whether the system completed queries at least 90% as fast as they arrived. */
  heldRate: boolean;
}

/**
 * A batch lasts at least its span; one that falls behind runs on while its queue drains, so its
 * completions per second of wall time fall below its arrivals per second of span.
 */
export function serverLoad(measurement: SystemMeasurement): ServerLoad {
  const queries = measurement.batches.reduce((sum, batch) => sum + batch.queries, 0);
  const spanMs = measurement.batches.reduce((sum, batch) => sum + (batch.spanMs ?? 0), 0);
  const busyMs = measurement.batches.reduce((sum, batch) => sum + batch.elapsedMs, 0);
  const offeredQps = (queries * 1000) / spanMs;
  const achievedQps = (queries * 1000) / busyMs;
  return { offeredQps, achievedQps, heldRate: achievedQps >= 0.9 * offeredQps };
}
