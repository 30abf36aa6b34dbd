/**
 * The result of `heddle bench`: per system, the latency summary beside session creation time and
 * peak memory (or the reason it failed), plus each peer's median ratio to Heddle with its
 * bootstrapped spread; and its text rendering.
 */

import Table from 'cli-table3';
import type { GcActivity } from './protocol.js';
import type { RoundsResult } from './rounds.js';
import { serverLoad, type Scenario, type ServerLoad } from './scenarios.js';
import { medianRatio, summarize, type Interval, type LatencySummary } from './statistics.js';

export interface SystemReport {
  system: string;
  failure?: string;
  createMs?: number;
  peakRssMb?: number;
  latencyMs?: LatencySummary;
  /** The garbage collections during the measured runs. */
  gc?: GcActivity;
  /** Offline scenario: input samples per second at the median latency. */
  samplesPerSecond?: number;
  server?: ServerLoad;
}

export interface RatioReport {
  peer: string;
  /** Peer median / Heddle median: above 1, Heddle is faster. */
  peerOverHeddle: { ratio: number; ci: Interval };
  heddleOverPeer: { ratio: number; ci: Interval };
}

/** How Heddle ran: its backends in order of preference, and whether its kernels were tuned per shape. */
export interface HeddleConfiguration {
  backends: string[];
  tuning: boolean;
}

export interface BenchReport {
  model: string;
  scenario: Scenario;
  threads: number;
  batch: number;
  heddle?: HeddleConfiguration;
  rounds: number;
  systems: SystemReport[];
  ratios: RatioReport[];
}

export interface ReportContext {
  model: string;
  scenario: Scenario;
  threads: number;
  batch: number;
  seed: number;
  heddle?: HeddleConfiguration;
}

export function buildReport(result: RoundsResult, context: ReportContext): BenchReport {
  const systems = result.systems.map((m): SystemReport => {
    if (m.failure !== undefined) return { system: m.system, failure: m.failure };
    const latencyMs = summarize(m.latenciesMs, { seed: context.seed });
    return {
      system: m.system,
      createMs: m.createMs,
      peakRssMb: m.peakRssKb / 1024,
      latencyMs,
      gc: m.gc,
      ...(context.scenario === 'offline' ? { samplesPerSecond: context.batch * latencyMs.throughput } : {}),
      ...(context.scenario === 'server' ? { server: serverLoad(m) } : {}),
    };
  });
  const heddle = result.systems.find((m) => m.system === 'heddle' && m.failure === undefined);
  const ratios = heddle
    ? result.systems
        .filter((m) => m !== heddle && m.failure === undefined && m.latenciesMs.length > 0)
        .map((peer) => ({
          peer: peer.system,
          peerOverHeddle: medianRatio(peer.latenciesMs, heddle.latenciesMs, { seed: context.seed }),
          heddleOverPeer: medianRatio(heddle.latenciesMs, peer.latenciesMs, { seed: context.seed }),
        }))
    : [];
  const { model, scenario, threads, batch, heddle: configuration } = context;
  return {
    model,
    scenario,
    threads,
    batch,
    ...(configuration ? { heddle: configuration } : {}),
    rounds: result.order.length,
    systems,
    ratios,
  };
}

/** `colors` is for a terminal; plain tables for pipes and files. */
export function formatReport(report: BenchReport, colors: boolean): string {
  const lines = [
    `${report.model}: ${report.scenario}, ${report.threads} thread(s)` +
      `${report.scenario === 'offline' ? `, batch ${report.batch}` : ''}, ${report.rounds} alternating rounds` +
      (report.heddle ? `; heddle on ${describeConfiguration(report.heddle)}` : ''),
  ];
  const table = new Table({
    head: [
      'system',
      'median ms',
      '95% CI',
      'p90',
      'p99',
      'min',
      'max',
      'mean',
      'runs',
      'per s',
      'create ms',
      'peak RSS',
      'mark-compacts',
      'GC pause/run',
    ],
    style: colors ? {} : { head: [], border: [] },
  });
  for (const system of report.systems) {
    const l = system.latencyMs;
    if (!l) continue;
    const perSecond = system.samplesPerSecond ?? system.server?.achievedQps ?? l.throughput;
    table.push([
      system.system,
      ms(l.median),
      `${ms(l.medianCi.low)}–${ms(l.medianCi.high)}`,
      ms(l.p90),
      ms(l.p99),
      ms(l.min),
      ms(l.max),
      ms(l.mean),
      String(l.count),
      perSecond.toFixed(1),
      ms(system.createMs!),
      `${system.peakRssMb!.toFixed(0)} MiB`,
      markCompacts(system.gc!, l.count),
      `${ms(system.gc!.pauseMs / Math.max(1, l.count))} ms`,
    ]);
  }
  lines.push(table.toString());
  for (const system of report.systems) {
    if (system.server) {
      const { offeredQps, achievedQps, heldRate } = system.server;
      lines.push(
        `${system.system}: offered ${offeredQps.toFixed(1)} q/s, completed ${achievedQps.toFixed(1)} q/s, ` +
          `p99 ${ms(system.latencyMs!.p99)} ms with queueing: ${heldRate ? 'held the rate' : 'did NOT hold the rate'}`,
      );
    }
  }
  for (const { peer, peerOverHeddle, heddleOverPeer } of report.ratios) {
    lines.push(
      `${peer} / heddle median: ${ratio(peerOverHeddle)}; heddle / ${peer}: ${ratio(heddleOverPeer)}`,
    );
  }
  for (const system of report.systems) {
    if (system.failure !== undefined) lines.push(`${system.system}: not measured: ${system.failure}`);
  }
  return lines.join('\n');
}

/** '23 (in 40% of runs)': how many ran, and the share of runs that they or their marking paused. */
function markCompacts(gc: GcActivity, runs: number): string {
  if (gc.markCompacts === 0) return '0';
  return `${gc.markCompacts} (in ${majorGcPercent(gc, runs)}% of runs)`;
}

/** The share of `runs` that a mark-compact or its incremental marking paused, in whole percent. */
export function majorGcPercent(gc: GcActivity, runs: number): number {
  return Math.round((100 * gc.runsWithMajorGc) / Math.max(1, runs));
}

function describeConfiguration({ backends, tuning }: HeddleConfiguration): string {
  return `${backends.join(',')}${tuning ? '' : ', untuned'}`;
}

function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function ratio({ ratio, ci }: { ratio: number; ci: Interval }): string {
  return `${ratio.toPrecision(3)}× (95% CI ${ci.low.toPrecision(3)}–${ci.high.toPrecision(3)})`;
}
