/**
 * Checks the probe's ceilings against measurements that share none of its code:
 *
 * - the same kinds of kernels written by hand in the WebAssembly text format, assembled by wabt's
 *   `wat2wasm` (Debian package wabt) instead of Heddle's assembler, over their own memory, timed
 *   by their own loop on `process.hrtime` and, for all threads, by their own workers;
 * - a native reference for DRAM reads: `sysbench memory` (Debian package sysbench), when installed.
 *   It runs other instructions (scalar 8-byte loads), so it is context for the WebAssembly figure
 *   rather than its match.
 *
 * On a shared machine single timings wander, so both sides are measured in alternation for a
 * few rounds, each round keeping its best of a few calls, and the medians are compared.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { webAssembly } from '../core/webassembly.js';
import { PAGE_BYTES } from '../backends/wasm/assembler/index.js';
import type { ProbeResult } from './index.js';
import {
  buildKernelModule,
  FLOPS_PER_ITERATION,
  PEAK_ACCUMULATORS,
  PEAK_UNROLL,
  peakExport,
  type SimdPath,
} from './kernels.js';
import { WorkerTeam, type TrialTiming } from './team.js';
import { bestRate, calibrate } from './timing.js';

export interface Comparison {
  ceiling: string;
  unit: 'GFLOP/s' | 'GB/s';
  /** The probe's figure: the median over the rounds when measured now, else the cached ceiling. */
  probe: number;
  /** Median over the rounds of the independent measurement; absent when it could not run. */
  independent?: number;
  method: string;
  /** Why the independent side is missing. */
  note?: string;
}

export interface CompareOptions {
  /** Alternating rounds of both sides (default 5). */
  rounds?: number;
  /** Calls per round and side; the best counts (default 3). */
  calls?: number;
  /** Duration of one call of a peak kernel (default 100 ms). */
  targetMs?: number;
  onProgress?: (message: string) => void;
}

type Kernel = (...args: number[]) => unknown;

const WABT_METHOD = "hand-written WAT, wabt's wat2wasm";

export async function compareWithIndependent(
  probe: ProbeResult,
  options: CompareOptions = {},
): Promise<Comparison[]> {
  const ceilings = probe.ceilings!;
  const progress = options.onProgress ?? (() => {});
  const paths = ceilings.compute.map((c) => c.path);
  const dram = ceilings.bandwidth.find((b) => b.level === 'DRAM');
  const comparisons: Comparison[] = [];
  try {
    progress('peaks, probe and independent in turn');
    comparisons.push(...(await comparePeaks(paths, ceilings.threads, options)));
    if (dram) {
      progress(
        `DRAM bandwidth over ${Math.round(dram.bufferBytes / 2 ** 20)} MiB, probe and independent in turn`,
      );
      comparisons.push(...(await compareDram(dram.bufferBytes, options)));
    }
  } catch (error) {
    if (!(error instanceof IndependentUnavailable)) throw error;
    comparisons.push(...unverified(probe, error.message));
  }
  if (dram) comparisons.push(nativeDramReference(dram.read.perThread, dram.bufferBytes));
  return comparisons;
}

/**
 * Each path's peak on one thread and, when `threads` > 1, on that many at once: the probe's
 * kernels, instantiation and team against the wabt-assembled kernels and their own workers.
 */
