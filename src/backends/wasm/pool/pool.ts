/**
 * The `wasm` backend's thread pool (the pthreadpool model of DESIGN): N threads — the calling thread
 * and N−1 `worker_threads` — that share one `WebAssembly.Memory({ shared: true })` and one
 * control block. `parallelFor` splits an N-dimensional tiled range into one contiguous run of tiles
 * per thread, releases the workers with one generation bump, works on its own run like any other
 * thread, steals what is left, and joins on an atomic count. Kernels are WebAssembly exports of
 * modules every thread has instantiated on the shared memory. A worker that dies fails the job
 * it was in, naming it, and is replaced before the next job starts.
 */

import { availableParallelism } from 'node:os';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { webAssembly, type WasmMemory } from '../../../core/webassembly.js';
import { describeMachine } from '../../../host/machine.js';
import {
  ControlBlock,
  JobKind,
  MAX_ARGS,
  MAX_RANK,
  tileBounds,
  tileCount,
  type JobDescriptor,
  type JoinCounter,
  type TileDone,
  type TileKernel,
} from './control.js';
import { functionExportNames, functionExports } from './exports.js';
import type { PoolWorkerData } from './worker.js';

export interface PoolOptions {
  /** The shared memory every thread's modules import as `env.memory`. */
  memory: WasmMemory;
  /** Threads including the calling one; default: the physical cores (the logical ones where unknown). */
  threads?: number;
  /**
   * Whether idle workers let the process exit (default false: like any worker, they keep it
   * alive until `close`). A process-wide pool sets it, so a program that never closes it still ends.
   */
  unref?: boolean;
}

/**
 * What the calling thread does in a job besides its tiles: `first` once the workers have the job,
 * before it takes a tile (they take over its share meanwhile); `tileDone` once for every tile of
 * the job, when it is finished — the calling thread's own as it runs them, the workers' as it
 * learns of them between its own, the rest when the job is over — so that it can use a tile's
 * results while the workers compute on.
 */
export interface CallerWork {
  first?: () => void;
  tileDone?: TileDone;
}

/** `dims` split into tiles of `tile` elements per dimension (the last tile of a dimension may be short). */
export interface TiledRange {
  dims: readonly number[];
  tile: readonly number[];
}

/** An export of a loaded module, as a job names it. */
export interface PoolKernel {
  readonly module: number;
  readonly exportIndex: number;
  readonly name: string;
}

export class PoolModule {
  constructor(
    readonly id: number,
    private readonly exportNames: readonly string[],
  ) {}

  kernel(name: string): PoolKernel {
    const exportIndex = this.exportNames.indexOf(name);
    if (exportIndex < 0) throw new PoolError(`module ${this.id} exports no function '${name}'`);
    return { module: this.id, exportIndex, name };
  }
}

export class PoolError extends Error {
  override readonly name = 'PoolError';
}

interface WorkerSlot {
  readonly thread: number;
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly exited: Promise<unknown>;
  error?: Error;
}

interface ActiveJob {
  readonly generation: number;
  readonly kind: JobKind;
  readonly failures: string[];
}

export class WorkerPool {
  private readonly slots: WorkerSlot[] = [];
  private readonly moduleBytes: Uint8Array[] = [];
  private readonly kernels: TileKernel[][] = [];
  private readonly starting = new Set<Promise<void>>();
  private active?: ActiveJob;
  private closed = false;

  private constructor(
    private readonly control: ControlBlock,
    private readonly memory: WasmMemory,
    private readonly unref: boolean,
  ) {}

