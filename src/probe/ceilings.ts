/**
 * Measures the machine's ceilings with the probe kernels: peak GFLOP/s for each SIMD path and
 * memory bandwidth (read and copy) for a buffer that fits each cache level and one far larger than
 * the last level, each on one thread and on all threads at once.
 *
 * Buffer sizes: half of L1d and of L2 per thread (those are per core, so each thread gets its own
 * buffer); for L3, half of it but at most four L2s per core, because a virtual machine may report
 * the whole host's L3 (shared with other guests) while the share its cores can count on is far
 * smaller; for DRAM, four times the L3 (between 256 MiB and 2 GiB), split among the threads.
 * Bytes are counted as the kernels move them: a read over N bytes moves N, and so does a copy over
 * an N-byte buffer (N/2 read, N/2 written), as STREAM counts a copy.
 */

import { webAssembly, type WasmMemory } from '../core/webassembly.js';
import { PAGE_BYTES } from '../backends/wasm/assembler/index.js';
import type { WasmFeatures } from '../backends/wasm/features.js';
import {
  buildKernelModule,
  FLOPS_PER_ITERATION,
  peakExport,
  STREAM_CHUNK,
  type SimdPath,
} from './kernels.js';
import type { MachineInfo } from '../host/machine.js';
import { WorkerTeam, type TrialTiming } from './team.js';
import { bestRate, calibrate } from './timing.js';

export type MemoryLevel = 'L1d' | 'L2' | 'L3' | 'DRAM';

/** A rate measured on one thread alone and on all threads at once (their sum). */
export interface ThreadRates {
  perThread: number;
  allThreads: number;
}

export interface ComputeCeiling {
  path: SimdPath;
  gflops: ThreadRates;
}

export interface BandwidthCeiling {
  level: MemoryLevel;
  /** Bytes of the buffer one thread streams over when measuring alone. */
  bufferBytes: number;
  /** GB/s (10^9 bytes per second). */
  read: ThreadRates;
  copy: ThreadRates;
}

export interface Ceilings {
  /** Threads of the all-thread measurements (the logical cores unless asked otherwise). */
  threads: number;
  compute: ComputeCeiling[];
  bandwidth: BandwidthCeiling[];
  /**
   * FLOP per byte where the roofline bends: the best path's peak over the DRAM copy bandwidth.
   * Absent when DRAM was not measured.
   */
  ridge?: ThreadRates;
  /**
   * The lowest share, over the figures, of the CPU time their measuring threads could have had
   * during the timed calls that the process got (1: they had their cores to themselves). Well
   * below 1, other processes were busy and some figures are low: measure again on an idle machine.
   */
  cpuShare: ThreadRates;
  settings: { targetMs: number; repetitions: number };
  measuredAt: string;
  durationMs: number;
}

export interface MeasureOptions {
  /** Duration of one timed call (default 120 ms). */
  targetMs?: number;
  /** Timed calls per figure; the best counts (default 5). */
  repetitions?: number;
  /** Threads of the all-thread figures (default: the logical cores). */
  threads?: number;
  /** Levels to measure (default: all the machine has). */
  levels?: readonly MemoryLevel[];
  /** Size of the DRAM buffer (default: four times the L3, between 256 MiB and 2 GiB). */
  dramBytes?: number;
  /** Progress lines for a terminal. */
  onProgress?: (message: string) => void;
}

const MiB = 1 << 20;
const DEFAULT_L1D = 32 * 1024;
const DEFAULT_L2 = 512 * 1024;
const DRAM_MIN = 256 * MiB;
const DRAM_MAX = 2048 * MiB;
const DRAM_WITHOUT_L3 = 1024 * MiB;
/** The smallest DRAM buffer worth measuring when the memory for a larger one cannot be had. */
const DRAM_FLOOR = 64 * MiB;
/** A team thread warms a streaming kernel up on at most this much of its buffer. */
const WARMUP_BYTES = MiB;

interface LevelPlan {
  level: MemoryLevel;
  /** Buffer of one thread measuring alone. */
  bytes: number;
  /** Buffer of each thread when all measure at once. */
  bytesPerTeamThread: number;
}