export async function comparePeaks(
  paths: readonly SimdPath[],
  threads: number,
  options: CompareOptions = {},
): Promise<Comparison[]> {
  const { rounds = 5, calls = 3, targetMs = 100 } = options;
  const independentBytes = assembleWat(peaksWat(paths));
  const independentKernels = instantiate(independentBytes, {});
  const probeBytes = buildKernelModule({ pages: 1, shared: true, paths }).encode();
  const memory = new webAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const probeKernels = instantiate(probeBytes, { env: { memory } });
  const team = threads > 1 ? await WorkerTeam.start(threads, probeBytes, memory) : undefined;
  const comparisons: Comparison[] = [];
  try {
    for (const path of paths) {
      const name = peakExport(path);
      const probeKernel = probeKernels[name];
      const independentKernel = independentKernels[name];
      const iterations = calibrate(probeKernel, targetMs);
      for (let i = 0; i < 5; i++) independentKernel(Math.max(1, iterations >> 4));
      const gflops = (seconds: number, copies = 1) =>
        (copies * iterations * FLOPS_PER_ITERATION) / seconds / 1e9;
      const alone = await interleave(
        rounds,
        () => bestRate(() => probeKernel(iterations), iterations * FLOPS_PER_ITERATION, calls) / 1e9,
        () => gflops(bestSeconds(() => independentKernel(iterations), calls)),
      );
      comparisons.push({ ceiling: `peak ${path}, 1 thread`, unit: 'GFLOP/s', ...alone, method: WABT_METHOD });
      if (!team) continue;
      const job = {
        kernel: name,
        args: [iterations],
        warmupArgs: [Math.max(1, iterations >> 5)],
        warmupCalls: 2,
      };
      const together = await interleave(
        rounds,
        async () => {
          let best = Infinity;
          for (let call = 0; call < calls; call++)
            best = Math.min(best, spanSeconds((await team.trial(Array(threads).fill(job))).timings));
          return gflops(best, threads);
        },
        async () =>
          gflops(await independentTeamSeconds(independentBytes, name, iterations, threads, calls), threads),
      );
      comparisons.push({
        ceiling: `peak ${path}, ${threads} threads`,
        unit: 'GFLOP/s',
        ...together,
        method: `${WABT_METHOD}, ${threads} workers`,
      });
    }
    return comparisons;
  } finally {
    await team?.close();
  }
}

/** One thread's read and copy bandwidth over a DRAM-sized buffer. */
async function compareDram(bytes: number, options: CompareOptions): Promise<Comparison[]> {
  const { rounds = 5, calls = 3 } = options;
  const pages = Math.ceil(bytes / PAGE_BYTES);
  // Both sides stream over the same memory: two buffers of this size were seen to differ by more
  // than 10% here (their physical pages differ), which would hide what is being compared.
  const memory = new webAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  // Touch every page, so reads see memory rather than the kernel's shared zero page.
  new Uint8Array(memory.buffer).fill(1);
  const independent = instantiate(assembleWat(streamsWat(pages)), { env: { memory } });
  const probe = instantiate(buildKernelModule({ pages, shared: true, paths: [] }).encode(), {
    env: { memory },
  });
  const comparisons: Comparison[] = [];
  for (const kind of ['read', 'copy'] as const) {
    probe[kind](0, bytes, 1);
    independent[kind](bytes);
    const rates = await interleave(
      rounds,
      () => bestRate(() => probe[kind](0, bytes, 1), bytes, calls) / 1e9,
      () => bytes / bestSeconds(() => independent[kind](bytes), calls) / 1e9,
    );
    comparisons.push({ ceiling: `DRAM ${kind}, 1 thread`, unit: 'GB/s', ...rates, method: WABT_METHOD });
  }
  return comparisons;
}

/** The cached ceilings, with why they could not be checked. */
function unverified(probe: ProbeResult, reason: string): Comparison[] {
  const { compute, bandwidth, threads } = probe.ceilings!;
  const rows: Comparison[] = compute.flatMap(({ path, gflops }) => [
    {
      ceiling: `peak ${path}, 1 thread`,
      unit: 'GFLOP/s' as const,
      probe: gflops.perThread,
      method: WABT_METHOD,
      note: reason,
    },
    {
      ceiling: `peak ${path}, ${threads} threads`,
      unit: 'GFLOP/s' as const,
      probe: gflops.allThreads,
      method: WABT_METHOD,
      note: reason,
    },
  ]);
  const dram = bandwidth.find((b) => b.level === 'DRAM');
  if (dram) {
    for (const kind of ['read', 'copy'] as const) {
      rows.push({
        ceiling: `DRAM ${kind}, 1 thread`,
        unit: 'GB/s',
        probe: dram[kind].perThread,
        method: WABT_METHOD,
        note: reason,
      });
    }
  }
  return rows;
}

