/**
 * The roofline: the probe's measured ceilings reduced to what the operator table needs, and each
 * operator placed against them. An operator whose arithmetic intensity (FLOPs per byte moved) is
 * below the ridge point is memory-bound: its achieved GB/s is compared with the bandwidth of the
 * memory level that one call's bytes fit in (a call over 100 KiB streams from L2, not DRAM).
 * Otherwise it is compute-bound and compared with the peak GFLOP/s.
 */

import type { MemoryLevel, ProbeResult, ThreadScope } from '../probe/index.js';
import { peakGflops } from '../probe/index.js';
import type { OperatorRow, Peaks } from './profile.js';

/** The peaks of `probe` for one thread or all; undefined when the probe measured no ceilings. */
export function peaksOf(probe: ProbeResult, scope: ThreadScope): Peaks | undefined {
  const ceilings = probe.ceilings;
  if (!ceilings) return undefined;
  const gflops = peakGflops(ceilings, scope);
  const best = ceilings.compute.find((c) => c.gflops[scope] === gflops);
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
      gbPerSecond: copy[scope],
    }))
    .sort((a, b) => (a.capacityBytes ?? Infinity) - (b.capacityBytes ?? Infinity));
  const roof = memory[memory.length - 1];
  if (gflops === undefined || !best || !roof) return undefined;
  const threads = scope === 'perThread' ? 1 : ceilings.threads;
  return {
    source: `heddle probe${probe.cacheFile ? ` (${probe.cacheFile})` : ''}, measured ${ceilings.measuredAt}`,
    threads,
    gflops,
    computeLabel: `${best.path}, ${threads === 1 ? '1 thread' : `${threads} threads`}`,
    computePaths: ceilings.compute
      .map((c) => ({ path: c.path, gflops: c.gflops[scope] }))
      .sort((a, b) => b.gflops - a.gflops),
    memory,
    ridge: ceilings.ridge?.[scope] ?? gflops / roof.gbPerSecond,
  };
}

/**
 * The bytes a cache level holds for one operator: what the machine reports, but no more than
 * twice the buffer the probe measured the level with (it measures with half a level, and with
 * less of an L3 that a virtual machine may report whole while sharing it with other guests).
 */
function usableCapacity(reported: number | 'unknown', bufferBytes: number): number {
  return reported === 'unknown' ? 2 * bufferBytes : Math.min(reported, 2 * bufferBytes);
}

type Placement = Pick<OperatorRow, 'bound' | 'memoryLevel' | 'percentOfPeak'>;

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
  if (intensity >= peaks.ridge) return { bound: 'compute', percentOfPeak: (100 * gflops) / peaks.gflops };
  const level =
    peaks.memory.find((m) => m.capacityBytes === null || bytesPerCall <= m.capacityBytes) ??
    peaks.memory[peaks.memory.length - 1]!;
  return {
    bound: 'memory',
    memoryLevel: level.level,
    percentOfPeak: (100 * gbPerSecond) / level.gbPerSecond,
  };
}