  static async start(options: PoolOptions): Promise<WorkerPool> {
    if (!(options.memory.buffer instanceof SharedArrayBuffer)) {
      throw new PoolError('the pool needs a shared WebAssembly.Memory (created with shared: true)');
    }
    const threads = options.threads ?? defaultThreadCount();
    if (!Number.isInteger(threads) || threads < 1)
      throw new PoolError(`thread count ${threads} is not a positive integer`);
    const pool = new WorkerPool(ControlBlock.create(threads), options.memory, options.unref === true);
    for (let thread = 1; thread < threads; thread++) pool.spawn(thread);
    try {
      await pool.recovered();
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Threads that run a job, the calling one included. */
  get threads(): number {
    return this.control.threads;
  }

  /** Compiles `bytes` on every thread and instantiates it on the shared memory. */
  async load(bytes: Uint8Array): Promise<PoolModule> {
    const instance = new webAssembly.Instance(new webAssembly.Module(bytes), {
      env: { memory: this.memory },
    });
    await this.recovered();
    this.assertIdle('load a module');
    const id = this.moduleBytes.length;
    for (const slot of this.slots) slot.port.postMessage(bytes);
    // Listed before the job so that a worker replaced meanwhile compiles it as it starts.
    this.moduleBytes.push(bytes);
    await this.runJob(() => `loading module ${id}`, {
      kind: JobKind.load,
      module: id,
      exportIndex: 0,
      dims: [],
      tile: [],
      args: [],
    });
    this.kernels.push(functionExports(instance));
    return new PoolModule(id, functionExportNames(instance));
  }

  /**
   * Runs `kernel(thread, begin0, end0, ..., ...args)` once per tile of `range` on all threads.
   * Returns nothing when every tile has run by the time the calling thread is through its share
   * and the workers are out (the usual case: no promise to make, no microtask to wait for), a
   * promise that resolves then otherwise; it fails as a rejected promise. One job at a time: await
   * each before the next. `caller`: what the calling thread does besides its tiles.
   */
  parallelFor(
    range: TiledRange,
    kernel: PoolKernel,
    args: readonly number[] = [],
    caller: CallerWork = {},
  ): void | Promise<void> {
    try {
      checkRange(range, args);
      if (this.starting.size > 0)
        return this.recovered().then(() => this.parallelFor(range, kernel, args, caller));
      this.assertIdle('start a parallel region');
      if (tileCount(range.dims, range.tile) === 0) return;
      const job: JobDescriptor = {
        kind: JobKind.run,
        module: kernel.module,
        exportIndex: kernel.exportIndex,
        dims: range.dims,
        tile: range.tile,
        args,
      };
      const describe = () =>
        `parallel region '${kernel.name}' over [${range.dims}] in tiles of [${range.tile}]`;
      return this.runJob(describe, job, this.kernels[kernel.module][kernel.exportIndex], caller);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Keeps the workers awake between jobs (`true`) until as many `hold(false)` calls let go: a
   * model's run holds the pool from its first step to its last. A worker still parks when no job
   * comes for a millisecond (the calling thread collecting garbage, or in a long host step).
   */
  hold(on: boolean): void {
    this.control.hold(on);
  }

  /** Stops the workers; the pool cannot run jobs afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.assertIdle('close');
    this.closed = true;
    await Promise.allSettled(this.starting);
    this.control.release({ kind: JobKind.exit, module: 0, exportIndex: 0, dims: [], tile: [], args: [] }, 0);
    await Promise.all(this.slots.map((slot) => slot.exited));
  }

  /**
   * Releases `job`, runs the calling thread's share and joins: on the spot when the workers are out
   * by the end of a short spin, on the event loop otherwise. `describe` names the job in the error
   * when it fails (built then only: jobs come thousands a second).
   */
  private runJob(
    describe: () => string,
    job: JobDescriptor,
    kernel?: TileKernel,
    caller: CallerWork = {},
  ): void | Promise<void> {
    const generation = this.control.release(job, this.slots.length);
    const active: ActiveJob = { generation, kind: job.kind, failures: [] };
    this.active = active;
    const finished = caller.tileDone && new FinishedTiles(this.control, job, caller.tileDone);
    let callerError: unknown;
    try {
      caller.first?.();
      if (kernel !== undefined) this.control.runShare(0, kernel, finished?.ranByCaller);
    } catch (error) {
      callerError = error;
    }
    const settle = () => this.settle(describe, active, finished, callerError);
    // A run job waits only for the threads that took part, once no tile is left (a worker that
    // has not woken yet is not waited for); loading a module, for every worker to have done it.
    if (job.kind === JobKind.run) {
      this.control.close();
      if (this.control.spinForWorkers('active')) return settle();
      return this.waitOnEventLoop('active').then(settle, (error: unknown) => this.forgetJob(error));
    }
    return this.joinLoad().then(settle, (error: unknown) => this.forgetJob(error));
  }

  private async joinLoad(): Promise<void> {
    await this.join('pending');
    this.control.close();
    await this.join('active');
  }

  /** A join that failed (not a job that did: `settle` reports those): the pool is free again. */
  private forgetJob(error: unknown): never {
    this.active = undefined;
    throw error;
  }

  /** The end of a job every thread is out of: the tiles not told yet, and what failed. */
  private settle(
    describe: () => string,
    active: ActiveJob,
    finished: FinishedTiles | undefined,
    callerError: unknown,
  ): void {
    this.active = undefined;
    if (callerError === undefined && active.failures.length === 0) {
      try {
        finished?.rest();
      } catch (error) {
        callerError = error;
      }
    }
    if (callerError !== undefined)
      active.failures.unshift(`the calling thread failed (${errorText(callerError)})`);
    if (active.failures.length > 0)
      throw new PoolError(`${describe()} failed: ${active.failures.join('; ')}`);
  }

  /**
   * Waits until `counter` reaches zero: spinning briefly, then on the event loop (which is where a
   * dying worker is heard of).
   */
  private async join(counter: JoinCounter): Promise<void> {
    if (!this.control.spinForWorkers(counter)) await this.waitOnEventLoop(counter);
  }

  /** The wait of `join` after its spin; an unreferenced pool holds the process open only while it waits. */
  private async waitOnEventLoop(counter: JoinCounter): Promise<void> {
    const keepAlive = this.unref ? setInterval(() => undefined, 1 << 30) : undefined;
    try {
      await this.control.waitForWorkers(counter);
    } finally {
      if (keepAlive !== undefined) clearInterval(keepAlive);
    }
  }

  private spawn(thread: number): void {
    const channel = new MessageChannel();
    const workerData: PoolWorkerData = {
      control: this.control.buffer,
      threads: this.threads,
      thread,
      memory: this.memory,
      modules: this.moduleBytes,
      port: channel.port2,
    };
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData,
      transferList: [channel.port2],
    });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const slot: WorkerSlot = { thread, worker, port: channel.port1, exited };
    this.slots[thread - 1] = slot;
    const ready = new Promise<void>((resolve, reject) => {
      const onExit = (code: number) =>
        reject(new PoolError(`pool worker ${thread} exited with code ${code} while starting`));
      worker.once('error', reject);
      worker.once('exit', onExit);
      worker.once('message', () => {
        // Referenced while starting, so that the process waits for the worker to be ready.
        if (this.unref) worker.unref();
        worker.off('error', reject);
        worker.off('exit', onExit);
        worker.on('error', (error) => (slot.error = error));
        worker.on('exit', (code) => this.onWorkerExit(slot, code));
        resolve();
      });
    });
    this.starting.add(ready);
    ready.then(
      () => this.starting.delete(ready),
      () => this.starting.delete(ready),
    );
  }

  private onWorkerExit(slot: WorkerSlot, code: number): void {
    slot.port.close();
    if (this.closed) return;
    const cause = slot.error !== undefined ? errorText(slot.error) : `exit code ${code}`;
    if (this.active !== undefined) {
      this.active.failures.push(`worker thread ${slot.thread} died (${cause})`);
      this.control.abandon(slot.thread, this.active.generation, this.active.kind);
    }
    this.spawn(slot.thread);
  }

  /** Waits until every worker that is starting (at creation or replacing a dead one) is ready. */
  private async recovered(): Promise<void> {
    while (this.starting.size > 0) await Promise.all(this.starting);
  }

  private assertIdle(action: string): void {
    if (this.closed) throw new PoolError(`cannot ${action}: the pool is closed`);
    if (this.active !== undefined)
      throw new PoolError(`cannot ${action} while a job is running: await it first`);
  }
}

function defaultThreadCount(): number {
  const physical = describeMachine().cpu.physicalCores;
  return typeof physical === 'number' ? physical : availableParallelism();
}

function checkRange(range: TiledRange, args: readonly number[]): void {
  const { dims, tile } = range;
  if (dims.length < 1 || dims.length > MAX_RANK || tile.length !== dims.length) {
    throw new PoolError(
      `a range needs 1 to ${MAX_RANK} dimensions and one tile size per dimension: [${dims}] / [${tile}]`,
    );
  }
  if (dims.some((size) => !Number.isInteger(size) || size < 0 || size > 0x7fffffff)) {
    throw new PoolError(`range dimensions [${dims}] must be non-negative 32-bit integers`);
  }
  if (tile.some((size) => !Number.isInteger(size) || size < 1)) {
    throw new PoolError(`tile sizes [${tile}] must be positive integers`);
  }
  if (tileCount(dims, tile) > 0x7fffffff)
    throw new PoolError(`range [${dims}] has more tiles than a 32-bit count holds`);
  if (args.length > MAX_ARGS)
    throw new PoolError(`a kernel takes at most ${MAX_ARGS} extra arguments, not ${args.length}`);
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Tells the calling thread of each finished tile of a job once (`CallerWork.tileDone`). */
class FinishedTiles {
  private readonly told: Uint8Array;
  /** Per worker thread: the end of the tiles at the front of its range told so far. */
  private readonly toldFromFront: number[];

  constructor(
    private readonly control: ControlBlock,
    private readonly job: JobDescriptor,
    private readonly tell: TileDone,
  ) {
    this.told = new Uint8Array(tileCount(job.dims, job.tile));
    this.toldFromFront = new Array<number>(control.threads).fill(0);
  }

  /** After each tile the calling thread ran: that one, and what the workers have finished since. */
  readonly ranByCaller = (tile: number): void => {
    this.report(tile);
    for (let thread = 1; thread < this.control.threads; thread++) {
      const { begin, end } = this.control.finishedFromFront(thread, this.told.length);
      for (let index = Math.max(begin, this.toldFromFront[thread]!); index < end; index++) this.report(index);
      this.toldFromFront[thread] = end;
    }
  };

  /** Once every thread is out of the job: the tiles not told yet. */
  rest(): void {
    for (let index = 0; index < this.told.length; index++) this.report(index);
  }

  private report(index: number): void {
    if (this.told[index]) return;
    this.told[index] = 1;
    this.tell(tileBounds(index, this.job.dims, this.job.tile));
  }
}
