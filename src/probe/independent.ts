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
import { webAssembly, type WasmMemory } from '../backends/wasm/assembler/engine.js';
import { PAGE_BYTES } from '../backends/wasm/assembler/index.js';
import { detectWasmFeatures } from './features.js';
import type { ProbeResult } from './index.js';
import {
  buildKernelModule,
  FLOPS_PER_ITERATION,
  PEAK_ACCUMULATORS,
  PEAK_UNROLL,
  peakExport,
  type SimdPath,
} from './kernels.js';
import { WorkerTeam } from './team.js';
import { bestRate, calibrate } from './timing.js';

export interface Comparison {
  ceiling: string;
  unit: 'GFLOP/s' | 'GB/s';
  /** Median over the rounds of the probe's own measurement, taken now. */
  probe: number;
  /** Median over the rounds of the independent measurement; absent when it could not run. */
  independent?: number;
  method: string;
  /** Why the independent side is missing. */
  note?: string;
}

export interface CompareOptions {
  rounds?: number;
  /** Calls per round and side; the best counts. */
  calls?: number;
  targetMs?: number;
  onProgress?: (message: string) => void;
}

type Kernel = (...args: number[]) => unknown;

const WABT_METHOD = "hand-written WAT, wabt's wat2wasm";

export async function compareWithIndependent(probe: ProbeResult, options: CompareOptions = {}): Promise<Comparison[]> {
  const rounds = options.rounds ?? 5;
  const calls = options.calls ?? 3;
  const targetMs = options.targetMs ?? 100;
  const progress = options.onProgress ?? (() => {});
  const features = detectWasmFeatures();
  const paths: SimdPath[] = features.relaxedSimd ? ['mul-add', 'relaxed-madd'] : ['mul-add'];
  const threads = probe.ceilings!.threads;
  const dramBytes = probe.ceilings!.bandwidth.find((b) => b.level === 'DRAM')?.bufferBytes;
  const independent = assembleWithWabt(paths, dramBytes ?? 0);

  const comparisons: Comparison[] = [];
  for (const path of paths) {
    progress(`peak ${path}, probe and independent`);
    comparisons.push(...(await comparePeak(path, threads, independent, { rounds, calls, targetMs })));
  }
  if (dramBytes !== undefined) {
    progress(`DRAM bandwidth over ${Math.round(dramBytes / 2 ** 20)} MiB, probe and independent`);
    comparisons.push(...compareDram(dramBytes, independent, { rounds, calls }));
    comparisons.push(nativeDramReference(probe, dramBytes));
  }
  return comparisons;
}

/** The wabt-assembled modules (peaks without memory, streams with their own), or why there are none. */
type Independent = { peaks: Uint8Array; streams: Uint8Array } | { error: string };

async function comparePeak(
  path: SimdPath,
  threads: number,
  independent: Independent,
  { rounds, calls, targetMs }: { rounds: number; calls: number; targetMs: number },
): Promise<Comparison[]> {
  const name = peakExport(path);
  const probeBytes = buildKernelModule({ pages: 1, shared: true, paths: [path] }).encode();
  const memory = new webAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const probeKernel = instantiate(probeBytes, { env: { memory } })[name];
  const iterations = calibrate((n) => probeKernel(n), targetMs);
  const gflops = (seconds: number, copies = 1) => (copies * iterations * FLOPS_PER_ITERATION) / seconds / 1e9;
  const label = (scope: string) => `peak ${path}, ${scope}`;
  if ('error' in independent) {
    return [1, threads].map((n) => ({
      ceiling: label(n === 1 ? '1 thread' : `${n} threads`),
      unit: 'GFLOP/s' as const,
      probe: bestRate(() => probeKernel(iterations), iterations * FLOPS_PER_ITERATION, calls) / 1e9,
      method: WABT_METHOD,
      note: independent.error,
    }));
  }
  const independentKernel = instantiate(independent.peaks, {})[name];
  for (let i = 0; i < 5; i++) independentKernel(Math.max(1, Math.round(iterations / 20)));
  const team = threads > 1 ? await WorkerTeam.start(threads, probeBytes, memory) : undefined;
  try {
    const alone = { probe: [] as number[], independent: [] as number[] };
    const together = { probe: [] as number[], independent: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      alone.probe.push(bestRate(() => probeKernel(iterations), iterations * FLOPS_PER_ITERATION, calls) / 1e9);
      alone.independent.push(gflops(bestSeconds(() => independentKernel(iterations), calls)));
      if (!team) continue;
      const job = { kernel: name, args: [iterations], warmupArgs: [Math.max(1, iterations >> 5)], warmupCalls: 2 };
      let best = 0;
      for (let call = 0; call < calls; call++) {
        const timings = await team.trial(Array.from({ length: threads }, () => job));
        const span = Math.max(...timings.map((t) => t.end)) - Math.min(...timings.map((t) => t.start));
        best = Math.max(best, gflops(span / 1000, threads));
      }
      together.probe.push(best);
      const seconds = await independentTeamSeconds(independent.peaks, name, iterations, threads, calls);
      together.independent.push(gflops(seconds, threads));
    }
    const comparisons: Comparison[] = [
      { ceiling: label('1 thread'), unit: 'GFLOP/s', probe: median(alone.probe), independent: median(alone.independent), method: WABT_METHOD },
    ];
    if (team) {
      comparisons.push({
        ceiling: label(`${threads} threads`),
        unit: 'GFLOP/s',
        probe: median(together.probe),
        independent: median(together.independent),
        method: `${WABT_METHOD}, ${threads} workers`,
      });
    }
    return comparisons;
  } finally {
    await team?.close();
  }
}

