/**
 * Alternating rounds: every system loads and warms up in its own process, then round k gives each
 * system one batch in an order rotated by k, until each has both the minimum runs and the minimum
 * measured time. Machine drift (thermal, other tenants) then spreads over all systems alike rather
 * than landing on whichever ran last. A system that fails is set aside with its reason; the others
 * go on.
 */

import type { GcActivity, RunRequest, ServeRequest } from './protocol.js';
import type { SystemRunner } from './system-process.js';

export interface MeasurementPlan {
  warmup: number;
  minRuns: number;
  minSeconds: number;
  /** The batch each system gets in round `round`. */
  request(round: number): RunRequest | ServeRequest;
}

export interface SystemMeasurement {
  system: string;
  createMs?: number;
  latenciesMs: number[];
  /** Per batch: its wall time, its queries, and for serve batches the span its arrivals covered. */
  batches: { elapsedMs: number; queries: number; spanMs?: number }[];
  peakRssKb: number;
  /** The garbage collections of all measured batches together. */
  gc: GcActivity;
  failure?: string;
}

export interface RoundsResult {
  systems: SystemMeasurement[];
  /** The systems in the order each round ran them. */
  order: string[][];
}

export async function runAlternatingRounds(
  runners: readonly SystemRunner[],
  plan: MeasurementPlan,
  onProgress: (fraction: number) => void = () => {},
): Promise<RoundsResult> {
  const measurements = new Map<SystemRunner, SystemMeasurement>(
    runners.map((runner) => [
      runner,
      { system: runner.system, latenciesMs: [], batches: [], peakRssKb: 0, gc: noCollections() },
    ]),
  );
  const attempt = async (runner: SystemRunner, step: (m: SystemMeasurement) => Promise<void>) => {
    const measurement = measurements.get(runner)!;
    if (measurement.failure !== undefined) return;
    try {
      await step(measurement);
    } catch (error) {
      measurement.failure = error instanceof Error ? error.message : String(error);
      runner.close();
    }
  };
  // Sessions load one at a time so that creation times do not compete for the cores.
  for (const runner of runners) {
    await attempt(runner, async (m) => {
      m.createMs = await runner.load();
      if (plan.warmup > 0) await runner.measure({ kind: 'run', minCount: plan.warmup, minMs: 0 });
    });
  }
  const order: string[][] = [];
  const live = () => runners.filter((runner) => measurements.get(runner)!.failure === undefined);
  const progress = () => Math.min(1, ...live().map((runner) => completion(measurements.get(runner)!, plan)));
  for (let round = 0; live().length > 0 && progress() < 1; round++) {
    const active = live();
    const rotated = active.map((_, i) => active[(i + round) % active.length]!);
    order.push(rotated.map((runner) => runner.system));
    for (const runner of rotated) {
      await attempt(runner, async (m) => {
        const request = plan.request(round);
        const batch = await runner.measure(request);
        m.latenciesMs.push(...batch.latenciesMs);
        const spanMs = request.kind === 'serve' ? request.spanMs : undefined;
        m.batches.push({ elapsedMs: batch.elapsedMs, queries: batch.latenciesMs.length, spanMs });
        m.peakRssKb = Math.max(m.peakRssKb, batch.peakRssKb);
        m.gc = addCollections(m.gc, batch.gc);
      });
    }
    onProgress(live().length > 0 ? progress() : 1);
  }
  for (const runner of runners) runner.close();
  return { systems: runners.map((runner) => measurements.get(runner)!), order };
}

/** How far a system is toward both minimums, 0 to 1 (the lesser of the two). */
function completion(measurement: SystemMeasurement, plan: MeasurementPlan): number {
  const measuredMs = measurement.batches.reduce((sum, batch) => sum + batch.elapsedMs, 0);
  const byCount = plan.minRuns > 0 ? measurement.latenciesMs.length / plan.minRuns : 1;
  const byTime = plan.minSeconds > 0 ? measuredMs / (plan.minSeconds * 1000) : 1;
  return Math.min(1, byCount, byTime);
}

function noCollections(): GcActivity {
  return { markCompacts: 0, scavenges: 0, pauseMs: 0, runsWithMajorGc: 0 };
}

function addCollections(a: GcActivity, b: GcActivity): GcActivity {
  return {
    markCompacts: a.markCompacts + b.markCompacts,
    scavenges: a.scavenges + b.scavenges,
    pauseMs: a.pauseMs + b.pauseMs,
    runsWithMajorGc: a.runsWithMajorGc + b.runsWithMajorGc,
  };
}
