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
const HOLD_UNTIL = 8;
const HELD = 9;
/** The generation of the job threads may still enter, or 0 once its caller has closed it. */
const OPEN = 10;
/** Threads inside the open job (entered, not yet left). */
const ACTIVE = 11;
const DIMS = 12;
const TILE = DIMS + MAX_RANK;
const THREADS = TILE + MAX_RANK;

/** Per thread: tiles left in its range, the next front tile, one past the last back tile, and the last generation it finished. */
const REMAINING = 0;
const FRONT = 1;
const BACK = 2;
const DONE = 3;
/** The generation of the job the thread is inside, or 0. */
const INSIDE = 4;
const THREAD_SLOTS = 5;

/**
 * Atomics.load polls before a waiting thread parks (about 12 µs here): enough to catch the next job
 * of a run of back-to-back ones. Longer spins buy nothing back to back and cost at the next wake:
 * on the 2-core test machine a parked worker's wake-up grew with the spin before it, from 50 µs at
 * 2,000 polls to 300 µs at 50,000 (measured; seemingly the scheduler making up for the CPU the
 * thread had just used).
 */
const SPIN_POLLS = 2_000;

/**
 * Workers stay awake (spinning, not parked) while the pool is held — a model's run holds it from
 * its first step to its last, releasing jobs back to back with host work between them (a
 * reference kernel, staging, the executor's bookkeeping) — and for HOLD_MS (Date.now() ms) after
 * each job's release, though never longer than SPIN_LIMIT_MS at a stretch. A parked worker costs
 * the next job a wake-up of 50 µs to several ms on this VM; an idle session still parks its
 * workers within milliseconds and uses no CPU.
 */
const HOLD_MS = 5;
/**
 * The longest a waiting worker spins at a stretch, held or not. Host work between a run's jobs
 * takes microseconds; a calling thread away for longer is mostly in a garbage collection (V8's
 * mark-compact pauses it for milliseconds, with marking threads of its own) or a long host step,
 * and a worker spinning through that takes a core from it. Parking then halved the collector's
 * pauses in GPT's runs on the 2-core machine (3.3–3.9 to 1.7–2.1 ms a run, measured).
 */
const SPIN_LIMIT_MS = 1;
/** The most the calling thread spins for the workers before it waits on its event loop. */
const JOIN_SPIN_MS = 5;

export interface JobDescriptor {
  kind: JobKind;
  module: number;
  exportIndex: number;
  dims: readonly number[];
  tile: readonly number[];
  args: readonly number[];
}

/** What a join waits on: each worker's own work (loading, exiting) or the threads inside a job. */
export type JoinCounter = 'pending' | 'active';

/** A kernel as a JavaScript function: `(thread, begin0, end0, ..., beginR-1, endR-1, ...args)`. */
export type TileKernel = (...args: number[]) => unknown;