function compareDram(bytes: number, independent: Independent, { rounds, calls }: { rounds: number; calls: number }): Comparison[] {
  const pages = Math.ceil(bytes / PAGE_BYTES);
  const memory = new webAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  new Uint8Array(memory.buffer).fill(1);
  const probeKernels = instantiate(buildKernelModule({ pages, shared: true, paths: [] }).encode(), { env: { memory } });
  const kinds = ['read', 'copy'] as const;
  if ('error' in independent) {
    return kinds.map((kind) => ({
      ceiling: `DRAM ${kind}, 1 thread`,
      unit: 'GB/s' as const,
      probe: bestRate(() => probeKernels[kind](0, bytes, 1), bytes, calls) / 1e9,
      method: WABT_METHOD,
      note: independent.error,
    }));
  }
  const own = instantiate(independent.streams, {});
  new Uint8Array((own.memory as unknown as WasmMemory).buffer).fill(1);
  return kinds.map((kind) => {
    const probeRates: number[] = [];
    const independentRates: number[] = [];
    probeKernels[kind](0, bytes, 1);
    own[kind](bytes);
    for (let round = 0; round < rounds; round++) {
      probeRates.push(bestRate(() => probeKernels[kind](0, bytes, 1), bytes, calls) / 1e9);
      independentRates.push(bytes / bestSeconds(() => own[kind](bytes), calls) / 1e9);
    }
    return {
      ceiling: `DRAM ${kind}, 1 thread`,
      unit: 'GB/s' as const,
      probe: median(probeRates),
      independent: median(independentRates),
      method: WABT_METHOD,
    };
  });
}

/** A native program's DRAM read figure, against the probe's cached one. */
function nativeDramReference(probe: ProbeResult, bytes: number): Comparison {
  const dram = probe.ceilings!.bandwidth.find((b) => b.level === 'DRAM')!;
  const mib = Math.max(1, Math.round(bytes / 2 ** 20));
  const sysbench = runTool('sysbench', [
    'memory',
    `--memory-block-size=${mib}M`,
    `--memory-total-size=${mib * 8}M`,
    '--memory-oper=read',
    '--threads=1',
    'run',
  ]);
  const mibPerSecond = sysbench.output?.match(/\(([\d.]+) MiB\/sec\)/)?.[1];
  return {
    ceiling: 'DRAM read, 1 thread (cached)',
    unit: 'GB/s',
    probe: dram.read.perThread,
    independent: mibPerSecond ? (Number(mibPerSecond) * 2 ** 20) / 1e9 : undefined,
    method: 'sysbench memory read (native code, scalar 8-byte loads)',
    note: sysbench.error,
  };
}

function runTool(command: string, args: string[]): { output?: string; error?: string } {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (result.error) return { error: `${command} is not installed` };
  if (result.status !== 0) return { error: `${command} failed: ${result.stderr.trim().split('\n')[0]}` };
  return { output: result.stdout };
}

/** The independent modules, or why they could not be made. */
function assembleWithWabt(paths: readonly SimdPath[], memoryBytes: number): Independent {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'heddle-probe-'));
  try {
    const assemble = (name: string, text: string): Uint8Array | string => {
      fs.writeFileSync(path.join(folder, `${name}.wat`), text);
      const result = spawnSync('wat2wasm', ['--enable-relaxed-simd', `${name}.wat`, '-o', `${name}.wasm`], {
        cwd: folder,
        encoding: 'utf8',
      });
      if (result.error) return "wabt's wat2wasm is not installed (Debian package wabt)";
      if (result.status !== 0) return `wat2wasm failed: ${result.stderr.trim()}`;
      return new Uint8Array(fs.readFileSync(path.join(folder, `${name}.wasm`)));
    };
    const peaks = assemble('peaks', peaksWat(paths));
    if (typeof peaks === 'string') return { error: peaks };
    const streams = assemble('streams', streamsWat(Math.max(1, Math.ceil(memoryBytes / PAGE_BYTES))));
    if (typeof streams === 'string') return { error: streams };
    return { peaks, streams };
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
    const body = Array.from({ length: PEAK_UNROLL }, () => chains.map(update).join('\n        ')).join('\n        ');
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
  const loads = Array.from({ length: 8 }, (_, i) => `(local.set $r${i} (v128.xor (local.get $r${i}) (v128.load offset=${i * 16} (local.get $p))))`);
  const moves = Array.from({ length: 8 }, (_, i) => `(v128.store offset=${i * 16} (i32.add (local.get $p) (local.get $half)) (v128.load offset=${i * 16} (local.get $p)))`);
  return `(module
  (memory (export "memory") ${pages})
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

function instantiate(bytes: Uint8Array, imports: Record<string, Record<string, unknown>>): Record<string, Kernel> {
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
