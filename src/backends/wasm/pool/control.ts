/**
 * The pool's control block: one SharedArrayBuffer that every thread maps, holding the fork-join
 * signals, the descriptor of the current job and each thread's share of the job's tiles. A job's
 * tiles are split into one contiguous range per thread; the owner takes tiles from the front of its
 * range and a thread that has run out steals from the back of the others' (pthreadpool's scheme: a
 * per-range count of tiles left is decremented first, so front and back takers never cross).
 * Everything here is used alike by the calling thread and the workers.
 */

export const MAX_RANK = 6;
export const MAX_ARGS = 16;

/** What a released job asks each thread to do. */
export const JobKind = { run: 0, load: 1, exit: 2 } as const;
export type JobKind = (typeof JobKind)[keyof typeof JobKind];

const GENERATION = 0;
const PENDING = 1;
const SLEEPERS = 2;
const KIND = 3;
const MODULE = 4;
const EXPORT = 5;
const RANK = 6;
const ARG_COUNT = 7;
const DIMS = 8;
const TILE = DIMS + MAX_RANK;
const THREADS = TILE + MAX_RANK;

/** Per thread: tiles left in its range, the next front tile, one past the last back tile, and the last generation it finished. */
const REMAINING = 0;
const FRONT = 1;
const BACK = 2;
const DONE = 3;
const THREAD_SLOTS = 4;

/**
 * Atomics.load polls before a waiting thread parks (about 12 µs here): enough to catch the next job
 * of a run of back-to-back ones. Longer spins buy nothing back to back and cost at the next wake:
 * on the 2-core test machine a parked worker's wake-up grew with the spin before it, from 50 µs at
 * 2,000 polls to 300 µs at 50,000 (measured; seemingly the scheduler making up for the CPU the
 * thread had just used).
 */
const SPIN_POLLS = 2_000;

export interface JobDescriptor {
  kind: JobKind;
  module: number;
  exportIndex: number;
  dims: readonly number[];
  tile: readonly number[];
  args: readonly number[];
}

/** A kernel as a JavaScript function: `(thread, begin0, end0, ..., beginR-1, endR-1, ...args)`. */
export type TileKernel = (...args: number[]) => unknown;

