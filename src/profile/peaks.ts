/**
 * The roofline: the probe's measured ceilings reduced to what the operator table needs, and each
 * operator placed against them. The ceilings are those of the threads the operator's steps could
 * run on: the probe measured one thread and all of them; a count in between is credited with the
 * one-thread figures times the threads, never more than all of them reach. An operator whose
 * arithmetic intensity (FLOPs per byte moved) is below the ridge point is memory-bound: its
 * achieved GB/s is compared with the bandwidth of the memory level that one call's bytes fit in
 * (a call over 100 KiB streams from L2, not DRAM). Otherwise it is compute-bound and compared
 * with the peak GFLOP/s.
 */

import type { MemoryLevel, ProbeResult, ThreadRates } from '../probe/index.js';
import type { OperatorRow, Peaks, Profile } from './profile.js';

/**
 * The peaks of `probe` on `threads` threads (as many as the probe measured at most); undefined
 * when the probe measured no ceilings.
 */
export function peaksOf(probe: ProbeResult, threads: number): Peaks | undefined {
  const ceilings = probe.ceilings;
  if (!ceilings) return undefined;
  const counted = Math.max(1, Math.min(threads, ceilings.threads));
  const rate = (rates: ThreadRates) => rateOn(rates, counted, ceilings.threads);
  const computePaths = ceilings.compute
    .map((c) => ({ path: c.path, gflops: rate(c.gflops) }))
    .sort((a, b) => b.gflops - a.gflops);
  const caches = probe.machine.caches;
  const reported: Partial<Record<MemoryLevel, number | 'unknown'>> = {
    L1d: caches.l1d,
    L2: caches.l2,
    L3: caches.l3,
  };
  const memory = ceilings.bandwidth
    .map(({ level, bufferBytes, copy }) => ({
      level,
      capacityBytes: level === 'DRAM' ? null : usableCapacity(reported[level] ?? 'unknown', bufferBytes),
      gbPerSecond: rate(copy),
    }))
    .sort((a, b) => (a.capacityBytes ?? Infinity) - (b.capacityBytes ?? Infinity));
  const best = computePaths[0];
  const roof = memory[memory.length - 1];
  if (!best || !roof) return undefined;
  return {
    source: `heddle probe${probe.cacheFile ? ` (${probe.cacheFile})` : ''}, measured ${ceilings.measuredAt}`,
    threads: counted,
    gflops: best.gflops,
    computeLabel: `${best.path}, ${threadCount(counted)}`,
    computePaths,
    memory,
    // Where the best path's roof meets the largest level's, as the probe computes its ridge point.
    ridge: best.gflops / roof.gbPerSecond,
  };
}

/** "1 thread", "4 threads". */
export function threadCount(threads: number): string {
  return threads === 1 ? '1 thread' : `${threads} threads`;
}

/**
 * A rate on `threads` threads, from the rates the probe measured on one and on `measured`: the
 * one-thread rate for each thread, as far as the all-thread rate allows.
 */
function rateOn(rates: ThreadRates, threads: number, measured: number): number {
  if (threads === 1) return rates.perThread;
  if (threads >= measured) return rates.allThreads;
  return Math.min(rates.perThread * threads, rates.allThreads);
}

/**
 * The peaks `row` is placed against: those of its thread count, or `peaks` for a row without one
 * (a profile written before rows had their own).
 */
export function peaksOfRow(profile: Profile, row: OperatorRow): Peaks | undefined {
  if (row.threads === undefined) return profile.peaks;
  return [profile.peaks, ...(profile.peaksAtFewerThreads ?? [])].find((p) => p?.threads === row.threads);
}

/**
 * The bytes a cache level holds for one operator: what the machine reports, but no more than
 * twice the buffer the probe measured the level with (it measures with half a level, and with
 * less of an L3 that a virtual machine may report whole while sharing it with other guests).
 */
function usableCapacity(reported: number | 'unknown', bufferBytes: number): number {
  return reported === 'unknown' ? 2 * bufferBytes : Math.min(reported, 2 * bufferBytes);
}

type Placement = Pick<OperatorRow, 'threads' | 'bound' | 'memoryLevel' | 'percentOfPeak'>;

/** Where a row with these achieved rates, intensity and bytes per call sits against `peaks`. */
export function placeOnRoofline(
  peaks: Peaks,
  {
    gflops,
    gbPerSecond,
    intensity,
    bytesPerCall,
  }: { gflops: number; gbPerSecond: number; intensity: number; bytesPerCall: number },
): Placement {
  const { threads } = peaks;
  if (intensity >= peaks.ridge) {
    return { threads, bound: 'compute', percentOfPeak: (100 * gflops) / peaks.gflops };
  }
  const level =
    peaks.memory.find((m) => m.capacityBytes === null || bytesPerCall <= m.capacityBytes) ??
    peaks.memory[peaks.memory.length - 1]!;
  return {
    threads,
    bound: 'memory',
    memoryLevel: level.level,
    percentOfPeak: (100 * gbPerSecond) / level.gbPerSecond,
  };
}