/** Told of a finished tile, by its `[begin0, end0, ..., beginR-1, endR-1]`. */
export type TileDone = (bounds: readonly number[]) => void;

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
    for (let d = 0; d < job.dims.length; d++) {
      ints[DIMS + d] = job.dims[d];
      ints[TILE + d] = job.tile[d];
    }
    for (let i = 0; i < job.args.length; i++) this.args[i] = job.args[i];
    const tiles = tileCount(job.dims, job.tile);
    for (let thread = 0; thread < this.threads; thread++) {
      const { begin, end } = ownRange(tiles, thread, this.threads);
      const base = THREADS + THREAD_SLOTS * thread;
      ints[base + REMAINING] = end - begin;
      ints[base + FRONT] = begin;
      ints[base + BACK] = end;
    }
    // A run job's tiles are done by whoever takes them: it waits for no particular worker. Loading
    // a module and exiting are each worker's own work.
    Atomics.store(ints, PENDING, job.kind === JobKind.run ? 0 : workers);
    Atomics.store(ints, HOLD_UNTIL, (Date.now() + HOLD_MS) | 0);
    const generation = Atomics.load(ints, GENERATION) + 1;
    Atomics.store(ints, OPEN, generation);
    Atomics.store(ints, GENERATION, generation);
    // Parked workers count themselves before waiting, so reading the count after the bump above
    // cannot miss one: a worker that counts itself later finds the new generation and never sleeps.
    if (Atomics.load(ints, SLEEPERS) > 0) Atomics.notify(ints, GENERATION);
    return generation;
  }

  /**
   * A worker's wait for the generation after `seen`: spinning while the pool is held or the last
   * job's hold lasts, for SPIN_LIMIT_MS at most, then parked.
   */
  awaitJob(seen: number): number {
    const ints = this.ints;
    for (;;) {
      const spinEnd = performance.now() + SPIN_LIMIT_MS;
      do {
        for (let poll = 0; poll < SPIN_POLLS; poll++) {
          const generation = Atomics.load(ints, GENERATION);
          if (generation !== seen) return generation;
        }
      } while (this.holding() && performance.now() < spinEnd);
      Atomics.add(ints, SLEEPERS, 1);
      Atomics.wait(ints, GENERATION, seen);
      Atomics.sub(ints, SLEEPERS, 1);
      const generation = Atomics.load(ints, GENERATION);
      if (generation !== seen) return generation;
      // Woken by a hold, not a job: spin for the job the hold announces.
    }
  }

  /**
   * A worker's entry into the job of `generation`: false when the job is over already (its tiles
   * were all taken and its caller has closed it: a late worker is not waited for), and then the
   * descriptor may be the next job's, half written. Inside, the descriptor stays as it is until
   * the thread leaves: the caller closes the job and waits for every thread inside to leave
   * before it writes another. (Counting in before reading OPEN, against the caller closing before
   * reading the count, is what makes this safe: with sequentially consistent atomics one of the
   * two sees the other.)
   */
  enter(thread: number, generation: number): boolean {
    Atomics.add(this.ints, ACTIVE, 1);
    Atomics.store(this.ints, THREADS + THREAD_SLOTS * thread + INSIDE, generation);
    if (Atomics.load(this.ints, OPEN) === generation) return true;
    this.leave(thread);
    return false;
  }

  /** A thread's exit from the job it entered; the last one out wakes a caller waiting to close it. */
  leave(thread: number): void {
    Atomics.store(this.ints, THREADS + THREAD_SLOTS * thread + INSIDE, 0);
    if (Atomics.sub(this.ints, ACTIVE, 1) === 1) Atomics.notify(this.ints, ACTIVE);
  }

  /** The caller's end of a job, once its work is done: no thread may enter it any more. */
  close(): void {
    Atomics.store(this.ints, OPEN, 0);
  }

  /** A worker's end of its own work in a load job; the last one wakes the calling thread if it waits. */
  finish(thread: number, generation: number): void {
    Atomics.store(this.ints, THREADS + THREAD_SLOTS * thread + DONE, generation);
    if (Atomics.sub(this.ints, PENDING, 1) === 1) Atomics.notify(this.ints, PENDING);
  }

  /**
   * The calling thread's share of the join: true when every worker finished while it spun. The
   * spin is bounded, so that a worker that died (which only the event loop hears of) is noticed.
   */
  spinForWorkers(counter: JoinCounter): boolean {
    const index = joinIndex(counter);
    const until = Date.now() + JOIN_SPIN_MS;
    do {
      for (let poll = 0; poll < SPIN_POLLS; poll++) if (Atomics.load(this.ints, index) === 0) return true;
    } while (Date.now() < until);
    return false;
  }

  /**
   * Holds the workers awake (`true`, counted; parked ones are woken now, so that their wake-up
   * overlaps the host work before the first job) or lets them park again once every hold is let go.
   */
  hold(on: boolean): void {
    Atomics.add(this.ints, HELD, on ? 1 : -1);
    if (on && Atomics.load(this.ints, SLEEPERS) > 0) Atomics.notify(this.ints, GENERATION);
  }

  /** True while the pool is held or the last job's hold lasts (compared modulo 2³²: the slot holds Date.now()'s low bits). */
  private holding(): boolean {
    if (Atomics.load(this.ints, HELD) > 0) return true;
    return (((Date.now() | 0) - Atomics.load(this.ints, HOLD_UNTIL)) | 0) < 0;
  }

  /** The calling thread's join after spinning: parked without blocking its event loop, which reports dead workers. */
  async waitForWorkers(counter: JoinCounter): Promise<void> {
    const index = joinIndex(counter);
    for (let count = Atomics.load(this.ints, index); count !== 0; count = Atomics.load(this.ints, index)) {
      const waited = waitAsync(this.ints, index, count);
      if (waited.async) await waited.value;
    }
  }

  /**
   * Settles a worker that died during the job: out of the job if it was inside, and its own
   * work in a load job counted as finished, so the join completes.
   */
  abandon(thread: number, generation: number, kind: JobKind): void {
    if (Atomics.load(this.ints, THREADS + THREAD_SLOTS * thread + INSIDE) === generation) this.leave(thread);
    if (kind !== JobKind.run && this.doneGeneration(thread) !== generation) this.finish(thread, generation);
  }

  /**
   * Runs tiles of the current job on `thread`: its own range from the front, then the others' from
   * the back; `afterTile` after each, with its index.
   */
  runShare(thread: number, kernel: TileKernel, afterTile?: (tile: number) => void): void {
    const call = this.jobTileCaller(thread, kernel, afterTile);
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

  /**
   * The tiles at the front of `thread`'s range (of the job's `tiles`) that it has finished: all it
   * took from there but the last, which it may still be running (that one counts once the job is
   * over).
   */
  finishedFromFront(thread: number, tiles: number): { begin: number; end: number } {
    const { begin } = ownRange(tiles, thread, this.threads);
    const front = Atomics.load(this.ints, THREADS + THREAD_SLOTS * thread + FRONT);
    return { begin, end: Math.max(begin, front - 1) };
  }

  /** Calls the kernel on one tile, given by its row-major index among the job's tiles. */
  private jobTileCaller(
    thread: number,
    kernel: TileKernel,
    afterTile?: (tile: number) => void,
  ): (tile: number) => void {
    const rank = this.ints[RANK];
    const dims = new Array<number>(rank);
    const tile = new Array<number>(rank);
    for (let d = 0; d < rank; d++) {
      dims[d] = this.ints[DIMS + d];
      tile[d] = this.ints[TILE + d];
    }
    const args = this.args.subarray(0, this.ints[ARG_COUNT]);
    return tileCaller(thread, dims, tile, args, kernel, afterTile);
  }
}