/** Medians of the two sides measured in alternation, so both see the same changes in load. */
async function interleave(
  rounds: number,
  probeSide: () => number | Promise<number>,
  independentSide: () => number | Promise<number>,
): Promise<{ probe: number; independent: number }> {
  const probe: number[] = [];
  const independent: number[] = [];
  for (let round = 0; round < rounds; round++) {
    probe.push(await probeSide());
    independent.push(await independentSide());
  }
  return { probe: median(probe), independent: median(independent) };
}

function spanSeconds(timings: TrialTiming[]): number {
  return (Math.max(...timings.map((t) => t.end)) - Math.min(...timings.map((t) => t.start))) / 1000;
}

/**
 * sysbench's DRAM read rate against the probe's cached one. sysbench takes a power-of-two block,
 * so it reads the power of two at or above the probe's buffer.
 */
function nativeDramReference(probeRead: number, bytes: number): Comparison {
  const blockMiB = 2 ** Math.ceil(Math.log2(Math.max(1, bytes / 2 ** 20)));
  const sysbench = runTool('sysbench', [
    'memory',
    `--memory-block-size=${blockMiB}M`,
    `--memory-total-size=${blockMiB * 8}M`,
    '--memory-oper=read',
    '--threads=1',
    'run',
  ]);
  const mibPerSecond = sysbench.output?.match(/\(([\d.]+) MiB\/sec\)/)?.[1];
  return {
    ceiling: 'DRAM read, 1 thread (cached)',
    unit: 'GB/s',
    probe: probeRead,
    independent: mibPerSecond ? (Number(mibPerSecond) * 2 ** 20) / 1e9 : undefined,
    method: 'sysbench memory read (native code, scalar 8-byte loads)',
    note: sysbench.error ?? (mibPerSecond ? undefined : 'sysbench printed no rate'),
  };
}

function runTool(command: string, args: string[]): { output?: string; error?: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (result.error) return { error: `${command} is not installed` };
  if (result.status !== 0) return { error: `${command} failed: ${result.stderr.trim().split('\n')[0]}` };
  return { output: result.stdout };
}

/** wabt is missing or rejected the text: the independent side cannot run. */
class IndependentUnavailable extends Error {}

