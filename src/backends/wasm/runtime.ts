/**
 * What every `wasm` backend of one configuration shares in a process: the heap (one memory), the
 * worker pool on it, and the compiled kernel modules. Sessions come and go (a test suite or the
 * conformance runner creates thousands); workers and compiled modules are made once per thread
 * count and feature set, and the pool's workers do not keep the process alive.
 *
 * A kernel module is compiled and instantiated on the calling thread when first asked for (so
 * kernels can be prepared synchronously), and loaded into the pool the first time a kernel of it
 * runs on more than one thread.
 *
 * `parallel` is how a kernel runs a tiled loop: on the calling thread alone when the work is too
 * small to be worth waking the workers (or there are none), otherwise on the pool. Pool jobs run one
 * at a time; concurrent runs of sessions take turns. While a run is on, the calling thread starts
 * each pool job with a slice of the run's chores (`CallerChores`) sized to the job.
 */

import * as v8 from 'node:v8';
import type { CallerChores } from '../backend.js';
import type { WasmFeatures } from './features.js';
import { ModuleBuilder } from './assembler/index.js';
import { webAssembly } from '../../core/webassembly.js';
import { WasmHeap } from './heap.js';
import {
  tileBounds,
  tileCaller,
  tileCount,
  WorkerPool,
  type TileDone,
  type CallerWork,
  type PoolKernel,
  type PoolModule,
  type TiledRange,
} from './pool/index.js';

/** Below this much work (multiply-adds or bytes touched) a loop runs on the calling thread alone. */
const INLINE_WORK = 1 << 15;
/** A thread's multiply-adds per second on the GEMM, about: what a job of `work` takes, roughly. */
const WORK_PER_SECOND = 25e9;
/** Jobs with less work than this start without a chore: the workers would finish first and wait. */
const CHORE_MIN_WORK = 1 << 20;
/** The share of its expected time in a job the calling thread may spend on chores first. */
const CHORE_SHARE = 0.5;

type TileFunction = (...args: number[]) => unknown;

/** A compiled kernel module: its exports on the calling thread, and its place in the pool once loaded. */
export class KernelModule {
  private pooled?: Promise<PoolModule>;
  private readonly kernels = new Map<string, ModuleKernel>();

  constructor(
    readonly key: string,
    readonly bytes: Uint8Array,
    readonly exports: Readonly<Record<string, TileFunction>>,
  ) {}

  /** A kernel of this module, as `WasmRuntime.parallel` takes it (the same object for the same name). */
  kernel(name: string): ModuleKernel {
    let kernel = this.kernels.get(name);
    if (!kernel) {
      const local = this.exports[name];
      if (local === undefined) throw new Error(`kernel module '${this.key}' exports no function '${name}'`);
      kernel = { module: this, name, local };
      this.kernels.set(name, kernel);
    }
    return kernel;
  }

  /** @internal The module on the pool, loaded the first time it is needed there. */
  inPool(pool: WorkerPool): Promise<PoolModule> {
    this.pooled ??= pool.load(this.bytes);
    return this.pooled;
  }
}

export interface ModuleKernel {
  readonly module: KernelModule;
  readonly name: string;
  /** The export on the calling thread. */
  readonly local: TileFunction;
}

export class WasmRuntime {
  private static readonly shared = new Map<string, WasmRuntime>();
  private readonly modules = new Map<string, KernelModule>();
  private readonly poolKernels = new Map<ModuleKernel, PoolKernel>();
  private pool?: Promise<WorkerPool>;
  /** The pool once it has started: a job then reaches it without waiting on a promise. */
  private startedPool?: WorkerPool;
  /** The last pool job that went on past its call (or resolved): the next one starts after it. */
  private turn: Promise<unknown> = Promise.resolve();
  /**
   * Pool jobs going on past their call. With none, a job starts at once and usually ends before
   * its call returns; otherwise it queues behind them (another session's run on this runtime).
   */
  private jobsInFlight = 0;
  /** The chores of the runs going on. */
  private readonly chores = new Set<CallerChores>();

  private constructor(
    readonly heap: WasmHeap,
    readonly threads: number,
    readonly features: WasmFeatures,
  ) {}

  /** The process's runtime for this thread count and feature set, made on first use. */
  static for(threads: number, features: WasmFeatures): WasmRuntime {
    compileOptimizedFromTheStart();
    const usable = features.threads ? threads : 1;
    const key = `${usable}:${features.simd128}:${features.relaxedSimd}:${features.threads}`;
    let runtime = WasmRuntime.shared.get(key);
    if (!runtime) {
      runtime = new WasmRuntime(new WasmHeap({ shared: features.threads }), usable, features);
      WasmRuntime.shared.set(key, runtime);
    }
    return runtime;
  }

  /** The module built by `build`, compiled once per runtime and key. */
  module(key: string, build: () => ModuleBuilder): KernelModule {
    let module = this.modules.get(key);
    if (!module) {
      const builder = build();
      const bytes = builder.encode();
      const instance = new webAssembly.Instance(new webAssembly.Module(bytes), {
        env: { memory: this.heap.memory },
      });
      module = new KernelModule(key, bytes, instance.exports as Record<string, TileFunction>);
      this.modules.set(key, module);
    }
    return module;
  }