/**
 * Calls `kernel` on one tile of `dims` in tiles of `tile`, given by its row-major index, as
 * `thread` and with `args` after the tile's bounds; `afterTile` after it, with the index.
 */
export function tileCaller(
  thread: number,
  dims: readonly number[],
  tile: readonly number[],
  args: ArrayLike<number>,
  kernel: TileKernel,
  afterTile?: (tile: number) => void,
): (tile: number) => void {
  const rank = dims.length;
  // callTile passes this many arguments at most: more would be dropped without a word.
  if (rank > MAX_RANK || args.length > MAX_ARGS)
    throw new RangeError(`a tile call takes ${MAX_RANK} dimensions and ${MAX_ARGS} arguments at most`);
  // [thread, the tile's bounds (written per tile), the job's arguments]
  const argv = new Array<number>(1 + 2 * rank + args.length).fill(0);
  argv[0] = thread;
  for (let i = 0; i < args.length; i++) argv[1 + 2 * rank + i] = args[i]!;
  return (index) => {
    writeTileBounds(index, dims, tile, argv, 1);
    callTile(kernel, argv);
    afterTile?.(index);
  };
}

/**
 * Calls `kernel` with `argv` as its arguments: the thread, a range's bounds and the job's
 * arguments, 1 + 2 × MAX_RANK + MAX_ARGS = 29 at most. Reflect.apply would copy them into a fresh
 * list at every call, 2,000 of them a GPT run; a wasm export takes its parameters from the first
 * arguments and ignores the rest, which here read as undefined.
 */
function callTile(kernel: TileKernel, argv: readonly number[]): void {
  const a = argv;
  // prettier-ignore
  kernel(
    a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!,
    a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!, a[16]!, a[17]!, a[18]!, a[19]!,
    a[20]!, a[21]!, a[22]!, a[23]!, a[24]!, a[25]!, a[26]!, a[27]!, a[28]!,
  );
}

/** The run of a job's `tiles` that `thread` owns when the job is released: one contiguous run each. */
function ownRange(tiles: number, thread: number, threads: number): { begin: number; end: number } {
  return {
    begin: Math.floor((tiles * thread) / threads),
    end: Math.floor((tiles * (thread + 1)) / threads),
  };
}

/** Tile `index` (row-major) of `dims` in tiles of `tile`, as `[begin0, end0, ..., beginR-1, endR-1]`. */
export function tileBounds(index: number, dims: readonly number[], tile: readonly number[]): number[] {
  const bounds = new Array<number>(2 * dims.length);
  writeTileBounds(index, dims, tile, bounds, 0);
  return bounds;
}

/** Writes the bounds of tile `index` (row-major) of `dims` in tiles of `tile` into `into`, from `at`. */
function writeTileBounds(
  index: number,
  dims: readonly number[],
  tile: readonly number[],
  into: number[],
  at: number,
): void {
  for (let d = dims.length - 1; d >= 0; d--) {
    const tiles = Math.ceil(dims[d] / tile[d]);
    const coordinate = index % tiles;
    index = (index - coordinate) / tiles;
    const begin = coordinate * tile[d];
    into[at + 2 * d] = begin;
    into[at + 2 * d + 1] = Math.min(begin + tile[d], dims[d]);
  }
}

/** The control slot a join on `counter` watches. */
function joinIndex(counter: JoinCounter): number {
  return counter === 'pending' ? PENDING : ACTIVE;
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