export class ControlBlock {
  private readonly ints: Int32Array;
  private readonly args: Float64Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly threads: number,
  ) {
    const intCount = THREADS + THREAD_SLOTS * threads;
    this.ints = new Int32Array(buffer, 0, intCount);
    this.args = new Float64Array(buffer, argsOffset(threads), MAX_ARGS);
  }

  static create(threads: number): ControlBlock {
    return new ControlBlock(new SharedArrayBuffer(argsOffset(threads) + MAX_ARGS * 8), threads);
  }

  get generation(): number {
    return Atomics.load(this.ints, GENERATION);
  }

  get kind(): JobKind {
    return this.ints[KIND] as JobKind;
  }

  get module(): number {
    return this.ints[MODULE];
  }

  get exportIndex(): number {
    return this.ints[EXPORT];
  }

  get pending(): number {
    return Atomics.load(this.ints, PENDING);
  }

  doneGeneration(thread: number): number {
    return Atomics.load(this.ints, THREADS + THREAD_SLOTS * thread + DONE);
  }

  /** Writes the job, splits its tiles among the threads and releases the `workers` waiting ones. */
  release(job: JobDescriptor, workers: number): number {
    const ints = this.ints;
    ints[KIND] = job.kind;
    ints[MODULE] = job.module;
    ints[EXPORT] = job.exportIndex;
    ints[RANK] = job.dims.length;
    ints[ARG_COUNT] = job.args.length;
    job.dims.forEach((size, d) => (ints[DIMS + d] = size));
    job.tile.forEach((size, d) => (ints[TILE + d] = size));
    job.args.forEach((value, i) => (this.args[i] = value));
    const tiles = tileCount(job.dims, job.tile);
    for (let thread = 0; thread < this.threads; thread++) {
      const begin = Math.floor((tiles * thread) / this.threads);
      const end = Math.floor((tiles * (thread + 1)) / this.threads);
      const base = THREADS + THREAD_SLOTS * thread;
      ints[base + REMAINING] = end - begin;
      ints[base + FRONT] = begin;
      ints[base + BACK] = end;
    }
    Atomics.store(ints, PENDING, workers);
    const generation = Atomics.add(ints, GENERATION, 1) + 1;
    // Parked workers count themselves before waiting, so reading the count after the bump above
    // cannot miss one: a worker that counts itself later finds the new generation and never sleeps.
    if (Atomics.load(ints, SLEEPERS) > 0) Atomics.notify(ints, GENERATION);
    return generation;
  }

  /** A worker's wait for the generation after `seen`: spinning briefly, then parked. */
  awaitJob(seen: number): number {
    const ints = this.ints;
    for (let poll = 0; poll < SPIN_POLLS; poll++) {
      const generation = Atomics.load(ints, GENERATION);
      if (generation !== seen) return generation;
    }
    Atomics.add(ints, SLEEPERS, 1);
    Atomics.wait(ints, GENERATION, seen);
    Atomics.sub(ints, SLEEPERS, 1);
    return Atomics.load(ints, GENERATION);
  }

  /** A worker's end of a job; the last one wakes the calling thread if it waits. */
  finish(thread: number, generation: number): void {
    Atomics.store(this.ints, THREADS + THREAD_SLOTS * thread + DONE, generation);
    if (Atomics.sub(this.ints, PENDING, 1) === 1) Atomics.notify(this.ints, PENDING);
  }

  /** The calling thread's share of the join: true when every worker finished while it spun. */
  spinForWorkers(): boolean {
    for (let poll = 0; poll < SPIN_POLLS; poll++) if (Atomics.load(this.ints, PENDING) === 0) return true;
    return false;
  }

  /** The calling thread's join after spinning: parked without blocking its event loop, which reports dead workers. */
  async waitForWorkers(): Promise<void> {
    for (let pending = this.pending; pending !== 0; pending = this.pending) {
      const waited = waitAsync(this.ints, PENDING, pending);
      if (waited.async) await waited.value;
    }
  }

  /** Counts a worker that died before finishing the job as finished, so the join completes. */
  abandon(thread: number, generation: number): void {
    if (this.doneGeneration(thread) !== generation) this.finish(thread, generation);
  }

  /** Runs tiles of the current job on `thread`: its own range from the front, then the others' from the back. */
  runShare(thread: number, kernel: TileKernel): void {
    const call = this.tileCaller(thread, kernel);
    for (let tile = this.claimFront(thread); tile >= 0; tile = this.claimFront(thread)) call(tile);
    for (let step = 1; step < this.threads; step++) {
      const victim = (thread + step) % this.threads;
      for (let tile = this.claimBack(victim); tile >= 0; tile = this.claimBack(victim)) call(tile);
    }
  }

  private claimFront(thread: number): number {
    const base = THREADS + THREAD_SLOTS * thread;
    if (Atomics.sub(this.ints, base + REMAINING, 1) <= 0) return -1;
    return Atomics.add(this.ints, base + FRONT, 1);
  }

  private claimBack(thread: number): number {
    const base = THREADS + THREAD_SLOTS * thread;
    if (Atomics.sub(this.ints, base + REMAINING, 1) <= 0) return -1;
    return Atomics.sub(this.ints, base + BACK, 1) - 1;
  }

  /** Calls the kernel on one tile, given by its row-major index among the job's tiles. */
  private tileCaller(thread: number, kernel: TileKernel): (tile: number) => void {
    const rank = this.ints[RANK];
    const dims = Array.from(this.ints.subarray(DIMS, DIMS + rank));
    const tile = Array.from(this.ints.subarray(TILE, TILE + rank));
    const tilesPerDim = dims.map((size, d) => Math.ceil(size / tile[d]));
    const argv = [
      thread,
      ...new Array<number>(2 * rank).fill(0),
      ...this.args.subarray(0, this.ints[ARG_COUNT]),
    ];
    return (index) => {
      for (let d = rank - 1; d >= 0; d--) {
        const coordinate = index % tilesPerDim[d];
        index = (index - coordinate) / tilesPerDim[d];
        const begin = coordinate * tile[d];
        argv[1 + 2 * d] = begin;
        argv[2 + 2 * d] = Math.min(begin + tile[d], dims[d]);
      }
      Reflect.apply(kernel, undefined, argv);
    };
  }
}

export function tileCount(dims: readonly number[], tile: readonly number[]): number {
  return dims.reduce((count, size, d) => count * Math.ceil(size / tile[d]), 1);
}

type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };

/** `Atomics.waitAsync` (ES2024, in Node 20) typed here, since the project compiles against ES2022. */
function waitAsync(array: Int32Array, index: number, value: number): WaitAsyncResult {
  return (Atomics as unknown as { waitAsync: typeof waitAsync }).waitAsync(array, index, value);
}

function argsOffset(threads: number): number {
  const intBytes = (THREADS + THREAD_SLOTS * threads) * 4;
  return Math.ceil(intBytes / 8) * 8;
}