  /** A module builder importing this runtime's memory, as every kernel module must. */
  newModule(): ModuleBuilder {
    return new ModuleBuilder().importMemory('env', 'memory', {
      initial: 1,
      maximum: 65536,
      shared: this.heap.shared,
    });
  }

  /** Starts the worker pool now rather than on the first parallel loop (session creation does). */
  async ready(): Promise<void> {
    if (this.threads > 1) await this.startPool();
  }

  /**
   * Runs `kernel(thread, begin0, end0, ..., ...args)` once per tile of `range`. `work` (about the
   * multiply-adds or bytes of the whole loop) decides whether waking the workers pays. The result
   * is a promise only when the loop goes on past the call: queued behind another job, or on the
   * pool when its join had to wait on the event loop. `tileDone` is called on the calling thread
   * once for every tile, when it is finished (`CallerWork.tileDone`), before the loop returns or
   * resolves.
   */
  parallel(
    kernel: ModuleKernel,
    range: TiledRange,
    args: readonly number[],
    work: number,
    tileDone?: TileDone,
  ): void | Promise<void> {
    const tiles = tileCount(range.dims, range.tile);
    if (tiles === 0) return;
    if (this.threads === 1 || work < INLINE_WORK || tiles === 1) {
      forEachTile(range, tiles, kernel.local, args, tileDone);
      return;
    }
    const caller = { first: this.choreSlice(work), tileDone };
    const pooled = this.poolKernels.get(kernel);
    if (this.startedPool && pooled && this.jobsInFlight === 0)
      return this.inTurn(this.startedPool.parallelFor(range, pooled, args, caller));
    return this.inTurn(this.turn.then(() => this.runOnPool(kernel, range, args, caller)));
  }

  /** `job` as the one the next waits for, when it is still going on (a promise). */
  private inTurn(job: void | Promise<void>): void | Promise<void> {
    if (!job) return;
    this.jobsInFlight++;
    const over = () => {
      this.jobsInFlight--;
    };
    this.turn = job.then(over, over);
    return job;
  }

  /**
   * Marks a model's run as started: until it ends, the pool's workers stay awake between its
   * loops instead of parking in the gaps of host work, and its chores share the calling thread.
   */
  runStarted(chores?: CallerChores): void {
    if (chores) this.chores.add(chores);
    this.holdPool(true);
  }

  runEnded(chores?: CallerChores): void {
    if (chores) this.chores.delete(chores);
    this.holdPool(false);
  }

  /** What the calling thread does before its share of a pool job of `work`: a slice of chores. */
  private choreSlice(work: number): (() => void) | undefined {
    if (this.chores.size === 0 || work < CHORE_MIN_WORK) return undefined;
    const seconds = (CHORE_SHARE * work) / (WORK_PER_SECOND * this.threads);
    return () => {
      for (const chores of this.chores) {
        if (chores.work(seconds)) return;
        this.chores.delete(chores);
      }
    };
  }

  private holdPool(on: boolean): void {
    if (this.threads === 1) return;
    // A pool that fails to start fails the run's first loop, which says why.
    this.startPool().then(
      (pool) => pool.hold(on),
      () => undefined,
    );
  }

  private async runOnPool(
    kernel: ModuleKernel,
    range: TiledRange,
    args: readonly number[],
    caller: CallerWork,
  ): Promise<void> {
    const pool = this.startedPool ?? (await this.startPool());
    let pooled = this.poolKernels.get(kernel);
    if (!pooled) {
      pooled = (await kernel.module.inPool(pool)).kernel(kernel.name);
      this.poolKernels.set(kernel, pooled);
    }
    await pool.parallelFor(range, pooled, args, caller);
  }

  private startPool(): Promise<WorkerPool> {
    this.pool ??= WorkerPool.start({ memory: this.heap.memory, threads: this.threads, unref: true }).then(
      (pool) => (this.startedPool = pool),
    );
    return this.pool;
  }
}

let optimizedFromTheStart = false;

/**
 * V8 compiles WebAssembly with its baseline compiler first and optimizes hot functions later in
 * background threads: kernels would run several times slower for their first few hundred calls,
 * per-shape tuning would measure baseline code, and an idle session would still spend CPU on
 * optimizing. Kernel modules are small, so they are compiled optimized from the start.
 */
function compileOptimizedFromTheStart(): void {
  if (optimizedFromTheStart) return;
  v8.setFlagsFromString('--no-liftoff');
  optimizedFromTheStart = true;
}

/** Calls `kernel` on the `tiles` tiles of `range` in row-major order, as thread 0, and `tileDone` after each. */
function forEachTile(
  range: TiledRange,
  tiles: number,
  kernel: TileFunction,
  args: readonly number[],
  tileDone?: TileDone,
): void {
  const { dims, tile } = range;
  const told = tileDone && ((index: number) => tileDone(tileBounds(index, dims, tile)));
  const call = tileCaller(0, dims, tile, args, kernel, told);
  for (let index = 0; index < tiles; index++) call(index);
}