export async function measureCeilings(
  machine: MachineInfo,
  features: WasmFeatures,
  options: MeasureOptions = {},
): Promise<Ceilings> {
  const started = performance.now();
  const targetMs = options.targetMs ?? 120;
  const repetitions = options.repetitions ?? 5;
  const threads = features.threads ? (options.threads ?? machine.cpu.logicalCores) : 1;
  const progress = options.onProgress ?? (() => {});
  const paths: SimdPath[] = features.relaxedSimd ? ['mul-add', 'relaxed-madd'] : ['mul-add'];

  const { memory, plans } = allocate(planLevels(machine, threads, options), threads, features.threads);
  const pages = memory.buffer.byteLength / PAGE_BYTES;
  const bytes = buildKernelModule({ pages, shared: features.threads, paths }).encode();
  const kernels = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } })
    .exports as Record<string, (...args: number[]) => number>;
  const team = threads > 1 ? await WorkerTeam.start(threads, bytes, memory) : undefined;
  const measurer = new Measurer(kernels, team, targetMs, repetitions);
  try {
    const compute: ComputeCeiling[] = [];
    for (const path of paths) {
      progress(`peak GFLOP/s, ${path}`);
      compute.push({ path, gflops: scaled(await measurer.measure(peakWorkload(path)), 1e-9) });
    }
    const bandwidth: BandwidthCeiling[] = [];
    for (const plan of plans) {
      progress(`bandwidth, ${plan.level} (${formatMiB(plan.bytes)})`);
      const read = scaled(await measurer.measure(streamWorkload('read', plan)), 1e-9);
      const copy = scaled(await measurer.measure(streamWorkload('copy', plan)), 1e-9);
      bandwidth.push({ level: plan.level, bufferBytes: plan.bytes, read, copy });
    }
    return {
      threads,
      compute,
      bandwidth,
      ridge: ridgeOf(compute, bandwidth),
      cpuShare: measurer.cpuShare(),
      settings: { targetMs, repetitions },
      measuredAt: new Date().toISOString(),
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await team?.close();
  }
}

/** A kernel to time, with how to call it and how much work one unit of its count does. */
interface Workload {
  kernel: string;
  /** The buffer of one thread alone, and of each team thread; 0 for kernels without memory. */
  bytesAlone: number;
  bytesPerTeamThread: number;
  args(base: number, bytes: number, count: number): number[];
  /** FLOP or bytes moved per unit of count (an iteration, a pass) over a buffer of `bytes`. */
  workPerCount(bytes: number): number;
}

function peakWorkload(path: SimdPath): Workload {
  return {
    kernel: peakExport(path),
    bytesAlone: 0,
    bytesPerTeamThread: 0,
    args: (_base, _bytes, count) => [count],
    workPerCount: () => FLOPS_PER_ITERATION,
  };
}

function streamWorkload(kernel: 'read' | 'copy', plan: LevelPlan): Workload {
  return {
    kernel,
    bytesAlone: plan.bytes,
    bytesPerTeamThread: plan.bytesPerTeamThread,
    args: (base, bytes, count) => [base, bytes, count],
    // A copy of a buffer reads its first half and writes its second: the buffer's size in all.
    workPerCount: (bytes) => bytes,
  };
}

/** Times a workload alone on this thread, then on every team thread at once. */
class Measurer {
  /** Each figure's CPU share (see `Ceilings.cpuShare`), alone and on the team. */
  private readonly shares: { perThread: number[]; allThreads: number[] } = { perThread: [], allThreads: [] };

  constructor(
    private readonly kernels: Record<string, (...args: number[]) => number>,
    private readonly team: WorkerTeam | undefined,
    private readonly targetMs: number,
    private readonly repetitions: number,
  ) {}

  /** Work (FLOP or bytes) per second. */
  async measure(workload: Workload): Promise<ThreadRates> {
    const kernel = this.kernels[workload.kernel];
    const { bytesAlone, bytesPerTeamThread } = workload;
    const count = calibrate((n) => kernel(...workload.args(0, bytesAlone, n)), this.targetMs);
    const work = count * workload.workPerCount(bytesAlone);
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const perThread = bestRate(() => kernel(...workload.args(0, bytesAlone, count)), work, this.repetitions);
    const used = process.cpuUsage(cpuBefore);
    this.shares.perThread.push((used.user + used.system) / ((performance.now() - wallBefore) * 1000));
    if (!this.team) return { perThread, allThreads: perThread };

    // Each team thread streams over its own buffer, for about as long as the thread alone did.
    const teamCount =
      bytesAlone > 0 ? Math.max(1, Math.round((count * bytesAlone) / bytesPerTeamThread)) : count;
    const warmupCount = Math.max(1, Math.round(teamCount / 20));
    const jobs = Array.from({ length: this.team.size }, (_, i) => ({
      kernel: workload.kernel,
      args: workload.args(i * bytesPerTeamThread, bytesPerTeamThread, teamCount),
      warmupArgs: workload.args(
        i * bytesPerTeamThread,
        Math.min(bytesPerTeamThread, WARMUP_BYTES),
        warmupCount,
      ),
      warmupCalls: 3,
    }));
    const teamWork = this.team.size * teamCount * workload.workPerCount(bytesPerTeamThread);
    let allThreads = 0;
    let shareSum = 0;
    for (let i = 0; i < this.repetitions; i++) {
      const { timings, cpuShare } = await this.team.trial(jobs);
      shareSum += cpuShare;
      allThreads = Math.max(allThreads, teamWork / spanSeconds(timings));
    }
    this.shares.allThreads.push(shareSum / this.repetitions);
    return { perThread, allThreads };
  }