/** Assembles WebAssembly text with wabt's `wat2wasm`. */
function assembleWat(text: string): Uint8Array {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-probe-'));
  try {
    fs.writeFileSync(path.join(folder, 'kernels.wat'), text);
    const result = spawnSync(
      'wat2wasm',
      ['--enable-relaxed-simd', '--enable-threads', 'kernels.wat', '-o', 'kernels.wasm'],
      {
        cwd: folder,
        encoding: 'utf8',
      },
    );
    if (result.error)
      throw new IndependentUnavailable("wabt's wat2wasm is not installed (Debian package wabt)");
    if (result.status !== 0) throw new IndependentUnavailable(`wat2wasm failed: ${result.stderr.trim()}`);
    return new Uint8Array(fs.readFileSync(path.join(folder, 'kernels.wasm')));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/**
 * The peak kernels in the text format, written independently of kernels.ts: the same arithmetic,
 * PEAK_ACCUMULATORS chains of acc = acc * x + y unrolled PEAK_UNROLL times.
 */
function peaksWat(paths: readonly SimdPath[]): string {
  const chains = Array.from({ length: PEAK_ACCUMULATORS }, (_, i) => i);
  const peak = (path: SimdPath) => {
    const update = (i: number) =>
      path === 'relaxed-madd'
        ? `(local.set $a${i} (f32x4.relaxed_madd (local.get $a${i}) (local.get $x) (local.get $y)))`
        : `(local.set $a${i} (f32x4.add (f32x4.mul (local.get $a${i}) (local.get $x)) (local.get $y)))`;
    const body = Array.from({ length: PEAK_UNROLL }, () => chains.map(update).join('\n        ')).join(
      '\n        ',
    );
    return `
  (func (export "${peakExport(path)}") (param $n i32) (result f32)
    (local $x v128) (local $y v128) ${chains.map((i) => `(local $a${i} v128)`).join(' ')}
    (local.set $x (f32x4.splat (f32.const 0.9999)))
    (local.set $y (f32x4.splat (f32.const 0.0001)))
    ${chains.map((i) => `(local.set $a${i} (f32x4.splat (f32.const ${0.5 + i / 64})))`).join('\n    ')}
    (loop $again
        ${body}
      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (f32x4.extract_lane 0 ${chains.reduce((sum, i) => (i === 0 ? `(local.get $a0)` : `(f32x4.add ${sum} (local.get $a${i}))`), '')}))`;
  };
  return `(module${paths.map(peak).join('\n')})\n`;
}

/** A streaming read folding 8 loads per 128 bytes, and a copy of the first half of memory onto the second. */
function streamsWat(pages: number): string {
  const loads = Array.from(
    { length: 8 },
    (_, i) => `(local.set $r${i} (v128.xor (local.get $r${i}) (v128.load offset=${i * 16} (local.get $p))))`,
  );
  const moves = Array.from(
    { length: 8 },
    (_, i) =>
      `(v128.store offset=${i * 16} (i32.add (local.get $p) (local.get $half)) (v128.load offset=${i * 16} (local.get $p)))`,
  );
  return `(module
  (import "env" "memory" (memory ${pages} ${pages} shared))
  (func (export "read") (param $bytes i32) (result i32)
    (local $p i32) ${Array.from({ length: 8 }, (_, i) => `(local $r${i} v128)`).join(' ')}
    (loop $chunk
      ${loads.join('\n      ')}
      (br_if $chunk (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 128))) (local.get $bytes))))
    (i32x4.extract_lane 0 (v128.xor (v128.xor (v128.xor (local.get $r0) (local.get $r1)) (v128.xor (local.get $r2) (local.get $r3)))
      (v128.xor (v128.xor (local.get $r4) (local.get $r5)) (v128.xor (local.get $r6) (local.get $r7))))))
  (func (export "copy") (param $bytes i32)
    (local $p i32) (local $half i32)
    (local.set $half (i32.shr_u (local.get $bytes) (i32.const 1)))
    (loop $chunk
      ${moves.join('\n      ')}
      (br_if $chunk (i32.lt_u (local.tee $p (i32.add (local.get $p) (i32.const 128))) (local.get $half))))))
`;
}

function instantiate(
  bytes: Uint8Array,
  imports: Record<string, Record<string, unknown>>,
): Record<string, Kernel> {
  return new webAssembly.Instance(new webAssembly.Module(bytes), imports).exports as Record<string, Kernel>;
}

/** The fastest of `calls` calls, in seconds, on the high-resolution clock. */
function bestSeconds(action: () => unknown, calls: number): number {
  let best = Infinity;
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    action();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return best;
}

/**
 * The fastest of `calls` simultaneous runs on `threads` workers of the independent module: each
 * worker compiles it, warms up, counts itself ready and waits for the go; the run lasts from the
 * first start to the last end.
 */
async function independentTeamSeconds(
  bytes: Uint8Array,
  kernel: string,
  iterations: number,
  threads: number,
  calls: number,
): Promise<number> {
  let best = Infinity;
  for (let call = 0; call < calls; call++) {
    const signal = new Int32Array(new SharedArrayBuffer(8));
    const workers = Array.from(
      { length: threads },
      () => new Worker(INDEPENDENT_WORKER, { eval: true, workerData: { bytes, kernel, iterations, signal } }),
    );
    const spans = workers.map(
      (worker) =>
        new Promise<[bigint, bigint]>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        }),
    );
    while (Atomics.load(signal, 1) < threads) await new Promise((resolve) => setTimeout(resolve, 1));
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
    const times = await Promise.all(spans);
    await Promise.all(workers.map((worker) => worker.terminate()));
    const start = times.reduce((min, [s]) => (s < min ? s : min), times[0][0]);
    const end = times.reduce((max, [, e]) => (e > max ? e : max), times[0][1]);
    best = Math.min(best, Number(end - start) / 1e9);
  }
  return best;
}

const INDEPENDENT_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { bytes, kernel, iterations, signal } = workerData;
const run = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports[kernel];
for (let i = 0; i < 5; i++) run(Math.max(1, Math.round(iterations / 20)));
Atomics.add(signal, 1, 1);
Atomics.wait(signal, 0, 0);
const start = process.hrtime.bigint();
run(iterations);
parentPort.postMessage([start, process.hrtime.bigint()]);
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
