/**
 * Micro-benchmarks of the wasm backend's scheduling, beside issue 6's targets, as one table:
 * - the fork-join cost of an empty parallel region (one tile per thread of a kernel that does
 *   nothing), on the worker pool itself and through `WasmRuntime.parallel` as kernels call it,
 *   back to back (workers still spinning, as between the kernels of one run) and after an idle
 *   pause (workers parked on `Atomics.wait`, to be woken);
 * - the CPU an idle session uses: a wasm session of a suite model makes one run, settles for
 *   250 ms (its workers park a few milliseconds after the run), then sits idle for ~2 s while the
 *   process's CPU time is read, as a percentage of one core.
 * GEMM throughput has its own benchmark (bench/gemm.ts).
 *
 * Run: npm run build && node dist/bench/micro.js [--threads N] [--model path/to/model.onnx]
 */

import Table from 'cli-table3';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ModuleKernel, WasmRuntime } from '../src/backends/wasm/runtime.js';
import { WasmBackend } from '../src/backends/wasm/backend.js';
import { WorkerPool, type PoolKernel } from '../src/backends/wasm/pool/index.js';
import { seededRandom } from '../src/core/random.js';
import { InferenceSession, type FeedsType } from '../src/runtime/session.js';
import { randomFeed } from '../src/cli/random-inputs.js';
import { exportModels, modelsDir } from '../test/helpers/models.js';

const WARMUP_REGIONS = 1000;
const BACK_TO_BACK_REGIONS = 20_000;
const AFTER_PAUSE_REGIONS = 200;
const PAUSE_MS = 5;
const IDLE_MS = 2000;
const SETTLE_MS = 250;
/** Issue 6's targets. */
const REGION_TARGET_US = 5;
const IDLE_TARGET_PERCENT = 1;
/** Large enough that the runtime always hands the region to the pool rather than run it inline. */
const POOL_WORK = Number.MAX_SAFE_INTEGER;
const IDLE_MODEL = 'squeezenet1_1';

interface Row {
  measure: string;
  value: string;
  target: string;
  met?: boolean;
}

async function main(): Promise<void> {
  // Spinning workers lose their cores to other tenants: the load says how far to trust the figures.
  const load = os.loadavg()[0]!.toFixed(2);
  const { values } = parseArgs({
    options: { threads: { type: 'string', default: '2' }, model: { type: 'string' } },
  });
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`--threads must be a positive integer, got '${values.threads}'`);
  const backend = new WasmBackend({ threads, tune: false });
  await backend.initialize();
  const rows = [
    ...(await poolRegions(backend.runtime)),
    ...(await runtimeRegions(backend.runtime)),
    await idleSession(threads, values.model ?? suiteModel(IDLE_MODEL)),
  ];
  backend.dispose();
  // Colour only on a terminal: piped output stays plain text.
  const table = new Table({
    head: ['measure', 'median / share', 'target', 'met'],
    style: process.stdout.isTTY ? {} : { head: [], border: [] },
  });
  for (const row of rows)
    table.push([row.measure, row.value, row.target, row.met === undefined ? '–' : row.met ? 'yes' : 'NO']);
  console.log(`wasm backend micro-benchmarks, ${backend.threads} thread(s); load average before: ${load}`);
  console.log(table.toString());
}

/** An exported `empty(thread, begin, end)` in a module importing the runtime's memory. */
function emptyKernel(runtime: WasmRuntime): ModuleKernel {
  const module = runtime.module('micro_empty_region', () => {
    const builder = runtime.newModule();
    builder.function('empty', {
      params: [
        ['thread', 'i32'],
        ['begin', 'i32'],
        ['end', 'i32'],
      ],
      export: true,
    });
    return builder;
  });
  return module.kernel('empty');
}

/** The pool alone: a pool of its own on the runtime's memory, running the empty kernel. */
async function poolRegions(runtime: WasmRuntime): Promise<Row[]> {
  const pool = await WorkerPool.start({ memory: runtime.heap.memory, threads: runtime.threads });
  try {
    const kernel: PoolKernel = (await pool.load(emptyKernel(runtime).module.bytes)).kernel('empty');
    const region = () => pool.parallelFor({ dims: [pool.threads], tile: [1] }, kernel);
    return await regionRows('WorkerPool.parallelFor', region);
  } finally {
    await pool.close();
  }
}

/** The path kernels take: `WasmRuntime.parallel`, with its turn-taking between sessions. */
async function runtimeRegions(runtime: WasmRuntime): Promise<Row[]> {
  const kernel = emptyKernel(runtime);
  const region = () => runtime.parallel(kernel, { dims: [runtime.threads], tile: [1] }, [], POOL_WORK);
  return regionRows('WasmRuntime.parallel', region);
}

/** `region` returns a promise only when the join had to wait on the event loop. */
async function regionRows(label: string, region: () => void | Promise<void>): Promise<Row[]> {
  const micros = async () => {
    const start = process.hrtime.bigint();
    const joined = region();
    if (joined) await joined;
    return Number(process.hrtime.bigint() - start) / 1000;
  };
  for (let i = 0; i < WARMUP_REGIONS; i++) await micros();
  const backToBack: number[] = [];
  for (let i = 0; i < BACK_TO_BACK_REGIONS; i++) backToBack.push(await micros());
  const afterPause: number[] = [];
  for (let i = 0; i < AFTER_PAUSE_REGIONS; i++) {
    await sleep(PAUSE_MS);
    afterPause.push(await micros());
  }
  const spinning = median(backToBack);
  return [
    {
      measure: `empty region, ${label}, back to back`,
      value: `${spinning.toFixed(2)} µs`,
      target: `≤ ${REGION_TARGET_US} µs`,
      met: spinning <= REGION_TARGET_US,
    },
    {
      measure: `empty region, ${label}, workers parked`,
      value: `${median(afterPause).toFixed(2)} µs`,
      target: '(wake-up cost)',
    },
  ];
}

/** CPU time of the whole process while a wasm session that has just run sits idle. */
async function idleSession(threads: number, model: string): Promise<Row> {
  const session = await InferenceSession.create(model, {
    executionProviders: ['wasm'],
    intraOpNumThreads: threads,
  });
  const random = seededRandom(42);
  const feeds: FeedsType = {};
  for (const meta of session.inputMetadata) feeds[meta.name] = randomFeed(meta, {}, random);
  await session.run(feeds);
  // The workers spin for a few milliseconds after a run's last loop (the pool's hold) before
  // they park: idle is what follows.
  await sleep(SETTLE_MS);
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await sleep(IDLE_MS);
  const cpu = process.cpuUsage(cpuBefore);
  const percent = ((cpu.user + cpu.system) / ((performance.now() - start) * 1000)) * 100;
  await session.release();
  return {
    measure: `idle wasm session after a run (${path.basename(path.dirname(model))}), ${IDLE_MS / 1000} s`,
    value: `${percent.toFixed(3)}% of a core`,
    target: `< ${IDLE_TARGET_PERCENT}%`,
    met: percent < IDLE_TARGET_PERCENT,
  };
}

function suiteModel(name: string): string {
  const exported = exportModels([name]);
  if (exported.skipReason || exported.failure) throw new Error(exported.skipReason ?? exported.failure);
  return path.join(modelsDir, name, 'model.onnx');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

await main();