  cpuShare(): ThreadRates {
    const lowest = (shares: number[]) => Math.min(1, ...shares);
    const perThread = lowest(this.shares.perThread);
    return { perThread, allThreads: this.team ? lowest(this.shares.allThreads) : perThread };
  }
}

function spanSeconds(timings: TrialTiming[]): number {
  const start = Math.min(...timings.map((t) => t.start));
  const end = Math.max(...timings.map((t) => t.end));
  return (end - start) / 1000;
}

function planLevels(
  machine: MachineInfo,
  threads: number,
  { levels, dramBytes }: MeasureOptions,
): LevelPlan[] {
  const { l1d, l2, l3 } = machine.caches;
  const cores =
    typeof machine.cpu.physicalCores === 'number' ? machine.cpu.physicalCores : machine.cpu.logicalCores;
  const l2Bytes = typeof l2 === 'number' ? l2 : DEFAULT_L2;
  const plans: LevelPlan[] = [];
  const privateLevel = (level: MemoryLevel, bytes: number) =>
    plans.push({ level, bytes: streamable(bytes), bytesPerTeamThread: streamable(bytes) });
  const sharedLevel = (level: MemoryLevel, bytes: number) =>
    plans.push({ level, bytes: streamable(bytes), bytesPerTeamThread: streamable(bytes / threads) });

  privateLevel('L1d', (typeof l1d === 'number' ? l1d : DEFAULT_L1D) / 2);
  privateLevel('L2', l2Bytes / 2);
  if (typeof l3 === 'number') sharedLevel('L3', Math.min(l3 / 2, 4 * l2Bytes * cores));
  sharedLevel(
    'DRAM',
    dramBytes ?? (typeof l3 === 'number' ? clamp(4 * l3, DRAM_MIN, DRAM_MAX) : DRAM_WITHOUT_L3),
  );
  return plans.filter((plan) => !levels || levels.includes(plan.level));
}

/**
 * One memory big enough for every plan, on one thread and on all. When the DRAM buffer cannot be
 * had, it is halved until it can (down to DRAM_FLOOR), and the plan says the size measured.
 */
function allocate(
  plans: LevelPlan[],
  threads: number,
  shared: boolean,
): { memory: WasmMemory; plans: LevelPlan[] } {
  for (;;) {
    const needed = Math.max(...plans.map((plan) => Math.max(plan.bytes, plan.bytesPerTeamThread * threads)));
    const pages = Math.ceil(needed / PAGE_BYTES);
    try {
      const memory = new webAssembly.Memory({ initial: pages, maximum: pages, shared });
      // Touch every page, so that reads see memory rather than the kernel's shared zero page.
      new Uint8Array(memory.buffer).fill(1);
      return { memory, plans };
    } catch (error) {
      const dram = plans.find((plan) => plan.level === 'DRAM');
      if (!(error instanceof RangeError) || !dram || dram.bytes / 2 < DRAM_FLOOR) throw error;
      plans = plans.map((plan) =>
        plan === dram
          ? {
              ...plan,
              bytes: streamable(plan.bytes / 2),
              bytesPerTeamThread: streamable(plan.bytesPerTeamThread / 2),
            }
          : plan,
      );
    }
  }
}

function ridgeOf(compute: ComputeCeiling[], bandwidth: BandwidthCeiling[]): ThreadRates | undefined {
  const dram = bandwidth.find((b) => b.level === 'DRAM');
  if (!dram || compute.length === 0) return undefined;
  const best = (scope: keyof ThreadRates) => Math.max(...compute.map((c) => c.gflops[scope]));
  return {
    perThread: best('perThread') / dram.copy.perThread,
    allThreads: best('allThreads') / dram.copy.allThreads,
  };
}

/** A buffer size the streaming kernels take: a multiple of a copy's two chunks, at least that. */
function streamable(bytes: number): number {
  const step = 2 * STREAM_CHUNK;
  return Math.max(step, Math.floor(bytes / step) * step);
}

function scaled(rates: ThreadRates, factor: number): ThreadRates {
  return { perThread: rates.perThread * factor, allThreads: rates.allThreads * factor };
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

function formatMiB(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(0)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
}
