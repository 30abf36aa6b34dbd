/**
 * What does an empty parallel region cost on the wasm backend's worker pool? Times `parallelFor`
 * over one tile per thread of a kernel that does nothing, back to back (the workers are still
 * spinning when the next region starts, as between the kernels of one run), and again with an idle
 * pause before each region (the workers are parked and must be woken). Then measures the CPU the
 * process uses while the pool sits idle. Prints medians in microseconds.
 * Run: npm run build && node dist/bench/fork-join.js [threads]
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ModuleBuilder, webAssembly } from '../src/backends/wasm/assembler/index.js';
import { WorkerPool, type PoolKernel } from '../src/backends/wasm/pool/index.js';

const BACK_TO_BACK_REGIONS = 20_000;
const AFTER_PAUSE_REGIONS = 200;
const IDLE_MS = 1000;

function emptyKernelModule(): Uint8Array {
  const module = new ModuleBuilder().importMemory('env', 'memory', { initial: 1, maximum: 1, shared: true });
  module.function('empty', {
    params: [
      ['thread', 'i32'],
      ['begin', 'i32'],
      ['end', 'i32'],
    ],
    export: true,
  });
  return module.encode();
}

async function regionMicros(pool: WorkerPool, kernel: PoolKernel): Promise<number> {
  const start = process.hrtime.bigint();
  await pool.parallelFor({ dims: [pool.threads], tile: [1] }, kernel);
  return Number(process.hrtime.bigint() - start) / 1000;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const threads = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const memory = new webAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const pool = await WorkerPool.start({ memory, threads });
  try {
    const kernel = (await pool.load(emptyKernelModule())).kernel('empty');
    for (let i = 0; i < 1000; i++) await regionMicros(pool, kernel);

    const backToBack: number[] = [];
    for (let i = 0; i < BACK_TO_BACK_REGIONS; i++) backToBack.push(await regionMicros(pool, kernel));

    const afterPause: number[] = [];
    for (let i = 0; i < AFTER_PAUSE_REGIONS; i++) {
      await sleep(5);
      afterPause.push(await regionMicros(pool, kernel));
    }

    await sleep(50);
    const cpuBefore = process.cpuUsage();
    const idleStart = performance.now();
    await sleep(IDLE_MS);
    const cpu = process.cpuUsage(cpuBefore);
    const idleShare = (cpu.user + cpu.system) / ((performance.now() - idleStart) * 1000);

    console.log(`threads: ${pool.threads}`);
    console.log(`empty parallel region, back to back: median ${median(backToBack).toFixed(2)} µs`);
    console.log(`empty parallel region, workers parked: median ${median(afterPause).toFixed(2)} µs`);
    console.log(`idle pool: ${(idleShare * 100).toFixed(3)}% of one core over ${IDLE_MS} ms`);
  } finally {
    await pool.close();
  }
}

await main();
